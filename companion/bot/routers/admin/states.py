"""FSM states of the owner's console (kept in Redis like the others)."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class AdminStates(StatesGroup):
    # The Users section waits for an id or @username.
    user_query = State()
