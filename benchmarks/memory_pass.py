"""The memory pass on the embedded default (SmolLM2-135M, CTranslate2 int8): constrained JSON
decoding as it was (baseline) and as it is, in the same process on the same model.

    .venv/bin/python benchmarks/memory_pass.py [--runs 3] [--chat]

Per mode and message set: one fact extraction (`FactExtractor.extract`) and one
reconciliation decision (`Reconciler`'s LLM call, the only other JSON request of the pass);
seconds, decoding passes over the prompt, generated tokens, whether the answer parsed.

Baseline = the code before this change, rebuilt here: keys compiled in sorted order with any
whitespace, the vocabulary's logits returned at every step, each grammar refusal re-reading
the whole prompt, the schema repeated in the prompt, up to 8 facts per pass. Current = key
order kept and separators fixed, jump-forward over forced keys, logits only where a token was
refused, the prompt's state cached for restarts (bounded), no schema in the prompt, 3 facts
per user message. Numbers go to BENCHMARKS.md, "Embedded default".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import companion.llm.ct2_runtime as ct2_runtime
import companion.memory.extraction as extraction
from benchmarks.chat_process import PROMPT, read_until, start_chat
from companion.config import LLMSettings
from companion.domain.models import Message, MessageRole
from companion.llm.base import ChatMessage, ChatRequest, Role, SamplingParams
from companion.llm.json_grammar import JsonGrammar
from companion.llm.local_backend import LocalChatModel
from companion.memory.extraction import FactExtractor
from companion.memory.reconcile import RECONCILE_SCHEMA
from companion.prompts import prompt_templates

SETS: dict[str, list[tuple[MessageRole, str]]] = {
    "en": [
        (MessageRole.USER, "Hi! I'm Maria, I work as a nurse in Boston and my dog is Rex."),
        (MessageRole.ASSISTANT, "Nice to meet you, Maria! How is Rex doing?"),
    ],
    "ru": [
        (MessageRole.USER, "Привет! Меня зовут Оля, я живу в Казани и учусь на врача."),
        (MessageRole.ASSISTANT, "Привет, Оля! Как тебе учёба?"),
    ],
    "2 turns": [
        (MessageRole.USER, "My sister Anna lives in Kazan."),
        (MessageRole.ASSISTANT, "Do you visit her often?"),
        (MessageRole.USER, "Every summer. I'm flying there on 12 July."),
        (MessageRole.ASSISTANT, "That sounds lovely!"),
    ],
}


def _messages(texts: list[tuple[MessageRole, str]]) -> list[Message]:
    now = datetime.now(UTC)
    return [
        Message(
            id=f"m{n}",
            conversation_id="c",
            user_id=1,
            persona_id="leo",
            seq=n,
            role=role,
            text=text,
            created_at=now,
        )
        for n, (role, text) in enumerate(texts, start=1)
    ]


class BaselineGrammar(JsonGrammar):
    def compiled(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = self._compiler.compile_json_schema(key)
            return self._compiled[key]

    def forced_tokens(self, matcher: Any, tokenizer: Any) -> list[int]:
        return []


class BaselineRun(ct2_runtime.Ct2Run):
    """The constrained decoding loop before this change."""

    def _constrained(self, schema: dict[str, Any]) -> None:
        grammar = self.loaded.json_grammar()
        matcher = grammar.matcher(schema)
        max_new = self._max_new()
        while self.completion_tokens < max_new and not matcher.is_terminated():
            refused: list[Any] = []

            def step(result: Any, refused: list[Any] = refused) -> bool:
                if self._stopped():
                    return True
                token_id = int(result.token_id)
                if matcher.accept_token(token_id):
                    self._emit(token_id)
                    return bool(matcher.is_terminated())
                refused.append(result.logits)
                return True

            options = self._options(max_new - self.completion_tokens)
            options["return_logits_vocab"] = True
            self.passes += 1
            self.loaded.generator.generate_batch(
                [self._tokens(self.prompt_ids + self.generated)], callback=step, **options
            )
            if self.cancel.is_set() or not refused:
                break
            logits = torch.from_numpy(np.asarray(refused[0], dtype=np.float32))
            token_id = grammar.choose(
                matcher, logits, self.sampling.temperature, self.sampling.top_p
            )
            matcher.accept_token(token_id)
            self._emit(token_id)


OLD_INSTRUCTION = (
    "Answer with one JSON object only, no text before or after it, matching this JSON schema:\n"
)


@contextlib.contextmanager
def baseline(model: LocalChatModel) -> Iterator[None]:
    loaded = model._loaded
    assert isinstance(loaded, ct2_runtime.Ct2Model)
    saved = loaded.grammar, loaded.prompt_cache
    loaded.grammar = BaselineGrammar(loaded.tokenizer, loaded.vocab_size, loaded.eos_token_ids)
    loaded.prompt_cache = None
    with (
        mock.patch.object(ct2_runtime, "Ct2Run", BaselineRun),
        mock.patch.object(extraction, "FACTS_PER_USER_MESSAGE", extraction.MAX_FACTS_PER_PASS),
        mock.patch.object(
            model,
            "_json_instruction",
            lambda schema: OLD_INSTRUCTION + json.dumps(schema, ensure_ascii=False),
        ),
    ):
        try:
            yield
        finally:
            loaded.grammar, loaded.prompt_cache = saved


class Counter:
    """Decoding passes of the runs the backend made since the last reset."""

    def __init__(self) -> None:
        self.runs: list[Any] = []

    @property
    def passes(self) -> int:
        return sum(run.passes for run in self.runs)

    def reset(self) -> None:
        self.runs.clear()

    def wrap(self, model: LocalChatModel) -> None:
        original = model._new_run

        def new_run(request: ChatRequest) -> Any:
            run = original(request)
            self.runs.append(run)
            return run

        model._new_run = new_run  # type: ignore[method-assign]


async def one_mode(model: LocalChatModel, counter: Counter, name: str) -> dict[str, Any]:
    extractor = FactExtractor(model)
    row: dict[str, Any] = {}
    for label, texts in SETS.items():
        counter.reset()
        before = extractor.dropped_outputs
        started = time.monotonic()
        facts = await extractor.extract(
            _messages(texts), persona_name="Leo", language="ru" if label == "ru" else "en"
        )
        row[label] = {
            "s": time.monotonic() - started,
            "passes": counter.passes,
            "tokens": model.last_usage.completion_tokens if model.last_usage else 0,
            "parsed": extractor.dropped_outputs == before,
            "facts": len(facts),
        }
    prompt = (
        prompt_templates(None)
        .get_template("memory/reconcile.j2")
        .render(
            new_fact="The user lives in Kazan",
            existing=[{"n": 1, "text": "The user lives in Moscow"}],
        )
    )
    counter.reset()
    started = time.monotonic()
    raw = await model.complete(
        ChatRequest(
            messages=[ChatMessage(role=Role.USER, content=prompt)],
            sampling=SamplingParams(temperature=0.0, max_tokens=64),
            json_schema=RECONCILE_SCHEMA,
        )
    )
    parsed = True
    try:
        json.loads(raw)
    except ValueError:
        parsed = False
    row["reconcile"] = {
        "s": time.monotonic() - started,
        "passes": counter.passes,
        "tokens": model.last_usage.completion_tokens if model.last_usage else 0,
        "parsed": parsed,
        "facts": 0,
    }
    return row


async def main_async(runs: int, cache: Path) -> None:
    model = LocalChatModel(
        LLMSettings(local_model="smollm2", local_runtime="ctranslate2", local_cache_dir=cache)  # type: ignore[arg-type]
    )
    await model.load()
    counter = Counter()
    counter.wrap(model)
    results: dict[str, list[dict[str, Any]]] = {"baseline": [], "current": []}
    for _ in range(runs):  # modes interleaved: load changes on a shared machine hit both
        with baseline(model):
            results["baseline"].append(await one_mode(model, counter, "baseline"))
        results["current"].append(await one_mode(model, counter, "current"))
    print(f"medians over {runs} runs; load average now {os.getloadavg()[0]:.1f}")
    print(f"{'mode':9} {'request':10} {'s':>6} {'passes':>6} {'tokens':>6} parsed facts")
    totals: dict[str, float] = {}
    for mode, rows in results.items():
        for label in [*SETS, "reconcile"]:
            cells = [r[label] for r in rows]
            seconds = statistics.median(c["s"] for c in cells)
            totals[mode] = totals.get(mode, 0.0) + seconds
            print(
                f"{mode:9} {label:10} {seconds:6.2f}"
                f" {statistics.median(c['passes'] for c in cells):6.0f}"
                f" {statistics.median(c['tokens'] for c in cells):6.0f}"
                f" {sum(c['parsed'] for c in cells)}/{len(cells)}"
                f" {statistics.median(c['facts'] for c in cells):5.0f}"
            )
    for mode, total in totals.items():
        print(f"{mode}: sum of medians {total:.2f} s")
    print(f"speed-up: {totals['baseline'] / totals['current']:.1f}x")
    await model.aclose()


def chat_turn(cache: Path, text: str) -> None:
    """`companion chat` as a user meets it: launch to the prompt, message to the next prompt
    (the reply streamed; the memory pass must not hold the prompt back), then /quit to exit
    (the exit waits for the memory pass still running in the background)."""
    with tempfile.TemporaryDirectory() as work:
        env = dict(os.environ)
        env["COMPANION_MONGO__EMBEDDED_DATA_DIR"] = str(Path(work) / "db")
        env["COMPANION_LLM__LOCAL_CACHE_DIR"] = str(cache)
        started = time.monotonic()
        proc = start_chat(env, stderr=subprocess.DEVNULL)
        assert proc.stdin is not None
        seen = bytearray()
        read_until(proc, PROMPT, seen)
        launch = time.monotonic() - started
        seen.clear()
        sent = time.monotonic()
        proc.stdin.write(text.encode() + b"\n")
        proc.stdin.flush()
        read_until(proc, PROMPT, seen)
        turn = time.monotonic() - sent
        quit_at = time.monotonic()
        proc.stdin.write(b"/quit\n")
        proc.stdin.flush()
        proc.wait(timeout=600)
        tail = time.monotonic() - quit_at
    print(
        f"chat: launch to prompt {launch:.1f} s; message to the next prompt {turn:.1f} s;"
        f" /quit to exit (the memory pass left in the background) {tail:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--chat", action="store_true", help="also time `companion chat`")
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    if args.chat:
        with tempfile.TemporaryDirectory() as work:
            cache = args.cache_dir or Path(work) / "models"
            asyncio.run(main_async(args.runs, cache))
            chat_turn(cache, "My sister Anna lives in Kazan. I'm flying there on 12 July.")
        return
    if args.cache_dir is not None:
        asyncio.run(main_async(args.runs, args.cache_dir))
        return
    with tempfile.TemporaryDirectory() as work:
        asyncio.run(main_async(args.runs, Path(work) / "models"))


if __name__ == "__main__":
    sys.exit(main())
