"""The `companion` command line: one root app composed of the sub-apps in this package."""

from __future__ import annotations

import typer


def build_cli() -> typer.Typer:
    from companion.cli import chat

    app = typer.Typer(
        name="companion",
        help="Companion: an LLM companion chatbot with a persona library.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(_root)
    app.command("chat")(chat.chat)
    return app


def _root() -> None:
    """Companion: an LLM companion chatbot with a persona library."""


def main() -> None:
    build_cli()()
