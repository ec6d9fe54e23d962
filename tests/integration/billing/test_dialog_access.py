"""Entitlements in the dialogue: the real DialogService asks the real EntitlementService."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from companion.config import LLMSettings
from companion.dialogs.events import AccessDeniedError, ReplyDone
from companion.dialogs.ordering import LocalUserLocks
from companion.dialogs.prompts import PromptBuilder
from companion.dialogs.service import DialogService
from companion.domain.ports import AccessDecision
from companion.i18n import Translator
from companion.llm.openai_backend import OpenAIChatModel
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import PlaintextCipher
from companion.storage.messages import MessageRepository
from tests.emulators.openai_server import OpenAIEmulator
from tests.integration.billing.conftest import Billing
from tests.integration.dialogs.conftest import DictCatalog
from tests.unit.dialogs.persona_factory import make_persona


@pytest.fixture
async def llm() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(adapters={"kylie-lora"}, reply="Hello, love.") as emulator:
        yield emulator


def dialog_service(billing: Billing, llm: OpenAIEmulator) -> DialogService:
    cipher = PlaintextCipher()
    catalog = DictCatalog(
        make_persona(),
        make_persona(
            id="kylie", module="partner", pro_only=True, adult=True, lora_adapter="kylie-lora"
        ),
    )
    model = OpenAIChatModel(
        LLMSettings(
            backend="openai",
            base_url=llm.base_url,
            model=llm.base_model,
            max_retries=0,
            connect_timeout_s=1,
            request_timeout_s=10,
        )
    )
    return DialogService(
        personas=catalog,
        users=billing.users,
        conversations=ConversationRepository(billing.db, cipher),
        messages=MessageRepository(billing.db, cipher),
        llm=model,
        prompts=PromptBuilder(),
        entitlements=billing.entitlements,
        events=billing.events,
        locks=LocalUserLocks(),
        texts=Translator(),
    )


async def _say(service: DialogService, user, persona_id: str, text: str) -> str:
    done = [e async for e in service.reply(user, persona_id, text) if isinstance(e, ReplyDone)]
    return done[-1].text


async def test_partner_needs_adult_and_pro_and_loses_access_on_expiry(billing, llm):
    service = dialog_service(billing, llm)
    user = await billing.user(7)
    with pytest.raises(AccessDeniedError) as denied:
        await _say(service, user, "kylie", "Hi")
    assert denied.value.decision is AccessDecision.NEEDS_ADULT_CONFIRMATION

    await billing.service.confirm_adult(7)
    user = await billing.users.get(7)
    with pytest.raises(AccessDeniedError) as denied:
        await _say(service, user, "kylie", "Hi")
    assert denied.value.decision is AccessDecision.NEEDS_PRO
    assert await billing.db["messages"].count_documents({"user_id": 7}) == 0

    # Buying PRO invalidates the cached "no subscription" at once.
    checkout = await billing.service.start_yookassa_checkout(user, "pro_week")
    record = await billing.ledger.get(checkout.order_id)
    payment = billing.emulator.pay(record.payment_id)
    assert await billing.notify("payment.succeeded", payment) == 200
    assert await _say(service, user, "kylie", "Hi") == "Hello, love."
    # Free personas never ask.
    assert await _say(service, user, "anna", "Hi") == "Hello, love."

    billing.clock.advance(days=7, seconds=1)
    # Even before the expiry job runs, the period end is checked on every message.
    with pytest.raises(AccessDeniedError):
        await _say(service, user, "kylie", "Still there?")
    # The expiry job sees a renewing subscription whose renewal did not happen: grace period.
    jobs = billing.jobs
    await jobs.expire_due()
    assert await _say(service, user, "kylie", "Still there?") == "Hello, love."
    billing.clock.advance(days=3)
    await jobs.expire_due()
    with pytest.raises(AccessDeniedError) as denied:
        await _say(service, user, "kylie", "Still there?")
    assert denied.value.decision is AccessDecision.NEEDS_PRO


async def test_refund_revokes_access_immediately(billing, llm):
    service = dialog_service(billing, llm)
    await billing.user(8)
    await billing.service.confirm_adult(8)
    user = await billing.users.get(8)
    checkout = await billing.service.start_yookassa_checkout(user, "pro_month")
    record = await billing.ledger.get(checkout.order_id)
    payment = billing.emulator.pay(record.payment_id)
    assert await billing.notify("payment.succeeded", payment) == 200
    assert await _say(service, user, "kylie", "Hi") == "Hello, love."
    # The subscription is cached as PRO now; the refund's change drops the cache at once.
    assert await billing.redis_cached(8)
    await billing.service.refund("8")
    with pytest.raises(AccessDeniedError) as denied:
        await _say(service, user, "kylie", "Hi")
    assert denied.value.decision is AccessDecision.NEEDS_PRO


async def test_admin_grant_opens_access(billing, llm):
    service = dialog_service(billing, llm)
    await billing.user(9, adult_confirmed_at=billing.clock.now)
    user = await billing.users.get(9)
    with pytest.raises(AccessDeniedError):
        await _say(service, user, "kylie", "Hi")
    await billing.service.grant(9, "pro_month", 3, by=1)
    assert await _say(service, user, "kylie", "Hi") == "Hello, love."
