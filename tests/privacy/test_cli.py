"""``csbot privacy export|erase|purge`` on a seeded home: the file written for the customer (mode 0600), the
confirmation, nothing found (exit 0), the retention purge by hand; and through the installed ``csbot``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.errors import InvalidInput
from handoff.privacy.cli import app

from .world import PHONE, World

runner = CliRunner()


@pytest.fixture
def home_env(sqlite_world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for k in [k for k in os.environ if k.startswith("CSBOT_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("CSBOT_HOME", str(sqlite_world.settings.home))
    return {**{k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")},
            "CSBOT_HOME": str(sqlite_world.settings.home)}  # fmt: skip


def test_export_then_erase_from_the_command_line(sqlite_world: World, home_env: dict[str, str],
                                                 tmp_path: Path) -> None:  # fmt: skip
    w = sqlite_world
    me = w.customer("default", "u1001")
    kept = w.customer("default", "u2002")
    before = w.counts(kept)
    out = tmp_path / "u1001.json"
    r = runner.invoke(app, ["export", "--customer", "u1001", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "archive" in r.output
    assert out.stat().st_mode & 0o777 == 0o600
    data = json.loads(out.read_text())
    assert PHONE in json.dumps(data, ensure_ascii=False) and data["tenant"] == "default"

    r = runner.invoke(app, ["erase", "--customer", "u1001"], input="n\n")
    assert r.exit_code != 0 and "Erase all of it?" in r.output and "archive" in r.output
    assert w.counts(me)["archive"] > 0  # declined: nothing happened
    r = runner.invoke(app, ["erase", "--customer", "default:u1001", "--yes"])
    assert r.exit_code == 0 and "erased customer default:u1001" in r.output, r.output
    assert set(w.counts(me).values()) == {0} and w.counts(kept) == before
    r = runner.invoke(app, ["erase", "--customer", "u1001", "--yes"])
    assert r.exit_code == 0 and "nothing found for customer u1001 in tenant default" in r.output


def test_the_installed_command_and_the_purge_by_hand(sqlite_world: World, home_env: dict[str, str]) -> None:
    w = sqlite_world
    old = w.customer("default", "u1001")
    w.age(old, 40)
    csbot = [str(Path(sys.executable).parent / "csbot"), "privacy"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*csbot, *args], env=home_env, capture_output=True, text=True, timeout=120)

    off = run("purge")
    assert off.returncode == 1 and "retention is off" in off.stderr
    dry = runner.invoke(app, ["purge", "--days", "30", "--dry-run"])
    assert dry.exit_code == 0 and "would remove 1 conversation(s)" in dry.output, dry.output
    assert w.counts(old)["archive"] > 0
    done = run("purge", "--days", "30")
    assert done.returncode == 0 and "removed 1 conversation(s)" in done.stdout, done.stdout + done.stderr
    assert set(w.counts(old).values()) == {0}
    nobody = runner.invoke(app, ["export", "--customer", "nobody"])
    assert nobody.exit_code == 0 and "nothing found" in nobody.output
    bad = runner.invoke(app, ["erase", "--customer", "a b", "--yes"])
    assert isinstance(bad.exception, InvalidInput) and "customer must be" in str(bad.exception)


def test_a_home_without_a_database_says_so_in_one_line(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}, "CSBOT_HOME": str(tmp_path)}
    r = subprocess.run([str(Path(sys.executable).parent / "csbot"), "privacy", "export", "--customer", "u1"],
                       env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 1 and "csbot db upgrade" in r.stderr and "Traceback" not in r.stderr + r.stdout
