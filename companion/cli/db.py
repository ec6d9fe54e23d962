"""`companion db ...`: what the database is and holds; a person's data export and erasure.

`erase-user` runs the same use case as the bot's /forget (`companion.privacy.wiring`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pymongo.errors import PyMongoError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from companion.cli import backup
from companion.cli.errors import fail, settings_or_exit
from companion.config import Settings
from companion.privacy.erasure import ErasureReport, RenewalsNotStoppedError
from companion.storage.crypto import (
    AesGcmCipher,
    DecryptionError,
    EncryptionKeyError,
    FieldCipher,
    load_cipher,
)
from companion.storage.database import Database, DatabaseUnavailableError, open_database
from companion.storage.redis import RedisUnavailableError
from companion.storage.reencrypt import reencrypt
from companion.storage.user_data import UserDataService

if TYPE_CHECKING:
    from companion.app import App

T = TypeVar("T")

app = typer.Typer(
    name="db",
    help="Inspect the MongoDB database (embedded SecantusDB or a configured server).",
    no_args_is_help=True,
    add_completion=False,
)

stdout = Console(highlight=False, soft_wrap=True)


@app.callback()
def db() -> None:
    """Inspect the MongoDB database (embedded SecantusDB or a configured server)."""


def _run(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Open the database, run `work`, close it; known failures become one-line errors."""

    async def run() -> T:
        database = await open_database(settings)
        try:
            return await work(database)
        finally:
            await database.aclose()

    return _or_fail(run)


def _run_app(settings: Settings, work: Callable[[App], Awaitable[T]]) -> T:
    """`work` on the services as the composition root builds them, without Redis or a Bot API
    client (nobody is messaged from here); known failures become one-line errors."""

    async def run() -> T:
        # Imported here: the whole service (aiogram included) loads only for these commands.
        from companion.app import build_app

        async with build_app(
            settings, use_redis=False, watch_personas=False, telegram=False
        ) as built:
            return await work(built)

    return _or_fail(run)


def _or_fail(run: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(run())
    except (DatabaseUnavailableError, EncryptionKeyError, DecryptionError) as exc:
        fail(str(exc))
    except PyMongoError as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")


@app.command("info")
def info() -> None:
    """Show the server (URI with credentials masked), its version, collections and indexes."""
    _run_app(settings_or_exit(), lambda built: _print_info(built.database))


@app.command("export-user")
def export_user(
    user: Annotated[int, typer.Option("--user", help="Telegram user id")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
) -> None:
    """Everything stored about one person as JSON (for a data-access request)."""
    settings = settings_or_exit()
    cipher = _cipher_or_exit(settings)

    async def export(database: Database) -> dict[str, Any]:
        return await UserDataService(database.db, cipher).export(user)

    text = json.dumps(_run(settings, export), ensure_ascii=False, indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        stdout.print(f"exported user {user} to {output}")


@app.command("erase-user")
def erase_user(
    user: Annotated[int, typer.Option("--user", help="Telegram user id")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Erase one person as /forget does: stop renewals, delete their data (payments kept,
    pseudonymised), memory, Redis caches, and roll the embedded database's journal."""
    if not yes:
        typer.confirm(f"Erase all data of user {user}? This cannot be undone", abort=True)
    settings = settings_or_exit()
    _cipher_or_exit(settings)
    try:
        report = asyncio.run(_erase_user(settings, user))
    except (DatabaseUnavailableError, RedisUnavailableError, EncryptionKeyError) as exc:
        fail(str(exc))
    except RenewalsNotStoppedError:
        fail(
            f"could not stop the subscription renewals of user {user} (see the log); "
            "nothing was erased, try again later"
        )
    except PyMongoError as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")
    removed = ", ".join(f"{name} {count}" for name, count in report.documents.items() if count)
    stdout.print(f"erased user {user}: {removed or 'nothing was stored'}")
    if report.redis_keys:
        stdout.print(f"cleared {report.redis_keys} cached Redis key(s)")
    if report.failed_steps:
        stdout.print(
            "[yellow]warning:[/yellow] some caches could not be cleared "
            f"({', '.join(report.failed_steps)}); they expire on their own"
        )


async def _erase_user(settings: Settings, user_id: int) -> ErasureReport:
    """The bot's erasure (`App.erasure`), wired as the bot wires it. Stars subscriptions are
    cancelled through the Bot API, which needs only the token: a Bot client that never polls.
    Without a token no Stars subscription can be cancelled; billing then refuses to erase
    someone who has one (its before-erasure step raises)."""
    # Imported here: the whole service (aiogram included) loads only for this command.
    from companion.app import build_app

    async with build_app(settings, watch_personas=False) as app:
        return await app.erasure.erase(user_id)


@app.command("reencrypt")
def reencrypt_command(
    encrypt_plaintext: Annotated[
        bool,
        typer.Option(
            "--encrypt-plaintext", help="Also encrypt text stored before encryption was on"
        ),
    ] = False,
) -> None:
    """Re-seal stored text with the current key after a rotation (previous keys still set)."""
    settings = settings_or_exit()
    # Checked before anything is opened: a wrong key or no encryption is a one-line answer.
    if not isinstance(_cipher_or_exit(settings), AesGcmCipher):
        fail("encryption at rest is off (privacy.encrypt_at_rest=false): nothing to re-encrypt")

    async def run(built: App) -> dict[str, int]:
        cipher = built.cipher
        assert isinstance(cipher, AesGcmCipher)  # the same settings as checked above
        return await reencrypt(built.database.db, cipher, encrypt_plaintext=encrypt_plaintext)

    counts = _run_app(settings, run)
    stdout.print("re-encrypted: " + ", ".join(f"{name} {count}" for name, count in counts.items()))


def _cipher_or_exit(settings: Settings) -> FieldCipher:
    try:
        return load_cipher(settings.privacy, settings.environment)
    except EncryptionKeyError as exc:
        fail(str(exc))


async def _print_info(database: Database) -> None:
    build: dict[str, Any] = await database.client.admin.command("buildInfo")
    kind = "embedded SecantusDB" if database.is_embedded else "external MongoDB"
    version = str(build.get("version", "?"))
    if "secantusVersion" in build:
        version += f" (SecantusDB {build['secantusVersion']})"
    stdout.print(f"[bold]URI:[/bold] {database.display_uri}")
    stdout.print(f"[bold]Server:[/bold] {kind}, version {version}")
    stdout.print(f"[bold]Database:[/bold] {database.db.name}")

    table = Table("collection", "documents", "indexes")
    for name in sorted(await database.db.list_collection_names()):
        collection = database.db[name]
        count = await collection.estimated_document_count()
        indexes = []
        async for index in await collection.list_indexes():
            keys = ", ".join(f"{field}:{direction}" for field, direction in index["key"].items())
            flags = [flag for flag in ("unique", "sparse") if index.get(flag)]
            if "partialFilterExpression" in index:
                flags.append("partial")
            suffix = f" ({', '.join(flags)})" if flags else ""
            indexes.append(escape(f"{index['name']} [{keys}]{suffix}"))
        table.add_row(name, str(count), "\n".join(indexes))
    stdout.print(table)


# Backups over the MongoDB driver (companion/cli/backup.py): `companion db backup` / `restore`.
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)
