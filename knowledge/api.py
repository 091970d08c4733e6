"""Knowledge admin HTTP API (seed §2.5.8: ROLE_KB_ADMIN, every change audited).

``create_app(settings)`` returns a Starlette app; the handoff service mounts it under ``/api/kb``.
Every request needs ``Authorization: Bearer <jwt>`` (401 without/invalid) with role ``kb_admin`` or
``admin`` (403 otherwise); the tenant comes from the token, never from the request. Index versions
(rebuild, switch, rollback, status) serve every tenant, so they need ``admin``.

Routes: ``GET/POST /faqs`` (``?q=`` substring search, ``?category=``, ``?sort=hits`` hot questions first),
``GET/PUT/DELETE /faqs/{id}``, ``GET /documents``,
``PUT/DELETE /documents/{filename}`` (the file is the raw request body), ``POST /rebuild``,
``POST /switch``, ``POST /rollback``, ``GET /status``, ``GET /lowconf``, ``POST /ask``,
``PUT /import/{filename}`` (an FAQ file or a document, incremental, like ``csbot kb import``) and
``POST /eval`` (``{"lines": "<eval JSONL>", "details": false}``, like ``csbot kb eval``). ``csbot kb`` uses
the last two while the platform runs, because the embedded stores accept one process.
LLM-proposed similar questions (knowledge/proposals.py): ``GET /proposals`` (``?status=pending|accepted|
rejected|all``, ``?faq=``), ``POST /proposals/generate`` (``{"faqs": [ids], "min_similar": 3, "per_faq": 5}``,
needs the ``llm`` backend), ``POST /proposals/accept`` and ``POST /proposals/reject`` (``{"ids": [...]}``).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.audit import audit_by
from bot.errors import Conflict, InvalidInput, NotFound
from bot.security import Principal
from bot.settings import Settings
from bot.storage.models import Doc, Faq
from bot.web import Auth, Limiter, json_body, read_body
from bot.web import endpoint as web_endpoint
from knowledge import proposals
from knowledge import repository as repo
from knowledge.evaluation import evaluate, load_cases
from knowledge.ingest import FileReport
from knowledge.service import KnowledgeService
from knowledge.text.faq_files import record_from_mapping
from knowledge.text.loaders import DOC_TYPES, FAQ_TYPES, load_document

Handler = Callable[[Request, Principal], Awaitable[Any]]


def _faq_json(r: Faq) -> dict[str, Any]:
    return {"id": r.ext_id, "question": r.question, "similar_questions": r.similar_questions or [],
            "answer": r.answer_text, "category": r.category, "enabled": bool(r.enabled), "hit_count": r.hit_count,
            "updated_at": r.updated_at.isoformat(timespec="seconds") if r.updated_at else None}  # fmt: skip


def create_app(settings: Settings, service: KnowledgeService | None = None, auth: Auth | None = None,
               limit: Limiter | None = None) -> Starlette:  # fmt: skip
    svc = service or KnowledgeService.from_settings(settings)

    def audit(p: Principal, action: str, target_type: str, target_id: str | None, detail: Any = None) -> None:
        with svc.db.session() as s:
            audit_by(s, p, action, target_type, target_id, detail)

    auth = auth or Auth(settings.keyring)

    def endpoint(fn: Handler, role: str = "kb_admin") -> Callable[[Request], Awaitable[Response]]:
        return web_endpoint(fn, auth, (role,), limit=limit)

    async def body_json(request: Request) -> dict[str, Any]:
        return await json_body(request)

    def run(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        # embedding and index writes are blocking: keep them off the event loop
        return asyncio.to_thread(fn, *args)

    # --- FAQ -----------------------------------------------------------------------------------
    async def list_faqs(request: Request, p: Principal) -> Any:
        limit = min(int(request.query_params.get("limit", 100)), 1000)
        offset = int(request.query_params.get("offset", 0))
        category = request.query_params.get("category")
        text = (request.query_params.get("q") or "").strip()[:100]
        order = request.query_params.get("sort", "id")
        if order not in ("id", "hits"):
            raise InvalidInput("sort must be id or hits")
        with svc.db.session() as s:
            q = select(Faq).where(Faq.tenant_id == p.tenant_id)
            if category:
                q = q.where(Faq.category == category)
            # "hits": the hot questions first (seed §2.5: hot FAQs), ties by id
            sort = (Faq.hit_count.desc(), Faq.ext_id) if order == "hits" else (Faq.ext_id,)
            if not text:
                rows = s.scalars(q.order_by(*sort).limit(limit).offset(offset)).all()
            else:
                # the back office's search box: a substring of the question, a similar question or the answer
                # (filtered here: similar_questions is a JSON column, stored escaped)
                needle = text.lower()
                found = [r for r in s.scalars(q.order_by(*sort))
                         if needle in " ".join([r.question, r.answer_text or "", *(r.similar_questions or [])])
                         .lower()]  # fmt: skip
                rows = found[offset : offset + limit]
            return {"items": [_faq_json(r) for r in rows]}

    async def get_faq(request: Request, p: Principal) -> Any:
        ext_id = request.path_params["faq_id"]
        with svc.db.session() as s:
            row = repo.faqs_by_ext(s, p.tenant_id, [ext_id]).get(ext_id)
            if row is None:
                raise NotFound(f"no FAQ {ext_id}")
            return _faq_json(row)

    def _upsert(p: Principal, data: dict[str, Any], must_exist: bool | None) -> FileReport:
        rec = record_from_mapping(data)
        with svc.db.session() as s:
            exists = rec.ext_id in repo.faqs_by_ext(s, p.tenant_id, [rec.ext_id])
        if must_exist is True and not exists:
            raise NotFound(f"no FAQ {rec.ext_id}")
        if must_exist is False and exists:
            raise Conflict(f"FAQ {rec.ext_id} exists; use PUT /faqs/{rec.ext_id}")
        report = FileReport("(api)", kind="faq")
        svc.ingestor.apply_faqs(p.tenant_id, [rec], report)
        svc.invalidate(p.tenant_id)
        audit(p, "kb.faq.create" if not exists else "kb.faq.update", "faq", rec.ext_id,
              {"question": rec.question, "enabled": rec.enabled})  # fmt: skip
        return report

    async def create_faq(request: Request, p: Principal) -> Any:
        report = await run(_upsert, p, await body_json(request), False)
        return JSONResponse(report.to_dict(), 201)

    async def put_faq(request: Request, p: Principal) -> Any:
        data = await body_json(request)
        data["id"] = request.path_params["faq_id"]
        return (await run(_upsert, p, data, None)).to_dict()

    async def delete_faq(request: Request, p: Principal) -> Any:
        ext_id = request.path_params["faq_id"]
        n = await run(svc.ingestor.delete_faqs, p.tenant_id, [ext_id])
        if not n:
            raise NotFound(f"no FAQ {ext_id}")
        svc.invalidate(p.tenant_id)
        audit(p, "kb.faq.delete", "faq", ext_id)
        return {"deleted": ext_id}

    # --- documents -----------------------------------------------------------------------------
    async def list_docs(request: Request, p: Principal) -> Any:
        with svc.db.session() as s:
            rows = s.scalars(select(Doc).where(Doc.tenant_id == p.tenant_id).order_by(Doc.oss_url)).all()
            return {"items": [{"id": repo.doc_key(d.oss_url), "source": d.oss_url, "title": d.title,
                               "type": d.file_type, "version_no": d.version_no, "is_active": bool(d.is_active)}
                              for d in rows]}  # fmt: skip

    def _upload(p: Principal, filename: str, data: bytes) -> FileReport:
        if Path(filename).name != filename or Path(filename).suffix.lower() not in DOC_TYPES:
            raise InvalidInput(f"{filename}: expected a plain file name ending in {', '.join(sorted(DOC_TYPES))}")
        report = FileReport(filename, kind="doc")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / filename
            path.write_bytes(data)
            svc.ingestor.apply_document(p.tenant_id, filename, load_document(path, svc.cfg.max_bytes), report)
        svc.invalidate(p.tenant_id)
        audit(p, "kb.doc.upload", "doc", filename, {"added": report.added, "removed": report.removed,
                                                      "unchanged": report.unchanged})  # fmt: skip
        return report

    async def file_body(request: Request) -> bytes:
        """An uploaded file (the raw body), refused (413) over ``knowledge.max_file_mb``."""
        return await read_body(request, svc.cfg.max_bytes)

    async def put_doc(request: Request, p: Principal) -> Any:
        data = await file_body(request)
        return (await run(_upload, p, request.path_params["filename"], data)).to_dict()

    async def delete_doc(request: Request, p: Principal) -> Any:
        filename = request.path_params["filename"]
        n = await run(svc.ingestor.delete_document, p.tenant_id, filename)
        svc.invalidate(p.tenant_id)
        audit(p, "kb.doc.delete", "doc", filename, {"sections": n})
        return {"deleted": filename, "sections": n}

    # --- bulk import and evaluation (csbot kb import / eval while the platform runs) -----------------
    def _import(p: Principal, filename: str, data: bytes) -> FileReport:
        suffix = Path(filename).suffix.lower()
        if Path(filename).name != filename or suffix not in FAQ_TYPES | DOC_TYPES:
            kinds = ", ".join(sorted(FAQ_TYPES | DOC_TYPES))
            raise InvalidInput(f"{filename}: expected a plain file name ending in {kinds}")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / filename
            path.write_bytes(data)
            report = svc.import_paths([path], p.tenant_id)[0]
        report.path = filename
        if report.error:  # the temporary directory means nothing to the caller
            report.error = report.error.replace(str(path), filename).replace(tmp, "")
        audit(p, "kb.import", "file", filename, {"status": report.status, "added": report.added,
                                                  "updated": report.updated, "removed": report.removed})  # fmt: skip
        return report

    async def put_import(request: Request, p: Principal) -> Any:
        data = await file_body(request)
        return (await run(_import, p, request.path_params["filename"], data)).to_dict()

    def _eval(p: Principal, lines: str, details: bool) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "eval.jsonl"
            path.write_text(lines, encoding="utf-8")
            cases = load_cases(path)
        return evaluate(svc, cases, p.tenant_id, details)

    async def post_eval(request: Request, p: Principal) -> Any:
        data = await body_json(request)
        if not isinstance(data.get("lines"), str):
            raise InvalidInput('expected {"lines": "<eval JSONL text>"}')
        return await run(_eval, p, data["lines"], bool(data.get("details")))

    # --- LLM-proposed similar questions: listed, generated, reviewed -----------------------------------
    async def list_proposals(request: Request, p: Principal) -> Any:
        params = request.query_params
        status, faq = params.get("status", "pending"), params.get("faq") or None
        return {"items": await run(proposals.list_proposals, svc, p.tenant_id, status, faq)}

    def _generate(p: Principal, data: dict[str, Any]) -> dict[str, Any]:
        faqs = data.get("faqs")
        if faqs is not None and not (isinstance(faqs, list) and all(isinstance(f, str) for f in faqs)):
            raise InvalidInput('"faqs" must be a list of FAQ ids')
        try:
            min_similar, per_faq = int(data.get("min_similar", 3)), int(data.get("per_faq", 5))
        except (TypeError, ValueError):
            raise InvalidInput("min_similar and per_faq are numbers") from None
        report = proposals.propose_similar(svc, p.tenant_id, faqs, min_similar, per_faq).to_dict()
        audit(p, "kb.proposal.generate", "faq", None, report)
        return report

    async def generate_proposals(request: Request, p: Principal) -> Any:
        return await run(_generate, p, await body_json(request))

    def _review(p: Principal, data: dict[str, Any], accept: bool) -> dict[str, Any]:
        ids = data.get("ids")
        if not isinstance(ids, list) or not ids:
            raise InvalidInput('expected {"ids": ["<proposal id>", ...]}')
        result = proposals.review(svc, p.tenant_id, [str(i) for i in ids], accept, p.name or str(p.user_id))
        audit(p, "kb.proposal.accept" if accept else "kb.proposal.reject", "proposal", None, result)
        return result

    async def accept_proposals(request: Request, p: Principal) -> Any:
        return await run(_review, p, await body_json(request), True)

    async def reject_proposals(request: Request, p: Principal) -> Any:
        return await run(_review, p, await body_json(request), False)

    # --- versions ------------------------------------------------------------------------------
    async def rebuild(request: Request, p: Principal) -> Any:
        data = await body_json(request)
        v = await run(svc.rebuild, data.get("note"), bool(data.get("switch", False)))
        audit(p, "kb.rebuild", "kb_version", v.name, {"model": v.model_id, "switch": bool(data.get("switch"))})
        return {"version": v.name, "status": v.status, "model": v.model_id}

    async def switch(request: Request, p: Principal) -> Any:
        name = str((await body_json(request)).get("version") or "")
        v = await run(svc.switch, name)
        audit(p, "kb.switch", "kb_version", v.name)
        return {"live": v.name}

    async def rollback(request: Request, p: Principal) -> Any:
        v = await run(svc.rollback)
        audit(p, "kb.rollback", "kb_version", v.name)
        return {"live": v.name}

    async def status(request: Request, p: Principal) -> Any:
        return {"versions": await run(svc.versions.status), "metrics": dict(svc.metrics),
                "cache": dict(svc.cache.stats)}  # fmt: skip

    async def lowconf(request: Request, p: Principal) -> Any:
        return {"items": await run(svc.low_confidence, p.tenant_id)}

    async def ask(request: Request, p: Principal) -> Any:
        query = str((await body_json(request)).get("query") or "")
        ans = await run(svc.answer, query, p.tenant_id)
        return ans.to_dict()

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        yield
        svc.close()

    routes = [
        Route("/faqs", endpoint(list_faqs), methods=["GET"]),
        Route("/faqs", endpoint(create_faq), methods=["POST"]),
        Route("/faqs/{faq_id}", endpoint(get_faq), methods=["GET"]),
        Route("/faqs/{faq_id}", endpoint(put_faq), methods=["PUT"]),
        Route("/faqs/{faq_id}", endpoint(delete_faq), methods=["DELETE"]),
        Route("/documents", endpoint(list_docs), methods=["GET"]),
        Route("/documents/{filename}", endpoint(put_doc), methods=["PUT"]),
        Route("/documents/{filename}", endpoint(delete_doc), methods=["DELETE"]),
        # index versions serve every tenant: the platform operator's, not one shop's
        Route("/rebuild", endpoint(rebuild, "admin"), methods=["POST"]),
        Route("/switch", endpoint(switch, "admin"), methods=["POST"]),
        Route("/rollback", endpoint(rollback, "admin"), methods=["POST"]),
        Route("/status", endpoint(status, "admin"), methods=["GET"]),
        Route("/lowconf", endpoint(lowconf), methods=["GET"]),
        Route("/ask", endpoint(ask), methods=["POST"]),
        Route("/import/{filename}", endpoint(put_import), methods=["PUT"]),
        Route("/eval", endpoint(post_eval), methods=["POST"]),
        Route("/proposals", endpoint(list_proposals), methods=["GET"]),
        Route("/proposals/generate", endpoint(generate_proposals), methods=["POST"]),
        Route("/proposals/accept", endpoint(accept_proposals), methods=["POST"]),
        Route("/proposals/reject", endpoint(reject_proposals), methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.knowledge = svc
    return app
