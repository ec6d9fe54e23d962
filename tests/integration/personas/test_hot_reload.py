"""Hot reload with real filesystem events: new, broken, fixed, deleted and image changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from companion.personas.repository import PersonaRepository, ReloadEvent
from tests.unit.personas.helpers import persona_yaml, write_image, write_persona

WAIT_S = 15.0

GALLERY = """\
gallery:
  - file: img/pic.png
    caption: A picture
    tags: [beach]
"""


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[tuple[PersonaRepository, list[ReloadEvent]]]:
    repository = PersonaRepository(tmp_path, debounce_ms=100)
    events: list[ReloadEvent] = []
    repository.add_listener(events.append)
    repository.load_all()
    await repository.start_watching()
    assert repository.watching
    try:
        yield repository, events
    finally:
        await repository.stop_watching()
    assert not repository.watching


async def test_new_broken_fixed_deleted(
    tmp_path: Path, watched: tuple[PersonaRepository, list[ReloadEvent]]
) -> None:
    repository, events = watched
    start_version = repository.version

    path = write_persona(tmp_path, "live", personality="Version one.")
    await wait_until(lambda: repository.get("live") is not None, "new file to appear")
    assert repository.version > start_version
    assert any("live" in event.changed for event in events)

    path.write_text("id: live\nname: [unclosed\n", encoding="utf-8")
    await wait_until(lambda: bool(repository.errors), "broken edit to be reported")
    served = repository.get("live")
    assert served is not None and served.personality == "Version one."
    assert repository.errors[0].file.name == "live.yaml"
    assert "YAML syntax error" in repository.errors[0].message

    path.write_text(persona_yaml("live", personality="Version two."), encoding="utf-8")

    def fixed() -> bool:
        persona = repository.get("live")
        return persona is not None and persona.personality == "Version two."

    await wait_until(fixed, "fixed file to be served")
    assert repository.errors == []

    path.unlink()
    await wait_until(lambda: repository.get("live") is None, "deleted file to disappear")
    assert any("live" in event.removed for event in events)


async def test_deleted_image_is_reported_and_last_good_version_kept(
    tmp_path: Path, watched: tuple[PersonaRepository, list[ReloadEvent]]
) -> None:
    repository, _ = watched
    image = write_image(tmp_path / "img" / "pic.png")
    write_persona(tmp_path, "gallery", gallery=GALLERY)
    await wait_until(lambda: repository.get("gallery") is not None, "persona with image")

    image.unlink()
    await wait_until(lambda: bool(repository.errors), "missing image to be reported")
    assert "image not found: img/pic.png" in str(repository.errors[0])
    assert repository.get("gallery") is not None


async def test_rename_into_place_like_editors_do(
    tmp_path: Path, watched: tuple[PersonaRepository, list[ReloadEvent]]
) -> None:
    repository, _ = watched
    temporary = tmp_path / ".atomic.tmp"
    temporary.write_text(persona_yaml("atomic"), encoding="utf-8")
    temporary.rename(tmp_path / "atomic.yaml")
    await wait_until(lambda: repository.get("atomic") is not None, "renamed file to appear")


async def test_stopped_watcher_changes_nothing(tmp_path: Path) -> None:
    repository = PersonaRepository(tmp_path, debounce_ms=100)
    repository.load_all()
    await repository.start_watching()
    await repository.stop_watching()
    write_persona(tmp_path, "late")
    await asyncio.sleep(0.6)
    assert repository.get("late") is None
    repository.load_all()  # an explicit reload still works
    assert repository.get("late") is not None


async def test_missing_directory_is_not_created(tmp_path: Path) -> None:
    repository = PersonaRepository(tmp_path / "missing", debounce_ms=100)
    await repository.start_watching(ready_timeout_s=5)
    assert not repository.watching
    assert not (tmp_path / "missing").exists()
    await repository.stop_watching()


async def test_polling_mode_also_reloads(tmp_path: Path) -> None:
    repository = PersonaRepository(tmp_path, debounce_ms=100, force_polling=True)
    repository.load_all()
    await repository.start_watching()
    try:
        write_persona(tmp_path, "polled")
        await wait_until(lambda: repository.get("polled") is not None, "polled file to appear")
    finally:
        await repository.stop_watching()
