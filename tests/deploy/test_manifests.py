"""deploy/compose.yml, deploy/k8s/*.yaml, deploy/nginx.conf and deploy/Dockerfile checked against the code.

There is no Docker daemon or cluster on this machine: the files are parsed, and every setting, command, port,
probe and route they name is compared with what the platform reads, starts and serves (bot/settings.py,
bot/cli/services.py, the route tables). The running multi-instance behaviour is tests/e2e/test_scale_out.py's.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.cli.services import platform_specs
from bot.rasa_env import ATOMIC_REDIS_LOCK_STORE, lock_store_config, tracker_store_config
from bot.settings import BACKEND_TYPES, DEFAULTS, load_settings
from channels.api_guard import PUBLIC_EXACT

from .manifests import (
    DEPLOY,
    K8S,
    POD_IP,
    POD_NAME,
    REPO,
    Container,
    all_containers,
    compose,
    compose_containers,
    compose_vars,
    configmap_env,
    env_file,
    find,
    generated_secret_env,
    k8s_containers,
    k8s_docs,
    k8s_kind,
    k8s_workloads,
    load_script,
    nginx_conf,
)

PLATFORM = ("rasa", "actions", "knowledge", "handoff", "archive")
LONG_RUNNING = (*PLATFORM, "orders")
# which modules parse each section's keys (a key is real when DEFAULTS has it or its parser reads it by name)
PARSERS = {
    "database": ["bot/settings.py", "bot/storage/db.py"], "security": ["bot/settings.py"],
    "services": ["bot/settings.py"], "encryption": ["bot/crypto.py"], "identity": ["bot/identity.py"],
    "tracker_store": ["bot/rasa_env.py"], "lock_store": ["bot/rasa_env.py"], "cache": ["knowledge/cache.py"],
    "rate_limit": ["bot/ratelimit"], "presence": ["handoff/presence", "handoff/live", "handoff/app.py"],
    "events": ["bot/events"], "vectors": ["knowledge/vectors"], "keywords": ["knowledge/keywords"],
    "message_search": ["handoff/search"], "files": ["bot/files"], "orders": ["bot/orders"],
    "archive": ["handoff/archive", "bot/rasa_env.py"],
}  # fmt: skip
KEYED_BY_DEPLOYMENT = {("encryption", "keys"), ("identity", "tenants")}  # the next level is a name you choose
AT_SCALE = {"events": "kafka", "vectors": "milvus", "keywords": "elasticsearch", "message_search": "elasticsearch",
            "lock_store": "redis", "tracker_store": "sql", "rate_limit": "redis", "presence": "redis",
            "cache": "redis", "files": "s3"}  # fmt: skip
SECRET_KEYS = re.compile(r"JWT_SECRET|__KEYS__|PASSWORD|SECRET_KEY|ACCESS_KEY|API_KEY|DATABASE__URL|TENANTS__")


def _literals(section: str) -> set[str]:
    files: list[Path] = []
    for rel in PARSERS[section]:
        p = REPO / rel
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return set(re.findall(r"[\"']([a-z_][a-z0-9_]*)[\"']", "\n".join(f.read_text(encoding="utf-8") for f in files)))


def setting_exists(path: list[str]) -> bool:
    section, *keys = path
    if section not in DEFAULTS or not keys:
        return False
    assert section in PARSERS, f"say in PARSERS which module reads the keys of `{section}`"
    literals = _literals(section)
    if keys[0] not in set(DEFAULTS[section]) | literals | ({"type"} if section in BACKEND_TYPES else set()):
        return False
    rest = keys[2:] if (section, keys[0]) in KEYED_BY_DEPLOYMENT else keys[1:]
    return all(k in literals for k in rest)


def csbot_keys() -> set[str]:
    keys = {k for c in all_containers() for k in c.env}
    keys |= set(configmap_env("csbot-config")) | set(generated_secret_env("csbot-secrets"))
    keys |= set(env_file(K8S / "secrets.env.example", commented=True))
    return {k for k in keys if k.startswith("CSBOT_")}


def test_the_key_check_refuses_what_no_code_reads() -> None:
    assert setting_exists(["events", "bootstrap_servers"]) and setting_exists(["encryption", "keys", "k9"])
    assert setting_exists(["identity", "tenants", "shop_a", "secret"])
    assert not setting_exists(["events", "bootstrap_server"])  # a typo
    assert not setting_exists(["redis", "url"])  # no such section
    assert not setting_exists(["identity", "tenants", "shop_a", "secrett"])


def test_every_csbot_variable_names_a_real_setting() -> None:
    keys = csbot_keys()
    assert len(keys) > 25
    for key in sorted(keys):
        if "__" not in key:
            assert key in ("CSBOT_HOME", "CSBOT_CONFIG"), key
            continue
        assert setting_exists(key[len("CSBOT_") :].lower().split("__")), f"{key} names no setting the code reads"


@pytest.mark.parametrize("container", all_containers(), ids=lambda c: c.where)
def test_each_container_loads_its_settings_and_reaches_the_engines(container: Container, tmp_path: Path) -> None:
    env = {**container.env, "CSBOT_HOME": str(tmp_path / "home")}
    s = load_settings(env)
    assert {name: s.backend(name).type for name in AT_SCALE} == AT_SCALE
    assert s.database_url.startswith("mysql+pymysql://") and "@mysql:3306/" in s.database_url
    # the JWT secret is the deployment's, never a random one per container (tokens must verify everywhere)
    assert s.jwt_secret == env["CSBOT_SECURITY__JWT_SECRET"] and not (tmp_path / "home" / "secret.key").exists()
    assert s.raw["encryption"]["key_id"] in s.raw["encryption"]["keys"]
    ts, ls = tracker_store_config(s), lock_store_config(s)
    assert (ts["dialect"], ts["url"], ts["db"]) == ("mysql+pymysql", "mysql", "csbot")
    assert (ls["type"], ls["url"]) == (ATOMIC_REDIS_LOCK_STORE, "redis")
    from bot.crypto import cipher_from_settings

    cipher_from_settings(s)  # the encryption key is 32 bytes of base64 once the example is filled as it says


OWN = ("CSBOT_SERVICES__HOST", "CSBOT_EVENTS__INSTANCE_ID")  # what each instance has of its own


def test_every_instance_shares_the_same_settings_but_its_address_and_name() -> None:
    for group in (compose_containers(), k8s_containers()):
        shared = {frozenset((k, v) for k, v in c.env.items() if k not in OWN) for c in group}
        assert len(shared) == 1, [c.where for c in group]
    # a restarted archive takes its Kafka partitions back under the same static member name (its host name)
    archives = [c for c in compose_containers() if c.service == "archive"]
    assert len(archives) == 2
    assert [c.env.get("CSBOT_EVENTS__INSTANCE_ID") for c in archives] == [c.spec["hostname"] for c in archives]
    # in k8s the archive is a StatefulSet: its stable pod name is the member id, every other pod has none
    ids = {c.service: c.env.get("CSBOT_EVENTS__INSTANCE_ID") for c in k8s_containers()}
    assert ids.pop("archive") == POD_NAME and not any(ids.values())
    (archive,) = [d for d in k8s_workloads() if d["metadata"]["name"] == "csbot-archive"]
    assert archive["kind"] == "StatefulSet" and archive["spec"]["serviceName"] == "csbot-archive"


def test_each_process_binds_the_address_its_neighbours_call() -> None:
    for c in compose_containers():
        if c.service == "setup":
            continue
        mode = c.spec.get("network_mode", "")
        expected = mode.removeprefix("service:") if mode else c.spec.get("hostname")
        assert c.env["CSBOT_SERVICES__HOST"] == expected, c.where
        if c.service != "archive":  # the archive calls nobody; the others share their stack's namespace
            assert mode.startswith("service:stack-"), c.where
    for c in k8s_containers():
        if c.service in PLATFORM:
            assert c.env["CSBOT_SERVICES__HOST"] == POD_IP, c.where


def _specs(tmp_path: Path) -> dict[str, list[str]]:
    s = load_settings({"CSBOT_HOME": str(tmp_path / "specs"), "CSBOT_SECURITY__JWT_SECRET": "x" * 32})
    return {spec.name: [urlsplit(spec.health_url).path, *spec.argv] for spec in platform_specs(s)}


def test_each_container_runs_the_command_csbot_run_starts(tmp_path: Path) -> None:
    specs = _specs(tmp_path)
    seen: dict[str, int] = {}
    for c in all_containers():
        if c.service in ("setup", "wait-for-setup"):
            assert c.image == "app" and c.command[:2] == ["python", "deploy/setup_job.py"], c.where
            assert c.service == "setup" or c.command[2] == "--wait", c.where
            continue
        if c.service == "rasa":
            assert c.image == "rasa" and c.command == ["python", "deploy/start_rasa.py"], c.where
        else:
            assert c.image == "app", c.where
            assert c.command == ["python", *specs[c.service][2:]], c.where  # `python -m <the same module>`
            spec = importlib.util.find_spec(c.command[2])
            assert spec is not None, c.command[2]
            if spec.submodule_search_locations:  # a package runs its __main__
                assert importlib.util.find_spec(f"{c.command[2]}.__main__"), c.command[2]
        where = f"{c.where.split()[0]} {c.service}"
        seen[where] = seen.get(where, 0) + 1
    for name in PLATFORM:  # N=2: two instances of every platform service in compose, two replicas in k8s
        assert seen.get(f"compose {name}", 0) >= 2, name
        assert seen.get(f"k8s {name}", 0) >= 1, name
    for dep in k8s_workloads():
        assert dep["spec"]["replicas"] >= 2, dep["metadata"]["name"]


def test_the_rasa_entrypoint_is_csbot_runs_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start_rasa = load_script("start_rasa")
    for key in [k for k in os.environ if k.startswith("CSBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CSBOT_HOME", str(tmp_path / "specs"))
    monkeypatch.setenv("CSBOT_SECURITY__JWT_SECRET", "x" * 32)
    argv = start_rasa.command(start_rasa.BAKED_MODEL)
    expected = _specs(tmp_path)["rasa"][1:]
    expected[expected.index("--model") + 1] = str(start_rasa.BAKED_MODEL)
    assert argv == expected and argv[1:3] == ["-m", "channels.server"]
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "--out /app/models --fixed-model-name csbot" in dockerfile and str(start_rasa.BAKED_MODEL) == (
        "/app/models/csbot.tar.gz"
    )


def test_probes_ask_what_each_service_serves(tmp_path: Path) -> None:
    specs = _specs(tmp_path)
    probe = load_script("probe")
    assert {name: spec[0] for name, spec in specs.items()} == probe.PATHS  # /health, and /status for Rasa
    served = {name: {spec[0]} for name, spec in specs.items()}
    served["rasa"] |= set(PUBLIC_EXACT)  # "/" answers without a token once the model is loaded
    declared = ("handoff/app.py", "knowledge/server.py", "handoff/archive/app.py", "bot/orders/demo_server.py")
    for rel in declared:
        assert 'Route("/health"' in (REPO / rel).read_text(encoding="utf-8"), rel
    assert 'request.path == "/health"' in (REPO / "actions/server.py").read_text(encoding="utf-8")
    for c in all_containers():
        if c.service not in LONG_RUNNING:
            continue
        assert c.probes, f"{c.where} has no health probe"
        port = load_settings({**c.env, "CSBOT_HOME": str(tmp_path / "p")}).services
        for p in c.probes:
            if p[0] == "exec":
                assert list(p[1:]) == ["python", "deploy/probe.py", c.service], c.where
            else:
                assert p[1] in served[c.service], f"{c.where} probes {p[1]}, which {c.service} does not serve"
                assert int(p[2]) == getattr(port, f"{c.service}_port"), c.where
        if c.where.startswith("k8s"):
            kinds = {k for k in ("readinessProbe", "livenessProbe") if k in c.spec}
            assert kinds == {"readinessProbe", "livenessProbe"}, c.where
            assert [p["containerPort"] for p in c.spec["ports"]] == [getattr(port, f"{c.service}_port")]


# --- the front door: which service each public path reaches, and where it lives in the code --------------------
ROUTES = {  # path prefix → (service, file, what declares it)
    "/socket.io/": ("rasa", "channels/socketio.py", '"/socket.io"'),
    "/webhooks/": ("rasa", "channels/widget_web.py", "socketio"),
    "/api/kb/": ("knowledge", "knowledge/server.py", 'Mount("/api/kb"'),
    "/api/agent/ws": ("handoff", "handoff/app.py", 'WebSocketRoute("/api/agent/ws"'),
    "/api/": ("handoff", "handoff/app.py", 'Mount("/api/agent"'),
    "/inbox": ("handoff", "handoff/inbox_web.py", '"/inbox"'),
    "/reports": ("handoff", "handoff/reports/web.py", '"/reports"'),
    "/files/": ("handoff", "handoff/app.py", 'Route("/files/'),
}


def _port_of(service: str) -> int:
    return int(DEFAULTS["services"][f"{service}_port"])


def test_routed_paths_exist_in_the_code() -> None:
    for prefix, (_, rel, snippet) in ROUTES.items():
        assert snippet in (REPO / rel).read_text(encoding="utf-8"), f"{prefix}: {snippet} not in {rel}"
    assert 'new Socket("/socket.io/"' in (REPO / "channels/web/chat.js").read_text(encoding="utf-8")


def test_nginx_sticks_socketio_and_upgrades_websockets() -> None:
    conf = nginx_conf()
    upstreams = {w[1]: child for w, child in find(conf, "upstream")}
    locations = {w[-1]: child for w, child in find(conf, "location")}
    stacks = sorted(n for n, s in compose()["services"].items() if n.startswith("stack-"))
    assert len(stacks) >= 2
    assert find(conf, "map", "$http_upgrade", "$connection_upgrade") and find(conf, "proxy_http_version", "1.1")
    for prefix, (service, _, _) in ROUTES.items():
        loc = locations[prefix]
        (target,) = [w[1] for w, _ in loc if w[0] == "proxy_pass"]
        upstream = upstreams[target.removeprefix("http://")]
        servers = sorted(w[1] for w, _ in upstream if w[0] == "server")
        assert servers == [f"{s}:{_port_of(service)}" for s in stacks], prefix  # every stack, the right port
        sticky = [w for w, _ in upstream if w[0] in ("hash", "ip_hash", "sticky")]
        if prefix == "/socket.io/":
            assert sticky == [["hash", "$remote_addr", "consistent"]]
        else:
            assert not sticky, f"{prefix} should be round robin"
        if prefix in ("/socket.io/", "/api/agent/ws"):
            headers = {tuple(w[1:]) for w, _ in loc if w[0] == "proxy_set_header"}
            assert {("Upgrade", "$http_upgrade"), ("Connection", "$connection_upgrade")} <= headers, prefix
            (timeout,) = [w[1] for w, _ in loc if w[0] == "proxy_read_timeout"]
            assert int(timeout.rstrip("s")) >= 3600, prefix
    assert "/internal" not in " ".join(locations) and "/conversations" not in " ".join(locations)


def test_the_nginx_parser_sees_a_missing_hash() -> None:
    conf = nginx_conf("upstream a { server x:1; } server { location /socket.io/ { proxy_pass http://a; } }")
    assert not [w for w, _ in find(conf, "upstream")[0][1] if w[0] == "hash"]


def test_k8s_services_and_ingress_reach_the_right_ports() -> None:
    pods = {}
    for dep in k8s_workloads():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        ports = {p["containerPort"] for c in dep["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        pods[frozenset(labels.items())] = ports
    services = {}
    for svc in [s for s in k8s_kind("Service") if s["spec"].get("type") != "ExternalName"]:
        (target,) = [ports for labels, ports in pods.items() if set(svc["spec"]["selector"].items()) <= labels]
        for p in svc["spec"]["ports"]:
            assert p["targetPort"] in target, svc["metadata"]["name"]
            services[(svc["metadata"]["name"], p["port"])] = p["targetPort"]
    paths = {}
    for ing in k8s_kind("Ingress"):
        notes = ing["metadata"].get("annotations", {})
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                b = p["backend"]["service"]
                paths[p["path"]] = (services[(b["name"], b["port"]["number"])], notes)
    for prefix, (service, _, _) in ROUTES.items():
        port, notes = paths[prefix]
        assert port == _port_of(service), prefix
        sticky = notes.get("nginx.ingress.kubernetes.io/affinity")
        assert sticky == ("cookie" if prefix == "/socket.io/" else None), prefix
        if prefix in ("/socket.io/", "/api/agent/ws"):
            assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600, prefix


def test_k8s_pods_ask_for_resources_and_wait_for_setup() -> None:
    for dep in k8s_workloads():
        pod = dep["spec"]["template"]["spec"]
        assert [c["command"] for c in pod["initContainers"]] == [["python", "deploy/setup_job.py", "--wait", "900"]]
        for c in pod["containers"]:
            requests = c["resources"]["requests"]
            assert {"cpu", "memory"} <= set(requests) and "memory" in c["resources"]["limits"], c["name"]
            if c["name"] == "rasa":
                assert requests["memory"].endswith("Mi") and int(requests["memory"][:-2]) >= 1536
    kustomization = (K8S / "kustomization.yaml").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s+- (\S+\.yaml)$", kustomization, re.M))
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert {d["kind"] for d in k8s_docs()} >= {"Namespace", "ConfigMap", "Deployment", "Service", "Ingress", "Job"}


def test_secrets_come_only_from_the_env_files() -> None:
    for c in compose_containers():
        for key, raw in c.raw_env.items():
            if SECRET_KEYS.search(key):
                assert "${" in raw, f"{c.where}: {key} is written into compose.yml"
    assert not [k for k in configmap_env("csbot-config") if SECRET_KEYS.search(k)]
    assert {"CSBOT_SECURITY__JWT_SECRET", "CSBOT_ENCRYPTION__KEYS__K1", "CSBOT_DATABASE__URL"} <= set(
        generated_secret_env("csbot-secrets")
    )
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    for key in ("MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD", "JWT_SECRET", "ENCRYPTION_KEY", "MINIO_ROOT_PASSWORD"):
        assert re.search(rf"^{key}=replace-with-", example, re.M), key
    assert compose_vars()["JWT_SECRET"] != "replace-with-openssl-rand-hex-32"  # the tests fill it as told
    ignored = (DEPLOY / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored and "k8s/secrets.env" in ignored


def test_the_dockerfile_builds_each_runtime_from_its_lock() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    stages = {name: base for base, name in re.findall(r"^FROM (\S+) AS (\S+)$", text, re.M)}
    assert {"rasa", "app"} <= set(stages)
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    assert args[stages["rasa"].strip("${}")].startswith("python:3.10") and args["PY311"].startswith("python:3.11")
    assert "-r /tmp/req/rasa.in -c /tmp/req/rasa.lock" in text
    assert "pip install --no-cache-dir -r /tmp/req/app.lock" in text
    assert "--no-deps -e /app" in text and "rasa train" in text
    for c in compose_containers():
        assert c.spec["build"]["target"] == c.image and c.spec["build"]["dockerfile"] == "deploy/Dockerfile"
