"""Makes `companion/memory/reference/sentences.tsv`: everyday sentences per language, whose
mean vectors give an embedder's offset between languages (`companion.memory.languages`).

Russian: posts and tweets of CEDR's train split (Sboev et al. 2021, Apache License 2.0; news
sentences left out). English: user turns of the LongMemEval oracle file (Wu et al. 2024, MIT
License). Neither is an evaluation set of the retriever's cross-language questions (those are
the generated sets). The sample is fixed by the seed, so the file can be made again:

    .venv/bin/python benchmarks/data/make_language_reference.py \
        ../shared/data/cedr/cedr-main-train.csv var/lme/oracle.json
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "companion" / "memory" / "reference" / "sentences.tsv"
HEADER = """\
# Everyday sentences per language (language<TAB>sentence), made by
# benchmarks/data/make_language_reference.py. Their mean vectors per language give the
# embedder's offset between languages (companion.memory.languages); they are never shown.
# ru: CEDR, Sboev et al. 2021, "Data-Driven Model for Emotion Detection in Russian Texts",
#     Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0).
# en: LongMemEval, Copyright (c) 2024 Di Wu, MIT License: Permission is hereby granted, free
#     of charge, to any person obtaining a copy of this software and associated documentation
#     files (the "Software"), to deal in the Software without restriction, including without
#     limitation the rights to use, copy, modify, merge, publish, distribute, sublicense,
#     and/or sell copies of the Software, and to permit persons to whom the Software is
#     furnished to do so, subject to the following conditions: The above copyright notice and
#     this permission notice shall be included in all copies or substantial portions of the
#     Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
"""


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cedr", type=Path, help="cedr-main-train.csv")
    parser.add_argument("longmemeval", type=Path, help="longmemeval_oracle.json (unzipped)")
    parser.add_argument("--per-language", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    with args.cedr.open(encoding="utf-8") as file:
        russian = [row["text"] for row in csv.DictReader(file) if row["source"] != "lenta"]
    english = [
        turn["content"]
        for item in json.loads(args.longmemeval.read_text(encoding="utf-8"))
        for session in item["haystack_sessions"]
        for turn in session
        if turn["role"] == "user" and len(turn["content"]) < 300
    ]
    lines = [HEADER]
    for language, pool in (("ru", russian), ("en", english)):
        lines += [f"{language}\t{one_line(text)}\n" for text in rnd.sample(pool, args.per_language)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(lines), encoding="utf-8")
    print(f"{args.per_language} sentences per language -> {args.out}")


if __name__ == "__main__":
    main()
