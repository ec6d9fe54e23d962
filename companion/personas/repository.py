"""The persona library in memory, loaded from a directory of YAML files and kept fresh.

`PersonaRepository` serves the last good version of every persona. A file that breaks keeps
its previous version serving and its issues are reported (``errors``, the log, listeners); a
deleted file takes its persona away. With `start_watching` a background task follows the
directory with `watchfiles.awatch` so edits are picked up while the service runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchfiles import Change, awatch

from companion.domain.personas import GalleryImage, Module, Persona
from companion.personas.issues import PersonaIssue, duplicate_issue
from companion.personas.loader import PERSONA_SUFFIXES, check_persona_file, persona_files
from companion.resources import package_folder

logger = logging.getLogger(__name__)

_MODULE_ORDER = {module: index for index, module in enumerate(Module)}


def packaged_library_dir() -> Path:
    """The cards shipped with the package (``companion/personas/library``)."""
    return package_folder("companion.personas", "library")


@dataclass(frozen=True, slots=True)
class ReloadEvent:
    """What one (re)load changed; given to listeners after ``version`` was increased."""

    version: int
    changed: frozenset[str] = frozenset()  # persona ids added or updated
    removed: frozenset[str] = frozenset()
    issues: tuple[PersonaIssue, ...] = ()  # problems found in the files looked at this time


ReloadListener = Callable[[ReloadEvent], None]


@dataclass(slots=True)
class _Entry:
    persona: Persona
    file: Path


@dataclass(slots=True)
class _Change:
    changed: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    issues: list[PersonaIssue] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.removed or self.issues)


class PersonaRepository:
    """Personas from one directory; ``version`` grows with every change that is applied."""

    def __init__(
        self,
        directory: Path,
        *,
        debounce_ms: int = 300,
        force_polling: bool | None = None,
    ) -> None:
        # Resolved once, so paths from the watcher (always absolute and resolved) compare equal.
        self._directory = directory.resolve()
        self._debounce_ms = debounce_ms
        self._force_polling = force_polling
        self._entries: dict[str, _Entry] = {}
        self._file_ids: dict[Path, str] = {}
        self._issues: dict[Path, list[PersonaIssue]] = {}
        self._listeners: list[ReloadListener] = []
        self._version = 0
        self._watch_task: asyncio.Task[None] | None = None
        self._stop_event: asyncio.Event | None = None

    # --- reading -------------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def version(self) -> int:
        return self._version

    @property
    def errors(self) -> list[PersonaIssue]:
        """Problems in files as they are on disk now (their personas keep the last good version)."""
        issues = [issue for file_issues in self._issues.values() for issue in file_issues]
        return sorted(issues, key=lambda issue: issue.sort_key)

    def get(self, persona_id: str) -> Persona | None:
        entry = self._entries.get(persona_id)
        return entry.persona if entry else None

    def all(self, language: str | None = None, module: Module | None = None) -> list[Persona]:
        """Personas by module (Support, Partner, Practice, Celebrity), then id."""
        personas = [
            entry.persona
            for entry in self._entries.values()
            if (language is None or language in entry.persona.languages)
            and (module is None or entry.persona.module is module)
        ]
        return sorted(personas, key=lambda p: (_MODULE_ORDER[p.module], p.id))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, persona_id: object) -> bool:
        return persona_id in self._entries

    def file_of(self, persona_id: str) -> Path | None:
        entry = self._entries.get(persona_id)
        return entry.file if entry else None

    def image_path(self, persona: Persona, image: GalleryImage | str) -> Path:
        """Where a gallery image of ``persona`` lies on disk."""
        file = image.file if isinstance(image, GalleryImage) else image
        source = self.file_of(persona.id)
        base = source.parent if source else self._directory
        return base / file

    # --- listeners -----------------------------------------------------------------------------

    def add_listener(self, listener: ReloadListener) -> None:
        """Call ``listener`` after every change: `load_all`, `reload_file` or the watcher."""
        self._listeners.append(listener)

    def remove_listener(self, listener: ReloadListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    # --- loading -------------------------------------------------------------------------------

    def load_all(self) -> ReloadEvent:
        """Read every file in the directory; broken files keep their last good persona."""
        change = _Change()
        present = set(persona_files(self._directory))
        for gone in set(self._file_ids) | set(self._issues):
            if gone not in present:
                self._forget_file(gone, change)
        for file in sorted(present):
            self._load_file(file, change)
        if not self._directory.is_dir():
            change.issues.append(
                PersonaIssue(self._directory, "", None, "persona directory does not exist")
            )
        return self._publish(change, force=True)

    def reload_file(self, path: Path) -> ReloadEvent:
        """Apply the current state of one file: new, changed, broken or deleted."""
        change = _Change()
        path = path.resolve()
        if path.is_file() and path.suffix in PERSONA_SUFFIXES:
            self._load_file(path, change)
        else:
            self._forget_file(path, change)
        return self._publish(change)

    def _load_file(self, path: Path, change: _Change) -> None:
        try:
            persona, issues = check_persona_file(path)
        except Exception as exc:  # a loader bug on one odd file must not stop the library
            logger.exception("persona file %s could not be checked", path.name)
            persona, issues = (
                None,
                [PersonaIssue(path, "", None, f"cannot be read ({type(exc).__name__})")],
            )
        if persona is not None and not issues:
            owner = self._entries.get(persona.id)
            if owner is not None and owner.file != path:
                issues = [duplicate_issue(path, persona.id, owner.file)]
                persona = None
        if persona is None or issues:
            previous = self._file_ids.get(path)
            self._issues[path] = list(issues)
            change.issues.extend(issues)
            if previous is not None:
                logger.warning(
                    "persona file %s is broken; still serving the last good %r: %s",
                    path.name,
                    previous,
                    "; ".join(str(issue) for issue in issues),
                )
            else:
                logger.warning(
                    "persona file %s is broken: %s",
                    path.name,
                    "; ".join(str(issue) for issue in issues),
                )
            return
        self._issues.pop(path, None)
        previous_id = self._file_ids.get(path)
        if previous_id is not None and previous_id != persona.id:
            # The id inside the file changed: the old persona is gone.
            self._entries.pop(previous_id, None)
            change.removed.add(previous_id)
        current = self._entries.get(persona.id)
        if current is None or current.persona != persona:
            change.changed.add(persona.id)
        self._entries[persona.id] = _Entry(persona, path)
        self._file_ids[path] = persona.id

    def _forget_file(self, path: Path, change: _Change) -> None:
        self._issues.pop(path, None)
        persona_id = self._file_ids.pop(path, None)
        if persona_id is not None:
            self._entries.pop(persona_id, None)
            change.removed.add(persona_id)
            logger.info("persona %r removed (%s deleted)", persona_id, path.name)

    def _publish(self, change: _Change, *, force: bool = False) -> ReloadEvent:
        if change.changed or change.removed or force:
            self._version += 1
        event = ReloadEvent(
            version=self._version,
            changed=frozenset(change.changed),
            removed=frozenset(change.removed - change.changed),
            issues=tuple(change.issues),
        )
        if change or force:
            if change.changed or change.removed:
                logger.info(
                    "persona library v%d: updated %s, removed %s",
                    self._version,
                    sorted(change.changed) or "-",
                    sorted(event.removed) or "-",
                )
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:  # a listener's bug must not stop the library from reloading
                    logger.exception("persona reload listener failed")
        return event

    # --- hot reload ----------------------------------------------------------------------------

    @property
    def watching(self) -> bool:
        return self._watch_task is not None and not self._watch_task.done()

    async def start_watching(self, *, ready_timeout_s: float = 10.0) -> None:
        """Follow the directory in a background task; returns once the watcher is running."""
        if self.watching:
            return
        self._stop_event = asyncio.Event()
        ready = asyncio.Event()
        self._watch_task = asyncio.create_task(
            self._watch(self._stop_event, ready), name=f"persona-watch:{self._directory}"
        )
        ready_wait = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait(
            {ready_wait, self._watch_task},
            timeout=ready_timeout_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        ready_wait.cancel()
        if self._watch_task in done:
            self._watch_task.result()  # raises what stopped the watcher
        # Anything written between the last load and the watcher starting would be missed.
        self.load_all()

    async def stop_watching(self) -> None:
        task, self._watch_task = self._watch_task, None
        if task is None:
            return
        if self._stop_event is not None:
            self._stop_event.set()
        try:
            await asyncio.wait_for(task, timeout=5.0)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self, stop_event: asyncio.Event, ready: asyncio.Event) -> None:
        if not self._directory.is_dir():
            # A wrong setting should be visible, not papered over by creating an empty library.
            logger.error("persona directory %s does not exist; not watching", self._directory)
            return
        force_polling = self._force_polling
        while True:
            logger.info("watching persona directory %s", self._directory)
            try:
                await self._follow(stop_event, ready, force_polling)
                return
            except OSError as exc:
                # inotify limits and some network filesystems: polling still works.
                if force_polling:
                    raise
                logger.warning("file events unavailable (%s); polling the persona directory", exc)
                force_polling = True

    async def _follow(
        self, stop_event: asyncio.Event, ready: asyncio.Event, force_polling: bool | None
    ) -> None:
        # yield_on_timeout makes the first (empty) batch arrive once the watcher runs, which
        # start_watching waits for.
        async for changes in awatch(
            self._directory,
            debounce=self._debounce_ms,
            stop_event=stop_event,
            rust_timeout=max(self._debounce_ms, 200),
            yield_on_timeout=True,
            force_polling=force_polling,
            recursive=True,
        ):
            ready.set()
            if changes:
                try:
                    self._apply(changes)
                except Exception:  # keep watching whatever one batch did
                    logger.exception("persona reload failed")

    def _apply(self, changes: set[tuple[Change, str]]) -> None:
        yaml_files: set[Path] = set()
        other = False
        for _, raw in changes:
            path = Path(raw).resolve()
            if path.parent == self._directory and path.suffix in PERSONA_SUFFIXES:
                yaml_files.add(path)
            elif path.suffix not in {".tmp", ".swp"} and not path.name.startswith("."):
                other = True  # an image changed: re-check every card that may use it
        if other:
            self.load_all()
            return
        for path in sorted(yaml_files):
            self.reload_file(path)
