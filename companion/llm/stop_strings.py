"""Cuts streamed text at the first stop string, holding back text that may start one; tells
where a sentence ends (`SamplingParams.end_at_sentence_after`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

# A sentence end: . ! ? … (repeated or combined), then closing quotes or brackets, then only
# whitespace. "3.5" or "e.g." mid-sentence is not followed by a space in the streamed text yet.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”’)\]]*\s+$")


def ends_sentence(text: str) -> bool:
    """Whether streamed `text` ends just after a sentence (its final punctuation and the space
    that the next word brought): what a short reply may stop at."""
    return bool(_SENTENCE_END.search(text))


class StopStringFilter:
    """Feed chunks in, get back only text before any stop string.

    A stop string can arrive split over chunks ("<|" then "end|>"), so the tail of the text
    that could still become a stop string is held back until the next chunk decides it.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [stop for stop in stops if stop]
        self._pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        if not self._stops:
            return text
        buffer = self._pending + text
        hits = [index for stop in self._stops if (index := buffer.find(stop)) >= 0]
        if hits:
            self.stopped = True
            self._pending = ""
            return buffer[: min(hits)]
        hold = self._longest_partial_stop(buffer)
        self._pending = buffer[len(buffer) - hold :]
        return buffer[: len(buffer) - hold]

    def flush(self) -> str:
        """The held-back text once the stream has ended without a stop string."""
        text, self._pending = ("" if self.stopped else self._pending), ""
        return text

    def _longest_partial_stop(self, buffer: str) -> int:
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buffer)), longest, -1):
                if buffer.endswith(stop[:size]):
                    longest = size
                    break
        return longest
