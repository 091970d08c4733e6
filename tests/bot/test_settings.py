from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings

from ..conftest import REPO


def test_defaults_live_under_home(env: dict[str, str], home: Path) -> None:
    s = load_settings(env)
    assert s.home == home.resolve()
    assert s.database_url == f"sqlite:///{home.resolve() / 'csbot.db'}"
    assert s.backend("vectors").type == "milvus_lite"
    assert s.backend("cache").type == "memory"
    assert s.services.rasa_port == 5005
    # an embedded JWT secret is generated once per home and reused
    assert (home / "secret.key").read_text() == s.jwt_secret == load_settings(env).jwt_secret


def test_config_file_then_env_override(env: dict[str, str], home: Path) -> None:
    (home / "csbot.yml").write_text(
        "database:\n  url: mysql+pymysql://u:p@db/cs\ncache:\n  type: redis\n  url: redis://127.0.0.1:6379/2\n"
        "services:\n  rasa_port: 6005\n"
    )
    env["CSBOT_SERVICES__RASA_PORT"] = "7005"
    env["CSBOT_IDS__WORKER_ID"] = "17"
    s = load_settings(env)
    assert s.database_url == "mysql+pymysql://u:p@db/cs"
    assert s.backend("cache").type == "redis"
    assert s.backend("cache").get("url") == "redis://127.0.0.1:6379/2"
    assert s.services.rasa_port == 7005
    assert s.worker_id == 17


def test_two_homes_do_not_share_state(tmp_path: Path, env: dict[str, str]) -> None:
    a = load_settings({**env, "CSBOT_HOME": str(tmp_path / "a")})
    b = load_settings({**env, "CSBOT_HOME": str(tmp_path / "b")})
    assert a.database_url != b.database_url
    assert a.jwt_secret != b.jwt_secret


def test_dotted_class_path_is_accepted_as_backend(env: dict[str, str]) -> None:
    env["CSBOT_VECTORS__TYPE"] = "mycompany.vectors.Custom"
    assert load_settings(env).backend("vectors").type == "mycompany.vectors.Custom"


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("CSBOT_VECTORS__TYPE", "faiss", "vectors.type"),
        ("CSBOT_SERVICES__RASA_PORT", "99999", "services.rasa_port"),
        ("CSBOT_SERVICES__RASA_PORT", "abc", "services.rasa_port"),
        ("CSBOT_IDS__WORKER_ID", "1024", "ids.worker_id"),
        ("CSBOT_DATABASE__URL", "not a url", "database.url"),
        ("CSBOT_SECURITY__JWT_SECRET", "short", "security.jwt_secret"),
        ("CSBOT_CONFIG", "/nonexistent/csbot.yml", "CSBOT_CONFIG"),
    ],
)
def test_bad_values_name_the_key(env: dict[str, str], key: str, value: str, named: str) -> None:
    env[key] = value
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert info.value.key == named
    assert named in str(info.value)


def test_unknown_section_and_bad_yaml(env: dict[str, str], home: Path) -> None:
    (home / "csbot.yml").write_text("databse:\n  url: x\n")
    with pytest.raises(ConfigError, match="databse"):
        load_settings(env)
    (home / "csbot.yml").write_text("database: [unclosed\n")
    with pytest.raises(ConfigError, match="valid YAML"):
        load_settings(env)


def test_cli_config_error_is_one_line_exit_2(env: dict[str, str]) -> None:
    env["CSBOT_CACHE__TYPE"] = "memcached"
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "db", "upgrade"], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip() and "warning:" not in line]
    assert lines == ["config error: cache.type must be one of memory, redis or a dotted class path (got 'memcached')"]
