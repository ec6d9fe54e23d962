"""Small valid persona files and images for persona tests, written into a test's tmp dir."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from PIL import Image


def write_image(path: Path, color: tuple[int, int, int] = (200, 120, 80)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 40), color).save(path, format="PNG")
    return path


def persona_yaml(
    persona_id: str,
    *,
    name: str = "Tester",
    module: str = "support",
    personality: str = "Kind and patient.",
    gallery: str = "",
) -> str:
    text = dedent(
        f"""\
        id: {persona_id}
        name:
          ru: Тестер
          en: {name}
        module: {module}
        languages: [ru, en]
        preview:
          ru: Короткое описание.
          en: A short preview.
        description: A test persona.
        personality: {personality}
        speaking_style: Plain.
        scenario: A test.
        greetings:
          ru: ["Привет!"]
          en: ["Hi!"]
        """
    )
    return text + gallery


def write_persona(directory: Path, persona_id: str, **kwargs: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{persona_id}.yaml"
    path.write_text(persona_yaml(persona_id, **kwargs), encoding="utf-8")
    return path
