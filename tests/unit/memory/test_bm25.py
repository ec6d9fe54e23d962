from __future__ import annotations

import numpy as np

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


def test_russian_word_forms_match_through_stemming() -> None:
    # Cases and verb forms differ between what was said and what is asked.
    index = BM25Index()
    index.add("Мы наконец переехали в Тверь, кругом коробки")
    index.add("Подруга вернулась из отпуска на море")
    index.add("Вчера ужинали с Ольгой, много смеялись")
    moved = index.scores("Ты помнишь, как я переезжала? Как мне в Твери?")
    assert moved[0] > 0 and moved[1] == moved[2] == 0
    olga = index.scores("Что нового у Ольги?")
    assert olga[2] > 0 and olga[0] == olga[1] == 0


def test_ideal_is_the_score_of_a_document_holding_every_query_term() -> None:
    index = BM25Index()
    for text in ("red apple pie", "green apple", "blue sky", "grey sky"):
        index.add(text)
    # One term that half the documents hold: ideal = its idf; a term no document holds
    # adds the idf of df = 0 (the question asks about something never said).
    apple = index.ideal("apple")
    assert apple > 0
    assert np.isclose(apple, np.log(1 + (4 - 2 + 0.5) / (2 + 0.5)))
    assert index.ideal("apple banana") > apple
    assert index.ideal("") == 0.0
    assert BM25Index().ideal("apple") == 0.0


def test_a_weighted_part_counts_as_if_written_that_many_times() -> None:
    weighted, written = BM25Index(), BM25Index()
    for index in (weighted, written):
        index.add("Filler about the weather and the bus")
    weighted.add("That sounds lovely, tell me more", weighted=("we adopted a cat", 2.0))
    written.add("we adopted a cat we adopted a cat That sounds lovely, tell me more")
    for query in ("did we adopt a cat?", "tell me more", "weather"):
        assert np.allclose(weighted.scores(query), written.scores(query))
