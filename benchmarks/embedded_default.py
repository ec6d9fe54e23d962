"""The embedded default (packaged SmolLM2-135M on CPU): runtimes compared, and the terminal chat
as a user meets it.

    .venv/bin/python benchmarks/embedded_default.py [--runs 3] [--skip-chat]

1. For each local runtime (CTranslate2 int8, transformers): load time (the one-off CTranslate2
   conversion is reported apart), a 64-token free-text reply, and one fact extraction under
   the extraction schema (constrained decoding); whether the answer parsed.
2. `companion chat`: seconds from launch to the prompt, and one turn (`-m`: reply plus the
   memory pass, which the command waits for before exiting) minus the launch cost.
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

from companion.config import LLMSettings
from companion.domain.models import Message, MessageRole
from companion.llm.base import ChatMessage, ChatRequest, Role, SamplingParams
from companion.llm.local_backend import LocalChatModel
from companion.memory.extraction import FactExtractor

ROOT = Path(__file__).resolve().parents[1]
COMPANION = ROOT / ".venv" / "bin" / "companion"


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
    proc = subprocess.Popen(
        [str(COMPANION), "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    seen = b""
    while b"you:" not in seen:
        chunk = proc.stdout.read1(4096)  # type: ignore[attr-defined]
        if not chunk:
            break
        seen += chunk
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-chat", action="store_true")
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
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
    sys.exit(main())
