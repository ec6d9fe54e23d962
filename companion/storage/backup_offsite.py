"""An off-host copy of each backup archive in S3-compatible storage (AWS S3, MinIO, Yandex
Object Storage, ...), optional: on when a bucket is configured and boto3 is installed.

A disk that dies takes the local archives with it; the copy is what a new host restores from.
Retention of the bucket is the bucket's own lifecycle rule (docs/operations.md, "Backups").
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class S3Target:
    bucket: str
    prefix: str = "companion/"
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


class OffsiteUnavailableError(RuntimeError):
    pass


def _client(target: S3Target) -> Any:
    try:
        import boto3  # type: ignore[import-untyped,import-not-found,unused-ignore]
        from botocore.config import Config  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:  # optional dependency
        raise OffsiteUnavailableError("an S3 bucket is set but boto3 is not installed") from exc
    # Services other than AWS (MinIO, Yandex Object Storage) are reached at their own endpoint
    # with the bucket in the path, which all of them serve.
    addressing = "path" if target.endpoint_url else "auto"
    return boto3.client(
        "s3",
        endpoint_url=target.endpoint_url,
        region_name=target.region,
        aws_access_key_id=target.access_key_id,
        aws_secret_access_key=target.secret_access_key,
        config=Config(
            s3={"addressing_style": addressing},
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        ),
    )


def _failure(action: str, target: S3Target, key: str, exc: Exception) -> OffsiteUnavailableError:
    """One line for the operator: what failed and S3's error code, never the credentials."""
    reason = type(exc).__name__
    # boto3's transfer errors wrap botocore's ClientError, which carries S3's error code.
    for error in (exc, exc.__cause__, exc.__context__):
        response = getattr(error, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code"):
            reason = str(response["Error"]["Code"])
            break
    else:
        if found := re.search(r"An error occurred \((\w+)\)", str(exc)):
            reason = found.group(1)
    return OffsiteUnavailableError(f"{action} s3://{target.bucket}/{key} failed: {reason}")


async def upload(target: S3Target, archive: Path) -> str:
    """Copy `archive` to the bucket; returns the object key."""
    key = f"{target.prefix}{archive.name}"
    client = _client(target)
    try:
        # boto3 is blocking: the upload runs in a thread so a backup loop's timers keep running.
        await asyncio.to_thread(client.upload_file, str(archive), target.bucket, key)
    except Exception as exc:  # botocore's errors: ClientError, EndpointConnectionError...
        raise _failure("copy to", target, key, exc) from exc
    return key


async def download(target: S3Target, name: str, directory: Path) -> Path:
    """Fetch archive `name` from the bucket into `directory` (nothing left there on failure)."""
    if not name or "/" in name or name in {".", ".."}:
        raise OffsiteUnavailableError(f"{name!r} is not an archive name")
    key = f"{target.prefix}{name}"
    path = directory / name
    client = _client(target)
    try:
        await asyncio.to_thread(client.download_file, target.bucket, key, str(path))
    except Exception as exc:
        path.unlink(missing_ok=True)
        raise _failure("fetching", target, key, exc) from exc
    return path
