"""aiogram's response classes stay built, so answers are not validated by a freshly built schema."""

from __future__ import annotations

import gc
import weakref

from aiogram.methods import SendMessage, SendMessageDraft
from aiogram.methods.base import Response

from companion.bot.response_types import pin_response_types


def test_response_classes_survive_garbage_collection() -> None:
    assert pin_response_types() > 100  # every Bot API method
    assert pin_response_types() == pin_response_types()  # once per process
    refs = [
        weakref.ref(Response[method.__returning__])  # type: ignore[name-defined]
        for method in (SendMessage, SendMessageDraft)
    ]
    gc.collect()
    assert all(ref() is not None for ref in refs)
    assert Response[SendMessage.__returning__] is refs[0]()  # type: ignore[name-defined]
