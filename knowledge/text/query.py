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
# Latin words customers type instead of characters: toneless pinyin of shop words and a few English ones.
# Whole Latin runs only (``[A-Za-z]+``), so "sf" in "sf快递" maps and "sfx" does not.
_LATIN = {
    "zenme": "怎么", "zenmeban": "怎么办", "shenme": "什么", "weishenme": "为什么", "jitian": "几天",
    "duojiu": "多久", "duoshaoqian": "多少钱", "tuikuan": "退款", "tuihuo": "退货", "huanhuo": "换货",
    "fapiao": "发票", "kuaidi": "快递", "wuliu": "物流", "fahuo": "发货", "shouhuo": "收货", "dizhi": "地址",
    "dingdan": "订单", "shouhou": "售后", "yunfei": "运费", "baoyou": "包邮", "huiyuan": "会员", "jifen": "积分",
    "zhifu": "支付", "quxiao": "取消", "qianshou": "签收", "kefu": "客服", "rengong": "人工", "mima": "密码",
    "zhanghao": "账号", "youhuiquan": "优惠券", "yhq": "优惠券", "sf": "顺丰",
    "refund": "退款", "coupon": "优惠券", "invoice": "发票", "password": "密码", "pwd": "密码",
    "delivery": "配送", "shipping": "运费",
}  # fmt: skip
_LATIN_RE = re.compile(r"[A-Za-z]+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_FA_PIAO = re.compile(r"(?i)fa(?=票)")  # fa票
_FINAL_ME = re.compile(r"(?<![什怎那这多要])么(?=[？?。！!，,\s]|$)")  # 可以退么 → 吗


def standardise(text: str) -> str:
    if _CJK.search(text):  # Latin words inside Chinese; an English question (English KB) stays as typed
        text = _LATIN_RE.sub(lambda m: _LATIN.get(m.group(0).lower(), m.group(0)), _FA_PIAO.sub("发", text))
    return _FINAL_ME.sub("吗", _COLLOQUIAL_RE.sub(lambda m: _COLLOQUIAL[m.group(0)], text))


def normalise_query(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text or "")).strip()[:500]


def retrieval_text(masked: str) -> str:
    return standardise(_ORDER_NO.sub("订单号", _TRACKING_NO.sub("运单号", masked)))
