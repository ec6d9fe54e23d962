"""The date lift's settings beyond the weight (see also test_retriever's date tests)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from companion.memory.records import InMemoryRecordSource, MemoryRecord
from companion.memory.retriever import Retriever
from companion.memory.retriever_config import RetrieverConfig
from tests.unit.memory.fakes import HashingEmbedder
from tests.unit.memory.test_retriever import FILLERS, USER


async def test_a_record_that_only_speaks_of_the_span_gets_the_refers_share_of_the_lift() -> None:
    # Asked on Wednesday 3 June about "last weekend" (30-31 May): "yesterday we went hiking"
    # said on Monday 1 June speaks of the Sunday but was not said in the span. At
    # date_refers_weight 1 it is lifted like a record said on Sunday; at 0 not at all.
    asked = datetime(2026, 6, 3, 12, tzinfo=UTC)
    records = [
        MemoryRecord("said", "We went hiking in the hills", datetime(2026, 5, 31, 18, tzinfo=UTC)),
        MemoryRecord(
            "speaks", "Yesterday we went hiking in the hills", datetime(2026, 6, 1, 9, tzinfo=UTC)
        ),
        MemoryRecord("earlier", "We went hiking in the hills", datetime(2026, 5, 20, tzinfo=UTC)),
        *(
            MemoryRecord(f"filler{i}", text, datetime(2026, 5, 10 + i, tzinfo=UTC))
            for i, text in enumerate(FILLERS)
        ),
    ]
    lifts: dict[float, dict[str, float]] = {}
    for refers in (1.0, 0.0):
        scores: dict[float, dict[str, float]] = {}
        for weight in (0.5, 0.0):
            config = RetrieverConfig(
                date_weight=weight,
                date_refers_weight=refers,
                recency_weight=0.0,
                supersede_weight=0.0,
                mmr_lambda=1.0,
            )
            retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=config)
            await retriever.index(USER, records)
            hits = await retriever.search(
                USER, "where did we go hiking last weekend?", len(records), now=asked
            )
            scores[weight] = {hit.id: hit.score for hit in hits}
        lifts[refers] = {name: scores[0.5][name] - scores[0.0][name] for name in scores[0.5]}
    assert lifts[1.0]["said"] > 0.2
    assert lifts[1.0]["speaks"] == pytest.approx(lifts[1.0]["said"])
    assert lifts[0.0]["said"] == pytest.approx(lifts[1.0]["said"])
    assert lifts[0.0]["speaks"] == pytest.approx(0.0)
    assert lifts[0.0]["earlier"] == pytest.approx(0.0)


async def test_a_record_naming_a_calendar_day_is_lifted_for_a_question_about_its_month() -> None:
    # Everything was said in May; "the workshop on the 17th and 18th of April" speaks of April,
    # so "in April" lifts it over a record as close in words (shorter, so BM25 prefers it)
    # whose "April" is a friend.
    asked = datetime(2023, 5, 20, tzinfo=UTC)
    records = [
        MemoryRecord(
            "dated",
            "I attended a workshop on the 17th and 18th of April",
            datetime(2023, 5, 1, tzinfo=UTC),
        ),
        MemoryRecord(
            "undated", "I attended a workshop with April", datetime(2023, 5, 2, tzinfo=UTC)
        ),
        *(
            MemoryRecord(f"filler{i}", text, datetime(2023, 5, 3 + i, tzinfo=UTC))
            for i, text in enumerate(FILLERS)
        ),
    ]
    config = RetrieverConfig(recency_weight=0.0, supersede_weight=0.0, mmr_lambda=1.0)
    retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=config)
    await retriever.index(USER, records)
    hits = await retriever.search(USER, "which workshops did I attend in April?", 2, now=asked)
    assert [hit.id for hit in hits] == ["dated", "undated"]
    plain = await retriever.search(USER, "which workshops did I attend with April?", 2, now=asked)
    assert plain[0].id == "undated"
