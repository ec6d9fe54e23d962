"""The knobs of the retriever's ranking (`RetrieverConfig`); the defaults are fitted
(BENCHMARKS.md, "Memory: recall").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class RetrieverConfig:
    candidates: int = 50  # taken from each of the dense and lexical rankings, and for MMR
    # How the two rankings become one relevance per row (`companion.memory.fusion`):
    # "normalized" (default): dense_weight * cosine rescaled to 0..1 over the candidates
    #   + lexical_weight * BM25 / the query's best BM25 ("best") or / the ideal ("query":
    #   what a record holding every question term would score, so weak matches stay weak);
    # "adaptive": BM25 gets lexical_weight times its coverage of the question (the
    #   best BM25 score / what a record holding every question term would score, capped at
    #   1), the cosine (rescaled to 0..1 over the candidates) the rest: a question that shares
    #   its rare words with a record is a keyword question, a paraphrase is the embedder's;
    # "zscore": dense_weight and lexical_weight times each signal's z-score over the user;
    # "rrf": weighted reciprocal rank fusion of the two rankings (scores ignored).
    # Then, on any: + neighbour_weight * the better neighbour's relevance (the exchanges just
    # before and after, within neighbour_gap_s), + date_weight x the window's selectivity
    # (1 - the share of the user's records inside it) for a candidate said in (or speaking
    # of) a span of days the query names ("last weekend", "в марте", "the past two weeks"),
    # + recency_weight * 0.5 ** (age / half-life) + importance_weight * (importance - 3) / 2.
    # With expansion_weight > 0 a second dense pass moves the query vector towards the
    # expansion_docs best records of the first (pseudo-relevance feedback, for multi-hop).
    # The defaults were fitted on one half of the questions of three sets and reported on
    # the other half and on sets never used for fitting: BENCHMARKS.md, "Memory: recall".
    fusion: Literal["normalized", "adaptive", "zscore", "rrf"] = "normalized"
    rrf_k: float = 60.0
    dense_weight: float = 0.5
    lexical_weight: float = 0.5
    # BM25 divided by the query's best match ("best"), or by what a document holding every
    # query term would score ("query": weak matches stay weak, see BM25Index.ideal).
    lexical_scale: Literal["best", "query"] = "query"
    neighbour_weight: float = 0.0
    neighbour_gap_s: float = 1800.0
    expansion_weight: float = 0.0
    expansion_docs: int = 2
    # Refitted (0.7 -> 0.5) on a LongMemEval fitting set that shares no question with the S
    # sample, with the generated sets' half a (which name no dates): BENCHMARKS.md, "Memory:
    # a fresh fitting set (session 8)".
    date_weight: float = 0.5
    # "add": + date_weight x selectivity; "scale": x (1 + date_weight x selectivity), so a
    # weak match said in the span cannot pass a strong one said outside it.
    date_mode: Literal["add", "scale"] = "add"
    # The share of the lift for a candidate that only speaks of a day in the span ("yesterday"
    # said the day after it ends) instead of being said in it: 1 counts both alike. The fit
    # kept 1: counting such rows at 0 lost dated questions on the fitting set.
    date_refers_weight: float = 1.0
    # BM25 counts each word of an exchange's user message (MemoryRecord.user_chars) this many
    # times, the reply's once: what the user said is what memory is asked about, and a long
    # reply's words otherwise outweigh it. 1: the exchange as one text. (Rebuilds indexes.)
    # Kept at 1 by the fit: it helps LongMemEval (the user's words hold the answers) but
    # loses on the generated sets, and a dialogue between two people has no "reply" to
    # discount.
    user_words_weight: float = 1.0
    # A question about several things ("which came first, A or B?", "'X', 'Y' and 'Z'"):
    # BM25 of each part on its own, times part_weight, where it beats the whole question's
    # (`companion.memory.subqueries`; "normalized" fusion only). 0: off. Both were searched
    # on half a of LongMemEval-S/-oracle and kept at "add" / 0 (BENCHMARKS.md, "Memory:
    # questions about several things").
    part_weight: float = 0.0
    # A candidate is superseded when a newer candidate about the same thing (their cosine in
    # the top supersede_quantile of the candidates' pairs) is at least half as relevant: the
    # user's situation changed ("moved to Tver" after "I live in Kazan"); it loses this much.
    # supersede_weight and recency_weight serve a question about something that happened,
    # which may be about any month of the history; the now_ pair a question about how things
    # are now ("where do I live now?", "кем я сейчас работаю?": `companion.memory.present`),
    # which wants the latest of several statements; count_supersede_weight a question that
    # adds up mentions ("how many times..."), where every mention counts. One pair (0.3 /
    # 0.1) served all until session 9; fitted on the LongMemEval fitting set and half a of
    # the generated sets (BENCHMARKS.md, "Memory: the time priors by question"): the
    # general pair went to 0 / 0.2, counting to 0, the now pair stayed.
    supersede_weight: float = 0.2
    supersede_quantile: float = 0.95
    supersede_gap_s: float = 86400.0
    recency_half_life_days: float = 240.0
    recency_weight: float = 0.0
    now_recency_weight: float = 0.3
    now_supersede_weight: float = 0.1
    # Supersession for a question that adds up mentions ("how many times did I...?") and is
    # not about now: every mention counts, a newer one does not replace an older one.
    count_supersede_weight: float = 0.0
    importance_weight: float = 0.05
    # A record in another language than the question (Russian question, English record, or
    # back) has its cosine counted as if it were in the question's language: this times
    # (mean of the question's language - mean of the record's) . query is added to it
    # (`companion.memory.languages`). 0: off; 1, the whole offset, was chosen on the Russian
    # generated set (BENCHMARKS.md, "Memory: questions across languages").
    language_shift: float = 1.0
    # MMR trade-off: 1.0 = pure relevance, lower = more diversity.
    mmr_lambda: float = 0.8
    max_users: int = 512  # users whose index stays in memory (LRU)
    # A cached user is reloaded from the source after this long, which bounds how stale the
    # cache can be when another process (the CLI, a second bot replica) changed the records.
    cache_ttl_s: float | None = 600.0
    blas_threads: int | None = 1  # see Retriever._blas_limit; None leaves BLAS alone
