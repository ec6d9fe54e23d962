"""How `companion personas show` and `preview` draw a persona card in the terminal."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from companion.domain.personas import LocalizedText, Module, Persona
from companion.personas.repository import PersonaRepository

err = Console(stderr=True, highlight=False)

MODULE_LABELS = {
    Module.SUPPORT: {"ru": "Поддержка", "en": "Support"},
    Module.PARTNER: {"ru": "Партнёр", "en": "Partner"},
    Module.PRACTICE: {"ru": "Практика общения", "en": "Practice"},
    Module.CELEBRITY: {"ru": "Знаменитость", "en": "Celebrity"},
}


def _localized(text: LocalizedText) -> str:
    root = text.root
    if isinstance(root, str):
        return root
    return " / ".join(f"{lang}: {value}" for lang, value in root.items())


def card_view(persona: Persona, repository: PersonaRepository) -> Group:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    flags = [label for label, on in (("PRO", persona.pro_only), ("18+", persona.adult)) if on]
    rows = [
        ("id", persona.id),
        ("name", _localized(persona.name)),
        ("module", persona.module.value),
        ("languages", ", ".join(persona.languages)),
        ("flags", " ".join(flags) or "-"),
        ("tags", ", ".join(persona.tags) or "-"),
        ("LoRA adapter", persona.lora_adapter or "- (base model)"),
        (
            "sampling",
            ", ".join(
                f"{k}={v}" for k, v in persona.sampling.model_dump().items() if v is not None
            ),
        ),
        ("file", str(repository.file_of(persona.id) or "-")),
    ]
    for key, value in rows:
        head.add_row(key, Text(value))
    parts: list[Panel | Table | Text] = [
        Panel(head, title=persona.display_name("en"), title_align="left")
    ]
    for lang in persona.languages:
        parts.append(
            Panel(Text(persona.preview.get(lang)), title=f"preview ({lang})", title_align="left")
        )
    for title, body in (
        ("description", persona.description),
        ("personality", persona.personality),
        ("speaking style", persona.speaking_style),
        ("scenario", persona.scenario),
    ):
        parts.append(Panel(Text(body.strip() or "-"), title=title, title_align="left"))
    greetings = Text()
    for lang, options in persona.greetings.items():
        for option in options:
            greetings.append(f"[{lang}] ", style="cyan")
            greetings.append(option + "\n")
    parts.append(Panel(greetings, title="greetings", title_align="left"))
    for index, dialogue in enumerate(persona.example_dialogues):
        turns = Text()
        for turn in dialogue.turns:
            if turn.user:
                turns.append("user: ", style="bold cyan")
                turns.append(turn.user + "\n")
            if turn.persona:
                turns.append("persona: ", style="bold magenta")
                turns.append(turn.persona + "\n")
        parts.append(
            Panel(turns, title=f"example {index + 1} ({dialogue.language})", title_align="left")
        )
    if persona.boundaries:
        parts.append(
            Panel(
                Text("\n".join(f"• {item}" for item in persona.boundaries)),
                title="boundaries",
                title_align="left",
            )
        )
    if persona.gallery:
        gallery = Table("file", "caption", "tags", "18+", expand=True)
        for image in persona.gallery:
            gallery.add_row(
                image.file,
                Text(_localized(image.caption)),
                ", ".join(image.tags),
                "yes" if image.adult else "",
            )
        parts.append(gallery)
    if persona.extensions:
        keys = ", ".join(sorted(persona.extensions))
        parts.append(Text(f"extensions: {keys}", style="dim"))
    return Group(*parts)


def system_prompt(persona: Persona, language: str) -> str | None:
    """The module's system prompt for this persona, if the prompt builder is available."""
    try:
        from companion.dialogs import prompts
    except ImportError:
        return None
    builder_cls = getattr(prompts, "PromptBuilder", None)
    context_cls = getattr(prompts, "SystemPromptContext", None)
    if builder_cls is None or context_cls is None:
        return None
    try:
        text = builder_cls().render_system(context_cls(persona=persona, language=language))
    except Exception as exc:  # a template problem must not hide the card preview
        err.print(
            Text(f"(system prompt not rendered: {type(exc).__name__}: {exc})", style="yellow")
        )
        return None
    return str(text)
