"""The shipped persona library: valid, complete and within its limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.domain.personas import Module, Persona
from companion.personas.loader import validate_path
from companion.personas.repository import PersonaRepository, packaged_library_dir
from scripts import make_art

LIBRARY = packaged_library_dir()


@pytest.fixture(scope="module")
def personas() -> list[Persona]:
    found, issues = validate_path(LIBRARY)
    assert [str(issue) for issue in issues] == []
    return found


def test_at_least_eight_personas_in_all_modules(personas: list[Persona]) -> None:
    assert len(personas) >= 8
    assert {persona.module for persona in personas} == set(Module)


def test_every_persona_speaks_russian_and_english(personas: list[Persona]) -> None:
    for persona in personas:
        assert set(persona.languages) == {"ru", "en"}, persona.id
        for text in (persona.name, persona.preview):
            assert isinstance(text.root, dict), persona.id
            assert text.root.get("ru") and text.root.get("en"), persona.id
        assert persona.greetings["ru"] and persona.greetings["en"], persona.id
        for image in persona.gallery:
            assert isinstance(image.caption.root, dict), (persona.id, image.file)
            assert set(image.caption.root) == {"ru", "en"}, (persona.id, image.file)


def test_cards_are_complete(personas: list[Persona]) -> None:
    for persona in personas:
        for field in ("description", "personality", "speaking_style", "scenario"):
            assert len(getattr(persona, field).split()) >= 40, (persona.id, field)
        assert len(persona.example_dialogues) >= 2, persona.id
        assert {d.language for d in persona.example_dialogues} == {"ru", "en"}, persona.id
        assert len(persona.boundaries) >= 3, persona.id
        assert 3 <= len(persona.gallery) <= 4, persona.id


def test_kylie_and_mark_are_partner_personas(personas: list[Persona]) -> None:
    by_id = {persona.id: persona for persona in personas}
    for persona_id, ru_name in (("kylie", "Кайли"), ("mark", "Марк")):
        persona = by_id[persona_id]
        assert persona.module is Module.PARTNER
        assert persona.pro_only and persona.adult
        assert persona.name.get("ru") == ru_name
    assert "curl" in by_id["kylie"].description
    assert "beard" in by_id["mark"].description


def test_adult_images_only_in_partner_personas(personas: list[Persona]) -> None:
    for persona in personas:
        adult_images = [image for image in persona.gallery if image.adult]
        if persona.module is not Module.PARTNER:
            assert adult_images == [], persona.id
        # Every persona keeps a picture anyone may see.
        assert any(not image.adult for image in persona.gallery), persona.id


def test_library_stays_small() -> None:
    total = sum(path.stat().st_size for path in LIBRARY.rglob("*") if path.is_file())
    assert total < 3 * 1024 * 1024


def test_every_image_is_used_and_every_used_image_exists(personas: list[Persona]) -> None:
    used = {image.file for persona in personas for image in persona.gallery}
    on_disk = {f"img/{path.name}" for path in (LIBRARY / "img").iterdir()}
    assert used == on_disk


def test_repository_serves_the_library() -> None:
    repository = PersonaRepository(LIBRARY)
    repository.load_all()
    assert repository.errors == []
    kylie = repository.get("kylie")
    assert kylie is not None
    path = repository.image_path(kylie, kylie.gallery[0])
    assert path.is_file() and path.parent.parent == Path(LIBRARY).resolve()
    assert [p.module for p in repository.all()] == sorted(
        (p.module for p in repository.all()), key=list(Module).index
    )
    assert {p.id for p in repository.all(module=Module.PARTNER)} == {"kylie", "mark"}


def test_art_generator_covers_the_gallery_and_draws_every_scene(personas: list[Persona]) -> None:
    planned = {shot.file for shots in make_art.SHOTS.values() for shot in shots}
    used = {Path(image.file).name for persona in personas for image in persona.gallery}
    assert planned == used
    for scene in make_art.SCENES:
        look = next(iter(make_art.SHOTS.values()))[0].look
        image = make_art.draw(make_art.Shot(f"test-{scene}.jpg", scene, look))
        assert image.size == make_art.SIZE
        # A real picture, not a flat fill: many distinct colours.
        assert len(image.resize((60, 75)).getcolors(maxcolors=10_000) or []) > 200, scene
