"""The package as production installs it: a wheel, installed non-editable into a fresh venv.

Every other test imports `companion` from the source tree, where a resource that the wheel
leaves out (a prompt, a locale, a persona card or its photo) is still found. Here the wheel is
built from a copy of the tracked sources, installed into a new virtualenv that sees the
project's dependencies but not its source tree, and run as an operator would: `companion
personas validate` and a one-turn `companion chat` against the OpenAI-compatible emulator.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import pytest

from tests.emulators.openai_server import OpenAIEmulator

REPO = Path(__file__).resolve().parents[2]


def _build_wheel(out: Path) -> Path:
    # Built from a copy: an in-tree build would leave build/ and egg-info in the checkout.
    source = out / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("companion", "training"):
        shutil.copytree(REPO / package, source / package, ignore=ignore)
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"),
            *(str(source), "-w", str(out / "dist")),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (out / "dist").glob("companion-*.whl")
    return wheel


def _venv_with(wheel: Path, root: Path) -> Path:
    """A fresh venv holding the wheel; the dependencies come from this interpreter's
    site-packages (appended by a .pth line, so its editable `companion` finder never runs)."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "zz_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "-q"),
            *("--no-deps", "--no-index", str(wheel)),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    return _venv_with(_build_wheel(root), root)


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
    env.pop("PYTHONPATH", None)
    return {**env, **extra, "COLUMNS": "80"}


def test_the_installed_package_is_not_the_source_tree(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import companion; print(companion.__file__)"],
        cwd=tmp_path,
        env=_env({}),
        check=True,
        capture_output=True,
        text=True,
    )
    location = Path(result.stdout.strip())
    assert location.is_relative_to(installed), location
    assert not location.is_relative_to(REPO)


def test_personas_validate_runs_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(installed / "bin" / "companion"), "personas", "validate"],
        cwd=tmp_path,
        env=_env({}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_one_chat_turn_runs_from_the_wheel(
    installed: Path, tmp_path: Path, mongo_uri: str
) -> None:
    async with OpenAIEmulator(reply="Nice to meet you! How was your day?") as llm:
        env = _env(
            {
                "COMPANION_MONGO__URI": mongo_uri,
                "COMPANION_MONGO__DATABASE": f"t_{uuid.uuid4().hex[:10]}",
                "COMPANION_LLM__BACKEND": "openai",
                "COMPANION_LLM__BASE_URL": llm.base_url,
                "COMPANION_LLM__MAX_RETRIES": "0",
                "COMPANION_MEMORY__ENABLED": "false",
                "COMPANION_PRIVACY__KEY_FILE": str(tmp_path / "secret.key"),
                "COMPANION_PERSONAS__HOT_RELOAD": "false",
            }
        )
        process = await asyncio.create_subprocess_exec(
            str(installed / "bin" / "companion"),
            "chat",
            "--persona",
            "leo",
            "--language",
            "en",
            "--message",
            "Hi, I'm Oleg.",
            cwd=tmp_path,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=180)
        assert process.returncode == 0, err.decode()
        assert "Nice to meet you! How was your day?" in out.decode()
        # The system prompt was rendered from the wheel's templates and persona card.
        system = llm.chat_requests[-1]["messages"][0]
        assert system["role"] == "system"
        assert "Leo" in system["content"]


def test_legal_pages_render_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    script = (
        "from companion.config import load_settings\n"
        "from companion.legal.pages import LegalPages\n"
        "pages = LegalPages.from_settings(load_settings())\n"
        "print(pages.render('offer', 'ru')[:2000])\n"
    )
    result = subprocess.run(
        [str(installed / "bin" / "python"), "-c", script],
        cwd=tmp_path,
        env=_env({}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Публичная оферта" in result.stdout
