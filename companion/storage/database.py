"""Opening the MongoDB database: a configured server, or the embedded SecantusDB by default."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError, PyMongoError

from companion.config import Settings
from companion.storage.embedded import EmbeddedMongoServer, EmbeddedServerError
from companion.storage.indexes import ensure_indexes

log = logging.getLogger(__name__)

Document = dict[str, Any]


def _short_reason(exc: BaseException) -> str:
    """The first useful clause of a driver error (they carry the whole topology description)."""
    text = str(exc).strip()
    if not text:
        return "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
    for marker in (" (configured timeouts", ", Timeout:", ", Topology Description"):
        text = text.split(marker)[0]
    return text.splitlines()[0]


class DatabaseUnavailableError(RuntimeError):
    """The database cannot be reached or started; the message is one line for the operator."""


def mask_uri(uri: str) -> str:
    """The URI with its password hidden, fit for logs and `companion db info`."""
    scheme, separator, rest = uri.partition("://")
    before_query, question, query = rest.partition("?")
    if not separator or "@" not in before_query:
        return uri
    # The last '@' ends the credentials, even when an unescaped password contains '@' or '/'.
    credentials, _, hosts = before_query.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hosts}{question}{query}"


class Database:
    """The open client, its database and, when embedded, the server process behind it."""

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        name: str,
        *,
        display_uri: str,
        embedded: EmbeddedMongoServer | None = None,
    ) -> None:
        self.client = client
        self.db: AsyncDatabase[Document] = client[name]
        self.display_uri = display_uri
        self.embedded = embedded
        self._supervisor: asyncio.Task[None] | None = None

    def supervise_embedded(self) -> None:
        """Restart the embedded server whenever it dies (see `EmbeddedMongoServer.supervise`)."""
        if self.embedded is not None and self._supervisor is None:
            self._supervisor = asyncio.create_task(
                self.embedded.supervise(), name="embedded-database-supervisor"
            )

    @property
    def is_embedded(self) -> bool:
        return self.embedded is not None

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """Whether the server answers now (for health checks); never raises."""
        try:
            await asyncio.wait_for(self.client.admin.command("ping"), timeout=timeout_s)
        except (PyMongoError, TimeoutError):
            return False
        return True

    async def aclose(self) -> None:
        """Close the client first, then stop the embedded server so it can checkpoint cleanly."""
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        try:
            await self.client.close()
        finally:
            if self.embedded is not None:
                await self.embedded.astop()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def open_database(settings: Settings, *, create_indexes: bool = True) -> Database:
    """Connect (starting the embedded server when no URI is set), ping, and ensure indexes."""
    mongo = settings.mongo
    embedded: EmbeddedMongoServer | None = None
    if mongo.uri is None:
        embedded = EmbeddedMongoServer(
            mongo.embedded_data_dir,
            start_timeout_s=mongo.embedded_start_timeout_s,
            sync_on_commit=mongo.embedded_sync_on_commit,
        )
        try:
            uri = await embedded.astart()
        except EmbeddedServerError as exc:
            if "already being managed by another process" in str(exc):
                reason = "it is in use by another process (is another companion running?)"
            else:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DatabaseUnavailableError(
                f"cannot start the embedded database in {mongo.embedded_data_dir}: {reason}"
            ) from exc
        display = f"{uri} (embedded SecantusDB, data in {mongo.embedded_data_dir})"
    else:
        uri = mongo.uri.get_secret_value()
        display = mask_uri(uri)

    timeout_ms = mongo.server_selection_timeout_ms
    try:
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            appname="companion",
        )
    except (ConfigurationError, ValueError) as exc:
        raise DatabaseUnavailableError(f"invalid MongoDB URI {mask_uri(uri)}: {exc}") from exc

    database = Database(client, mongo.database, display_uri=display, embedded=embedded)
    try:
        await asyncio.wait_for(client.admin.command("ping"), timeout=timeout_ms / 1000 + 1)
        if create_indexes:
            await ensure_indexes(database.db)
    except (PyMongoError, TimeoutError) as exc:
        await database.aclose()
        reason = _short_reason(exc)
        raise DatabaseUnavailableError(
            f"cannot reach MongoDB at {mask_uri(uri)} within {timeout_ms / 1000:g} s: {reason}"
        ) from exc
    except BaseException:
        await database.aclose()
        raise
    database.supervise_embedded()
    log.info("connected to MongoDB at %s", display)
    return database
