"""PII masking before anything is embedded or indexed (seed §2.5.8).

Extends ``bot.security.mask_pii`` (phone, ID card, bank card, email, landline) with Chinese street
addresses. An address is masked only when it carries a house number (路/街/巷/弄/道 + 号), so policy text
such as "寄回仓库地址见订单页" is left alone.
"""

from __future__ import annotations

import re

from bot.security import mask_pii

_ADDRESS = re.compile(
    r"(?:[\u4e00-\u9fa5]{2,8}(?:省|自治区|市|自治州|区|县|镇|乡))*"
    r"[\u4e00-\u9fa5A-Za-z0-9]{1,12}(?:路|街|大街|大道|巷|弄|胡同|道)"
    r"\d{1,5}(?:-\d{1,5})?号"
    r"(?:[\u4e00-\u9fa5A-Za-z0-9-]{0,12}?\d{1,5}(?:号楼|栋|幢|楼|单元|室|层))*"
)


def mask(text: str) -> str:
    """Mask phone, ID card, bank card, email, landline and street address."""
    return _ADDRESS.sub("<地址>", mask_pii(text))
