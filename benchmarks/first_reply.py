"""First reply after a start vs the tenth, with and without the start-up warm-up.

    .venv/bin/python benchmarks/first_reply.py [--replies 10]

Each mode runs in a fresh process on the embedded defaults (SecantusDB, the packaged SmolLM2,
memory with its embedder): build the app, start a conversation, then send `--replies`
messages one after another and time the first words (what the user waits for) and each whole
reply (the memory pass runs in the background). "warm-up": the models are warmed up in the
background at start and the first message is sent once readiness says they are warm (what a
load balancer does with /readyz); "cold": the first message pays for loading them. Numbers go
to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

MESSAGES = [
    "Hi! How are you today?",
    "I had a long day at work.",
    "My dog Rex was happy to see me though.",
    "What do you do in the evenings?",
    "I like reading before sleep.",
    "Any book you would recommend?",
    "I have a presentation tomorrow.",
    "I'm a bit nervous about it.",
    "Thanks, that helps.",
    "Good night!",
]


async def run_mode(warm: bool, replies: int, work: Path) -> dict[str, object]:
    from companion.app import build_app
    from companion.config import Settings
    from companion.dialogs.events import TextDelta
    from companion.domain.models import User
    from companion.llm.warmup import start_model_warmup

    settings = Settings.model_validate(
        {
            "mongo": {"embedded_data_dir": str(work / "db")},
            "llm": {"local_cache_dir": str(Path("var/models").resolve())},
        }
    )
    started = time.monotonic()
    async with build_app(settings, use_redis=False, watch_personas=False) as app:
        built_s = time.monotonic() - started
        warmup = getattr(app, "warmup", None)
        async with AsyncExitStack() as stack:
            if warm and warmup is None:
                embedder = app.memory.embedder if app.memory is not None else None
                warmup = start_model_warmup(stack, llm=app.llm, embedder=embedder)
            ready_s = None
            if warm and warmup is not None:
                await warmup.wait()
                ready_s = time.monotonic() - started
            user = await app.users.upsert(User(id=1, language="en", consent_at=datetime.now(UTC)))
            await app.dialog.start(user, "leo")
            times: list[float] = []
            firsts: list[float] = []
            for text in (MESSAGES * 2)[:replies]:
                t0 = time.monotonic()
                first: float | None = None
                async for event in app.dialog.reply(user, "leo", text):
                    if isinstance(event, TextDelta) and first is None:
                        first = time.monotonic() - t0
                times.append(time.monotonic() - t0)
                firsts.append(first if first is not None else times[-1])
                print(
                    f"reply {len(times)}: first words {firsts[-1]:.2f} s, whole {times[-1]:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
            if app.memory is not None:
                # Measured above; the remaining memory passes are not part of a reply.
                drain_started = time.monotonic()
                await app.memory.drain()
                print(f"drain {time.monotonic() - drain_started:.1f} s", file=sys.stderr)
    return {
        "mode": "warm-up" if warm else "cold",
        "build_app_s": round(built_s, 2),
        "ready_after_start_s": None if ready_s is None else round(ready_s, 2),
        "first_words_1st_s": round(firsts[0], 2),
        "first_words_10th_s": round(firsts[-1], 2),
        "first_words_median_2_to_n_s": round(statistics.median(firsts[1:]), 2),
        "first_reply_s": round(times[0], 2),
        "tenth_reply_s": round(times[-1], 2),
        "median_2_to_n_s": round(statistics.median(times[1:]), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=10)
    parser.add_argument("--mode", choices=["cold", "warm"])
    args = parser.parse_args()
    if args.mode:
        with tempfile.TemporaryDirectory() as work:
            row = asyncio.run(run_mode(args.mode == "warm", args.replies, Path(work)))
        print(json.dumps(row))
        return
    for mode in ("cold", "warm"):
        out = subprocess.run(
            [sys.executable, __file__, "--mode", mode, "--replies", str(args.replies)],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
