"""Which time priors a question wants (`time_priors`), from how it is asked.

A question about how things are now ("where do I live now?", "кем я сейчас работаю?") wants
the latest of several statements about the same thing, so recency and supersession help it.
A question about something that happened ("when did I start pottery?", "what did Anna say
about her trip?") is as likely to be about the first month of a history as about the last
week, and there recency pushes the right answer out for a newer, merely similar record. A
question that adds up mentions ("how many times did I...?", "сколько раз...") needs the
older mentions as much as the newer, so nothing may supersede them. English and Russian.
"""

from __future__ import annotations

import re

from companion.memory.retriever_config import RetrieverConfig

# Words that tie a question to the present: "now", "these days", "currently", "so far",
# "still", "anymore", "lately"; "сейчас", "теперь", "в последнее время", "до сих пор"...
_NOW_RE = re.compile(
    r"\b(?:"
    r"now|nowadays|these days|currently|current|at the moment|at present|presently|"
    r"lately|recently|latest|most recent|so far|still|anymore|any more|by now|up to now|"
    r"сейчас|теперь|нынче|нынешн\w*|текущ\w*|на данный момент|в данный момент|"
    r"в настоящее время|на сегодняшний день|в последнее время|последн\w* время|"
    r"до сих пор|по-прежнему|вс[её] ещ[её]|пока что|на сегодня|недавно"
    r")\b"
)


# "How many ...", "how often", "in total", "the total number", "the average", "сколько": a
# question that adds up (or averages) every mention.
_COUNT_RE = re.compile(
    r"\b(?:how many|how much|how often|how long|in total|altogether|total|totals|average|"
    r"combined|sum|сколько|как часто|как долго|всего|в сумме|в общей сложности|итого|"
    r"суммарн\w*|в среднем)\b"
)


def asks_to_count(text: str) -> bool:
    """True when `text` asks to add up several mentions ("how many times did I...")."""
    return _COUNT_RE.search(_normalized(text)) is not None


def asks_about_now(text: str) -> bool:
    """True when `text` asks about the present state of things (see the module's doc)."""
    return _NOW_RE.search(_normalized(text)) is not None


def _normalized(text: str) -> str:
    """Lower case, one space between words, so the phrases above match across line breaks."""
    return " ".join(text.lower().split())


def time_priors(config: RetrieverConfig, query: str) -> tuple[float, float]:
    """(recency weight, supersession weight) for `query`: the "now" pair for a question
    about the present, the general pair for any other."""
    general = (config.recency_weight, config.supersede_weight)
    now = (config.now_recency_weight, config.now_supersede_weight)
    counting = (config.recency_weight, config.count_supersede_weight)
    if now == general == counting:
        return general  # nothing to tell apart: skip the regexes on the search path
    if asks_about_now(query):
        return now
    return counting if asks_to_count(query) else general
