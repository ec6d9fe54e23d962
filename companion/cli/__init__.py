"""The `companion` command line: one root app composed of the sub-apps in this package.

Sub-apps are imported here, when the CLI is built, and each imports its heavy dependencies
(torch, faster-whisper) only inside its commands, so `companion --help` stays fast.
"""

from __future__ import annotations

import typer


def build_cli() -> typer.Typer:
    from companion.cli import (
        billing,
        bot,
        chat,
        db,
        memory,
        mood,
        personas,
        quality,
        speak,
        stats,
        transcribe,
    )

    app = typer.Typer(
        name="companion",
        help="Companion: an LLM companion chatbot with a persona library.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(_root)
    app.command("chat")(chat.chat)
    app.command("bot")(bot.bot)
    app.command("transcribe")(transcribe.transcribe)
    app.command("speak")(speak.speak)
    app.command("eval")(quality.evaluate)
    app.add_typer(personas.app, name="personas")
    app.add_typer(db.app, name="db")
    app.add_typer(memory.app, name="memory")
    app.add_typer(billing.app, name="billing")
    app.add_typer(stats.app, name="stats")
    from companion.cli import stats_mood  # `companion stats mood|survey`

    stats_mood.register(stats.app)
    app.add_typer(mood.app, name="mood")
    return app


def _root() -> None:
    """Companion: an LLM companion chatbot with a persona library."""


def main() -> None:
    build_cli()()
