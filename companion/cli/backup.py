"""`companion db backup` / `companion db restore`: archives over the MongoDB driver.

The same commands run on a developer machine (embedded SecantusDB), in the compose stack's
`backup` service (every 6 h, 3 days kept) and as a Kubernetes CronJob. Every option also reads
a COMPANION_BACKUP__* variable so a container is configured by its environment.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from companion.cli.errors import fail, settings_or_exit, stderr
from companion.config import Settings
from companion.storage import backup as archives
from companion.storage.backup_offsite import OffsiteUnavailableError, S3Target, download, upload
from companion.storage.crypto import EncryptionKeyError
from companion.storage.database import DatabaseUnavailableError, open_database

Directory = Annotated[
    Path,
    typer.Option("--dir", envvar="COMPANION_BACKUP__DIRECTORY", help="Where archives are kept"),
]
Bucket = Annotated[
    str | None,
    typer.Option(envvar="COMPANION_BACKUP__S3_BUCKET", help="S3-compatible bucket for copies"),
]


def _s3(bucket: str | None) -> S3Target | None:
    if not bucket:
        return None
    env = os.environ.get
    return S3Target(
        bucket=bucket,
        prefix=env("COMPANION_BACKUP__S3_PREFIX", "companion/"),
        endpoint_url=env("COMPANION_BACKUP__S3_ENDPOINT_URL") or None,
        region=env("COMPANION_BACKUP__S3_REGION") or None,
        access_key_id=env("COMPANION_BACKUP__S3_ACCESS_KEY_ID") or None,
        secret_access_key=env("COMPANION_BACKUP__S3_SECRET_ACCESS_KEY") or None,
    )


def backup(
    directory: Directory = Path("var/backups"),
    keep_days: Annotated[
        float,
        typer.Option(envvar="COMPANION_BACKUP__RETENTION_DAYS", help="Delete older archives"),
    ] = 3.0,
    every: Annotated[
        float | None, typer.Option(help="Repeat every N seconds (a backup service); once if unset")
    ] = None,
    bucket: Bucket = None,
) -> None:
    """Dump the database into an archive, copy it off-host if a bucket is set, prune old ones."""
    settings = settings_or_exit()
    target = _s3(bucket)
    while True:
        try:
            asyncio.run(_backup_once(settings, directory, keep_days, target))
        except (DatabaseUnavailableError, OffsiteUnavailableError, OSError) as exc:
            if every is None:
                fail(f"backup failed: {exc}")
            # A loop keeps going: the next run may find the database back.
            stderr.print(f"backup failed: {exc}")
        except EncryptionKeyError as exc:  # the settings, not the moment: no use trying again
            fail(f"backup failed: {exc}")
        if every is None:
            return
        time.sleep(every)


async def _backup_once(
    settings: Settings, directory: Path, keep_days: float, target: S3Target | None
) -> None:
    # Imported here: the whole service (aiogram included) loads only for this command.
    from companion.app import build_app

    # The database as the composition root opens it (an erasure cut off by a crash is finished
    # first, so the archive holds none half-done), without Redis or a Bot API client, and
    # dumped as it is: no index is added on the way.
    async with build_app(
        settings, use_redis=False, watch_personas=False, telegram=False, create_indexes=False
    ) as built:
        info = await archives.dump(built.database.db, directory)
    total = sum(info.counts.values())
    print(f"backup {info.path.name}: {len(info.counts)} collections, {total} documents")
    if target is not None:
        key = await upload(target, info.path)
        print(f"copied to s3://{target.bucket}/{key}")
    for path in archives.prune(directory, keep_days=keep_days):
        print(f"pruned {path.name}")


def restore(
    archive: Annotated[
        Path | None,
        typer.Argument(help="An archive file (default: the newest in --dir)"),
    ] = None,
    directory: Directory = Path("var/backups"),
    from_bucket: Annotated[
        str | None, typer.Option(help="Fetch this archive name from the S3 bucket first")
    ] = None,
    bucket: Bucket = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Replace the database's collections with an archive's (the bot should be stopped)."""
    settings = settings_or_exit()
    if from_bucket is not None:
        target = _s3(bucket)
        if target is None:
            fail("--from-bucket needs COMPANION_BACKUP__S3_BUCKET (or --bucket)")
        directory.mkdir(parents=True, exist_ok=True)
        try:
            archive = asyncio.run(download(target, from_bucket, directory))
        except OffsiteUnavailableError as exc:
            fail(str(exc))
    path = archive or archives.latest(directory)
    if path is None or not path.is_file():
        fail(f"no backup archive found ({archive or directory})")
    if not yes:
        typer.confirm(f"Replace the database's collections with {path.name}?", abort=True)
    try:
        counts = asyncio.run(_restore(settings, path))
    except archives.BackupFormatError as exc:
        fail(str(exc))
    except DatabaseUnavailableError as exc:
        fail(str(exc))
    print(f"restored {path.name}: {len(counts)} collections, {sum(counts.values())} documents")


async def _restore(settings: Settings, path: Path) -> dict[str, int]:
    database = await open_database(settings, create_indexes=False)
    try:
        return await archives.restore(database.db, path)
    finally:
        await database.aclose()
