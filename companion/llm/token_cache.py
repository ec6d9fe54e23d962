"""Token counts of recently counted texts.

Every reply's prompt is planned against the token budget by counting each history message
again (up to 60 of them) although only the newest two are new; counting costs a regex pass or
a tokenizer call per message. The cache is keyed by a digest of the text, so it holds no
conversation text, and it is bounded (least recently used entries go first).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

# Below this length counting is as cheap as hashing.
_MIN_CACHED_CHARS = 48


class CachedTokenCounter:
    def __init__(self, count: Callable[[str], int], *, size: int = 16_384) -> None:
        self._count = count
        self._size = size
        self._counts: OrderedDict[bytes, int] = OrderedDict()

    def __call__(self, text: str) -> int:
        if len(text) < _MIN_CACHED_CHARS:
            return self._count(text)
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        known = self._counts.get(key)
        if known is not None:
            self._counts.move_to_end(key)
            return known
        counted = self._count(text)
        self._counts[key] = counted
        if len(self._counts) > self._size:
            self._counts.popitem(last=False)
        return counted
