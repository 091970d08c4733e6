"""The one-shot setup job of a scaled-out deployment (compose service ``setup``, k8s Job ``csbot-setup``; app image).

``csbot setup`` without training (the Rasa image carries its model), plus what the containers expect to exist:

1. ``csbot db upgrade``: the platform's migrations;
2. Rasa's ``events`` table with a DOUBLE timestamp when the trackers live in MySQL/MariaDB (``bot.rasa_env``);
3. the bucket of ``files: {type: s3}`` (the S3 store never creates it);
4. ``csbot kb seed``: the sample knowledge base for the default tenant, skipped once it has FAQs
   (``--no-seed`` for a shop that imports its own);
5. the knowledge base's live index version, which every knowledge service otherwise creates at its start: made
   once here, so two instances starting together never both make one.

Every step is idempotent: run it again after an upgrade, before the new images start.

``--wait SECONDS`` instead waits until what the job leaves behind is there (the migrations' head and a live
index version): the init container of the k8s pods, so they start after the job whatever order ``kubectl apply``
took.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

from bot.rasa_env import prepare_tracker_store
from bot.settings import Settings, load_settings


def csbot(*args: str) -> None:
    exe = shutil.which("csbot") or "csbot"
    subprocess.run([exe, *args], check=True)


def ensure_bucket(settings: Settings) -> str | None:
    """Create the file bucket when ``files.type`` is s3 and it is missing; the bucket's name, or None."""
    backend = settings.backend("files")
    if backend.type != "s3":
        return None
    from botocore.exceptions import ClientError

    from bot.files.s3 import S3FileStore

    store = S3FileStore.from_options(backend)
    try:
        store.client.head_bucket(Bucket=store.bucket)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) not in ("404", "NoSuchBucket", "NotFound"):
            raise  # refused (credentials, policy): say so rather than try to create it
        store.client.create_bucket(Bucket=store.bucket)
    return store.bucket


def ensure_live_index(settings: Settings) -> str:
    """The knowledge base's live version (``csbot kb seed`` made it, else an empty one now); its name."""
    from knowledge.service import KnowledgeService

    svc = KnowledgeService.from_settings(settings)
    try:
        return svc.versions.ensure_live().name
    finally:
        svc.close()


def set_up(settings: Settings) -> bool:
    """Whether the database answers, carries the newest migration and a live index version."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.storage import migrate
    from bot.storage.db import Database
    from knowledge import repository as repo
    from knowledge.models import KbIndexVersion

    db = Database.from_settings(settings)
    try:
        if migrate.current_revision(db.engine) != migrate.head_revision():
            return False
        with db.session() as s:
            return repo.version_by_status(s, KbIndexVersion.LIVE) is not None
    except SQLAlchemyError:
        return False  # not up yet, or no schema yet
    finally:
        db.dispose()


def wait_for_setup(seconds: float, every: float = 3.0) -> bool:
    settings = load_settings()
    deadline = time.monotonic() + seconds
    while not set_up(settings):
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-seed", action="store_true", help="do not import the sample knowledge base")
    parser.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="only wait until the job's work is there; exit 1 if it is not in time",
    )
    args = parser.parse_args(argv)
    if args.wait is not None:
        ready = wait_for_setup(args.wait)
        print(
            "set up" if ready else f"not set up after {args.wait:.0f}s (has the setup job run?)",
            file=sys.stdout if ready else sys.stderr,
        )
        return 0 if ready else 1
    csbot("db", "upgrade")
    settings = load_settings()
    prepare_tracker_store(settings)
    bucket = ensure_bucket(settings)
    if bucket:
        print(f"file bucket {bucket} ready")
    if not args.no_seed:
        csbot("kb", "seed")
    print(f"knowledge base live version {ensure_live_index(settings)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
