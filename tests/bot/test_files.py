"""Files customers and agents send (bot/files): judged by their bytes, cleaned, stored, served by signed links.

The S3 store is tested against moto's S3 server on localhost: a fake of an outside service (AWS S3) at its wire
boundary, spoken to by the real boto3 client."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from bot.errors import NotFound
from bot.files import create_file_store
from bot.files import links as ln
from bot.files.inspect import Rejected, clean, sniff
from bot.files.links import display_name
from bot.files.local import LocalFileStore
from bot.files.service import FileService
from bot.settings import Backend

MB = 1024 * 1024


def jpeg_with_gps(size: tuple[int, int] = (40, 20), orientation: int = 6) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = orientation  # the camera held sideways
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}  # GPS: where the customer lives
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, comment=b"secret note")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header says width × height, with a little 1-bit data: expanding it would take gigabytes."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = zlib.compress(b"\x00" * (width // 8 + 1) * 64)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))  # fmt: skip


PDF_OK = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def test_the_bytes_decide_the_type_not_the_name() -> None:
    assert sniff(jpeg_with_gps()) == "image/jpeg" and sniff(PDF_OK) == "application/pdf"
    for fake in (b"MZ\x90\x00" + b"\x00" * 100, b"\x7fELF\x02\x01\x01" + b"\x00" * 100, b"<svg onload=alert(1)>",
                 b"<html><script>x</script>", b"PK\x03\x04zipfile"):  # fmt: skip
        assert sniff(fake) is None
        with pytest.raises(Rejected, match="只能发送图片"):
            clean(fake, MB, 10**6)


def test_images_are_redrawn_upright_without_exif_gps_or_comments() -> None:
    out = clean(jpeg_with_gps(), MB, 10**6)
    assert out.content_type == "image/jpeg" and (out.width, out.height) == (20, 40)  # rotated as the phone meant
    again = Image.open(io.BytesIO(out.data))
    assert not again.getexif() and "comment" not in again.info
    assert b"PhoneMaker" not in out.data and b"secret note" not in out.data and b"Exif" not in out.data
    transparent = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(transparent, "PNG")
    assert clean(transparent.getvalue(), MB, 10**6).content_type == "image/png"  # alpha kept as PNG
    gif = io.BytesIO()
    Image.new("P", (8, 8)).save(gif, "GIF")
    assert clean(gif.getvalue(), MB, 10**6).content_type == "image/jpeg"


def test_too_big_bombs_broken_and_active_files_are_refused_with_a_reason() -> None:
    with pytest.raises(Rejected, match="文件太大"):
        clean(b"\xff\xd8\xff" + b"\x00" * (50 * MB), 10 * MB, 10**8)  # a 50 MB "image": refused unread
    with pytest.raises(Rejected, match="图片尺寸太大"):
        clean(png_claiming(60_000, 60_000), 10 * MB, 40_000_000)  # the header is enough to refuse it
    with pytest.raises(Rejected, match="损坏"):
        clean(jpeg_with_gps()[:200], MB, 10**6)
    with pytest.raises(Rejected, match="空"):
        clean(b"", MB, 10**6)
    with pytest.raises(Rejected, match="脚本"):
        clean(PDF_OK.replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >>"),
              MB, 10**6)  # fmt: skip
    with pytest.raises(Rejected, match="不完整"):
        clean(PDF_OK[:-7], MB, 10**6)
    assert clean(PDF_OK, MB, 10**6).data == PDF_OK


def test_links_are_signed_expire_and_name_only_safe_keys() -> None:
    key = "shop1/202612/" + "a" * 32 + ".jpg"
    url = ln.link("http://127.0.0.1:8000", "s3cret", key, 2000)
    assert ln.key_of(url, "s3cret", 1999) == key and ln.tenant_of(key) == "shop1"
    assert ln.key_of(url, "s3cret", 2001) is None  # expired
    assert ln.key_of(url, "other", 1999) is None  # signed by someone else
    assert ln.key_of(url.replace("exp=2000", "exp=9000"), "s3cret", 1999) is None  # a longer life, forged
    assert ln.key_of(url.replace(key, key.replace("shop1", "shop2")), "s3cret", 1999) is None
    assert ln.key_of("javascript:alert(1)", "s3cret", 0) is None
    for bad in ("../etc/passwd", "shop1/202612/../../x.jpg", "/abs/202612/" + "a" * 32 + ".jpg", "s/2026/x.exe"):
        assert not ln.valid("s3cret", bad, 2000, ln.signature("s3cret", bad, 2000), 0)
    assert display_name("C:\\Users\\me\\照片\x00.exe", "jpg") == "照片.jpg" and display_name("", "pdf") == "文件.pdf"


def test_the_service_saves_and_serves_only_by_a_valid_link(tmp_path: Path) -> None:
    clock = [1_800_000_000.0]
    files = FileService(LocalFileStore(tmp_path), "k", "http://files.example", link_seconds=60,
                        clock=lambda: clock[0])  # fmt: skip
    stored = files.save("shop1", "破了.jpg", jpeg_with_gps())
    assert stored.url.startswith("http://files.example/files/shop1/") and stored.name == "破了.jpg"
    key, query = stored.url.split("/files/", 1)[1].split("?")
    exp, sig = (p.split("=", 1)[1] for p in query.split("&"))
    data, ctype = files.open(key, exp, sig)
    assert ctype == "image/jpeg" and data == (tmp_path / key).read_bytes() and b"PhoneMaker" not in data
    assert files.key_of(stored.url, "shop1") == key and files.key_of(stored.url, "shop2") is None
    with pytest.raises(NotFound):
        files.open(key, exp, sig[:-1] + ("A" if sig[-1] != "A" else "B"))
    clock[0] += 61
    with pytest.raises(NotFound):
        files.open(key, exp, sig)  # expired
    assert not list(tmp_path.rglob(".upload-*"))  # nothing half-written left behind
    with pytest.raises(Rejected):
        files.save("shop1", "x.jpg", b"MZ" + b"\x00" * 64)
    assert len(list(tmp_path.rglob("*.*"))) == 1  # a refused file is not stored


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from tests.conftest import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_the_s3_store_keeps_files_in_the_bucket(s3_endpoint: str, tmp_path: Path) -> None:
    import boto3

    creds = {"access_key": "test", "secret_key": "test", "region": "us-east-1"}
    boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket="csbot-files")  # fmt: skip
    store = create_file_store(Backend("files", "s3", {"endpoint_url": s3_endpoint, "bucket": "csbot-files",
                                                      "prefix": "prod", **creds}), tmp_path)  # fmt: skip
    files = FileService(store, "k", "http://h")
    stored = files.save("shop1", "单据.pdf", PDF_OK)
    key, query = stored.url.split("/files/", 1)[1].split("?")
    exp, sig = (p.split("=", 1)[1] for p in query.split("&"))
    assert files.open(key, exp, sig) == (PDF_OK, "application/pdf")
    raw = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                       region_name="us-east-1").get_object(Bucket="csbot-files", Key=f"prod/{key}")  # fmt: skip
    assert raw["Body"].read() == PDF_OK and raw["ContentType"] == "application/pdf"
    assert store.get("shop1/202612/" + "b" * 32 + ".pdf") is None
    assert not list(tmp_path.iterdir())  # nothing on the local disk
    store.close()
