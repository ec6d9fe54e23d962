"""`companion chat` on the embedded default model, typed into as a person does: the packaged
SmolLM2 on CTranslate2, a short reply that ends at a sentence end, the next prompt.

Slow: one CTranslate2 conversion (tens of seconds on 2 busy cores), then one short reply. The
sentence rule itself is checked against the whole reply in
tests/integration/llm/test_local_structured.py; here the person's view: a reply, then a prompt.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from pathlib import Path

import pytest

COMPANION = str(Path(sys.executable).parent / "companion")
PROMPT = b"you:"

pytestmark = pytest.mark.slow


async def _until(stream: asyncio.StreamReader, marker: bytes, timeout: float) -> bytes:
    seen = b""
    async with asyncio.timeout(timeout):
        while marker not in seen:
            chunk = await stream.read(4096)
            if not chunk:
                raise AssertionError(f"the chat ended before {marker!r}: {seen[-500:]!r}")
            seen += chunk
    return seen


async def test_a_turn_on_the_embedded_model_is_short_and_ends_a_sentence(
    mongo_uri: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "COLUMNS": "200",
        "COMPANION_MONGO__URI": mongo_uri,
        "COMPANION_MONGO__DATABASE": f"t_{uuid.uuid4().hex[:10]}",
        "COMPANION_LLM__BACKEND": "local",
        "COMPANION_LLM__LOCAL_CACHE_DIR": str(tmp_path / "models"),
        # The sentence rule, not the token cap, has to end this reply.
        "COMPANION_LLM__LOCAL_MAX_REPLY_TOKENS": "400",
        "COMPANION_MEMORY__ENABLED": "false",
        "COMPANION_PRIVACY__KEY_FILE": str(tmp_path / "secret.key"),
        "COMPANION_PERSONAS__HOT_RELOAD": "false",
    }
    process = await asyncio.create_subprocess_exec(
        COMPANION,
        "chat",
        "--persona",
        "leo",
        "--language",
        "en",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        await _until(process.stdout, PROMPT, 600)  # includes the one-off conversion
        process.stdin.write(b"How was your day?\n")
        await process.stdin.drain()
        shown = (await _until(process.stdout, PROMPT, 300)).decode(errors="replace")
        process.stdin.write(b"/quit\n")
        await process.stdin.drain()
        async with asyncio.timeout(120):
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    match = re.search(r"Leo: (.*?)\s*you:", shown, re.DOTALL)
    assert match, shown
    reply = " ".join(match.group(1).split())
    assert reply, shown
    # A chat message, not an essay: cut at the first sentence end after 32 tokens (a token is
    # at most a word, so 32 tokens are at least a few words and far below the 400 allowed).
    assert reply[-1] in ".!?…\"'”»)", reply
    assert len(reply.split()) < 120, reply
