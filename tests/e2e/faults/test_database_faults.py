"""The real bot process while its database dies: embedded (supervised) and external (issue 13)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.e2e.faults.harness import FaultWorld
from tests.emulators.telegram import TelegramUser

RECOVERY_S = 10.0


def _stars_paid(payload: str, charge_id: str) -> dict[str, object]:
    return {
        "currency": "XTR",
        "total_amount": 300,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": "",
        "subscription_expiration_date": int(time.time()) + 30 * 86400,
        "is_recurring": True,
        "is_first_recurring": True,
    }


async def _open_invoice(world: FaultWorld, user: TelegramUser) -> str:
    """The user asks for PRO and gets a Stars invoice; its payload."""
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO for a month")
    await user.expect("sendMessage", contains="public offer")
    await user.press(text="I accept the offer")
    await user.expect("sendMessage", contains="Telegram Stars")
    invoice = [c for c in world.tg.calls if c.method == "createInvoiceLink"][-1]
    user.skip()
    return str(invoice.params["payload"])


async def test_external_database_killed(tmp_path: Path) -> None:
    async with FaultWorld.open(tmp_path, database="external", llm_reply="Right here.") as world:
        assert world.mongo is not None
        user = await world.chatting_user(7201)
        buyer = await world.chatting_user(7202)
        payload = await _open_invoice(world, buyer)

        world.mongo.kill()
        await world.wait_until(lambda: world.http_status("/readyz"), 503, timeout=RECOVERY_S)
        status, body = await world.http_get("/readyz")
        assert status == 503 and body["checks"]["database"] is False
        assert await world.http_status("/healthz") == 200

        await user.say("Hello while the database is down")
        await buyer.send_message(
            buyer._message(successful_payment=_stars_paid(payload, "fault-charge-1"))
        )
        await asyncio.sleep(7)  # longer than the driver's 5 s server selection timeout
        assert not world.apologies(user) and not world.apologies(buyer)

        world.mongo.start()
        recovered = time.monotonic()
        assert await world.answered(user, "Right here.", timeout=30) - recovered < RECOVERY_S
        assert await world.answered(buyer, "PRO is on", timeout=30) - recovered < RECOVERY_S
        await world.wait_until(lambda: world.http_status("/readyz"), 200, timeout=RECOVERY_S)

        await user.idle(1.0)
        await buyer.idle(0.1)
        assert len([c for c in buyer.calls("sendMessage") if "PRO is on" in (c.text or "")]) == 1
        assert not world.apologies(user) and not world.apologies(buyer)


async def test_embedded_database_killed(tmp_path: Path) -> None:
    async with FaultWorld.open(tmp_path, database="embedded", llm_reply="Right here.") as world:
        user = await world.chatting_user(7203)
        first = world.kill_embedded()
        killed = time.monotonic()
        await user.say("Hello right after the crash")

        async def restarted() -> bool:
            try:
                return world.embedded_pid() != first and await world.http_status("/readyz") == 200
            except (OSError, ValueError):
                return False

        await world.wait_until(restarted, True, timeout=30)
        recovered = time.monotonic()
        answered = await world.answered(user, "Right here.", timeout=30)
        assert answered - max(recovered, killed) < RECOVERY_S
        await user.say("And after it?")
        again = time.monotonic()
        assert await world.answered(user, "Right here.", timeout=30) - again < RECOVERY_S
        assert not world.apologies(user)
        assert "starting it again" in world.bot_log()
