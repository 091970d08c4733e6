"""Keyword tokens for both keyword backends: rjieba search-mode segmentation, lower-cased, no punctuation.

Both the index side and the query side use this one function, so tantivy and Elasticsearch only need a
whitespace analyzer and rank the same tokens.
"""

from __future__ import annotations

import threading
import unicodedata
from pathlib import Path

_STOP_WORDS = (
    "的 了 吗 呢 吧 啊 呀 么 嘛 哦 哈 是 在 有 和 与 及 或 我 你 您 他 她 它 我们 你们 请问 请 一下 这个 那个 这 那"
    " 就 都 也 还 要 想 能 会 可以 可 怎么 怎样 如何 什么 为什么 多少 几 谢谢 the a an is are of to"
)
_STOP = frozenset(_STOP_WORDS.split())
_jieba = None
_lock = threading.Lock()


def _tokenizer():  # type: ignore[no-untyped-def]
    global _jieba
    if _jieba is None:
        with _lock:
            if _jieba is None:
                import rjieba

                jb = rjieba.Jieba()
                userdict = Path(__file__).resolve().parents[2] / "data" / "dict" / "userdict.txt"
                if userdict.is_file():
                    # domain words (顺丰, 七天无理由...) so they are not merged with neighbours
                    for line in userdict.read_text(encoding="utf-8").splitlines():
                        word = line.split(" ")[0].strip()
                        if word:
                            jb.add_word(word, None, None)
                _jieba = jb
    return _jieba


def _is_word(tok: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in tok)


def tokenize(text: str, stopwords: bool = True) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    toks = [t.strip() for t in _tokenizer().cut_for_search(text)]
    return [t for t in toks if t and _is_word(t) and not (stopwords and t in _STOP)]
