"""The embedded default (packaged SmolLM2-135M on CPU): runtimes compared, and the terminal chat
as a user meets it.

    .venv/bin/python benchmarks/embedded_default.py [--runs 3] [--skip-chat]

1. For each local runtime (CTranslate2 int8, transformers): load time (the one-off CTranslate2
   conversion is reported apart), a 64-token free-text reply, and one fact extraction under
   the extraction schema (constrained decoding); whether the answer parsed.
2. `companion chat`: seconds from launch to the prompt, and one turn (`-m`: reply plus the
   memory pass, which the command waits for before exiting) minus the launch cost.
3. A turn, old settings vs new in the same run (`--turns`, "A turn on the embedded default"):
   the terminal chat as a user meets it (launch to the `you:` prompt, `--typing-s` of typing,
   the reply until the next prompt, twice, then `/quit`, which waits for the memory pass), and
   the same in-process per message (reply; memory pass forced after every message; total).
   "old": the persona's reply budget (Leo: 300 tokens), no sentence stop, no prompt cache;
   "new": the defaults (`llm.local_max_reply_tokens`, `local_reply_sentence_after`,
   `local_prompt_cache`);
   "nocache": the defaults without the prompt cache (`--modes new,nocache,old`).
Medians over --runs. Numbers go to BENCHMARKS.md, "Embedded default".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.chat_process import COMPANION, PROMPT, ROOT, read_until, start_chat
from companion.config import LLMSettings
from companion.domain.models import Message, MessageRole
from companion.llm.base import ChatMessage, ChatRequest, Role, SamplingParams
from companion.llm.local_backend import LocalChatModel
from companion.memory.extraction import FactExtractor


def _messages() -> list[Message]:
    now = datetime.now(UTC)
    texts = [
        (MessageRole.USER, "Hi! I'm Maria, I work as a nurse in Boston and my dog is Rex."),
        (MessageRole.ASSISTANT, "Nice to meet you, Maria! How is Rex doing?"),
    ]
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


async def bench_runtime(runtime: str, cache: Path, runs: int) -> dict[str, object]:
    model = LocalChatModel(
        LLMSettings(local_model="smollm2", local_runtime=runtime, local_cache_dir=cache)  # type: ignore[arg-type]
    )
    started = time.monotonic()
    await model.load()
    load_s = time.monotonic() - started
    reply = ChatRequest(
        messages=[
            ChatMessage(role=Role.SYSTEM, content="You are Leo, a warm and attentive friend."),
            ChatMessage(role=Role.USER, content="How was your day?"),
        ],
        sampling=SamplingParams(temperature=0.0, max_tokens=64),
    )
    extractor = FactExtractor(model)
    replies, extractions, parsed = [], [], 0
    for _ in range(runs):
        started = time.monotonic()
        await model.complete(reply)
        replies.append(time.monotonic() - started)
        tokens = model.last_usage.completion_tokens if model.last_usage else 0
        started = time.monotonic()
        before = extractor.dropped_outputs
        await extractor.extract(_messages(), persona_name="Leo", language="en")
        extractions.append(time.monotonic() - started)
        parsed += extractor.dropped_outputs == before
    await model.aclose()
    return {
        "runtime": runtime,
        "load_s": load_s,
        "reply_64_s": statistics.median(replies),
        "reply_tokens": tokens,
        "extraction_s": statistics.median(extractions),
        "extraction_parsed": f"{parsed}/{runs}",
    }


def time_to_prompt(env: dict[str, str]) -> float:
    started = time.monotonic()
    proc = start_chat(env)
    read_until(proc, PROMPT, bytearray())
    elapsed = time.monotonic() - started
    proc.communicate(b"/quit\n", timeout=300)
    return elapsed


def time_one_turn(env: dict[str, str], text: str) -> float:
    started = time.monotonic()
    subprocess.run(
        [str(COMPANION), "chat", "-m", text],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return time.monotonic() - started


OLD_SETTINGS = {
    "local_max_reply_tokens": 400,  # so the persona's own limit applies (Leo: 300)
    "local_reply_sentence_after": 0,
    "local_prompt_cache": 0,
}
# Each change alone, for the record: the defaults without the prompt cache.
MODES: dict[str, dict[str, int]] = {
    "old": OLD_SETTINGS,
    "new": {},
    "nocache": {"local_prompt_cache": 0},
}
TURN_MESSAGES = [
    "How was your day? I walked my dog Rex in the park.",
    "I work as a nurse, the night shifts are hard.",
    "My sister Anna visits us next weekend.",
]


def _mode_env(base: dict[str, str], mode: str) -> dict[str, str]:
    env = dict(base)
    for key, value in MODES[mode].items():
        env[f"COMPANION_LLM__{key.upper()}"] = str(value)
    return env


def terminal_turn(env: dict[str, str], texts: list[str], typing_s: float) -> dict[str, float]:
    """`companion chat` as a person uses it: launch, type, read the reply (twice: the first
    turn shares the machine with the start-up warm-up), quit."""
    started = time.monotonic()
    proc = start_chat(env)
    assert proc.stdin is not None
    seen = bytearray()
    read_until(proc, PROMPT, seen)
    row = {"launch_to_prompt_s": time.monotonic() - started}
    for n, text in enumerate(texts, start=1):
        time.sleep(typing_s)
        seen.clear()
        proc.stdin.write(text.encode() + b"\n")
        proc.stdin.flush()
        sent = time.monotonic()
        read_until(proc, PROMPT, seen)
        row[f"reply_{n}_s"] = time.monotonic() - sent
    quit_at = time.monotonic()
    proc.communicate(b"/quit\n", timeout=600)
    row["quit_with_memory_pass_s"] = time.monotonic() - quit_at
    return row


async def app_turns(mode: str, work: Path, cache: Path, typing_s: float) -> list[dict[str, float]]:
    """Per message in one app: reply (first words and whole), memory pass, total."""
    from companion.app import build_app
    from companion.config import Settings
    from companion.dialogs.events import TextDelta
    from companion.dialogs.priming import prime_persona
    from companion.dialogs.prompts import PromptBuilder
    from companion.domain.models import User

    llm = {"local_cache_dir": str(cache), **MODES[mode]}
    settings = Settings.model_validate(
        {"mongo": {"embedded_data_dir": str(work / f"db-{mode}")}, "llm": llm}
    )
    rows: list[dict[str, float]] = []
    async with build_app(settings, use_redis=False, watch_personas=False, warm_up=True) as app:
        if app.warmup is not None:
            await app.warmup.wait()
        user = await app.users.upsert(User(id=1, language="en", consent_at=datetime.now(UTC)))
        started = await app.dialog.start(user, "leo")
        # What the terminal chat does while the person types (the old one did not).
        typing = asyncio.create_task(asyncio.sleep(typing_s))
        if settings.llm.local_prompt_cache:
            await prime_persona(app.llm, PromptBuilder(), started.persona, user)
        await typing
        for text in TURN_MESSAGES:
            t0 = time.monotonic()
            first: float | None = None
            reply = ""
            async for event in app.dialog.reply(user, "leo", text):
                if isinstance(event, TextDelta):
                    first = first if first is not None else time.monotonic() - t0
                    reply += event.text
            reply_s = time.monotonic() - t0
            tokens = getattr(app.llm, "last_usage", None)
            t1 = time.monotonic()
            assert app.memory is not None
            await app.memory.drain()  # the pass, due or not: the worst case of a turn
            memory_s = time.monotonic() - t1
            rows.append(
                {
                    "first_words_s": first or reply_s,
                    "reply_s": reply_s,
                    "reply_tokens": tokens.completion_tokens if tokens else 0,
                    "memory_pass_s": memory_s,
                    "turn_s": reply_s + memory_s,
                }
            )
            print(f"  {mode} turn {len(rows)}: {_fmt(rows[-1])} reply={reply[:70]!r}", flush=True)
    return rows


def _fmt(row: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())


def bench_turns(runs: int, typing_s: float, modes: list[str]) -> None:
    with tempfile.TemporaryDirectory() as work:
        cache = Path("var/models").resolve()
        base = dict(os.environ)
        base["COMPANION_LLM__LOCAL_CACHE_DIR"] = str(cache)
        terminal: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        inproc: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        for run in range(runs):
            # Interleaved, the order flipped each run: the shared machine's load hits both.
            for mode in modes if run % 2 == 0 else modes[::-1]:
                env = _mode_env(base, mode)
                env["COMPANION_MONGO__EMBEDDED_DATA_DIR"] = str(Path(work) / f"chat-{mode}-{run}")
                row = terminal_turn(env, TURN_MESSAGES[:2], typing_s)
                terminal[mode].append(row)
                print(f"{mode} terminal run {run + 1}: {_fmt(row)} load={_load()}", flush=True)
                inproc[mode] += asyncio.run(app_turns(mode, Path(work) / str(run), cache, typing_s))
        print(f"\n== a turn, medians over {runs} run(s); load now {_load()} ==")
        for mode in modes:
            t, rows = terminal[mode], inproc[mode]
            med = {k: statistics.median(r[k] for r in t) for k in t[0]}
            print(
                f"{mode}: terminal: launch to prompt {med['launch_to_prompt_s']:.1f} s, reply "
                f"(message to next prompt) 1st {med['reply_1_s']:.1f} s, 2nd "
                f"{med['reply_2_s']:.1f} s, /quit with the memory pass (2 exchanges) "
                f"{med['quit_with_memory_pass_s']:.1f} s"
            )
            per = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            print(
                f"{mode}: in-process, {len(rows)} messages: first words {per['first_words_s']:.1f}"
                f" s, reply {per['reply_s']:.1f} s ({per['reply_tokens']:.0f} tokens), memory "
                f"pass {per['memory_pass_s']:.1f} s, turn {per['turn_s']:.1f} s "
                f"(max {max(r['turn_s'] for r in rows):.1f} s)"
            )


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-chat", action="store_true")
    parser.add_argument("--turns", action="store_true", help="only part 3: a turn, old vs new")
    parser.add_argument("--typing-s", type=float, default=5.0)
    parser.add_argument("--modes", default="old,new", help=f"of {sorted(MODES)}, in order")
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()} load={_load()}")
    if args.turns:
        bench_turns(args.runs, args.typing_s, args.modes.split(","))
        return
    with tempfile.TemporaryDirectory() as work:
        cache = Path(work) / "models"
        started = time.monotonic()
        first = asyncio.run(bench_runtime("ctranslate2", cache, 1))
        print(f"ctranslate2 first start (conversion included): {time.monotonic() - started:.1f} s")
        for runtime in ("ctranslate2", "transformers"):
            row = asyncio.run(bench_runtime(runtime, cache, args.runs))
            print(
                " ".join(
                    f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                )
            )
        del first
        if args.skip_chat:
            return
        env = dict(os.environ)
        env["COMPANION_MONGO__EMBEDDED_DATA_DIR"] = str(Path(work) / "db")
        env["COMPANION_LLM__LOCAL_CACHE_DIR"] = str(cache)
        prompts = [time_to_prompt(env) for _ in range(args.runs)]
        print(f"chat: launch to prompt median {statistics.median(prompts):.1f} s {prompts}")
        launch = statistics.median(prompts)
        turns = [
            time_one_turn(env, "How was your day? I walked my dog Rex.") for _ in range(args.runs)
        ]
        print(
            "chat -m (launch + reply + memory pass + exit): "
            f"median {statistics.median(turns):.1f} s;"
            f" minus launch to prompt: {statistics.median(turns) - launch:.1f} s {turns}"
        )


if __name__ == "__main__":
    main()
