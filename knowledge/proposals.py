"""Similar questions an LLM proposes for FAQs that have few (``csbot kb import --propose-similar``).

A plain question+answer export gives retrieval one phrasing per FAQ; shoppers word the same question a dozen
ways. With an OpenAI-compatible ``llm`` configured, each enabled FAQ with fewer than ``min_similar`` similar
questions is sent (question and answer, PII-masked) with a request for shopper-style paraphrases as a JSON
array. What comes back is generated text, so it is stored as ``pending`` proposals (``cs_kb_proposal``) and is
not searchable until a person accepts it: it then joins the FAQ's similar questions and every index, and stays
there across re-imports of the merchant's file (``accepted_similar``). A rejected proposal is kept, so the same
text is not proposed again; rejecting an accepted one takes it out of the FAQ.

Bad LLM output is dropped with a count per reason: a reply that is not a JSON array, items that are not text,
empty, longer than ``MAX_CHARS``, the question itself, or duplicates (of each other, of the FAQ's phrasings or
of earlier proposals). An LLM that fails or times out stops the run with a message; the import stands.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.errors import CsbotError, InvalidInput, NotFound
from bot.ids import new_id
from bot.storage.models import utcnow
from knowledge import repository as repo
from knowledge.ingest import FileReport
from knowledge.models import KbProposal
from knowledge.text.faq_files import phrasing_key as key
from knowledge.text.pii import mask
from knowledge.types import check_tenant

if TYPE_CHECKING:
    from knowledge.service import KnowledgeService

log = logging.getLogger(__name__)

PROMPT = (
    "你是电商客服知识库的编辑。下面是一条常见问题和它的答案。"
    "请写出{n}个顾客在聊天窗口里会用来问这件事的不同说法：口语化、简短，意思必须和原问题相同，"
    "不要问答案里没有的内容，不要带订单号、手机号等具体信息。"
    '只输出一个 JSON 字符串数组，例如 ["说法一", "说法二"]，不要解释。'
)
MAX_CHARS = 60  # a shopper's question, not a paragraph
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def clean(reply: str, question: str, taken: Iterable[str], limit: int) -> tuple[list[str], Counter[str]]:
    """The usable proposals in an LLM reply, and the count of dropped ones per reason."""
    dropped: Counter[str] = Counter()
    text = (reply or "").strip()
    fenced = _FENCE.match(text)
    try:
        items = json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError:
        dropped["not_json"] += 1
        return [], dropped
    if not isinstance(items, list):
        dropped["not_a_list"] += 1
        return [], dropped
    seen = {key(t) for t in taken}
    own = key(question)
    kept: list[str] = []
    for item in items:
        if not isinstance(item, str):
            dropped["not_text"] += 1
            continue
        line = " ".join(mask(item).split())
        k = key(line)
        if not k:
            dropped["empty"] += 1
        elif len(line) > MAX_CHARS:
            dropped["too_long"] += 1
        elif k == own:
            dropped["same_as_question"] += 1
        elif k in seen:
            dropped["duplicate"] += 1
        elif len(kept) >= limit:
            dropped["over_limit"] += 1
        else:
            seen.add(k)
            kept.append(line)
    return kept, dropped


class SimilarProposer:
    """question + answer → prompt → LLM → reply text, as one LCEL runnable."""

    def __init__(self, base_url: str, model: str, api_key: str, timeout: float = 20.0) -> None:
        from knowledge.llm import chat_model, text_chain

        self.source = f"llm:{model}"[:160]
        # some randomness: the point is wordings nobody wrote yet
        llm = chat_model(base_url, model, api_key, timeout, temperature=0.7, max_tokens=400)
        self.chain = text_chain(llm, PROMPT, "【常见问题】{question}\n【答案】{answer}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SimilarProposer:
        return cls(str(options["base_url"]), str(options["model"]), str(options.get("api_key") or "EMPTY"),
                   max(float(options.get("timeout", 8.0)), 20.0))  # fmt: skip

    def propose(self, question: str, answer: str, n: int) -> str:
        return str(self.chain.invoke({"question": question, "answer": answer, "n": n}))


def proposer_for(svc: KnowledgeService) -> SimilarProposer:
    kind, options = svc.backends["llm"]
    if kind != "openai" or not options.get("base_url") or not options.get("model"):
        raise CsbotError("proposing similar questions needs an LLM: set llm: {type: openai, base_url, model}")
    return SimilarProposer.from_options(options)


@dataclass
class ProposalReport:
    asked: int = 0  # FAQs sent to the LLM
    proposed: int = 0  # proposals stored as pending
    skipped: int = 0  # FAQs with enough similar questions, or with proposals still pending
    dropped: Counter[str] = field(default_factory=Counter)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"asked": self.asked, "proposed": self.proposed, "skipped": self.skipped,
               "dropped": dict(self.dropped)}  # fmt: skip
        return out | ({"error": self.error} if self.error else {})


def propose_similar(svc: KnowledgeService, tenant_id: str, ext_ids: Sequence[str] | None = None,
                    min_similar: int = 3, per_faq: int = 5,
                    proposer: SimilarProposer | None = None) -> ProposalReport:  # fmt: skip
    """Ask the LLM for up to ``per_faq`` paraphrases of each enabled FAQ with < ``min_similar`` similar ones."""
    if not 1 <= per_faq <= 20 or not 0 <= min_similar <= 100:
        raise InvalidInput("per_faq must be 1..20 and min_similar 0..100")
    tenant_id = check_tenant(tenant_id)
    proposer = proposer or proposer_for(svc)
    report = ProposalReport()
    with svc.db.session() as s:
        rows = sorted(repo.faqs_by_ext(s, tenant_id, ext_ids).values(), key=lambda r: r.ext_id)
        earlier = _texts_by_faq(s, tenant_id, [r.ext_id for r in rows])
        pending = {ext for ext, items in earlier.items() if any(st == KbProposal.PENDING for _, st in items)}
        enabled = [repo.faq_item(r) for r in rows if r.enabled]
    todo = [f for f in enabled if len(f.similar_questions) < min_similar and f.ext_id not in pending]
    report.skipped = len(enabled) - len(todo)
    for n, faq in enumerate(todo):
        try:
            reply = proposer.propose(mask(faq.question), mask(faq.answer)[:600], per_faq)
        except Exception as exc:  # down, timeout, refused: what was stored stays, the rest is not asked
            left = len(todo) - n
            report.error = f"LLM unavailable ({type(exc).__name__}: {str(exc)[:120]}); {left} FAQ(s) not asked"
            log.warning("proposing similar questions stopped: %s", report.error)
            break
        report.asked += 1
        taken = [faq.question, *faq.similar_questions, *(t for t, _ in earlier.get(faq.ext_id, ()))]
        kept, dropped = clean(reply, faq.question, taken, per_faq)
        report.dropped.update(dropped)
        with svc.db.session() as s:
            for text in kept:
                s.add(KbProposal(proposal_id=new_id(), tenant_id=tenant_id, faq_ext_id=faq.ext_id, text=text,
                                 source=proposer.source, status=KbProposal.PENDING))  # fmt: skip
        report.proposed += len(kept)
    return report


def _texts_by_faq(s: Any, tenant_id: str, ext_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    q = select(KbProposal).where(KbProposal.tenant_id == tenant_id)
    for i in range(0, len(ext_ids), 500):
        for p in s.scalars(q.where(KbProposal.faq_ext_id.in_(list(ext_ids[i : i + 500])))):
            out.setdefault(p.faq_ext_id, []).append((p.text, p.status))
    return out


def _json(p: KbProposal) -> dict[str, Any]:
    return {"id": str(p.proposal_id), "faq": p.faq_ext_id, "text": p.text, "status": p.status, "source": p.source,
            "created_at": p.created_at.isoformat(timespec="seconds") if p.created_at else None,
            "reviewed_by": p.reviewed_by}  # fmt: skip


def list_proposals(svc: KnowledgeService, tenant_id: str, status: str = KbProposal.PENDING,
                   faq: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    if status not in ("pending", "accepted", "rejected", "all"):
        raise InvalidInput("status must be pending, accepted, rejected or all")
    q = select(KbProposal).where(KbProposal.tenant_id == check_tenant(tenant_id))
    if status != "all":
        q = q.where(KbProposal.status == status)
    if faq:
        q = q.where(KbProposal.faq_ext_id == faq)
    with svc.db.session() as s:
        return [_json(p) for p in s.scalars(q.order_by(KbProposal.faq_ext_id, KbProposal.proposal_id))]


def review(svc: KnowledgeService, tenant_id: str, ids: Sequence[str], accept: bool, reviewer: str) -> dict[str, Any]:
    """Accept (pending → accepted: the text joins its FAQ) or reject (pending or accepted → rejected: an accepted
    one leaves its FAQ). Ids of another tenant are unknown here, exactly like ids that never existed."""
    tenant_id = check_tenant(tenant_id)
    try:
        wanted = sorted({int(i) for i in ids})
    except (TypeError, ValueError):
        raise InvalidInput("proposal ids are numbers") from None
    if not wanted:
        raise InvalidInput("no proposal ids given")
    with svc.db.session() as s:
        found = {p.proposal_id: p for p in s.scalars(select(KbProposal).where(
            KbProposal.tenant_id == tenant_id, KbProposal.proposal_id.in_(wanted)))}  # fmt: skip
        missing = [str(i) for i in wanted if i not in found]
        if missing:
            raise NotFound(f"no proposal {', '.join(missing[:10])}")
        movable = (KbProposal.PENDING,) if accept else (KbProposal.PENDING, KbProposal.ACCEPTED)
        moving = [p for p in found.values() if p.status in movable]
        by_faq: dict[str, list[tuple[int, str, str]]] = {}
        for p in moving:
            by_faq.setdefault(p.faq_ext_id, []).append((p.proposal_id, p.text, p.status))
        faqs = repo.faqs_by_ext(s, tenant_id, list(by_faq))
    report = FileReport("(proposals)", kind="faq")
    done: list[int] = []
    for ext_id, items in by_faq.items():
        row = faqs.get(ext_id)
        ids_here = [i for i, _, _ in items]
        if row is None:  # the FAQ was deleted since: nothing to join or leave
            _set_status(svc, tenant_id, ids_here, KbProposal.REJECTED, reviewer)
            done += ids_here
            continue
        item = repo.faq_item(row)
        _set_status(svc, tenant_id, ids_here, KbProposal.ACCEPTED if accept else KbProposal.REJECTED, reviewer)
        try:
            # apply_faqs adds the FAQ's accepted proposals itself (accepted_similar); a rejected one is left out
            leaving = {key(t) for _, t, st in items if st == KbProposal.ACCEPTED} if not accept else set()
            similar = tuple(t for t in item.similar_questions if key(t) not in leaving)
            record = repo.faq_record(replace(item, similar_questions=similar))
            svc.ingestor.apply_faqs(tenant_id, [record], report)
        except BaseException:
            for i, _, st in items:  # the index did not change: neither does the review
                _set_status(svc, tenant_id, [i], st, None)
            raise
        done += ids_here
    svc.invalidate(tenant_id)
    skipped = [str(p.proposal_id) for p in found.values() if p.proposal_id not in done]
    return {"accepted" if accept else "rejected": [str(i) for i in done], "unchanged": skipped,
            "faqs_updated": report.updated}  # fmt: skip


def _set_status(svc: KnowledgeService, tenant_id: str, ids: Sequence[int], status: str, reviewer: str | None) -> None:
    with svc.db.session() as s:
        for p in s.scalars(select(KbProposal).where(KbProposal.tenant_id == tenant_id,
                                                    KbProposal.proposal_id.in_(list(ids)))):  # fmt: skip
            p.status, p.reviewed_by = status, reviewer
            p.reviewed_at = utcnow() if reviewer is not None else None
