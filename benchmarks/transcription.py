"""Voice-note transcription speed and memory: real-time factor (RTF) and peak RSS.

    .venv/bin/python benchmarks/transcription.py          # default matrix (below)
    .venv/bin/python benchmarks/transcription.py --full   # every combination

Default matrix: every note alone; four at once for 30 s notes everywhere and for 5 s and 2 min
notes with int8 beam 1 (``--full`` adds the rest; it is long on 2 cores).

Speech: an English passage spoken by espeak-ng at 150 words/min (generated once into
var/bench/speech, then cut into 5 s, 30 s and 2 min notes, each encoded as OGG/Opus 48 kHz
mono like a Telegram voice note). Without espeak-ng the committed test fixtures are repeated
instead (repetition makes Whisper fall back to sampling more often: slower, pessimistic).

Every row runs in a fresh child process so that "peak RSS" is that configuration's own peak
(model + decoding + transcription). Rows:

- model: the packaged multilingual Whisper base, CTranslate2 ``int8`` (the service default)
  and CTranslate2 ``float32`` as the baseline (openai-whisper's PyTorch fp32 cannot run here:
  its weights download from openaipublic.azureedge.net, and this machine is offline);
- beam 1 (service default) and beam 5 (faster-whisper's default);
- single: one note alone, with the service defaults (``speech.workers=2``, each worker may use
  every core, so a lone note runs on both): the latency a user sees;
- 4 concurrent: four users' notes submitted at once to `TranscriptionPool` with the same
  defaults; RTF = wall time / total audio, latency = slowest note.

CPU time (user + system, all threads of the process) is reported next to wall time: on a
shared machine other processes steal cores, and CPU-seconds per audio-second shows the cost of
the work itself. ``ideal 2-core s`` = CPU time / 2, the wall time two dedicated cores would need
if both were kept busy.

Timing includes decoding the OGG, VAD, language detection (ru/en) and transcription; the model
load is excluded (it happens once per process) and a 5 s warm-up note runs first.
Target (issue 5): a 30 s note in <= 4 s on 2 cores with base int8, i.e. RTF <= 0.13.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from companion.config import SpeechSettings  # noqa: E402
from companion.speech.pool import TranscriptionPool  # noqa: E402
from companion.speech.transcriber import Transcriber  # noqa: E402
from tests.fixtures.audio.make_fixtures import (  # noqa: E402
    SAMPLE_RATE,
    read_mono,
    synthesize,
    write_voice_note,
)

WORK = ROOT / "var" / "bench" / "speech"
DURATIONS = (5, 30, 120)
TARGET_SECONDS_FOR_30 = 4.0
TARGET_RTF = 0.13

# Varied sentences: repeating one phrase would trip Whisper's repetition fallback.
PASSAGE = (
    "Yesterday I finally went to the old market near the river. "
    "The weather was cold but sunny, and the streets were full of people buying vegetables. "
    "I met my neighbour Anna, who told me about her new job at the library. "
    "She works three days a week and spends the rest of her time painting. "
    "After that I bought some apples, fresh bread and a small jar of honey. "
    "On the way home I stopped at a cafe and ordered a large cup of black coffee. "
    "A man at the next table was reading a book about the history of ships. "
    "We talked for a while about travelling by sea and the storms he had seen. "
    "In the evening my sister called and asked whether I could visit her on Sunday. "
    "Her children want to show me the garden they planted in the spring. "
    "I think I will bring them a board game and some chocolate. "
    "Tomorrow I have to finish a report for work, so I will go to bed early tonight. "
    "Next month we are planning a trip to the mountains with a few friends. "
    "Nobody has decided yet whether we should take the train or rent a car. "
    "I would like to walk along the lake and take photographs of the birds. "
    "My friend Peter says the hotel there serves the best fish soup in the region. "
    "Before the trip I need new boots, a warm jacket and a better camera bag. "
    "Last year it rained every single day, but we still had a wonderful time. "
    "We played cards in the evenings and told each other funny stories. "
    "I hope the weather will be kinder to us this time."
)


def speech_samples() -> tuple[np.ndarray, str]:
    """Mono float32 at 48 kHz, at least 2 min long, and where it came from."""
    WORK.mkdir(parents=True, exist_ok=True)
    cached = WORK / "passage.ogg"
    if not cached.exists() and shutil.which("espeak-ng"):
        samples = synthesize(PASSAGE, "en", words_per_minute=150)
        while len(samples) < max(DURATIONS) * SAMPLE_RATE + SAMPLE_RATE:
            samples = np.concatenate([samples, samples])
        write_voice_note(cached, samples, bitrate=48_000)
    if cached.exists():
        return read_mono(cached), "espeak-ng -v en -s 150 (English passage in this script)"
    fixtures = ROOT / "tests" / "fixtures" / "audio"
    parts = [read_mono(fixtures / n) for n in ("en_voice.ogg", "en_audio.m4a", "ru_voice.ogg")]
    samples = np.concatenate(parts)
    while len(samples) < max(DURATIONS) * SAMPLE_RATE + SAMPLE_RATE:
        samples = np.concatenate([samples, samples])
    return samples, "committed fixtures repeated (espeak-ng not installed)"


def make_notes() -> tuple[dict[int, Path], str]:
    samples, origin = speech_samples()
    notes: dict[int, Path] = {}
    for seconds in DURATIONS:
        path = WORK / f"note_{seconds}s.ogg"
        if not path.exists():
            write_voice_note(path, samples[: seconds * SAMPLE_RATE])
        notes[seconds] = path
    return notes, origin


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wanted(compute_type: str, beam: int, concurrency: int, seconds: int, full: bool) -> bool:
    if concurrency == 1 or full or seconds == 30:
        return True
    return (compute_type, beam) == ("int8", 1)


def run_row(
    compute_type: str,
    beam: int,
    concurrency: int,
    seconds: int,
    cache: Path,
    workers: int | None = None,
) -> dict[str, Any]:
    """One configuration, in this (child) process."""
    notes, _ = make_notes()
    if workers is None:
        workers = SpeechSettings().workers
    settings = SpeechSettings(
        model="packaged",
        cache_dir=cache,
        compute_type=compute_type,
        beam_size=beam,
        workers=workers,
        queue_limit=8,
        max_duration_s=600,
    )
    transcriber = Transcriber(settings)
    started = time.perf_counter()
    transcriber.load()
    load_s = time.perf_counter() - started
    transcriber.transcribe(notes[5].read_bytes(), "en")  # warm-up
    audio = notes[seconds].read_bytes()

    async def measure() -> tuple[float, list[float], list[str]]:
        pool = TranscriptionPool(transcriber, workers=workers, queue_limit=8)

        async def one(user: int) -> tuple[float, str]:
            t0 = time.perf_counter()
            result = await pool.transcribe(user, audio)
            return time.perf_counter() - t0, result.text

        t0 = time.perf_counter()
        done = await asyncio.gather(*(one(user) for user in range(concurrency)))
        wall = time.perf_counter() - t0
        await pool.close()
        return wall, [d[0] for d in done], [d[1] for d in done]

    cpu_before = _cpu_seconds()
    wall, latencies, texts = asyncio.run(measure())
    cpu = _cpu_seconds() - cpu_before
    return {
        "compute_type": compute_type,
        "beam": beam,
        "concurrency": concurrency,
        "seconds": seconds,
        "workers": workers,
        "wall_s": wall,
        "max_latency_s": max(latencies),
        "rtf": wall / (seconds * concurrency),
        "cpu_s": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "load_s": load_s,
        "words": len(texts[0].split()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="every concurrent combination too")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: run one row, print JSON
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "models")
    args = parser.parse_args()
    if args.row:
        compute_type, beam, concurrency, seconds, *workers = args.row.split(",")
        row = run_row(
            compute_type,
            int(beam),
            int(concurrency),
            int(seconds),
            args.cache,
            int(workers[0]) if workers else None,
        )
        print(json.dumps(row))
        return

    _, origin = make_notes()
    print(f"machine: {os.cpu_count()} CPU cores; speech: {origin}")
    print(
        "baseline: openai-whisper (PyTorch fp32) is not runnable offline (its weights download "
        "from openaipublic.azureedge.net); CTranslate2 float32 is the baseline"
    )
    specs: list[str] = []
    for compute_type in ("int8", "float32"):
        for beam in (1, 5):
            for concurrency in (1, 4):
                for seconds in DURATIONS:
                    if wanted(compute_type, beam, concurrency, seconds, args.full):
                        specs.append(f"{compute_type},{beam},{concurrency},{seconds}")
    # For comparison: one worker, as in a deployment that sets speech.workers=1.
    specs += ["int8,1,1,30,1"]
    rows: list[dict[str, Any]] = []
    for spec in specs:
        out = subprocess.run(
            [sys.executable, __file__, "--row", spec, "--cache", str(args.cache)],
            check=True,
            capture_output=True,
            text=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"  {spec}: wall {row['wall_s']:.2f} s, RTF {row['rtf']:.3f}, "
            f"CPU {row['cpu_s']:.2f} s, peak {row['peak_rss_mb']:.0f} MB, "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )

    print()
    print(
        "| model | beam | notes at once | note | wall s | slowest note s | RTF | CPU s "
        "| ideal 2-core s | CPU RTF (2 cores) | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        label = "base int8" if r["compute_type"] == "int8" else "base float32 (baseline)"
        print(
            f"| {label} | {r['beam']} | {r['concurrency']} (workers={r['workers']}) | "
            f"{r['seconds']} s | {r['wall_s']:.2f} | {r['max_latency_s']:.2f} | "
            f"{r['rtf']:.3f} | {r['cpu_s']:.2f} | {r['cpu_s'] / 2:.2f} | "
            f"{r['cpu_s'] / 2 / (r['seconds'] * r['concurrency']):.3f} | {r['peak_rss_mb']:.0f} |"
        )
    target = next(
        r
        for r in rows
        if (r["compute_type"], r["beam"], r["concurrency"], r["seconds"], r["workers"])
        == ("int8", 1, 1, 30, SpeechSettings().workers)
    )
    baseline = next(
        r
        for r in rows
        if (r["compute_type"], r["beam"], r["concurrency"], r["seconds"], r["workers"])
        == ("float32", 1, 1, 30, SpeechSettings().workers)
    )
    print()
    for what, seconds_taken in (("wall", target["wall_s"]), ("ideal 2-core", target["cpu_s"] / 2)):
        verdict = "MET" if seconds_taken <= TARGET_SECONDS_FOR_30 else "NOT MET"
        print(
            f"target, {what}: 30 s note, base int8, beam 1, alone: {seconds_taken:.2f} s "
            f"(RTF {seconds_taken / 30:.3f}) vs <= {TARGET_SECONDS_FOR_30:.0f} s "
            f"(RTF <= {TARGET_RTF}): {verdict}"
        )
    print(
        f"float32 baseline, same note: wall {baseline['wall_s']:.2f} s, "
        f"CPU {baseline['cpu_s']:.2f} s "
        f"({baseline['cpu_s'] / target['cpu_s']:.2f}x the int8 CPU time)"
    )
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
