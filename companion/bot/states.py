"""FSM states (kept in Redis, with TTLs: `companion.bot.runner.build_fsm_storage`)."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class BillingStates(StatesGroup):
    # A card payment waits for an e-mail or phone for the receipt (54-FZ).
    receipt_contact = State()


class MemoryStates(StatesGroup):
    # /memory: waits for the new wording of one fact (its id in the state data).
    new_wording = State()
