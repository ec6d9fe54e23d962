"""PersonaRepository without the watcher: last good versions, deletions, ordering, listeners."""

from __future__ import annotations

from pathlib import Path

from companion.domain.personas import Module
from companion.personas.repository import PersonaRepository, ReloadEvent
from tests.unit.personas.helpers import persona_yaml, write_persona


def test_broken_file_keeps_last_good_version(tmp_path: Path) -> None:
    path = write_persona(tmp_path, "alpha", personality="First version.")
    repository = PersonaRepository(tmp_path)
    repository.load_all()
    assert repository.errors == []
    version = repository.version

    path.write_text("id: alpha\nname: [broken\n", encoding="utf-8")
    event = repository.reload_file(path)
    persona = repository.get("alpha")
    assert persona is not None and persona.personality == "First version."
    assert [issue.file.name for issue in repository.errors] == ["alpha.yaml"]
    assert event.issues and not event.changed
    assert repository.version == version  # nothing served changed

    path.write_text(persona_yaml("alpha", personality="Second version."), encoding="utf-8")
    event = repository.reload_file(path)
    persona = repository.get("alpha")
    assert persona is not None and persona.personality == "Second version."
    assert repository.errors == []
    assert event.changed == {"alpha"} and repository.version == version + 1


def test_broken_file_without_good_version_is_not_served(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("id: bad\n", encoding="utf-8")
    write_persona(tmp_path, "good")
    repository = PersonaRepository(tmp_path)
    repository.load_all()
    assert repository.get("bad") is None
    assert [p.id for p in repository.all()] == ["good"]
    assert {issue.field_path for issue in repository.errors} >= {"name", "module"}


def test_deleted_file_removes_persona_and_its_issues(tmp_path: Path) -> None:
    path = write_persona(tmp_path, "gone")
    repository = PersonaRepository(tmp_path)
    repository.load_all()
    path.unlink()
    event = repository.reload_file(path)
    assert repository.get("gone") is None and "gone" not in repository
    assert event.removed == {"gone"}

    broken = tmp_path / "broken.yaml"
    broken.write_text("::", encoding="utf-8")
    repository.load_all()
    assert repository.errors
    broken.unlink()
    repository.load_all()
    assert repository.errors == []


def test_id_clash_between_files_keeps_the_first(tmp_path: Path) -> None:
    write_persona(tmp_path, "same")
    repository = PersonaRepository(tmp_path)
    repository.load_all()
    clash = tmp_path / "same.yml"
    clash.write_text(persona_yaml("same", personality="Impostor."), encoding="utf-8")
    repository.reload_file(clash)
    persona = repository.get("same")
    assert persona is not None and persona.personality == "Kind and patient."
    assert [(i.file.name, i.field_path) for i in repository.errors] == [("same.yml", "id")]


def test_all_filters_and_sorts(tmp_path: Path) -> None:
    write_persona(tmp_path, "zeta", module="celebrity")
    write_persona(tmp_path, "beta", module="practice")
    write_persona(tmp_path, "alpha", module="practice")
    write_persona(tmp_path, "omega", module="support")
    (tmp_path / "en-only.yaml").write_text(
        persona_yaml("en-only").replace("languages: [ru, en]", "languages: [en]"), encoding="utf-8"
    )
    repository = PersonaRepository(tmp_path)
    repository.load_all()
    assert [p.id for p in repository.all()] == ["en-only", "omega", "alpha", "beta", "zeta"]
    assert [p.id for p in repository.all(module=Module.PRACTICE)] == ["alpha", "beta"]
    assert "en-only" not in [p.id for p in repository.all(language="ru")]
    assert len(repository.all(language="en")) == 5


def test_listeners_hear_changes_and_a_failing_one_does_not_stop_others(tmp_path: Path) -> None:
    events: list[ReloadEvent] = []

    def broken_listener(event: ReloadEvent) -> None:
        raise RuntimeError("listener bug")

    repository = PersonaRepository(tmp_path)
    repository.add_listener(broken_listener)
    repository.add_listener(events.append)
    write_persona(tmp_path, "new")
    repository.load_all()
    assert events[-1].changed == {"new"}
    assert events[-1].version == repository.version
    repository.remove_listener(events.append)
    repository.reload_file(tmp_path / "new.yaml")
    assert len(events) == 1


def test_image_path_is_next_to_the_persona_file(tmp_path: Path) -> None:
    write_persona(tmp_path, "pic")
    repository = PersonaRepository(tmp_path)
    repository.load_all()
    persona = repository.get("pic")
    assert persona is not None
    assert repository.image_path(persona, "img/x.png") == tmp_path.resolve() / "img" / "x.png"


def test_missing_directory_is_reported(tmp_path: Path) -> None:
    repository = PersonaRepository(tmp_path / "nope")
    event = repository.load_all()
    assert len(repository) == 0
    assert event.issues and "does not exist" in event.issues[0].message
