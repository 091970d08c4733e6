"""Files in S3-compatible object storage (AWS S3, MinIO, OSS/COS in S3 mode): ``files: {type: s3, bucket,
endpoint_url, region, access_key, secret_key, prefix}``. The bucket must exist; the platform never makes it
public (files are served through the handoff service's signed links)."""

from __future__ import annotations

from typing import Any

from bot.settings import Backend


class S3FileStore:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    @classmethod
    def from_options(cls, backend: Backend) -> S3FileStore:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=backend.get("endpoint_url") or None,
            region_name=backend.get("region") or "us-east-1",
            aws_access_key_id=backend.get("access_key") or None,
            aws_secret_access_key=backend.get("secret_key") or None,
            config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 2},
                          s3={"addressing_style": backend.get("addressing_style") or "path"}),
        )  # fmt: skip
        return cls(client, str(backend.require("bucket", "the bucket files go to")), str(backend.get("prefix") or ""))

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes | None:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return bytes(obj["Body"].read())

    def delete(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:  # S3 deletes silently: ask first so the count says what was there
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        return True

    def close(self) -> None:
        self.client.close()
