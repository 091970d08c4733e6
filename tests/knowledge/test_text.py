"""Chunking, PII masking, file loaders and FAQ file parsing (pure functions, real parsers)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from knowledge.text.chunking import chunk_text
from knowledge.text.faq_files import parse_faq_file
from knowledge.text.loaders import LoadError, load_document
from knowledge.text.pii import mask
from knowledge.text.query import retrieval_text, standardise
from knowledge.text.tokenize import tokenize

MB = 1_000_000


def test_chunking_keeps_headings_sentences_and_overlap() -> None:
    text = "# 退货政策\n\n" + "商品签收后七天内可以退货。" * 30 + "\n\n## 退款\n\n退款三个工作日到账。\n"
    sections = chunk_text(text, size=100, overlap=20)
    assert sections[0].heading == "退货政策"
    assert sections[-1].heading == "退款" and sections[-1].content == "退款三个工作日到账。"
    body = [s for s in sections if s.heading == "退货政策"]
    assert all(len(s.content) <= 100 + 20 for s in body)
    # cut at sentence ends, and consecutive chunks of a section overlap by whole sentences
    assert all(s.content.endswith("。") for s in body)
    assert body[1].content.startswith("商品签收后七天内可以退货。")
    assert [s.idx for s in sections] == list(range(len(sections)))
    # hashes are content hashes: same text, same hash
    assert chunk_text(text, 100, 20)[0].content_hash == sections[0].content_hash


def test_chunking_merges_short_paragraphs() -> None:
    sections = chunk_text("第一段。\n\n第二段。\n\n第三段。", size=100, overlap=0)
    assert len(sections) == 1 and "第一段" in sections[0].content and "第三段" in sections[0].content


@pytest.mark.parametrize(
    ("raw", "hidden", "placeholder"),
    [
        ("电话13812345678请回电", "13812345678", "<手机号>"),
        ("身份证110101199003071234", "110101199003071234", "<身份证>"),
        ("卡号6222021234567890123", "6222021234567890123", "<银行卡>"),
        ("邮箱 zhang.san@example.com", "zhang.san@example.com", "<邮箱>"),
        ("寄到北京市朝阳区建国路88号3号楼2单元501室", "建国路88号", "<地址>"),
    ],
)
def test_pii_masking(raw: str, hidden: str, placeholder: str) -> None:
    masked = mask(raw)
    assert hidden not in masked and placeholder in masked


def test_pii_keeps_order_numbers_and_policy_text() -> None:
    text = "订单250401093017745120还没发货，退货地址见订单详情页"
    assert mask(text) == text


@pytest.mark.parametrize(("typed", "standard"), [
    ("优惠卷咋用不了", "优惠券怎么用不了"),
    ("俺的钱啥时候到帐", "我的钱什么时候到账"),
    ("可以退么？", "可以退吗？"),
    ("为啥这么慢", "为什么这么慢"),  # 这么 keeps its 么
    ("什么时候发货", "什么时候发货"),  # standard text is left alone
    ("寄到成都要jitian", "寄到成都要几天"),  # pinyin typed instead of characters
    ("fa票 zenme开", "发票 怎么开"),
    ("Refund多久到账 想换SF", "退款多久到账 想换顺丰"),
    ("python for循环", "python for循环"),  # other Latin words stay
    ("how long does a refund take", "how long does a refund take"),  # English questions are left alone
])  # fmt: skip
def test_colloquial_wording_is_standardised(typed: str, standard: str) -> None:
    assert standardise(typed) == standard


def test_retrieval_text_hides_numbers_and_standardises() -> None:
    assert retrieval_text("单号SF1234567890123咋还没到") == "单号运单号怎么还没到"


def test_tokenize_chinese_for_keywords() -> None:
    toks = tokenize("怎么申请七天无理由退货？")
    assert "退货" in toks and "怎么" not in toks and "？" not in toks


def test_load_markdown_html_docx_and_gbk(tmp_path: Path) -> None:
    md = tmp_path / "政策.md"
    md.write_text("# 标题\n\n正文内容。", encoding="utf-8")
    loaded = load_document(md, MB)
    assert loaded.title == "标题" and "正文内容" in loaded.text

    html = tmp_path / "page.html"
    html.write_text("<html><head><title>页</title><script>x()</script></head><body><h2>配送</h2>"
                    "<p>48小时发货。</p></body></html>", encoding="utf-8")  # fmt: skip
    loaded = load_document(html, MB)
    assert loaded.title == "页" and "## 配送" in loaded.text and "x()" not in loaded.text

    import docx

    d = docx.Document()
    d.add_heading("会员规则", level=1)
    d.add_paragraph("金卡会员享受免运费。")
    buf = io.BytesIO()
    d.save(buf)
    (tmp_path / "rules.docx").write_bytes(buf.getvalue())
    loaded = load_document(tmp_path / "rules.docx", MB)
    assert "# 会员规则" in loaded.text and "金卡会员" in loaded.text

    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("退货需要保持商品完好，七天内可以申请退货退款，运费由买家承担。".encode("gbk"))
    loaded = load_document(gbk, MB)
    assert "七天内" in loaded.text and loaded.encoding.lower().startswith(("gb", "cp936"))


def test_load_pdf_text(tmp_path: Path) -> None:
    from tests.knowledge.pdfs import minimal_pdf

    (tmp_path / "a.pdf").write_bytes(minimal_pdf("Return within 7 days"))
    assert "Return within 7 days" in load_document(tmp_path / "a.pdf", MB).text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj <<>> garbage", "unreadable PDF"),
        ("empty.md", b"", "empty file"),
        ("archive.zip", b"PK\x03\x04", "unsupported file type"),
        ("binary.txt", bytes(range(256)) * 8, "not UTF-8"),
        ("broken.docx", b"not a zip", "unreadable DOCX"),
        ("blank.md", b"   \n\n  ", "no text"),
    ],
)
def test_bad_documents_fail_with_a_clear_reason(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=message):
        load_document(path, MB)


def test_oversized_file_is_rejected_without_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    with big.open("wb") as f:
        f.truncate(50 * MB)  # sparse: 50 MB on paper, nothing read
    with pytest.raises(LoadError, match="over the 20 MB limit"):
        load_document(big, 20 * MB)


def test_faq_formats(tmp_path: Path) -> None:
    (tmp_path / "f.jsonl").write_text(
        '{"id": "a", "question": "问1", "answer": "答1", "similar_questions": ["问一"], "enabled": false}\n'
        '{"id": "b", "question": "问2", "answer": "答2", "category": "c"}\n', encoding="utf-8")  # fmt: skip
    recs = parse_faq_file(tmp_path / "f.jsonl", MB)
    assert [r.ext_id for r in recs] == ["a", "b"] and recs[0].enabled is False
    assert recs[0].similar_questions == ("问一",)

    (tmp_path / "f.csv").write_text("id,question,answer,similar_questions,category\n"
                                    "c,问3,答3,问三|问叁,cat\n", encoding="utf-8")  # fmt: skip
    assert parse_faq_file(tmp_path / "f.csv", MB)[0].similar_questions == ("问三", "问叁")

    (tmp_path / "f.yaml").write_text("faqs:\n  - id: d\n    question: 问4\n    answer: 答4\n", encoding="utf-8")
    assert parse_faq_file(tmp_path / "f.yaml", MB)[0].answer == "答4"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a", "question": "问", "answer": "答"}\n{"id": "a", "question": "问2", "answer": "答2"}\n',
         "duplicate id 'a'"),
        ('{"id": "a", "question": "问"}\n', "missing answer"),
        ('{"id": "a", "question": "问", "answer": "答"}\n{not json\n', "invalid JSON"),
    ],
)
def test_bad_faq_files_are_rejected_whole(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.jsonl").write_text(content, encoding="utf-8")
    with pytest.raises(LoadError, match=message):
        parse_faq_file(tmp_path / "bad.jsonl", MB)
