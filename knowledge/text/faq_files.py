"""Parse FAQ files (JSONL, CSV, YAML) into validated records; a file with any bad row is rejected whole."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from knowledge.text.loaders import LoadError, decode_text, read_bytes

MAX_QUESTION = 255


@dataclass(frozen=True)
class FaqRecord:
    ext_id: str
    question: str
    answer: str
    similar_questions: tuple[str, ...] = ()
    category: str | None = None
    enabled: bool = True

    @property
    def content_hash(self) -> str:
        body = json.dumps([self.question, self.similar_questions, self.answer, self.category, self.enabled],
                          ensure_ascii=False)  # fmt: skip
        return hashlib.sha256(body.encode()).hexdigest()


def phrasing_key(text: str) -> str:
    """Comparison form of a phrasing: NFKC, lower case, letters and digits only (punctuation and spaces
    do not make another question)."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if ch.isalnum())


def with_similar(rec: FaqRecord, extra: Sequence[str]) -> FaqRecord:
    """``rec`` with the ``extra`` similar questions it does not have yet (reviewed LLM proposals)."""
    have = {phrasing_key(t) for t in (rec.question, *rec.similar_questions)}
    add: list[str] = []
    for text in extra:
        k = phrasing_key(text)
        if k and k not in have:
            have.add(k)
            add.append(text)
    return replace(rec, similar_questions=(*rec.similar_questions, *add)) if add else rec


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return True
    return str(value).strip().lower() not in ("0", "false", "no", "off", "n", "否")


def _similar(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        # CSV cells: "问法一|问法二" or a JSON list
        if value.strip().startswith("["):
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        if isinstance(value, str):
            value = value.replace("｜", "|").split("|")
    if not isinstance(value, list):
        raise ValueError("similar_questions must be a list of strings")
    out = []
    for v in value:
        s = str(v).strip()
        if s and s not in out:
            out.append(s)
    return tuple(out)


def record_from_mapping(obj: Any) -> FaqRecord:
    """Validate one FAQ object; ValueError names the problem."""
    if not isinstance(obj, dict):
        raise ValueError("expected an object with id, question, answer")
    ext_id = str(obj.get("id", "") if obj.get("id") is not None else "").strip()
    question = str(obj.get("question") or "").strip()
    answer = str(obj.get("answer") or "").strip()
    if not ext_id:
        raise ValueError("missing id")
    if len(ext_id) > 128:
        raise ValueError("id longer than 128 characters")
    if not question:
        raise ValueError(f"FAQ {ext_id}: missing question")
    if len(question) > MAX_QUESTION:
        raise ValueError(f"FAQ {ext_id}: question longer than {MAX_QUESTION} characters")
    if not answer:
        raise ValueError(f"FAQ {ext_id}: missing answer")
    category = obj.get("category")
    sims = tuple(s for s in _similar(obj.get("similar_questions")) if s != question)
    return FaqRecord(ext_id=ext_id, question=question, answer=answer, similar_questions=sims,
                     category=str(category).strip()[:64] if category else None,
                     enabled=_as_bool(obj.get("enabled")))  # fmt: skip


def _rows(path: Path, text: str) -> list[tuple[int, Any]]:
    kind = path.suffix.lower()
    if kind == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((n, json.loads(line)))
                except json.JSONDecodeError as exc:
                    rows.append((n, ValueError(f"invalid JSON: {exc.msg}")))
        return rows
    if kind == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or not {"id", "question", "answer"} <= set(reader.fieldnames):
            raise LoadError(f"{path.name}: CSV needs a header with at least id,question,answer")
        return [(n + 2, dict(r)) for n, r in enumerate(reader)]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LoadError(f"{path.name}: invalid YAML ({type(exc).__name__})") from None
    if isinstance(data, dict):
        data = data.get("faqs", data.get("faq"))
    if not isinstance(data, list):
        raise LoadError(f"{path.name}: YAML must be a list of FAQ objects (or a mapping with `faqs:`)")
    return [(n + 1, r) for n, r in enumerate(data)]


def parse_faq_file(path: Path, max_bytes: int, max_errors: int = 5) -> list[FaqRecord]:
    data = read_bytes(path, max_bytes)
    text, _enc = decode_text(data, path.name)
    records: list[FaqRecord] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for n, obj in _rows(path, text):
        try:
            if isinstance(obj, Exception):
                raise obj
            rec = record_from_mapping(obj)
            if rec.ext_id in seen:
                raise ValueError(f"duplicate id {rec.ext_id!r} (first on row {seen[rec.ext_id]})")
            seen[rec.ext_id] = n
            records.append(rec)
        except ValueError as exc:
            errors.append(f"row {n}: {exc}")
    if errors:
        more = f" (+{len(errors) - max_errors} more)" if len(errors) > max_errors else ""
        raise LoadError(f"{path.name}: {len(errors)} bad row(s), file not imported: "
                        + "; ".join(errors[:max_errors]) + more)  # fmt: skip
    if not records:
        raise LoadError(f"{path.name}: no FAQ entries")
    return records
