from __future__ import annotations

from companion.memory.bm25 import BM25Index


def test_rare_shared_terms_rank_first_and_removed_rows_leave_statistics() -> None:
    index = BM25Index()
    rows = [
        index.add("I adopted a ginger cat named Tom"),
        index.add("My sister lives in Omsk"),
        index.add("The weather was nice, a nice walk in the park"),
        index.add("Tom the cat knocked over a vase"),
    ]
    scores = index.scores("what is my cat called?")
    ranked = sorted(rows, key=lambda r: -scores[r])
    assert set(ranked[:2]) == {0, 3}
    assert scores[1] == 0 and scores[2] == 0

    index.remove(0)
    after = index.scores("cat")
    # With one fewer document holding "cat", the term is rarer: the other one scores higher.
    assert after[3] > scores[3] * 0.99
    assert index.scores("").sum() == 0
