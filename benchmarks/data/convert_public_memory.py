"""Converts the public long-term memory benchmarks into the evaluation set's format.

    .venv/bin/python benchmarks/data/convert_public_memory.py \
        longmemeval longmemeval_s.json var/lme.json [--limit 100]
    .venv/bin/python benchmarks/data/convert_public_memory.py locomo locomo10.json var/locomo.json
    .venv/bin/python benchmarks/memory_recall.py --data var/lme.json

The files are not shipped (their licences are their own, and there is no network here):
LongMemEval's ``longmemeval_s.json`` / ``longmemeval_m.json`` / ``longmemeval_oracle.json``
(Wu et al., 2024) and LoCoMo's ``locomo10.json`` (Maharana et al., 2024), as published.

Both become what `memory_recall.py` reads: users with dated sessions of exchanges (one user
message and the reply to it, as `MemoryService` stores episodes; the exchange's id is its first
turn's id) and questions with the ids of the exchanges that hold the answer. Retrieval recall
is measured, not answer accuracy: which exchanges memory would put in the prompt.

- LongMemEval: each question has its own haystack of sessions, so each question is one user.
  Evidence: the exchanges holding a turn marked ``has_answer``; where no turn is marked, every
  exchange of the ``answer_session_ids`` sessions. Abstention questions (``_abs``) have no
  evidence and are left out. Types: ``single-session-user``, ``multi-session``, ... as given.
- LoCoMo: each conversation is one user; the first speaker plays the user and the second the
  companion. Evidence: the exchanges holding the ``evidence`` dialogue ids. Categories, as
  numbered in the LoCoMo paper: 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop;
  5 (adversarial: the answer is not in the conversation) is left out.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

LOCOMO_CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}


@dataclass
class _Exchange:
    id: str
    user_text: str = ""
    reply_text: str = ""
    turn_ids: list[str] = field(default_factory=list)


def _exchanges(turns: list[tuple[bool, str]], ids: list[str]) -> list[_Exchange]:
    """Groups turns (is it the user's, text) into exchanges: a user turn and the reply after
    it. A reply with no user turn before it, or a user turn with no reply, is an exchange with
    one side empty."""
    exchanges: list[_Exchange] = []
    for turn_id, (is_user, text) in zip(ids, turns, strict=True):
        if is_user or not exchanges or exchanges[-1].reply_text:
            exchanges.append(_Exchange(id=turn_id))
            if is_user:
                exchanges[-1].user_text = text
            else:
                exchanges[-1].reply_text = text
        else:
            exchanges[-1].reply_text = text
        exchanges[-1].turn_ids.append(turn_id)
    return exchanges


def _session(exchanges: list[_Exchange], start: datetime) -> dict[str, Any]:
    """The evaluation set's session: alternating user/companion turns, a minute apart."""
    turns: list[dict[str, Any]] = []
    for number, exchange in enumerate(exchanges):
        at = (start + timedelta(minutes=2 * number)).isoformat()
        turns.append({"id": exchange.id, "role": "user", "text": exchange.user_text, "at": at})
        turns.append(
            {
                "id": f"{exchange.id}/reply",
                "role": "assistant",
                "text": exchange.reply_text,
                "at": at,
            }
        )
    return {"turns": turns}


def _evidence(exchanges: list[_Exchange], turn_ids: set[str]) -> list[str]:
    return [e.id for e in exchanges if turn_ids.intersection(e.turn_ids)]


# -- LongMemEval ---------------------------------------------------------------------------------


def _longmemeval_date(value: str) -> datetime:
    """'2023/05/20 (Sat) 02:21' -> an aware datetime (the benchmark gives no time zone)."""
    cleaned = re.sub(r"\s*\([A-Za-z]+\)\s*", " ", value).strip()
    return datetime.strptime(cleaned, "%Y/%m/%d %H:%M").replace(tzinfo=UTC)


def convert_longmemeval(items: list[dict[str, Any]], limit: int | None = None) -> dict[str, Any]:
    users: list[dict[str, Any]] = []
    questions: list[dict[str, Any]] = []
    for number, item in enumerate(items):
        if limit is not None and len(questions) >= limit:
            break
        if str(item["question_id"]).endswith("_abs"):
            continue  # abstention: the answer is not in the haystack
        user_id = 1_000_000 + number
        sessions: list[dict[str, Any]] = []
        marked: set[str] = set()
        by_session: dict[str, list[_Exchange]] = {}
        for index, (session_id, date, turns) in enumerate(
            zip(
                item["haystack_session_ids"],
                item["haystack_dates"],
                item["haystack_sessions"],
                strict=True,
            )
        ):
            ids = [f"q{number}-s{index}-t{turn}" for turn in range(len(turns))]
            pairs = [(t["role"] == "user", str(t["content"])) for t in turns]
            marked.update(i for i, t in zip(ids, turns, strict=True) if t.get("has_answer"))
            exchanges = _exchanges(pairs, ids)
            by_session[str(session_id)] = exchanges
            sessions.append(_session(exchanges, _longmemeval_date(date)))
        every = [e for exchanges in by_session.values() for e in exchanges]
        evidence = _evidence(every, marked) if marked else []
        if not evidence:
            evidence = [
                e.id
                for session_id in item.get("answer_session_ids", [])
                for e in by_session.get(str(session_id), [])
            ]
        if not evidence:
            continue
        users.append({"user_id": user_id, "sessions": sessions})
        questions.append(
            {
                "user_id": user_id,
                "question": str(item["question"]),
                "answer": str(item.get("answer", "")),
                "type": str(item["question_type"]),
                "evidence": evidence,
                "asked_at": _longmemeval_date(item["question_date"]).isoformat(),
            }
        )
    return {"source": "longmemeval", "users": users, "questions": questions}


# -- LoCoMo -------------------------------------------------------------------------------------


def _locomo_date(value: str) -> datetime:
    """'1:56 pm on 8 May, 2023' -> an aware datetime."""
    return datetime.strptime(value.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def convert_locomo(samples: list[dict[str, Any]], limit: int | None = None) -> dict[str, Any]:
    users: list[dict[str, Any]] = []
    questions: list[dict[str, Any]] = []
    for number, sample in enumerate(samples):
        conversation = sample["conversation"]
        user_speaker = conversation.get("speaker_a")
        user_id = 2_000_000 + number
        keys = sorted(
            (k for k in conversation if re.fullmatch(r"session_\d+", k)),
            key=lambda k: int(k.split("_")[1]),
        )
        sessions: list[dict[str, Any]] = []
        every: list[_Exchange] = []
        last = datetime.min.replace(tzinfo=UTC)
        for key in keys:
            turns = conversation[key]
            if not turns:
                continue
            start = _locomo_date(conversation[f"{key}_date_time"])
            last = max(last, start)
            ids = [f"c{number}-{t['dia_id']}" for t in turns]
            pairs = [(t["speaker"] == user_speaker, _locomo_text(t)) for t in turns]
            exchanges = _exchanges(pairs, ids)
            every.extend(exchanges)
            sessions.append(_session(exchanges, start))
        # Who talks: recall leaves their names out of a question, as it does with the user's
        # and the persona's (`companion.memory.participants`).
        names = [n for n in (user_speaker, conversation.get("speaker_b")) if n]
        users.append({"user_id": user_id, "sessions": sessions, "names": names})
        for qa in sample.get("qa", []):
            category = LOCOMO_CATEGORIES.get(int(qa.get("category", 0)))
            if category is None:
                continue  # adversarial: no answer in the conversation
            evidence = _evidence(every, {f"c{number}-{e}" for e in _dia_ids(qa)})
            if not evidence:
                continue  # evidence ids that name no turn (a few in the published file)
            questions.append(
                {
                    "user_id": user_id,
                    "question": str(qa["question"]),
                    "answer": str(qa.get("answer", "")),
                    "type": category,
                    "evidence": evidence,
                    "asked_at": (last + timedelta(days=1)).isoformat(),
                }
            )
            if limit is not None and len(questions) >= limit:
                return {"source": "locomo", "users": users, "questions": questions}
    return {"source": "locomo", "users": users, "questions": questions}


def _locomo_text(turn: dict[str, Any]) -> str:
    text = str(turn.get("text", ""))
    caption = turn.get("blip_caption")
    return f"{text} [shares a photo: {caption}]" if caption else text


def _dia_ids(qa: dict[str, Any]) -> list[str]:
    """Evidence ids; the published file sometimes packs several into one string ("D1:3; D2:5")."""
    ids: list[str] = []
    for entry in qa.get("evidence", []):
        ids.extend(re.findall(r"D\d+:\d+", str(entry)))
    return ids


CONVERTERS = {"longmemeval": convert_longmemeval, "locomo": convert_locomo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("format", choices=sorted(CONVERTERS))
    parser.add_argument("source", type=Path, help="the benchmark's JSON file, as published")
    parser.add_argument("out", type=Path, help="where to write the evaluation set")
    parser.add_argument("--limit", type=int, help="convert at most this many questions")
    args = parser.parse_args()
    data = json.loads(args.source.read_text(encoding="utf-8"))
    converted = CONVERTERS[args.format](data, args.limit)
    args.out.write_text(json.dumps(converted, ensure_ascii=False) + "\n", encoding="utf-8")
    exchanges = sum(len(s["turns"]) // 2 for u in converted["users"] for s in u["sessions"])
    print(
        f"{len(converted['questions'])} questions, {len(converted['users'])} users, "
        f"{exchanges} exchanges -> {args.out}"
    )


if __name__ == "__main__":
    main()
