"""An S3-compatible object store for tests: the subset of the S3 REST API that `boto3`'s
`upload_file` / `download_file` use, path-style, over HTTP on 127.0.0.1.

PutObject (plain or `aws-chunked` bodies with trailing checksums, as current botocore sends),
HeadObject, GetObject (with Range), ListObjectsV2, DeleteObject, and S3's XML errors
(NoSuchBucket, NoSuchKey, InvalidAccessKeyId). Requests must be signed with AWS Signature V4
by the configured access key id; the signature itself is not recomputed.
"""

from __future__ import annotations

import hashlib
import re
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

ACCESS_KEY_ID = "test-access-key"
SECRET_ACCESS_KEY = "test-secret-key"
_CREDENTIAL = re.compile(r"Credential=([^/]+)/")


@dataclass
class StoredObject:
    data: bytes
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def etag(self) -> str:
        return f'"{hashlib.md5(self.data, usedforsecurity=False).hexdigest()}"'


def _error(status: int, code: str, message: str, resource: str = "") -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>emulator</RequestId></Error>"
    )
    return web.Response(status=status, body=body.encode(), content_type="application/xml")


def decode_aws_chunked(body: bytes) -> bytes:
    """The payload of an `aws-chunked` body: `<hex size>[;ext]\\r\\n<data>\\r\\n` ... `0\\r\\n`
    followed by trailing headers (checksums)."""
    out = bytearray()
    position = 0
    while True:
        line_end = body.index(b"\r\n", position)
        size = int(body[position:line_end].split(b";")[0], 16)
        position = line_end + 2
        if size == 0:
            return bytes(out)
        out += body[position : position + size]
        position += size + 2  # the chunk's own CRLF


class S3Emulator:
    def __init__(self, buckets: tuple[str, ...] = ("backups",)) -> None:
        self.buckets: dict[str, dict[str, StoredObject]] = {name: {} for name in buckets}
        self.requests: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> S3Emulator:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{bucket}", self._bucket)
        app.router.add_route("*", "/{bucket}/{key:.+}", self._object)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _refused(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path))
        found = _CREDENTIAL.search(request.headers.get("Authorization", ""))
        if not request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256"):
            return _error(403, "AccessDenied", "Anonymous access is forbidden", request.path)
        if found is None or found.group(1) != ACCESS_KEY_ID:
            return _error(403, "InvalidAccessKeyId", "The access key id does not exist")
        if request.match_info["bucket"] not in self.buckets:
            return _error(404, "NoSuchBucket", "The specified bucket does not exist", request.path)
        return None

    async def _bucket(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        if request.method != "GET" or request.query.get("list-type") != "2":
            return _error(501, "NotImplemented", "Only ListObjectsV2 on a bucket")
        name = request.match_info["bucket"]
        prefix = request.query.get("prefix", "")
        items = "".join(
            f"<Contents><Key>{escape(key)}</Key><Size>{len(obj.data)}</Size>"
            f"<ETag>{escape(obj.etag)}</ETag>"
            f"<LastModified>{obj.modified.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</LastModified>"
            "</Contents>"
            for key, obj in sorted(self.buckets[name].items())
            if key.startswith(prefix)
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{escape(name)}</Name><Prefix>{escape(prefix)}</Prefix>"
            f"<IsTruncated>false</IsTruncated>{items}</ListBucketResult>"
        )
        return web.Response(body=body.encode(), content_type="application/xml")

    async def _object(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._refused(request)) is not None:
            return refused
        objects = self.buckets[request.match_info["bucket"]]
        key = request.match_info["key"]
        if request.method == "PUT":
            body = await request.read()
            encoding = request.headers.get("Content-Encoding", "")
            streaming = request.headers.get("x-amz-content-sha256", "").startswith("STREAMING-")
            if "aws-chunked" in encoding or streaming:
                body = decode_aws_chunked(body)
            objects[key] = StoredObject(body)
            return web.Response(headers={"ETag": objects[key].etag})
        if request.method == "DELETE":
            objects.pop(key, None)
            return web.Response(status=204)
        stored = objects.get(key)
        if stored is None:
            if request.method == "HEAD":  # HEAD answers carry no body
                return web.Response(status=404)
            return _error(404, "NoSuchKey", "The specified key does not exist.", key)
        headers = {
            "ETag": stored.etag,
            "Last-Modified": format_datetime(stored.modified, usegmt=True),
            "Accept-Ranges": "bytes",
            "Content-Type": "binary/octet-stream",
        }
        data, status = stored.data, 200
        if wanted := re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("Range", "")):
            start = int(wanted.group(1))
            end = int(wanted.group(2)) if wanted.group(2) else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(data))
            return web.Response(status=status, headers=headers)
        return web.Response(status=status, body=data, headers=headers)
