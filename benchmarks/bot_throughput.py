"""Telegram front-end throughput in webhook mode, with everything real except Telegram and vLLM.

Set-up: `companion bot --webhook` worker process(es), exactly as in production, against
- the Bot API emulator (tests/emulators/telegram) that POSTs updates to the workers
  (round-robin when there are several) and answers the bot's calls,
- the OpenAI-compatible emulator streaming a fixed reply at a fixed token rate,
- a real SecantusDB (MongoDB wire) server and the real Redis.

Many simulated users (already past onboarding, a persona chosen) send messages at a fixed
arrival rate (open loop). Measured, for the messages sent during the measured window:
- updates/s sustained: replies completed (final sendMessage) per second in the steady state,
  from 1 s after the first message to the last message sent (all replies completed / (last
  reply - first message) is printed too: it reads ~2 % low, the last replies take 0.3 s);
- added latency: update POSTed → the bot's first outgoing call for that chat (typing action),
  and update → first text on screen (first draft; includes storage, locks, prompt building and
  the model's first token, which the emulator sends at once);
- CPU per message: CPU seconds of the worker processes (user+system, from /proc) / messages.

    .venv/bin/python benchmarks/bot_throughput.py [--rate 120] [--duration 20] [--users 400]
        [--workers 1] [--tokens 8] [--token-delay 0.04] [--event-loop auto|uvloop|asyncio]

Memory extraction is off (its cost is measured by the memory benchmarks); encryption at rest
is on. The emulators run in this process and compete with the workers for the same 2 cores,
so the numbers are a lower bound for a deployment where Telegram and vLLM are elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from pymongo import AsyncMongoClient

from companion.domain.models import User
from companion.storage.embedded import EmbeddedMongoServer
from companion.storage.indexes import ensure_indexes
from companion.storage.users import UserRepository
from tests.e2e.bot.conftest import REDIS_URL, WEBHOOK_SECRET, write_personas
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramBotAPIEmulator, TelegramUser
from tests.emulators.telegram.server import free_port

# With --profile: the worker profiles only the measured window (SIGUSR1 starts, SIGUSR2 dumps).
PROFILED_WORKER = """
import cProfile, signal
from companion.cli import main
profiler = cProfile.Profile()
signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
signal.signal(signal.SIGUSR2, lambda *_: (profiler.disable(), profiler.dump_stats({out!r})))
main()
"""

# --baseline: the same worker with the dialogue service replaced by a stub that streams the same
# reply at the same rate with no storage and no model, i.e. the Telegram layer alone.
STUB_DIALOGS = """
import asyncio
import companion.cli.bot as cli
from companion.dialogs.events import ReplyDone, TextDelta

class StubDialogs:
    async def start(self, user, persona_id, *, fresh=False):
        raise NotImplementedError

    async def reply(self, user, persona_id, text, *, source=None):
        words = {reply!r}.split(" ")
        for index, word in enumerate(words):
            if index:
                await asyncio.sleep({delay!r})
            yield TextDelta(word if index == 0 else " " + word)
        yield ReplyDone(text={reply!r}, message_id="stub")

from companion.app import Overrides

def stub_overrides(**kwargs):
    # The composition root's override for what the bot's chat screens talk to.
    return Overrides(bot_dialogs=StubDialogs(), **kwargs)

cli.Overrides = stub_overrides
"""

WORDS = ["sure", "thing", "I", "hear", "you", "and", "I", "am", "here", "with", "you", "always"]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def host_reference_ms() -> float:
    """A fixed pure-Python workload timed on this host (best of 5, in ms).

    Hosts of one machine class differ: on two 2-core AMD EPYC hosts the same code's CPU per
    message differed 2.5x. Numbers from different runs are comparable only next to this."""
    update = {
        "update_id": 1,
        "message": {
            "message_id": 7,
            "from": {"id": 100_000, "is_bot": False, "first_name": "Ann", "language_code": "en"},
            "chat": {"id": 100_000, "type": "private", "first_name": "Ann"},
            "date": 1_700_000_000,
            "text": "how was your day? " * 4,
        },
    }
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for index in range(5000):
            decoded = json.loads(json.dumps(update))
            decoded["message"]["text"].split(" ")
            f"{index}:{decoded['message']['chat']['id']}".encode()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def cpu_steal() -> tuple[int, int]:
    """(steal, total) jiffies of the whole machine, from /proc/stat: time the hypervisor gave
    this VM's CPUs to someone else."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def redis_pid() -> int | None:
    """The local redis-server's pid (its CPU is part of the cost), if it can be found."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "redis-server":
                    return int(entry.name)
            except OSError:
                continue
    return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def wait_healthy(url: str, process: asyncio.subprocess.Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"worker exited with {process.returncode}")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"worker at {url} did not start")


async def run(args: argparse.Namespace) -> None:
    reference_ms = host_reference_ms()
    tmp = Path(tempfile.mkdtemp(prefix="bot-bench-"))
    personas = tmp / "personas"
    write_personas(personas)
    mongo = EmbeddedMongoServer(tmp / "db")
    mongo.start()
    database = f"bench_{uuid.uuid4().hex[:8]}"
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    reply = " ".join(WORDS[i % len(WORDS)] for i in range(args.tokens)).capitalize() + "."
    workers: list[asyncio.subprocess.Process] = []
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri, tz_aware=True)
    try:
        async with (
            TelegramBotAPIEmulator() as tg,
            OpenAIEmulator(reply=reply, token_delay_s=args.token_delay) as llm,
        ):
            db = client[database]
            await ensure_indexes(db)
            env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
            env.update(
                {
                    "COMPANION_ENVIRONMENT": "test",
                    "COMPANION_LOG_LEVEL": "WARNING",
                    "COMPANION_EVENT_LOOP": args.event_loop,
                    "COMPANION_MONGO__URI": mongo.uri,
                    "COMPANION_MONGO__DATABASE": database,
                    "COMPANION_REDIS__URL": REDIS_URL,
                    "COMPANION_REDIS__KEY_PREFIX": prefix,
                    "COMPANION_LLM__BACKEND": "openai",
                    "COMPANION_LLM__BASE_URL": llm.base_url,
                    "COMPANION_LLM__MODEL": llm.base_model,
                    "COMPANION_TELEGRAM__TOKEN": DEFAULT_TOKEN,
                    "COMPANION_TELEGRAM__WEBHOOK_SECRET": WEBHOOK_SECRET,
                    "COMPANION_TELEGRAM__WEBHOOK_HOST": "127.0.0.1",
                    "COMPANION_TELEGRAM__THROTTLE_MESSAGES": "1000",
                    "COMPANION_MEMORY__ENABLED": "false",
                    "COMPANION_PERSONAS__DIRECTORY": str(personas),
                    "COMPANION_PERSONAS__HOT_RELOAD": "false",
                    "COMPANION_PRIVACY__ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
                }
            )
            off = {"mood", "survey", "outreach"} if args.core_only else set(args.off)
            for feature in off:
                env[f"COMPANION_{feature.upper()}__ENABLED"] = "false"
            urls = []
            for _ in range(args.workers):
                port = free_port()
                worker_env = {
                    **env,
                    "COMPANION_TELEGRAM__WEBHOOK_PORT": str(port),
                    "COMPANION_TELEGRAM__WEBHOOK_URL": f"http://127.0.0.1:{port}",
                }
                launcher = tmp / "worker.py"
                stub = (
                    STUB_DIALOGS.format(reply=reply, delay=args.token_delay)
                    if args.baseline
                    else ""
                )
                launcher.write_text(
                    stub
                    + (
                        PROFILED_WORKER.format(out=f"{args.profile}.{port}")
                        if args.profile
                        else "from companion.cli import main\nmain()\n"
                    )
                )
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(launcher),
                    "bot",
                    "--webhook",
                    "--api-server",
                    tg.base_url,
                    env=worker_env,
                )
                workers.append(process)
                await wait_healthy(f"http://127.0.0.1:{port}/healthz", process, 180)
                urls.append(f"http://127.0.0.1:{port}/telegram/webhook")
            tg.webhook_targets = urls

            # Users past onboarding: consented, a persona chosen (what most traffic looks like).
            repo = UserRepository(db)
            now = datetime.now(UTC)
            users = []
            for index in range(args.users):
                user_id = 100_000 + index
                await repo.upsert(
                    User(id=user_id, language="en", consent_at=now, current_persona_id="mark")
                )
                users.append(TelegramUser(tg, user_id))

            async def wait_replies(expected: int, timeout: float) -> None:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    done = sum(1 for c in tg.calls if c.method == "sendMessage" and c.ok)
                    if done >= expected:
                        return
                    await asyncio.sleep(0.1)
                raise TimeoutError(f"only {done} of {expected} replies arrived")

            # Warm-up: every user's conversation exists, caches are filled, connections open.
            for user in users:
                await user.say("hello")
                await asyncio.sleep(1 / max(args.rate / 2, 1))
            await wait_replies(len(users), 120)
            baseline_calls = len(tg.calls)
            await asyncio.sleep(1)

            # The driver is the measuring instrument: a full collection of its own heap (every
            # recorded call) would stall the emulators and show up as the bot's latency.
            gc.collect()
            gc.freeze()
            if args.profile:
                for process in workers:
                    process.send_signal(signal.SIGUSR1)
            cpu_before = sum(cpu_seconds(p.pid) for p in workers)
            side_pids = {"database": mongo.pid, "redis": redis_pid()}
            side_before = {name: cpu_seconds(pid) for name, pid in side_pids.items() if pid}
            driver_before = time.process_time()
            steal_before = cpu_steal()
            total = int(args.rate * args.duration)
            started = time.monotonic()
            sent_updates: list[tuple[int, int]] = []
            for number in range(total):
                target = started + number / args.rate
                delay = target - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                user = users[number % len(users)]
                message = await user.say(f"message {number}")
                sent_updates.append((message["chat"]["id"], number))
            send_end = time.monotonic()
            await wait_replies(len(users) + total, 120)
            finished = time.monotonic()
            cpu_after = sum(cpu_seconds(p.pid) for p in workers)
            side_cpu = {
                name: cpu_seconds(pid) - side_before[name]
                for name, pid in side_pids.items()
                if pid and name in side_before
            }
            if args.profile:
                for process in workers:
                    process.send_signal(signal.SIGUSR2)
            driver_cpu = time.process_time() - driver_before
            steal_after = cpu_steal()
            steal_share = (steal_after[0] - steal_before[0]) / max(
                steal_after[1] - steal_before[1], 1
            )

            # Per chat: each update's first call, first draft and final message.
            calls = tg.calls[baseline_calls:]
            by_chat: dict[int, list[Any]] = {}
            for call in calls:
                if call.chat_id is not None:
                    by_chat.setdefault(call.chat_id, []).append(call)
            first_call: list[float] = []
            buckets: dict[int, list[float]] = {}
            first_text: list[float] = []
            final_at: list[float] = []
            measured_deliveries = [d for d in tg.deliveries if d.sent_at >= started]
            for delivery in measured_deliveries:
                chat_calls = [
                    c for c in by_chat.get(delivery.chat_id or 0, []) if c.at >= delivery.sent_at
                ]
                if not chat_calls:
                    continue
                first_call.append(chat_calls[0].at - delivery.sent_at)
                buckets.setdefault(int((delivery.sent_at - started) // 5), []).append(
                    first_call[-1]
                )
                text = next(
                    (c for c in chat_calls if c.method in ("sendMessageDraft", "sendMessage")), None
                )
                if text is not None:
                    first_text.append(text.at - delivery.sent_at)
                final = next((c for c in chat_calls if c.method == "sendMessage"), None)
                if final is not None:
                    final_at.append(final.at)
            completed = len(final_at)
            window = (max(final_at) - started) if final_at else float("nan")
            steady_from = started + 1.0
            steady = sum(1 for at in final_at if steady_from <= at <= send_end) / max(
                send_end - steady_from, 1e-9
            )
            errors = [c for c in calls if not c.ok]
            failed_deliveries = [d for d in measured_deliveries if d.status != 200]
            cpu = cpu_after - cpu_before

            print(
                f"workers={args.workers} ({args.event_loop} loop) users={args.users} "
                f"offered={args.rate:.0f} msg/s "
                f"for {args.duration:.0f}s (sent {total} in {send_end - started:.1f}s); "
                f"reply={args.tokens} tokens at {args.token_delay * 1000:.0f} ms/token"
            )
            print(
                f"sustained: {steady:.1f} replies/s in the steady state; "
                f"{completed / window:.1f} replies/s overall "
                f"({completed} completed in {window:.1f}s, all done {finished - started:.1f}s)"
            )
            print(
                f"added latency update->first call: p50 {percentile(first_call, 50) * 1000:.1f} ms,"
                f" p99 {percentile(first_call, 99) * 1000:.1f} ms, "
                f"max {max(first_call, default=float('nan')) * 1000:.1f} ms"
            )
            print(
                f"update->first text (draft): p50 {percentile(first_text, 50) * 1000:.1f} ms, "
                f"p99 {percentile(first_text, 99) * 1000:.1f} ms"
            )
            print(
                f"CPU per message (bot workers): {cpu / max(completed, 1) * 1000:.2f} ms "
                f"({cpu:.1f} s total; driver+emulators {driver_cpu:.1f} s)"
            )
            per_message = max(completed, 1) / 1000
            print(
                "CPU per message, other processes: "
                + ", ".join(
                    f"{name} {seconds / per_message:.2f} ms"
                    for name, seconds in {
                        **side_cpu,
                        "driver+emulators": driver_cpu,
                    }.items()
                )
            )
            per_method: dict[str, int] = {}
            for call in calls:
                per_method[call.method] = per_method.get(call.method, 0) + 1
            print(
                "Bot API calls per message: "
                + ", ".join(
                    f"{method} {count / max(completed, 1):.2f}"
                    for method, count in sorted(per_method.items(), key=lambda kv: -kv[1])
                )
            )
            print(
                f"host: reference workload {reference_ms:.0f} ms (lower is faster), "
                f"CPU steal {steal_share * 100:.1f} % during the window"
            )
            print(
                f"Bot API errors: {len(errors)}; webhook deliveries not 200: "
                f"{len(failed_deliveries)}; LLM streams: {llm.streams_completed}"
            )
            if first_call:
                print(f"mean first call {statistics.mean(first_call) * 1000:.1f} ms")
                print(
                    "first call p99 per 5 s of the window: "
                    + ", ".join(
                        f"{percentile(values, 99) * 1000:.0f}"
                        for _, values in sorted(buckets.items())
                    )
                    + " ms"
                )
    finally:
        for process in workers:
            if process.returncode is None:
                process.terminate()
        for process in workers:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
        await client.drop_database(database)
        await client.close()
        mongo.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=120.0, help="messages per second offered")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of offered load")
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=8, help="words in the model's reply")
    parser.add_argument("--token-delay", type=float, default=0.04, help="seconds per token")
    parser.add_argument(
        "--event-loop",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="the workers' event loop (auto: uvloop where installed)",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="replace the dialogue service by a stub (no storage, no model): the bot layer alone",
    )
    parser.add_argument(
        "--core-only",
        action="store_true",
        help="mood readings, the survey and check-ins off: the pipeline as measured before them",
    )
    parser.add_argument(
        "--off",
        action="append",
        default=[],
        choices=["mood", "survey", "outreach"],
        help="switch one feature off (repeatable), to see what it costs per message",
    )
    parser.add_argument(
        "--profile", help="profile the measured window of each worker into PROFILE.<port>"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
