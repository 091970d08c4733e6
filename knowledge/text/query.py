"""Query normalisation shared by retrieval (query side) and the gate's lexicon (KB side)."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
# long identifiers carry no meaning for retrieval and drag the embedding away from the question
_TRACKING_NO = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,4}\d{9,}(?![0-9])")
_ORDER_NO = re.compile(r"(?<![A-Za-z0-9])\d{10,}(?![0-9])")


# Chat shorthand and common misspellings → the words FAQs are written in. The model and the n-gram lexicon
# both match better on standard wording; longest keys first so 咋办 wins over 咋.
_COLLOQUIAL = {
    "咋样": "怎么样", "咋办": "怎么办", "咋整": "怎么办", "咋": "怎么", "肿么": "怎么", "怎莫": "怎么",
    "啥时候": "什么时候", "为啥": "为什么", "为毛": "为什么", "干啥": "干什么", "干嘛": "干什么", "啥": "什么",
    "神马": "什么", "木有": "没有", "没得": "没有", "俺": "我", "多钱": "多少钱",
    "优惠卷": "优惠券", "代金卷": "代金券", "购物卷": "购物券", "卷码": "券码", "收获地址": "收货地址",
    "到帐": "到账", "帐号": "账号", "帐户": "账户", "退钱": "退款",
}  # fmt: skip
_COLLOQUIAL_RE = re.compile("|".join(sorted(map(re.escape, _COLLOQUIAL), key=len, reverse=True)))
_FINAL_ME = re.compile(r"(?<![什怎那这多要])么(?=[？?。！!，,\s]|$)")  # 可以退么 → 吗


def standardise(text: str) -> str:
    return _FINAL_ME.sub("吗", _COLLOQUIAL_RE.sub(lambda m: _COLLOQUIAL[m.group(0)], text))


def normalise_query(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text or "")).strip()[:500]


def retrieval_text(masked: str) -> str:
    return standardise(_ORDER_NO.sub("订单号", _TRACKING_NO.sub("运单号", masked)))
