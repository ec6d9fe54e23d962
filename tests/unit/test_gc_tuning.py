"""The start-up heap is frozen out of full collections; later garbage is still collected."""

from __future__ import annotations

import gc
import weakref

from companion.gc_tuning import freeze_startup_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_freeze_moves_the_heap_aside_and_new_cycles_are_still_freed() -> None:
    try:
        frozen = freeze_startup_heap()
        assert frozen > 1000  # at least the imported modules' objects
        assert gc.get_freeze_count() == frozen

        a, b = _Node(), _Node()
        a.other, b.other = b, a  # a reference cycle created after the freeze
        ref = weakref.ref(a)
        del a, b
        gc.collect()
        assert ref() is None
    finally:
        gc.unfreeze()
