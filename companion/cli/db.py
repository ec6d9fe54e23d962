"""`companion db ...`: what the database is, where it runs, and what it holds."""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from pymongo.errors import PyMongoError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from companion.cli.errors import fail, settings_or_exit
from companion.config import Settings
from companion.storage.database import Database, DatabaseUnavailableError, open_database

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


@app.command("info")
def info() -> None:
    """Show the server (URI with credentials masked), its version, collections and indexes."""
    settings = settings_or_exit()
    try:
        asyncio.run(_info(settings))
    except DatabaseUnavailableError as exc:
        fail(str(exc))
    except PyMongoError as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")


async def _info(settings: Settings) -> None:
    database = await open_database(settings)
    try:
        await _print_info(database)
    finally:
        await database.aclose()


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
