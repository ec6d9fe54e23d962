"""One-line errors for CLI commands: no stack traces, a non-zero exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from companion.config import Settings, load_settings

stderr = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    stderr.print(f"[red]error:[/red] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        fail(f"invalid settings: {problems}")


@contextmanager
def one_line_errors(*known: type[BaseException]) -> Iterator[None]:
    """Turn the listed exceptions into `error: <message>` and exit code 1."""
    try:
        yield
    except known as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
