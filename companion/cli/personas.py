"""`companion personas ...`: check, browse, preview, import and export persona cards."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from PIL import Image
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from companion.cli.persona_view import MODULE_LABELS, card_view, system_prompt
from companion.domain.personas import Module, Persona
from companion.personas import card_import
from companion.personas.card_files import (
    card_to_json,
    card_to_png,
)
from companion.personas.cards import CardVersion, card_from_persona, v2_backfill
from companion.personas.issues import PersonaIssue
from companion.personas.loader import validate_path
from companion.personas.repository import PersonaRepository, packaged_library_dir

app = typer.Typer(
    name="personas",
    help="Check, browse, preview, import and export persona cards.",
    no_args_is_help=True,
    add_completion=False,
)
# Issue and error lines are printed with soft_wrap so each stays one line (greppable); panels wrap.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class CardFormat(StrEnum):
    JSON = "json"
    PNG = "png"


class Language(StrEnum):
    RU = "ru"
    EN = "en"


DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        "-d",
        help="Persona directory (default: settings personas.directory, else the shipped library).",
        file_okay=False,
    ),
]


@app.callback()
def _personas(ctx: typer.Context, directory: DirOption = None) -> None:
    """Check, browse, preview, import and export persona cards."""
    ctx.obj = directory


def _fail(message: str) -> typer.Exit:
    err.print(Text("error: ", style="red") + Text(message), soft_wrap=True)
    return typer.Exit(1)


def _directory(ctx: typer.Context) -> Path:
    if isinstance(ctx.obj, Path):
        return ctx.obj
    from companion.cli.errors import settings_or_exit

    configured = settings_or_exit().personas.directory
    return configured if configured is not None else packaged_library_dir()


def _repository(ctx: typer.Context) -> PersonaRepository:
    directory = _directory(ctx)
    if not directory.is_dir():
        raise _fail(f"persona directory not found: {directory}")
    repository = PersonaRepository(directory)
    repository.load_all()
    return repository


def _persona_or_exit(repository: PersonaRepository, persona_id: str) -> Persona:
    persona = repository.get(persona_id)
    if persona is not None:
        return persona
    broken = [issue for issue in repository.errors if issue.file.stem == persona_id]
    if broken:
        for issue in broken:
            err.print(Text(str(issue)), soft_wrap=True)
        raise _fail(f"persona {persona_id!r} cannot be loaded: its file has errors")
    known = ", ".join(p.id for p in repository.all()) or "none"
    raise _fail(f"unknown persona id {persona_id!r} (known: {known})")


def _print_issues(issues: list[PersonaIssue]) -> None:
    for issue in issues:
        out.print(Text(str(issue), style="red"), soft_wrap=True)


# --- commands --------------------------------------------------------------------------------


@app.command()
def validate(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(help="A persona file or a directory of them (default: the library)."),
    ] = None,
) -> None:
    """Check persona files: every problem on one line as FILE:LINE FIELD: MESSAGE."""
    target = path if path is not None else _directory(ctx)
    if not target.exists():
        raise _fail(f"no such file or directory: {target}")
    personas, issues = validate_path(target)
    _print_issues(issues)
    if issues:
        files = len({issue.file for issue in issues})
        err.print(
            Text(
                f"{len(issues)} problem(s) in {files} file(s); {len(personas)} persona(s) valid",
                style="red",
            ),
            soft_wrap=True,
        )
        raise typer.Exit(1)
    out.print(
        Text(f"✓ {len(personas)} persona(s) valid in {target}", style="green"), soft_wrap=True
    )


@app.command("list")
def list_personas(
    ctx: typer.Context,
    language: Annotated[Language, typer.Option("--language", "-l")] = Language.EN,
    module: Annotated[Module | None, typer.Option("--module", "-m")] = None,
) -> None:
    """A table of the personas: id, name, module, languages and PRO/18+ flags."""
    repository = _repository(ctx)
    table = Table(title=f"Personas in {repository.directory}", title_justify="left")
    table.add_column("id", no_wrap=True)  # ids are typed into other commands: never cut them
    for column in ("name", "module", "languages", "flags", "gallery"):
        table.add_column(column)
    for persona in repository.all(module=module):
        flags = " ".join(
            flag for flag, on in (("PRO", persona.pro_only), ("18+", persona.adult)) if on
        )
        table.add_row(
            persona.id,
            escape(persona.display_name(language.value)),
            MODULE_LABELS[persona.module][language.value],
            ", ".join(persona.languages),
            flags or "-",
            str(len(persona.gallery)),
        )
    out.print(table)
    if repository.errors:
        err.print(
            Text(
                f"{len(repository.errors)} problem(s) in persona files; "
                "run `companion personas validate`",
                style="yellow",
            )
        )


@app.command()
def show(ctx: typer.Context, persona_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """The whole card of one persona."""
    repository = _repository(ctx)
    persona = _persona_or_exit(repository, persona_id)
    out.print(card_view(persona, repository))


@app.command()
def preview(
    ctx: typer.Context,
    persona_id: Annotated[str, typer.Argument(metavar="ID")],
    language: Annotated[Language, typer.Option("--language", "-l")] = Language.RU,
) -> None:
    """The library card as Telegram shows it, the greeting and the system prompt."""
    repository = _repository(ctx)
    persona = _persona_or_exit(repository, persona_id)
    lang = persona.reply_language(language.value)
    flags = [label for label, on in (("PRO", persona.pro_only), ("18+", persona.adult)) if on]
    cover = next((image for image in persona.gallery if not image.adult), None)
    lines = [
        Text(persona.display_name(lang), style="bold"),
        Text(
            f"{MODULE_LABELS[persona.module][lang]}" + (f" · {' · '.join(flags)}" if flags else ""),
            style="cyan",
        ),
        Text(""),
        Text(persona.preview.get(lang)),
    ]
    if cover is not None:
        lines += [Text(""), Text(f"🖼  {repository.image_path(persona, cover)}", style="dim")]
    out.print(Panel(Group(*lines), title="library card", title_align="left", width=72))
    out.print(
        Panel(Text(persona.greeting_for(lang)), title="greeting", title_align="left", width=72)
    )
    prompt = system_prompt(persona, lang)
    if prompt is not None:
        out.print(Rule("system prompt"))
        out.print(Text(prompt))


@app.command("import")
def import_card(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A Character Card V2/V3 as JSON or PNG.")],
    module: Annotated[
        Module | None,
        typer.Option("--module", "-m", help="Module of the new persona (default: support)."),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory to write into (default: library).")
    ] = None,
    persona_id: Annotated[
        str | None, typer.Option("--id", help="Persona id (default: from name).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing persona file.")
    ] = False,
) -> None:
    """Turn a Character Card into a persona YAML file (validated before it is kept)."""
    target_dir = out_dir if out_dir is not None else _directory(ctx)
    try:
        raw = file.read_bytes()
        result = card_import.import_card(
            raw, target_dir, name=file.name, module=module, persona_id=persona_id, force=force
        )
    except OSError as exc:
        raise _fail(f"{file.name}: cannot read ({exc.strerror or exc})") from None
    except card_import.PersonaExistsError as exc:
        raise _fail(f"{exc} (use --force to overwrite, or --id)") from None
    except card_import.CardImportError as exc:
        raise _fail(str(exc)) from None
    persona, yaml_path = result.persona, result.yaml_path
    if not result.ok:
        _print_issues(result.issues)
        raise _fail(f"imported card did not validate; {yaml_path.name} was not written")
    out.print(
        Text(
            f"✓ imported {persona.id!r} ({persona.module.value}, {', '.join(persona.languages)}) "
            f"→ {yaml_path}",
            style="green",
        ),
        soft_wrap=True,
    )


@app.command("export")
def export_card(
    ctx: typer.Context,
    persona_id: Annotated[str, typer.Argument(metavar="ID")],
    card_format: Annotated[CardFormat, typer.Option("--format", "-f")] = CardFormat.JSON,
    version: Annotated[int, typer.Option("--version", "-v", min=2, max=3)] = 2,
    language: Annotated[
        Language | None, typer.Option("--language", "-l", help="Card language (default: en).")
    ] = None,
    out_file: Annotated[Path | None, typer.Option("--out", "-o")] = None,
) -> None:
    """Write a persona as a Character Card V2/V3, JSON or PNG."""
    repository = _repository(ctx)
    persona = _persona_or_exit(repository, persona_id)
    lang = language.value if language is not None else None
    card_version: CardVersion = 3 if version == 3 else 2
    card = card_from_persona(persona, version=card_version, language=lang)
    suffix = ".json" if card_format is CardFormat.JSON else ".png"
    target = out_file if out_file is not None else Path(f"{persona.id}{suffix}")
    if card_format is CardFormat.JSON:
        target.write_text(card_to_json(card), encoding="utf-8")
    else:
        cover = next((image for image in persona.gallery if not image.adult), None)
        picture = None
        if cover is not None:
            with Image.open(repository.image_path(persona, cover)) as source:
                picture = source.convert("RGB")
        backfill = v2_backfill(persona, language=lang) if card_version == 3 else None
        target.write_bytes(card_to_png(card, picture, v2_backfill=backfill))
    out.print(
        Text(
            f"✓ {persona.id} → {target} (card V{card_version}, {card_format.value})", style="green"
        ),
        soft_wrap=True,
    )
