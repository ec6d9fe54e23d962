"""The evaluation set of the memory benchmarks: users' dated exchanges and the questions
asked of them (`load_set`), as `benchmarks/data/make_memory_eval.py` generates and
`benchmarks/data/convert_public_memory.py` converts them. Scored by `companion.memory.evaluation`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from companion.memory.participants import name_variants, without_names
from companion.memory.records import MemoryRecord


@dataclass(frozen=True)
class Question:
    key: str  # stable id of the question (its own id, or user and text)
    user_id: int
    type: str
    text: str
    evidence: list[str]
    asked_at: datetime
    # What the retriever is asked: the text with the speakers' names taken out where the set
    # names its speakers (a two-person dialogue), as recall does with the persona's and the
    # user's names (`companion.memory.participants`). The baselines get `text` as it is.
    recall_text: str = ""

    def __post_init__(self) -> None:
        if not self.recall_text:
            object.__setattr__(self, "recall_text", self.text)

    @property
    def split(self) -> str:
        """ "a" or "b": a fixed half of any set, for fitting on one half and reporting the other."""
        return "a" if hashlib.sha256(self.key.encode()).digest()[0] % 2 == 0 else "b"


@dataclass
class EvalSet:
    path: Path
    users: dict[int, list[MemoryRecord]]  # records without vectors, in the file's order
    questions: list[Question]

    def only(self, split: str | None) -> EvalSet:
        """The same set with only the questions of one split ("a", "b"), or all (None)."""
        if split is None:
            return self
        return self.where(lambda q: q.split == split)

    def where(self, keep: Callable[[Question], bool]) -> EvalSet:
        """The same set with only the questions `keep` accepts (and their users)."""
        chosen = [q for q in self.questions if keep(q)]
        users = {q.user_id for q in chosen}
        return EvalSet(self.path, {u: r for u, r in self.users.items() if u in users}, chosen)

    def stretched(self, days: float) -> EvalSet:
        """The same histories spread over `days`: each user's records and questions keep their
        order and relative spacing, the first record `days` before the user's last question.
        A probe of the time priors (recency, supersession) on a set whose histories are short
        (LongMemEval-S: 11 days median) as if they had taken months, as between two people
        who talk for a year. Dates the texts name no longer match: probe with date_weight=0."""
        last: dict[int, datetime] = {}
        for question in self.questions:
            last[question.user_id] = max(
                question.asked_at, last.get(question.user_id, question.asked_at)
            )
        users: dict[int, list[MemoryRecord]] = {}
        scale: dict[int, tuple[datetime, float]] = {}  # user -> (end, factor)
        for user_id, records in self.users.items():
            if not records or user_id not in last:
                users[user_id] = records
                continue
            end = last[user_id]
            span = max((end - min(r.time for r in records)).total_seconds(), 1.0)
            scale[user_id] = (end, days * 86400.0 / span)
            users[user_id] = [replace(r, time=_moved(r.time, *scale[user_id])) for r in records]
        questions = [
            replace(q, asked_at=_moved(q.asked_at, *scale[q.user_id])) if q.user_id in scale else q
            for q in self.questions
        ]
        return EvalSet(self.path, users, questions)


def _moved(when: datetime, end: datetime, factor: float) -> datetime:
    """`when` with its distance to `end` scaled by `factor`."""
    return end - (end - when) * factor


def exchanges(user: Mapping[str, Any]) -> list[MemoryRecord]:
    """A user's exchanges as records: user message and reply, id of the user turn."""
    records: list[MemoryRecord] = []
    for session in user["sessions"]:
        turns = session["turns"]
        for user_turn, reply in zip(turns[::2], turns[1::2], strict=True):
            records.append(
                MemoryRecord(
                    id=user_turn["id"],
                    text=f"{user_turn['text']}\n{reply['text']}",
                    time=datetime.fromisoformat(user_turn["at"]),
                    user_chars=len(user_turn["text"]),
                )
            )
    return records


def load_set(path: Path) -> EvalSet:
    data = json.loads(path.read_text(encoding="utf-8"))
    users = {int(user["user_id"]): exchanges(user) for user in data["users"]}
    # The speakers' names, where the set has them (`convert_locomo`).
    names = {
        int(u["user_id"]): name_variants(str(n) for n in u.get("names", [])) for u in data["users"]
    }
    questions = [
        Question(
            key=str(item.get("id") or f"{item['user_id']}:{item['question']}"),
            user_id=int(item["user_id"]),
            type=str(item["type"]),
            text=str(item["question"]),
            evidence=[str(e) for e in item["evidence"]],
            asked_at=datetime.fromisoformat(item["asked_at"]),
            recall_text=without_names(str(item["question"]), names.get(int(item["user_id"]), [])),
        )
        for item in data["questions"]
    ]
    return EvalSet(path, users, questions)
