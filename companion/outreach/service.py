"""One check-in end to end: plan it from what the user said, decide, write, send, record.

`run_job` takes a job the scheduler leased and ends it one way or another (sent, skipped,
deferred, retried); the store's conditional marks make a job whose lease was lost a no-op.
The sent message is also stored in the conversation as the persona's line, so the next reply
knows it asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol

from companion.config import OutreachSettings
from companion.domain.models import Conversation, MessageRole, MessageSource, User
from companion.domain.personas import Persona
from companion.domain.ports import (
    AccessDecision,
    CheckinSender,
    ConversationStore,
    Entitlements,
    FactSource,
    MessageStore,
    PersonaCatalog,
    SendOutcome,
    UserLocks,
    UserStore,
)
from companion.outreach.clock import Clock
from companion.outreach.jobs import CheckinJob, JobKind, JobState, SkipReason
from companion.outreach.metrics import OutreachMetrics
from companion.outreach.planner import followup_due, silence_due
from companion.outreach.policies import STALE_AFTER, Action, Circumstances, Verdict, decide
from companion.outreach.store import JobStore
from companion.outreach.writer import CheckinBrief, CheckinWriter
from companion.personas.dayparts import user_timezone

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(minutes=30)
RECENT_LINES = 6
# Exchanges this close to the last activity written for the user do not write it again.
ACTIVITY_COALESCE = timedelta(seconds=60)


class CrisisLog(Protocol):
    """`companion.outreach.crisis.CrisisEvents`: the latest crisis reply since a time."""

    async def last_crisis(self, user_id: int, since: datetime) -> datetime | None: ...


class OutreachService:
    def __init__(
        self,
        *,
        store: JobStore,
        users: UserStore,
        personas: PersonaCatalog,
        conversations: ConversationStore,
        messages: MessageStore,
        crisis: CrisisLog,
        locks: UserLocks,
        writer: CheckinWriter,
        settings: OutreachSettings,
        clock: Clock,
        metrics: OutreachMetrics,
        facts: FactSource | None = None,
        entitlements: Entitlements | None = None,
        plan_delay_s: float = 180.0,
    ) -> None:
        self.store = store
        self._users = users
        self._personas = personas
        self._conversations = conversations
        self._messages = messages
        self._crisis = crisis
        self._locks = locks
        self._writer = writer
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self._facts = facts
        self._entitlements = entitlements
        # Memory learns a few minutes after the exchange (`memory.idle_extract_s`): the
        # user's facts are planned after that.
        self._plan_delay = timedelta(seconds=plan_delay_s)
        # Set once the Bot API client exists (`OutreachComponents.attach_sender`).
        self.sender: CheckinSender | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # The last activity written per (user, persona) by this process: an exchange within
        # ACTIVITY_COALESCE of it writes nothing (a chat is one database write a minute, not
        # one per message); planning waits that much longer to cover the exchanges skipped.
        self._touched: OrderedDict[tuple[int, str], datetime] = OrderedDict()

    # -- activity and planning ----------------------------------------------------------------

    def note_exchange(self, user: User, conversation: Conversation) -> None:
        """After each reply (never blocks it): move the silence check-in, plan facts later."""
        key, now = (user.id, conversation.persona_id), self.clock.now()
        last = self._touched.get(key)
        if last is not None and timedelta(0) <= now - last < ACTIVITY_COALESCE:
            return
        self._touched[key] = now
        self._touched.move_to_end(key)
        while len(self._touched) > 10_000:
            self._touched.popitem(last=False)
        self._spawn(self.record_activity(user, conversation.persona_id))

    async def record_activity(self, user: User, persona_id: str) -> None:
        try:
            now = self.clock.now()
            zone = _zone(user)
            await self.store.touch_activity(
                user_id=user.id,
                persona_id=persona_id,
                at=now,
                silence_due=silence_due(now, zone, self.settings),
                plan_at=now + self._plan_delay + ACTIVITY_COALESCE,
            )
            # /forget deletes the profile first: if it ran meanwhile, take back what we wrote.
            if await self._users.get(user.id) is None:
                await self.store.forget(user.id)
        except Exception:
            log.exception("check-ins: could not record activity")

    async def plan_due(self) -> int:
        """Plan follow-ups of the facts of users whose exchanges memory has had time to learn."""
        planned = 0
        for user_id, persona_id, plan_at in await self.store.due_plans(self.clock.now()):
            planned += await self.plan_user(user_id, persona_id)
            await self.store.planned(user_id, plan_at)
        return planned

    async def plan_user(self, user_id: int, persona_id: str) -> int:
        """Schedule a follow-up for each dated fact of the user that still has one ahead."""
        user = await self._users.get(user_id)
        if self._facts is None or user is None:
            return 0
        now, zone = self.clock.now(), _zone(user)
        new = 0
        for fact in await self._facts.list_facts(user_id):
            if fact.refers_to is None:
                continue
            due = followup_due(fact.refers_to, fact.created_at, zone, self.settings)
            if due is None or now - due > STALE_AFTER[JobKind.EVENT]:
                continue
            new += await self.store.schedule_event(
                user_id=user_id,
                persona_id=fact.persona_id or persona_id,
                fact_id=fact.id,
                event_date=fact.refers_to,
                due_at=due,
                now=now,
            )
        return new

    # -- one job ------------------------------------------------------------------------------

    async def claim_next(self) -> CheckinJob | None:
        job = await self.store.claim(self.clock.now(), self.settings.lease_s)
        if job is not None:
            self.metrics.claims.labels(outcome="claimed").inc()
        return job

    async def run_job(self, job: CheckinJob) -> str:
        """End a leased job; returns what happened (for logs and tests)."""
        if job.attempts > MAX_ATTEMPTS:  # it crashed its worker that many times
            return await self._skip(job, SkipReason.FAILED)
        user = await self._users.get(job.user_id)
        zone = _zone(user) if user is not None else UTC
        fact_text, fact_ok = "", True
        if job.kind is JobKind.EVENT and user is not None:
            fact = None
            if self._facts is not None:
                fact = await self._facts.get_fact(job.user_id, job.fact_id or "")
            fact_ok = fact is not None and fact.refers_to == job.event_date
            fact_text = fact.text if fact is not None else ""
        now = self.clock.now()
        since = now - timedelta(days=self.settings.crisis_days)
        crisis = await self._crisis.last_crisis(job.user_id, since) if user is not None else None
        verdict = decide(job, Circumstances(user, zone, crisis, fact_ok), now, self.settings)
        if verdict.action is Action.SKIP:
            return await self._skip(job, verdict.reason or "policy")
        if verdict.action is Action.DEFER:
            assert verdict.until is not None
            await self.store.defer(job, verdict.until, now)
            self.metrics.deferred.labels(reason=str(verdict.reason)).inc()
            return f"deferred:{verdict.reason}"
        assert user is not None
        persona = self._personas.get(job.persona_id)
        conversation = await self._conversations.get_active(user.id, job.persona_id)
        if persona is None or conversation is None:
            return await self._skip(job, SkipReason.NO_CONVERSATION)
        # A PRO or 18+ persona does not write to someone who may no longer open it.
        entitlements = self._entitlements
        allowed = entitlements is None or (
            await entitlements.check(user, persona) is AccessDecision.ALLOWED
        )
        if not allowed:
            return await self._skip(job, SkipReason.NO_ACCESS)
        text = await self._text(job, verdict, user, persona, conversation, zone, fact_text)
        if text is None:
            return await self._retry(job, "writing")
        return await self._deliver(job, user, conversation, text, verdict)

    async def _text(
        self,
        job: CheckinJob,
        verdict: Verdict,
        user: User,
        persona: Persona,
        conversation: Conversation,
        zone: tzinfo,
        fact_text: str,
    ) -> str | None:
        language = persona.reply_language(user.language)
        if verdict.action is Action.TEMPLATE:
            return self._writer.template(persona, language)
        now = self.clock.now()
        silent = (now - job.last_activity_at).days if job.last_activity_at else 0
        brief = CheckinBrief(
            kind=job.kind.value,
            language=language,
            user_name=user.first_name,
            local_now=now.astimezone(zone),
            fact=fact_text,
            event_date=job.event_date.isoformat() if job.event_date else "",
            days_silent=silent,
        )
        recent = await self._messages.recent(conversation.id, RECENT_LINES)
        return await self._writer.write(persona, brief, recent)

    async def _deliver(
        self,
        job: CheckinJob,
        user: User,
        conversation: Conversation,
        text: str,
        verdict: Verdict,
    ) -> str:
        sender = self.sender
        if sender is None:
            raise RuntimeError("check-ins need a sender (attach_sender)")
        taken_at = self.clock.now()
        if not await self.store.reserve_slot(user.id, taken_at, self.settings.max_per_week):
            return await self._skip(job, SkipReason.WEEKLY_CAP)
        if not await self.store.mark_sending(job, self.clock.now()):
            await self.store.release_slot(user.id, taken_at)
            self.metrics.claims.labels(outcome="lost").inc()
            return "lease_lost"
        # Under the user's lock: not in the middle of a reply being streamed to them.
        async with self._locks.hold(user.id):
            # An exception here (a network error: maybe delivered) leaves the job `sending`;
            # `JobStore.recover` marks it unknown once the lease ends. Never resent.
            outcome = await sender.send(user.id, text)
            now = self.clock.now()
            if outcome is SendOutcome.SENT:
                await self._remember(conversation, text, job, verdict)
                await self.store.mark_sent(job, now)
                template = verdict.action is Action.TEMPLATE
                self.metrics.sent.labels(
                    kind=job.kind.value, text="template" if template else "model"
                ).inc()
                return "sent"
        await self.store.release_slot(user.id, taken_at)
        if outcome is SendOutcome.BLOCKED:
            await self._users.update(user.id, blocked_at=now)
            return await self._skip(job, SkipReason.BLOCKED, from_state=JobState.SENDING)
        if job.attempts >= MAX_ATTEMPTS:
            return await self._skip(job, SkipReason.FAILED, from_state=JobState.SENDING)
        await self.store.unsend(job, now + RETRY_AFTER, now)
        self.metrics.deferred.labels(reason="retry").inc()
        return "retry:sending"

    async def _remember(
        self, conversation: Conversation, text: str, job: CheckinJob, verdict: Verdict
    ) -> None:
        source = MessageSource.SYSTEM if verdict.action is Action.TEMPLATE else MessageSource.TEXT
        try:
            await self._messages.append(
                conversation,
                MessageRole.ASSISTANT,
                text,
                source=source,
                meta={"checkin": job.kind.value},
            )
        except Exception:  # delivered already: a missing history line must not resend it
            log.exception("check-in sent but not stored in the conversation")

    async def _skip(
        self, job: CheckinJob, reason: str, *, from_state: JobState | None = None
    ) -> str:
        await self.store.skip(job, str(reason), self.clock.now(), from_state=from_state)
        self.metrics.skipped.labels(reason=str(reason)).inc()
        return f"skipped:{reason}"

    async def _retry(self, job: CheckinJob, stage: str) -> str:
        if job.attempts >= MAX_ATTEMPTS:
            return await self._skip(job, SkipReason.FAILED)
        now = self.clock.now()
        await self.store.retry(job, now + RETRY_AFTER, now)
        self.metrics.deferred.labels(reason="retry").inc()
        return f"retry:{stage}"

    # -- background tasks ---------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _zone(user: User) -> tzinfo:
    return user_timezone(user.settings.timezone, user.language)
