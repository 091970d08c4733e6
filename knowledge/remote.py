"""The running platform's knowledge service, for ``csbot kb`` commands while ``csbot run`` is up.

milvus-lite and tantivy accept one process; while the platform runs, the knowledge service is that process.
Rather than failing, ``csbot kb import/eval/ask/status/rebuild/switch/rollback`` send the work to it over
the admin API (JWT role kb_admin, minted from this home's secret), so the running bot sees the change at
once. Only this home's platform counts: the service is found through ``$CSBOT_HOME/run/status.json``, never
by probing a port. (Versions are platform-wide; those calls carry the default tenant's token.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bot.cli.supervisor import pid_alive, read_status
from bot.errors import CsbotError
from bot.security import Keyring, Principal, issue_token
from bot.settings import Settings


class RemoteKnowledge:
    def __init__(self, base_url: str, keys: Keyring, timeout: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._keys = keys
        self._client = httpx.Client(timeout=timeout)

    @classmethod
    def running(cls, settings: Settings) -> RemoteKnowledge | None:
        info = ((read_status(settings.run_dir) or {}).get("services") or {}).get("knowledge") or {}
        pid, health = info.get("pid"), str(info.get("health_url") or "")
        if info.get("state") != "ready" or not pid or not health.endswith("/health"):
            return None
        if not pid_alive(int(pid)):  # a status file left by a platform that was killed
            return None
        try:
            if httpx.get(health, timeout=2.0).status_code != 200:
                return None
        except httpx.HTTPError:
            return None
        return cls(health.removesuffix("/health"), settings.keyring)

    def _headers(self, tenant_id: str, role: str) -> dict[str, str]:
        # the operator at this machine holds the home's secret: a short token of the role the call needs
        who = Principal(0, tenant_id, frozenset({role}), "csbot-cli")
        return {"Authorization": f"Bearer {issue_token(self._keys, who, ttl_seconds=600)}"}

    def _call(self, method: str, path: str, tenant_id: str, role: str = "kb_admin", **kw: Any) -> Any:
        try:
            resp = self._client.request(method, f"{self.base_url}/api/kb{path}",
                                        headers=self._headers(tenant_id, role), **kw)  # fmt: skip
        except httpx.HTTPError as exc:
            raise CsbotError(f"the running knowledge service at {self.base_url} did not answer: {exc}") from None
        body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
        if resp.status_code >= 400:
            raise CsbotError(f"knowledge service: {body.get('error') or resp.text[:200]}")
        return body

    def import_file(self, path: Path, tenant_id: str) -> dict[str, Any]:
        """One file's report; a file the service rejects becomes an error report, the batch goes on."""
        try:
            return self._call("PUT", f"/import/{path.name}", tenant_id, content=path.read_bytes())
        except (CsbotError, OSError) as exc:
            return {"path": path.name, "kind": "", "status": "error", "added": 0, "updated": 0, "unchanged": 0,
                    "removed": 0, "embedded": 0, "error": str(exc), "seconds": 0.0, "notes": []}  # fmt: skip

    def evaluate(self, eval_file: Path, tenant_id: str, details: bool) -> dict[str, Any]:
        lines = eval_file.read_text(encoding="utf-8")
        return self._call("POST", "/eval", tenant_id, json={"lines": lines, "details": details})

    def ask(self, query: str, tenant_id: str) -> dict[str, Any]:
        return self._call("POST", "/ask", tenant_id, json={"query": query})

    def review_proposals(self, ids: list[str], accept: bool, tenant_id: str) -> dict[str, Any]:
        return self._call("POST", f"/proposals/{'accept' if accept else 'reject'}", tenant_id, json={"ids": ids})

    def rebuild(self, note: str | None, switch: bool) -> dict[str, Any]:
        return self._call("POST", "/rebuild", "default", "admin", json={"note": note, "switch": switch})

    def switch(self, version: str) -> dict[str, Any]:
        return self._call("POST", "/switch", "default", "admin", json={"version": version})

    def rollback(self) -> dict[str, Any]:
        return self._call("POST", "/rollback", "default", "admin")

    def status(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/status", "default", "admin")["versions"])

    def close(self) -> None:
        self._client.close()
