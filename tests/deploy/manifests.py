"""Readers for the deployment files: every csbot container of deploy/compose.yml and deploy/k8s/ as one shape
(its command, environment and probes), the env examples with their placeholders filled the way the comments say,
and a small nginx.conf parser. Nothing here starts anything."""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import secrets
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
POD_IP = "10.1.2.3"  # what status.podIP stands for when a k8s container's environment is read here
POD_NAME = "<pod name>"  # and metadata.name
FIELDS = {"status.podIP": POD_IP, "metadata.name": POD_NAME}
IMAGES = {"csbot-app": "app", "csbot-rasa": "rasa"}


def load_script(name: str) -> ModuleType:
    """deploy/<name>.py as a module (deploy/ is not a package: the containers run these files by path)."""
    spec = importlib.util.spec_from_file_location(f"deploy_{name}", DEPLOY / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fill(value: str) -> str:
    # what the example files tell a merchant to run for each placeholder
    if value.startswith("replace-with-openssl-rand-base64-32"):
        return base64.b64encode(os.urandom(32)).decode()
    if value.startswith("replace-with-openssl-rand-hex-32"):
        return secrets.token_hex(32)
    if value == "replace-me":
        return secrets.token_hex(8)
    return value


@cache
def env_file(path: Path, commented: bool = False) -> dict[str, str]:
    """KEY=VALUE lines; with ``commented`` also the ``# KEY=VALUE`` examples. Placeholders filled (once per file,
    so every container that reads a file sees the same values, as in a real deployment)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if commented and re.match(r"#\s*[A-Z][A-Z0-9_]*=", line):
            line = line.lstrip("#").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = _fill(value.strip())
    return out


@cache
def compose_vars() -> dict[str, str]:
    return env_file(DEPLOY / ".env.example")


_VAR = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}; $$ is a literal $."""

    def one(m: re.Match[str]) -> str:
        name, kind, rest = m.group(1), m.group(2), m.group(3)
        if variables.get(name):
            return variables[name]
        assert kind != "?", f"compose requires ${{{name}}}, which deploy/.env.example does not set"
        return rest if kind == "-" else ""

    return _VAR.sub(one, text.replace("$$", "\0")).replace("\0", "$")


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yml").read_text(encoding="utf-8"))


@cache
def k8s_docs() -> tuple[dict[str, Any], ...]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return tuple(docs)


def k8s_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in k8s_docs() if d.get("kind") == kind]


def k8s_workloads() -> list[dict[str, Any]]:
    """The long-running pods' controllers: Deployments, and the archive's StatefulSet (stable names)."""
    return k8s_kind("Deployment") + k8s_kind("StatefulSet")


@dataclass
class Container:
    where: str  # "compose rasa-1", "k8s Deployment/csbot rasa"
    service: str  # the platform service it runs: rasa, actions, ..., setup, wait-for-setup
    image: str  # app or rasa
    command: list[str]
    env: dict[str, str]
    probes: list[tuple[str, ...]] = field(default_factory=list)  # ("exec", *argv) or ("http", path, port)
    ports: dict[str, int] = field(default_factory=dict)  # k8s containerPorts by name
    raw_env: dict[str, str] = field(default_factory=dict)  # before interpolation (compose)
    spec: dict[str, Any] = field(default_factory=dict)


def compose_containers() -> list[Container]:
    out = []
    for name, svc in compose()["services"].items():
        image = IMAGES.get(str(svc.get("image", "")).split(":")[0])
        if image is None:
            continue
        raw = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
        test = (svc.get("healthcheck") or {}).get("test")
        probes = [("exec", *test[1:])] if test and test[0] == "CMD" else []
        service = re.sub(r"-\d+$", "", name)
        env = {k: interpolate(v, compose_vars()) for k, v in raw.items()}
        out.append(
            Container(f"compose {name}", service, image, list(svc["command"]), env, probes, raw_env=raw, spec=svc)
        )
    return out


def configmap_env(name: str) -> dict[str, str]:
    (cm,) = [d for d in k8s_kind("ConfigMap") if d["metadata"]["name"] == name]
    return {k: str(v) for k, v in cm["data"].items()}


def generated_secret_env(name: str) -> dict[str, str]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    (gen,) = [g for g in kustomization["secretGenerator"] if g["name"] == name]
    (envs,) = gen["envs"]
    return env_file(K8S / f"{envs}.example")  # the file a merchant copies to secrets.env


def _probe(p: dict[str, Any], ports: dict[str, int]) -> tuple[str, ...]:
    if "exec" in p:
        return ("exec", *p["exec"]["command"])
    port = p["httpGet"]["port"]
    return ("http", p["httpGet"]["path"], str(ports.get(port, port)))


def k8s_containers() -> list[Container]:
    out = []
    for doc in k8s_workloads() + k8s_kind("Job"):
        pod = doc["spec"]["template"]["spec"]
        for c in pod.get("initContainers", []) + pod["containers"]:
            env: dict[str, str] = {}
            for ref in c.get("envFrom", []):
                if "configMapRef" in ref:
                    env.update(configmap_env(ref["configMapRef"]["name"]))
                else:
                    env.update(generated_secret_env(ref["secretRef"]["name"]))
            for e in c.get("env", []):
                field_path = (e.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
                env[e["name"]] = FIELDS.get(field_path or "") or str(e["value"])
            ports = {p["name"]: int(p["containerPort"]) for p in c.get("ports", []) if "name" in p}
            probes = [_probe(c[k], ports) for k in ("startupProbe", "readinessProbe", "livenessProbe") if k in c]
            service = "setup" if doc["kind"] == "Job" else c["name"]
            out.append(Container(f"k8s {doc['kind']}/{doc['metadata']['name']} {c['name']}", service,
                                 IMAGES[c["image"]], list(c["command"]), env, probes, ports, spec=c))  # fmt: skip
    return out


def all_containers() -> list[Container]:
    return compose_containers() + k8s_containers()


# --- nginx.conf ---------------------------------------------------------------------------------------------
Block = list[tuple[list[str], Any]]  # (directive words, child block or None)


def nginx_conf(text: str | None = None) -> Block:
    text = (DEPLOY / "nginx.conf").read_text(encoding="utf-8") if text is None else text
    tokens = re.findall(r"'[^']*'|\"[^\"]*\"|[{};]|[^\s{};]+", re.sub(r"#[^\n]*", "", text))
    pos = 0

    def block() -> Block:
        nonlocal pos
        out: Block = []
        words: list[str] = []
        while pos < len(tokens):
            tok = tokens[pos]
            pos += 1
            if tok == ";":
                out.append((words, None))
                words = []
            elif tok == "{":
                out.append((words, block()))
                words = []
            elif tok == "}":
                return out
            else:
                words.append(tok.strip("'\""))
        return out

    return block()


def find(block: Block, *head: str) -> list[tuple[list[str], Any]]:
    """Directives (anywhere below ``block``) whose first words are ``head``."""
    hits = []
    for words, child in block:
        if words[: len(head)] == list(head):
            hits.append((words, child))
        if child:
            hits += find(child, *head)
    return hits
