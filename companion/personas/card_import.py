"""Importing a Character Card V2/V3 (JSON or PNG) into the persona library.

One use case for `companion personas import FILE` and for the owner sending a card to the bot:
the card becomes a persona YAML file (and its portrait a gallery image) only after the YAML
passes the same validation as every library file, so a failed import never replaces a good
card and never leaves a half-written persona behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from companion.domain.personas import GalleryImage, LocalizedText, Module, Persona
from companion.personas.card_files import (
    MAX_CARD_BYTES,
    PNG_SIGNATURE,
    CardError,
    png_image,
    read_card_bytes,
)
from companion.personas.cards import persona_from_card
from companion.personas.issues import PersonaIssue
from companion.personas.loader import check_persona_text, dump_persona_yaml


class CardImportError(ValueError):
    """The card cannot become a persona; the message says why, in one line."""


class PersonaExistsError(CardImportError):
    """The library already has a persona with the card's id (and overwriting was not asked)."""

    def __init__(self, yaml_path: Path) -> None:
        super().__init__(f"{yaml_path} already exists")
        self.yaml_path = yaml_path


@dataclass(frozen=True, slots=True)
class CardImport:
    """What an import wrote, or the validation problems that stopped it (nothing written)."""

    persona: Persona
    yaml_path: Path
    issues: list[PersonaIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues


def import_card(
    raw: bytes,
    target_dir: Path,
    *,
    name: str = "card",
    module: Module | None = None,
    persona_id: str | None = None,
    force: bool = False,
) -> CardImport:
    """Write `raw` (a card file's bytes) into `target_dir` as `<id>.yaml` (+ `img/<id>-card.png`).

    Raises `CardImportError` for a card that cannot be read or a persona that already exists
    (without `force`); returns the validation issues, with nothing written, when the persona
    the card gives does not validate.
    """
    if len(raw) > MAX_CARD_BYTES:
        raise CardImportError(f"{name}: {len(raw)} bytes is too large for a card")
    try:
        card = read_card_bytes(raw, name=name)
        persona = persona_from_card(card, module=module, persona_id=persona_id)
        portrait = png_image(raw) if raw.startswith(PNG_SIGNATURE) else None
    except CardError as exc:
        raise CardImportError(str(exc)) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CardImportError(f"{name}: the card's picture cannot be read ({exc})") from None
    yaml_path = target_dir / f"{persona.id}.yaml"
    if yaml_path.exists() and not force:
        raise PersonaExistsError(yaml_path)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        return _write(persona, portrait, target_dir, yaml_path)
    except OSError as exc:  # a read-only library (the packaged one in a wheel install)
        raise CardImportError(f"the persona library cannot be written ({exc.strerror})") from None


def _write(
    persona: Persona, portrait: Image.Image | None, target_dir: Path, yaml_path: Path
) -> CardImport:
    image_path: Path | None = None
    if portrait is not None:
        image_path = target_dir / "img" / f"{persona.id}-card.png"
        image_path.parent.mkdir(exist_ok=True)
        portrait.save(image_path, format="PNG", optimize=True)
        cover = GalleryImage(
            file=f"img/{image_path.name}",
            caption=LocalizedText(persona.name.root),
            tags=["portrait", "card"],
        )
        persona = persona.model_copy(update={"gallery": [cover, *persona.gallery]})
    text = dump_persona_yaml(persona)
    # Validated before the file is written (the gallery image must exist by then).
    _, issues = check_persona_text(text, yaml_path)
    if issues:
        if image_path is not None:
            image_path.unlink(missing_ok=True)
        return CardImport(persona, yaml_path, issues)
    # Written whole under a temporary name, then renamed: the library watcher never reads a
    # half-written file.
    partial = yaml_path.with_name(f".{yaml_path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(yaml_path)
    return CardImport(persona, yaml_path)
