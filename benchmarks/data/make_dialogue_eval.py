"""Turns a generated English memory set into a conversation between two named people, the way
public two-person dialogue benchmarks are: they greet and address each other by name, and the
questions name the speaker in the third person ("What pastime did Caroline recently pick up?").

A probe of what names do to recall (BENCHMARKS.md, "Memory: the names of the speakers"): the
set lists the two speakers' names per user (as `convert_public_memory.py locomo` does), and
recall leaves them out of a question; `--no-names` writes the same set without that list, so
the names stay in what the retriever is asked.

    .venv/bin/python benchmarks/data/make_dialogue_eval.py benchmarks/data/memory_eval.json \
        var/lme/dialogue_en.json [--no-names] [--seed 3]
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path
from typing import Any

SPEAKER, OTHER = "Caroline", "Melanie"
# First person -> the speaker in the third person; enough for the generator's questions.
THIRD_PERSON = [
    (r"\bRemind me, ", ""),
    (r"\bam I\b", f"is {SPEAKER}"),
    (r"\b(did|was|should|have|do) I\b", rf"\1 {SPEAKER}"),
    (r"\bI've\b", f"{SPEAKER} has"),
    (r"\bI'm\b", f"{SPEAKER} is"),
    (r"\bI\b", SPEAKER),
    (r"\b[Mm]y\b", f"{SPEAKER}'s"),
    (r"\b(me|myself)\b", SPEAKER),
    (r"\b[Ww]e\b", f"{SPEAKER} and her family"),
    (r"\bour\b", "their"),
]


def dialogue(data: dict[str, Any], rng: random.Random, names: bool) -> dict[str, Any]:
    for user in data["users"]:
        if names:
            user["names"] = [SPEAKER, OTHER]
        for session in user["sessions"]:
            turns = session["turns"]
            for number in range(0, len(turns), 2):
                said, reply = turns[number], turns[number + 1]
                if number == 0:  # they greet each other by name
                    said["text"] = f"Hey {OTHER}! {said['text']}"
                    reply["text"] = f"Hi {SPEAKER}, good to see you! {reply['text']}"
                elif rng.random() < 0.3:  # and now and then address each other
                    reply["text"] = f"{reply['text'].rstrip('.!?')}, {SPEAKER}!"
                elif rng.random() < 0.15:
                    said["text"] = f"{said['text']} What about you, {OTHER}?"
    for question in data["questions"]:
        text = question["question"]
        for pattern, replacement in THIRD_PERSON:
            text = re.sub(pattern, replacement, text)
        question["question"] = text
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="a set made by make_memory_eval.py")
    parser.add_argument("out", type=Path)
    parser.add_argument("--no-names", action="store_true", help="leave out the speakers' names")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    data = json.loads(args.source.read_text(encoding="utf-8"))
    converted = dialogue(data, random.Random(args.seed), names=not args.no_names)
    args.out.write_text(json.dumps(converted, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(converted['questions'])} questions -> {args.out}")


if __name__ == "__main__":
    main()
