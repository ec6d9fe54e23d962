"""The developer view of the owner's console (issue 17): is everything up, what is queued,
what failed lately, which version runs since when; and the persona library reloaded on demand.

`HealthReport.snapshot()` pings the same dependencies as ``/readyz``
(`companion.bot.readiness.service_checks`: MongoDB, Redis, the model) plus speech, each with
its latency; reads the queue depths it was given probes for (the memory learning backlog, the
voice notes waiting; the Telegram layer adds the update retry queue it owns); and the error
counts of the last hour and day (`companion.analytics.error_log`).

`reload_personas()` re-reads every persona file in this worker, as `companion personas validate`
checks them: broken files keep their last good version serving, and every problem is listed
(FILE:LINE FIELD: MESSAGE). Other workers pick changes up with ``personas.hot_reload``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata

from companion.analytics.error_log import DAY_S, HOUR_S, ErrorLog
from companion.personas.repository import PersonaRepository

# A check returns False (down), a string (up, with that note: "off", "2 waiting") or anything
# else (up); raising or taking longer than the timeout is down.
Check = Callable[[], Awaitable[object]]
QueueProbe = Callable[[], int]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    up: bool
    latency_ms: float
    note: str = ""


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    checks: list[CheckResult]
    queues: dict[str, int | None]  # None: could not be read now
    errors_hour: dict[str, int]
    errors_day: dict[str, int]
    version: str
    uptime_s: float
    personas: int
    persona_issues: int

    @property
    def all_up(self) -> bool:
        return all(check.up for check in self.checks)


@dataclass(frozen=True, slots=True)
class PersonaReloadReport:
    personas: int
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)  # "FILE:LINE FIELD: MESSAGE"


def package_version() -> str:
    try:
        return metadata.version("companion")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


class HealthReport:
    def __init__(
        self,
        checks: Mapping[str, Check],
        queues: Mapping[str, QueueProbe],
        errors: ErrorLog | None,
        personas: PersonaRepository,
        *,
        started_at: float,
        version: str | None = None,
        timeout_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._checks = dict(checks)
        self._queues = dict(queues)
        self._errors = errors
        self._personas = personas
        self._started_at = started_at
        self._version = version or package_version()
        self._timeout_s = timeout_s
        self._clock = clock

    @property
    def errors(self) -> ErrorLog | None:
        return self._errors

    async def snapshot(self, more_queues: Mapping[str, int | None] | None = None) -> HealthSnapshot:
        """Everything at once; `more_queues` are depths the caller read itself."""
        checks = await asyncio.gather(*(self._check(n, c) for n, c in self._checks.items()))
        queues: dict[str, int | None] = {name: probe() for name, probe in self._queues.items()}
        queues.update(more_queues or {})
        hour, day = await self._error_counts()
        return HealthSnapshot(
            checks=list(checks),
            queues=queues,
            errors_hour=hour,
            errors_day=day,
            version=self._version,
            uptime_s=max(0.0, self._clock() - self._started_at),
            personas=len(self._personas),
            persona_issues=len(self._personas.errors),
        )

    async def _check(self, name: str, check: Check) -> CheckResult:
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(check(), self._timeout_s)
        except TimeoutError:
            return CheckResult(name, False, _ms(started), f"no answer in {self._timeout_s:g} s")
        except Exception as exc:  # any failure is "down"; the kind of failure is the note
            return CheckResult(name, False, _ms(started), type(exc).__name__)
        if result is False:
            return CheckResult(name, False, _ms(started))
        return CheckResult(name, True, _ms(started), result if isinstance(result, str) else "")

    async def _error_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        if self._errors is None:
            return {}, {}
        try:
            return await self._errors.counts(HOUR_S), await self._errors.counts(DAY_S)
        except Exception:  # Redis down: the checks above already say so
            return {}, {}

    def reload_personas(self) -> PersonaReloadReport:
        """Re-read the library now (this worker) and report what changed and what is broken."""
        event = self._personas.load_all()
        return PersonaReloadReport(
            personas=len(self._personas),
            changed=sorted(event.changed),
            removed=sorted(event.removed),
            issues=[str(issue) for issue in self._personas.errors],
        )


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def speech_check(pool: object) -> Check:
    """Speech as the console shows it: "off" without the voice extra (`NoSpeech` has no
    counters), else how many notes are being transcribed and waiting."""

    async def speech() -> object:
        running, waiting = getattr(pool, "running", None), getattr(pool, "waiting", None)
        if running is None or waiting is None:
            return "off"
        return f"{running} running, {waiting} waiting"

    return speech
