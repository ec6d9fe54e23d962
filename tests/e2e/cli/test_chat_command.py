"""`companion chat --message` as a person runs it: a real process, settings from the
environment, the MongoDB-wire server and an OpenAI-compatible server over HTTP."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest

from tests.emulators.openai_server import OpenAIEmulator

COMPANION = str(Path(sys.executable).parent / "companion")


async def run_chat(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        COMPANION,
        "chat",
        *args,
        env={**os.environ, **env, "COLUMNS": "60"},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def llm() -> OpenAIEmulator:
    async with OpenAIEmulator(reply="Nice to meet you, Oleg! How was your shift?") as emu:
        yield emu


@pytest.fixture
def env(mongo_uri: str, llm: OpenAIEmulator, tmp_path: Path) -> dict[str, str]:
    return {
        "COMPANION_MONGO__URI": mongo_uri,
        "COMPANION_MONGO__DATABASE": f"t_{uuid.uuid4().hex[:10]}",
        "COMPANION_LLM__BACKEND": "openai",
        "COMPANION_LLM__BASE_URL": llm.base_url,
        "COMPANION_LLM__MAX_RETRIES": "0",
        "COMPANION_MEMORY__ENABLED": "false",
        "COMPANION_PRIVACY__KEY_FILE": str(tmp_path / "secret.key"),
        "COMPANION_PERSONAS__HOT_RELOAD": "false",
    }


async def test_one_turn_prints_the_reply_and_keeps_the_history(
    env: dict[str, str], llm: OpenAIEmulator
) -> None:
    code, out, err = await run_chat(
        env, "--persona", "leo", "--message", "Hi, I'm Oleg, a nurse.", "--language", "en"
    )
    assert code == 0, err
    assert out.strip() == "Nice to meet you, Oleg! How was your shift?"
    # The Support disclaimer goes to stderr, whole (not cropped) in a narrow terminal.
    assert "psychologist" in err and "doctor" in err

    code, out, err = await run_chat(env, "--persona", "leo", "--message", "Tired today.")
    assert code == 0, err
    sent = [m["content"] for m in llm.chat_requests[-1]["messages"][1:]]
    assert sent[-3:] == [
        "Hi, I'm Oleg, a nurse.",
        "Nice to meet you, Oleg! How was your shift?",
        "Tired today.",
    ]
    assert "psychologist" not in err  # shown once per user


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--persona", "nobody", "--message", "hi"], "unknown persona 'nobody'"),
        (["--persona", "leo", "--message", "   "], "empty"),
        (["--persona", "leo", "--message", "x" * 100_000], "too long"),
        (["--persona", "kylie", "--message", "hi"], "adults only"),
    ],
)
async def test_bad_input_is_one_line_and_a_failing_exit_code(
    env: dict[str, str], llm: OpenAIEmulator, args: list[str], expected: str
) -> None:
    code, out, err = await run_chat(env, *args, "--language", "en")
    assert code != 0
    assert out == ""
    assert expected in err
    assert "Traceback" not in err
    assert llm.chat_requests == []


async def test_unreachable_model_fails_cleanly(env: dict[str, str], llm: OpenAIEmulator) -> None:
    await llm.stop()
    code, out, err = await run_chat(env, "--persona", "leo", "--message", "hello?")
    assert code == 1
    assert out == ""
    assert "error:" in err and "Traceback" not in err


async def test_service_warnings_stay_out_of_the_conversation_unless_verbose(
    env: dict[str, str], llm: OpenAIEmulator
) -> None:
    # Memory on: the emulator answers the fact-extraction request with chat text, not JSON,
    # as the small embedded model often does; memory logs a warning and skips the pass.
    env = {**env, "COMPANION_MEMORY__ENABLED": "true", "COMPANION_MEMORY__EXTRACT_EVERY_TURNS": "1"}
    code, out, err = await run_chat(env, "--persona", "leo", "--message", "I'm Oleg.")
    assert code == 0, err
    assert out.strip() == "Nice to meet you, Oleg! How was your shift?"
    extraction = [
        r for r in llm.chat_requests if (r.get("response_format") or {}).get("json_schema")
    ]
    assert extraction, "the memory pass did not run"
    assert "WARNING" not in err and "fact extraction" not in err

    code, out, err = await run_chat(env, "--persona", "leo", "--message", "Long shift.", "-v")
    assert code == 0, err
    assert "fact extraction" in err
