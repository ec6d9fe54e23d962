"""`companion chat` as a subprocess, for the benchmarks that time it as a person meets it
(embedded_default.py, memory_pass.py): start it, read its output up to a marker (the `you:`
prompt)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPANION = ROOT / ".venv" / "bin" / "companion"
PROMPT = b"you:"


def start_chat(env: dict[str, str], *, stderr: int = subprocess.STDOUT) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(COMPANION), "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
        cwd=ROOT,
    )


def read_until(proc: subprocess.Popen[bytes], marker: bytes, seen: bytearray) -> None:
    """Read the chat's output into `seen` until `marker` appears; raises if it exits first."""
    assert proc.stdout is not None
    while marker not in seen:
        chunk = proc.stdout.read1(4096)  # type: ignore[attr-defined]
        if not chunk:
            raise RuntimeError(f"the chat exited before {marker!r}: {bytes(seen)[-400:]!r}")
        seen.extend(chunk)
