"""A fitting set shaped like LongMemEval-S that shares no question with the S sample.

    zcat ../shared/data/longmemeval/longmemeval_oracle.json.gz > var/lme/oracle.json
    zcat ../shared/data/longmemeval/longmemeval_s_sample100.json.gz > var/lme/s100.json
    .venv/bin/python benchmarks/data/make_lme_fitset.py var/lme/oracle.json var/lme/s100.json \
        var/lme/lme_fit.json [--distractors 30 --window-days 90 --seed 16]

Why: the S sample's halves a/b are too small (49 / 44 questions) to choose a setting on one
and show it on the other, and half a has been fitted on already. LongMemEval's oracle file
holds all 500 questions with only their evidence sessions; its 400 questions that are not in
the S sample are asked here over S-like haystacks: each question's own sessions plus the
sessions of `--distractors` other non-S questions (their evidence marks removed), each session
with its own date, kept only when it falls in the `--window-days` before the question (a
history holds nothing said after the question is asked, and S's haystacks are a few weeks
long). Distractors come from the non-S questions only, so nothing of the S sample's
questions is fitted on. Converted exactly as `convert_public_memory.py longmemeval` does
(the same code): one user per question, abstention questions left out.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_public_memory import _longmemeval_date, convert_longmemeval


def _unmarked(session: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A distractor's turns without `has_answer` (it answers another question)."""
    return [{k: v for k, v in turn.items() if k != "has_answer"} for turn in session]


def haystacks(
    oracle: list[dict[str, Any]],
    held_out: set[str],
    distractors: int,
    window_days: int,
    seed: int,
) -> list[dict[str, Any]]:
    """LongMemEval-shaped instances: each non-held-out question over its own sessions and
    those of `distractors` other non-held-out questions said within `window_days` before it."""
    pool = [item for item in oracle if item["question_id"] not in held_out]
    sessions = [
        (item["question_id"], f"{item['question_id']}:{sid}", date, _longmemeval_date(date), turns)
        for item in pool
        for sid, date, turns in zip(
            item["haystack_session_ids"],
            item["haystack_dates"],
            item["haystack_sessions"],
            strict=True,
        )
    ]
    out: list[dict[str, Any]] = []
    for item in pool:
        rng = random.Random(f"{seed}:{item['question_id']}")
        asked = _longmemeval_date(item["question_date"])
        earliest = asked - timedelta(days=window_days)
        own = set(item["haystack_session_ids"])
        answers = set(item.get("answer_session_ids", []))
        fits = [s for s in sessions if s[0] != item["question_id"] and earliest <= s[3] <= asked]
        owners = sorted({s[0] for s in fits})
        chosen = set(rng.sample(owners, min(distractors, len(owners))))
        # LongMemEval reuses a session across questions, sometimes under another id (its
        # evidence pool is shared): a history holds each conversation once, so a session
        # whose turns are already here is left out, the question's own (marked) ones first.
        mine = sorted(
            (
                (sid, date, _longmemeval_date(date), turns)
                for sid, date, turns in zip(
                    item["haystack_session_ids"],
                    item["haystack_dates"],
                    item["haystack_sessions"],
                    strict=True,
                )
            ),
            key=lambda s: not (s[0] in answers or any(turn.get("has_answer") for turn in s[3])),
        )
        others = [
            (key, date, when, _unmarked(turns))
            for owner, key, date, when, turns in fits
            if owner in chosen
        ]
        taken: set[tuple[tuple[str, str], ...]] = set()
        picked = []
        for session in mine + others:
            content = tuple((str(t.get("role")), str(t.get("content"))) for t in session[3])
            if content not in taken:
                taken.add(content)
                picked.append(session)
        picked.sort(key=lambda s: s[2])
        out.append(
            item
            | {
                "haystack_session_ids": [s[0] for s in picked],
                "haystack_dates": [s[1] for s in picked],
                "haystack_sessions": [s[3] for s in picked],
                "answer_session_ids": [a for a in item.get("answer_session_ids", []) if a in own],
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("oracle", type=Path, help="longmemeval_oracle.json, as published")
    parser.add_argument("held_out", type=Path, help="the S sample: its questions are left out")
    parser.add_argument("out", type=Path)
    parser.add_argument("--distractors", type=int, default=30)
    parser.add_argument("--window-days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    oracle = json.loads(args.oracle.read_text(encoding="utf-8"))
    held_out = {item["question_id"] for item in json.loads(args.held_out.read_text("utf-8"))}
    items = haystacks(oracle, held_out, args.distractors, args.window_days, args.seed)
    converted = convert_longmemeval(items)
    args.out.write_text(json.dumps(converted, ensure_ascii=False) + "\n", encoding="utf-8")
    users = converted["users"]
    sizes = sorted(sum(len(s["turns"]) // 2 for s in u["sessions"]) for u in users)
    types = Counter(q["type"] for q in converted["questions"])
    print(
        f"{len(converted['questions'])} questions ({dict(sorted(types.items()))}), exchanges per "
        f"haystack median {sizes[len(sizes) // 2]} (min {sizes[0]}, max {sizes[-1]}), "
        f"{sum(sizes)} in all -> {args.out}"
    )


if __name__ == "__main__":
    main()
