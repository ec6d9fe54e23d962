from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from companion.memory.records import InMemoryRecordSource, MemoryRecord
from companion.memory.retriever import Retriever
from companion.memory.retriever_config import RetrieverConfig
from companion.memory.selection import approximate_tokens, fit_to_budget
from tests.unit.memory.fakes import HashingEmbedder

NOW = datetime(2026, 6, 1, tzinfo=UTC)
USER = 7


def rec(
    record_id: str, text: str, days_ago: float = 1, importance: float = 3, scope: str = ""
) -> MemoryRecord:
    return MemoryRecord(record_id, text, NOW - timedelta(days=days_ago), importance, scope)


@pytest.fixture
def retriever() -> Retriever:
    return Retriever(HashingEmbedder(), InMemoryRecordSource())


async def test_relevant_records_rank_above_irrelevant(retriever: Retriever) -> None:
    await retriever.index(
        USER,
        [
            rec("job", "The user works as a nurse at the city hospital"),
            rec("cat", "The user has a ginger cat called Tom"),
            rec("city", "The user lives in Kazan"),
            rec("tea", "The user prefers green tea to coffee"),
        ],
    )
    hits = await retriever.search(USER, "tell me about your cat Tom", 4, now=NOW)
    assert hits[0].id == "cat"
    assert hits[0].lexical > 0 and hits[0].dense > max(h.dense for h in hits[1:])
    hits = await retriever.search(USER, "how is the hospital job going", 2, now=NOW)
    assert hits[0].id == "job"


async def test_recency_breaks_ties_for_a_question_about_now(retriever: Retriever) -> None:
    await retriever.index(
        USER,
        [
            rec("old", "We talked about the concert tickets", days_ago=200),
            rec("new", "We talked about the concert tickets", days_ago=1),
        ],
    )
    hits = await retriever.search(USER, "are the concert tickets still on?", 2, now=NOW)
    assert [h.id for h in hits] == ["new", "old"]


async def test_importance_raises_a_record(retriever: Retriever) -> None:
    await retriever.index(
        USER,
        [
            rec("minor", "The user's sister Anna likes jazz", importance=1),
            rec("major", "The user's sister Anna likes jazz", importance=5),
        ],
    )
    hits = await retriever.search(USER, "Anna jazz", 2, now=NOW)
    assert hits[0].id == "major"


async def test_mmr_keeps_near_duplicates_from_crowding_out_other_answers() -> None:
    embedder = HashingEmbedder()
    source = InMemoryRecordSource()
    diverse = Retriever(embedder, source, config=RetrieverConfig(mmr_lambda=0.5))
    plain = Retriever(embedder, source, config=RetrieverConfig(mmr_lambda=1.0))
    records = [
        rec("a1", "The user went hiking in the mountains with Oleg"),
        rec("a2", "The user went hiking in the mountains with Oleg again"),
        rec("a3", "The user went hiking in the mountains, Oleg came too"),
        rec("b", "The user plans a hiking trip to Altai"),
        *(
            rec(f"other{i}", text)
            for i, text in enumerate(["pizza night", "rainy weather", "a new phone"])
        ),
    ]
    await diverse.index(USER, records)
    await plain.index(USER, records)
    query = "hiking in the mountains with Oleg"
    assert "b" not in [h.id for h in await plain.search(USER, query, 2, now=NOW)]
    assert "b" in [h.id for h in await diverse.search(USER, query, 2, now=NOW)]


async def test_exclude_scope_and_remove(retriever: Retriever) -> None:
    await retriever.index(
        USER,
        [
            rec("x", "pizza with mushrooms", scope="anna"),
            rec("y", "pizza with olives", scope="max"),
            rec("z", "pizza with cheese", scope="anna"),
        ],
    )
    assert {h.id for h in await retriever.search(USER, "pizza", 5, scope="anna")} == {"x", "z"}
    assert {h.id for h in await retriever.search(USER, "pizza", 5, exclude={"x"})} == {"y", "z"}
    await retriever.remove(USER, ["z"])
    assert {h.id for h in await retriever.search(USER, "pizza", 5)} == {"x", "y"}
    assert await retriever.search(USER + 1, "pizza", 5) == []


async def test_reindexing_an_id_replaces_its_text(retriever: Retriever) -> None:
    await retriever.index(USER, [rec("home", "The user lives in Moscow")])
    await retriever.index(USER, [rec("home", "The user lives in Kazan")])
    hits = await retriever.search(USER, "Kazan", 5)
    assert [h.id for h in hits] == ["home"] and hits[0].lexical > 0
    assert len(await retriever.records(USER)) == 1
    assert (await retriever.search(USER, "Moscow", 5))[0].lexical == 0


async def test_cold_cache_loads_from_source_and_lru_evicts() -> None:
    embedder = HashingEmbedder()
    source = InMemoryRecordSource()
    vectors = await embedder.embed_passages(["ginger cat", "green tea"])
    for user in (1, 2, 3):
        source.put(
            user,
            [
                MemoryRecord("c", "ginger cat", NOW, vector=vectors[0]),
                MemoryRecord("t", "green tea", NOW, vector=vectors[1]),
            ],
        )
    retriever = Retriever(embedder, source, config=RetrieverConfig(max_users=2))
    for user in (1, 2, 3):
        assert (await retriever.search(user, "cat", 1))[0].id == "c"
    assert retriever.cached_users() == 2
    source.delete(1, ["c"])  # changed behind the cache: user 1 was evicted, so it reloads
    assert [h.id for h in await retriever.search(1, "cat", 2)] == ["t"]


async def test_many_removals_compact_the_index(retriever: Retriever) -> None:
    await retriever.index(USER, [rec(f"r{i}", f"note number {i} about apples") for i in range(100)])
    await retriever.remove(USER, [f"r{i}" for i in range(90)])
    hits = await retriever.search(USER, "apples", 20)
    assert sorted(h.id for h in hits) == sorted(f"r{i}" for i in range(90, 100))


async def test_query_vector_skips_embedding() -> None:
    embedder = HashingEmbedder()
    retriever = Retriever(embedder, InMemoryRecordSource())
    await retriever.index(USER, [rec("a", "apples"), rec("b", "bananas")])
    calls = embedder.calls
    vector = (await embedder.embed_queries(["bananas"]))[0]
    hits = await retriever.search(USER, "bananas", 1, query_vector=np.asarray(vector))
    assert hits[0].id == "b" and embedder.calls == calls + 1


def test_fit_to_budget_skips_what_does_not_fit() -> None:
    texts = ["short one", "x " * 50, "another short"]
    assert fit_to_budget(texts, 10, approximate_tokens) == ["short one", "another short"]
    assert fit_to_budget(texts, 0, approximate_tokens) == []


async def test_an_external_dense_search_supplies_the_dense_candidates() -> None:
    calls: list[tuple[int, int, str | None]] = []

    async def dense_search(user_id, vector, limit, scope):  # type: ignore[no-untyped-def]
        calls.append((user_id, limit, scope))
        return [("far", 0.9)]  # what a `$vectorSearch` index answered

    embedder = HashingEmbedder()
    retriever = Retriever(embedder, InMemoryRecordSource(), dense_search=dense_search)
    await retriever.index(USER, [rec("near", "green tea"), rec("far", "rainy weather")])
    hits = await retriever.search(USER, "something unrelated", 2, scope="")
    assert [h.id for h in hits] == ["far"]  # no shared stem: only the index's candidate
    assert calls == [(USER, RetrieverConfig().candidates, "")]


async def test_an_expired_cache_is_reloaded_from_the_source() -> None:
    embedder = HashingEmbedder()
    source = InMemoryRecordSource()
    vector = (await embedder.embed_passages(["ginger cat"]))[0]
    source.put(USER, [MemoryRecord("c", "ginger cat", NOW, vector=vector)])
    fresh = Retriever(embedder, source, config=RetrieverConfig(cache_ttl_s=0.0))
    cached = Retriever(embedder, source, config=RetrieverConfig(cache_ttl_s=None))
    assert [h.id for h in await fresh.search(USER, "cat", 1)] == ["c"]
    assert [h.id for h in await cached.search(USER, "cat", 1)] == ["c"]
    source.delete(USER, ["c"])  # e.g. erased by another process
    assert await fresh.search(USER, "cat", 1) == []
    assert [h.id for h in await cached.search(USER, "cat", 1)] == ["c"]


async def test_records_of_another_vector_size_are_left_out() -> None:
    source = InMemoryRecordSource()
    source.put(
        USER,
        [
            MemoryRecord("a", "apples", NOW, vector=np.full(4, 0.5, dtype=np.float32)),
            MemoryRecord("b", "apples", NOW, vector=np.full(9, 1 / 3, dtype=np.float32)),
        ],
    )
    retriever = Retriever(HashingEmbedder(), source)
    assert [r.id for r in await retriever.records(USER)] == ["a"]


async def test_records_can_be_filtered_by_id_and_importance(retriever: Retriever) -> None:
    await retriever.index(
        USER,
        [
            rec("a", "name", importance=5),
            rec("b", "tea", importance=2),
            rec("c", "home", importance=5),
        ],
    )
    assert {r.id for r in await retriever.records(USER, min_importance=5)} == {"a", "c"}
    picked = await retriever.records(USER, ids=["c", "zzz", "b"], with_vectors=False)
    assert [(r.id, r.vector) for r in picked] == [("c", None), ("b", None)]
    both = await retriever.records(USER, ids=["b", "c"], min_importance=5)
    assert [r.id for r in both] == ["c"]


def _unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


FILLERS = [
    "The weather is awful today",
    "I cleaned the whole flat",
    "Work was busy, lots of calls",
    "Made soup for dinner",
    "The bus was late again",
]


async def test_bm25_is_a_first_class_signal_not_a_prior() -> None:
    # The dense model (here: given vectors) prefers a vaguely similar record; the record that
    # shares the question's rare words must still win. With the fusion before issue 16
    # (cosine + 0.2 x BM25 scaled to the best match) the dense preference decided.
    query = _unit(1.0, 0.0)
    records = [
        MemoryRecord("vague", "We talked about pets and animals", NOW, vector=_unit(0.9, 0.44)),
        MemoryRecord("exact", "My corgi Biscuit chewed the sofa", NOW, vector=_unit(0.6, 0.8)),
        *(
            MemoryRecord(f"filler{i}", text, NOW, vector=_unit(0.1 * i, 1.0))
            for i, text in enumerate(FILLERS)
        ),
    ]
    previous = RetrieverConfig(dense_weight=1.0, lexical_weight=0.2, lexical_scale="best")
    for config, winner in ((RetrieverConfig(), "exact"), (previous, "vague")):
        source = InMemoryRecordSource()
        source.put(USER, records)
        retriever = Retriever(HashingEmbedder(), source, config=config)
        hits = await retriever.search(
            USER, "what did Biscuit the corgi chew?", 1, now=NOW, query_vector=query
        )
        assert hits[0].id == winner, config


async def test_a_neighbour_in_the_same_conversation_lifts_the_answer() -> None:
    # "We adopted a puppy" ... "his name is Biscuit": the question names the puppy, the
    # answer is the next message. "His name is on the list", said hours later, is no
    # neighbour: with neighbours counted the answer ranks above it, without they tie.
    start = NOW - timedelta(days=3)
    records = [
        MemoryRecord("puppy", "We adopted a puppy from the shelter", start),
        MemoryRecord("name", "His name is Biscuit", start + timedelta(minutes=2)),
        MemoryRecord("later", "His name is on the list", start + timedelta(hours=5)),
        *(
            MemoryRecord(f"filler{i}", text, start + timedelta(days=1, hours=i))
            for i, text in enumerate(FILLERS)
        ),
    ]
    embedded = await Retriever(HashingEmbedder(), InMemoryRecordSource()).index(USER, records)
    source = InMemoryRecordSource()
    source.put(USER, list(reversed(embedded)))  # loaded in any order: linked by time
    scores = {}
    for weight in (0.5, 0.0):
        config = RetrieverConfig(neighbour_weight=weight, recency_weight=0.0, mmr_lambda=1.0)
        retriever = Retriever(HashingEmbedder(), source, config=config)
        hits = await retriever.search(USER, "what is the name of the puppy?", 8, now=NOW)
        scores[weight] = {hit.id: hit.score for hit in hits}
        if weight:
            assert {hit.id for hit in hits[:2]} == {"puppy", "name"}
    assert scores[0.5]["name"] > scores[0.5]["later"] + 0.1
    assert abs(scores[0.0]["name"] - scores[0.0]["later"]) < 0.05


async def test_a_date_in_the_question_favours_what_was_said_then_or_spoke_of_then() -> None:
    # Asked on Wednesday 3 June about "last weekend": a hike on Sunday 31 May wins over the
    # same hike on 20 May; so does a record said on Monday that speaks of "yesterday".
    asked = datetime(2026, 6, 3, 12, tzinfo=UTC)
    fillers = [
        MemoryRecord(f"filler{i}", text, datetime(2026, 5, 10 + i, tzinfo=UTC))
        for i, text in enumerate(FILLERS)
    ]
    for weekend_record in (
        MemoryRecord(
            "weekend", "We went hiking in the hills", datetime(2026, 5, 31, 18, tzinfo=UTC)
        ),
        MemoryRecord(
            "weekend",
            "Yesterday we went hiking in the hills",
            datetime(2026, 6, 1, 9, tzinfo=UTC),
        ),
    ):
        earlier = MemoryRecord(
            "earlier", "We went hiking in the hills", datetime(2026, 5, 20, tzinfo=UTC)
        )
        for weight in (0.3, 0.0):
            config = RetrieverConfig(
                date_weight=weight, recency_weight=0.0, supersede_weight=0.0, mmr_lambda=1.0
            )
            retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=config)
            await retriever.index(USER, [earlier, weekend_record, *fillers])
            hits = await retriever.search(
                USER, "where did we go hiking last weekend?", 2, now=asked
            )
            scores = {hit.id: hit.score for hit in hits}
            if weight:
                assert scores["weekend"] > scores["earlier"] + 0.2
            else:
                assert abs(scores["weekend"] - scores["earlier"]) < 0.2


async def test_a_date_window_lifts_only_candidates_and_only_as_much_as_it_selects() -> None:
    # Asked on 3 June. "Two weeks ago" (17-23 May) holds one of the hikes, the 20 May one,
    # and one unrelated record; "in the past few months" (since 5 March) holds every record
    # but the January hike, so it tells little about which hike is meant.
    asked = datetime(2026, 6, 3, 12, tzinfo=UTC)
    records = [
        MemoryRecord("hike-may", "We went hiking in the hills", datetime(2026, 5, 20, tzinfo=UTC)),
        MemoryRecord("hike-jan", "We went hiking in the hills", datetime(2026, 1, 20, tzinfo=UTC)),
        MemoryRecord("tax", "Filed the tax forms at last", datetime(2026, 5, 19, tzinfo=UTC)),
        *(
            MemoryRecord(f"filler{i}", text, datetime(2026, 3, 10 + i, tzinfo=UTC))
            for i, text in enumerate(FILLERS)
        ),
    ]
    # Two candidates from each ranking (the two hikes), as on a long history where the
    # candidates are a small share of the records.
    config = RetrieverConfig(
        candidates=2, date_weight=0.5, recency_weight=0.0, supersede_weight=0.0, mmr_lambda=1.0
    )
    retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=config)
    await retriever.index(USER, records)

    async def scores(question: str) -> dict[str, float]:
        hits = await retriever.search(USER, question, len(records), now=asked)
        return {hit.id: hit.score for hit in hits}

    narrow = await scores("where did we go hiking two weeks ago?")
    assert narrow["hike-may"] > narrow["hike-jan"] + 0.3
    # In the window but about something else: it gets no lift over the other hike.
    assert "tax" not in narrow
    wide = await scores("where did we go hiking in the past few months?")
    assert 0.0 < wide["hike-may"] - wide["hike-jan"] < 0.1


async def test_query_expansion_finds_the_second_hop() -> None:
    # "Where does the person who gave me the guitar live?": the first pass finds the gift
    # (it names the guitar); the second hop ("Kolya moved to Tver") shares nothing with the
    # question but a lot with the gift record. Vectors are given to make that explicit.
    query = _unit(1.0, 0.0, 0.0, 0.0)
    records = [
        MemoryRecord("gift", "Uncle Kolya gave me a guitar", NOW, vector=_unit(0.8, 0.6, 0, 0)),
        MemoryRecord("city", "Kolya moved to Tver", NOW, vector=_unit(0.1, 0.95, 0, 0.3)),
        MemoryRecord("noise", "Lovely weather for a walk", NOW, vector=_unit(0.3, 0, 0.95, 0)),
    ]
    ranks = {}
    for weight in (0.0, 1.0):
        source = InMemoryRecordSource()
        source.put(USER, records)
        config = RetrieverConfig(expansion_weight=weight, expansion_docs=1, mmr_lambda=1.0)
        retriever = Retriever(HashingEmbedder(), source, config=config)
        hits = await retriever.search(
            USER, "where does the one who gave me the guitar live", 3, now=NOW, query_vector=query
        )
        ranks[weight] = [hit.id for hit in hits]
        # The reported cosine is the question's own, whatever the second pass used.
        city = next(hit for hit in hits if hit.id == "city")
        assert np.isclose(city.dense, float(_unit(0.1, 0.95, 0, 0.3) @ query), atol=1e-5)
    assert ranks[0.0].index("city") > ranks[0.0].index("noise")
    assert ranks[1.0][:2] == ["gift", "city"]


async def test_a_newer_statement_about_the_same_thing_supersedes_the_older() -> None:
    # "Where do I live now?": the user lived in Kazan (a year ago) and moved to Tver (last
    # month). The older statement matches the question's words better; with supersession
    # the newer one ranks first, without it the older one does.
    records = [
        rec("old", "I live in a small flat in Kazan", days_ago=400),
        rec("new", "We moved: I live in a flat in Tver now", days_ago=30),
        *(rec(f"filler{i}", text, days_ago=10 + i) for i, text in enumerate(FILLERS)),
    ]
    query = "do I live in a small flat?"
    ranked = {}
    for weight in (0.5, 0.0):
        config = RetrieverConfig(
            supersede_weight=weight, supersede_quantile=0.9, recency_weight=0.0, mmr_lambda=1.0
        )
        retriever = Retriever(HashingEmbedder(), InMemoryRecordSource(), config=config)
        await retriever.index(USER, records)
        ranked[weight] = [hit.id for hit in await retriever.search(USER, query, 2, now=NOW)]
    assert ranked[0.0] == ["old", "new"]
    assert ranked[0.5] == ["new", "old"]
