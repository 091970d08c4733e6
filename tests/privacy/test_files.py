"""Files in an erase: found by the keys and links the records mention, only the subject's tenant's, removed from
the local disk and from S3 (moto's S3 server: a fake of the outside service at its wire), idempotently."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.files import create_file_store
from bot.files.service import FileService
from bot.privacy.files import FilesStore, file_keys
from bot.privacy.subject import subject_of
from bot.settings import Backend

from ..bot.test_files import PDF_OK, s3_endpoint  # noqa: F401  (the fixture)


def test_keys_are_found_in_links_and_fields_of_the_tenant_only() -> None:
    mine, theirs = "shop1/202612/" + "a" * 32 + ".jpg", "shop2/202612/" + "b" * 32 + ".png"
    records = {"archive": [{"image": f"http://h/files/{mine}?exp=1&sig=x"}],
               "handoff": [{"file": {"key": theirs}}, {"text": f"见 /files/{mine}x"}]}  # fmt: skip
    assert file_keys(records, "shop1") == {mine}
    assert file_keys(records, "shop2") == {theirs}


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_the_subjects_files_go_and_no_one_elses(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if kind == "s3":
        import boto3

        url = request.getfixturevalue("s3_endpoint")
        boto3.client("s3", endpoint_url=url, aws_access_key_id="test", aws_secret_access_key="test",
                     region_name="us-east-1").create_bucket(Bucket="csbot-files")  # fmt: skip
        backend = Backend("files", "s3", {"endpoint_url": url, "bucket": "csbot-files", "access_key": "test",
                                          "secret_key": "test", "region": "us-east-1"})  # fmt: skip
    else:
        backend = Backend("files", "local", {})
    files = FileService(create_file_store(backend, tmp_path), "k", "http://h")
    mine, kept = files.save("shop1", "a.pdf", PDF_OK), files.save("shop1", "b.pdf", PDF_OK)
    theirs = files.save("shop2", "c.pdf", PDF_OK)
    store = FilesStore(create_file_store(backend, tmp_path))
    subject = replace(subject_of("u1", "shop1", "default"), files=frozenset({mine.key, theirs.key}))
    assert [f["key"] for f in store.export(subject)] == [mine.key, theirs.key]
    assert store.erase(subject) == 1  # another tenant's key is never deleted, whatever a record says
    assert files.store.get(mine.key) is None
    assert files.store.get(kept.key) == PDF_OK and files.store.get(theirs.key) == PDF_OK
    assert store.erase(subject) == 0
    store.close()
    files.close()
