"""Keeps aiogram's parsed-response classes alive for the life of the process.

aiogram validates every Bot API answer with ``Response[method.__returning__]``, a pydantic
generic model parametrised on each call. pydantic caches parametrised generics in a
``WeakValueDictionary``, so once the garbage collector frees a class the next call builds its
schema again: about 250 rebuilds per 600 replies and ~2 ms of CPU each under load in
`benchmarks/bot_throughput.py`. Holding a reference to every method's response class once
(~60 ms at start-up for all of them) turns each of those calls into a cache lookup.
"""

from __future__ import annotations

from aiogram import methods
from aiogram.methods.base import Response, TelegramMethod

_PINNED: list[type] = []


def pin_response_types() -> int:
    """Build and keep every Bot API method's response class; returns how many (idempotent)."""
    if not _PINNED:
        for name in methods.__all__:
            method = getattr(methods, name)
            if (
                isinstance(method, type)
                and issubclass(method, TelegramMethod)
                and method is not TelegramMethod
            ):
                # Subscripted at run time, as aiogram does; the type checker cannot follow it.
                _PINNED.append(Response[method.__returning__])  # type: ignore[name-defined]
    return len(_PINNED)
