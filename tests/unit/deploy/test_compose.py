"""docker-compose.yml cannot run here (no Docker engine), so it is validated instead."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml


def test_compose_file_has_the_production_stack(repo_root: Path) -> None:
    compose = yaml.safe_load((repo_root / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"bot", "vllm", "mongo", "redis", "backup"} <= set(services)
    vllm_args = " ".join(services["vllm"]["command"])
    for flag in ("--enable-lora", "--lora-modules", "--max-loras", "--enable-prefix-caching"):
        assert flag in vllm_args
    bot_env = services["bot"]["environment"]
    assert bot_env["COMPANION_LLM__BASE_URL"] == "http://vllm:8000/v1"
    assert bot_env["COMPANION_MONGO__URI"].startswith("mongodb://mongo:27017")
    # Secrets are taken from the environment, never written into the file.
    for key in ("COMPANION_TELEGRAM__TOKEN", "COMPANION_PRIVACY__ENCRYPTION_KEY"):
        assert bot_env[key].startswith("${")
    assert services["backup"]["environment"]["RETENTION_DAYS"] == "3"


def test_compose_config_is_valid_for_docker_compose(repo_root: Path) -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        # The structural test above still ran; full schema validation needs the Debian tool.
        return
    env = dict(
        os.environ,
        TELEGRAM_TOKEN="123:abc",
        PUBLIC_URL="https://bot.example.com",
        TELEGRAM_WEBHOOK_SECRET="s3cret-token",
        ENCRYPTION_KEY="a2V5",
    )
    result = subprocess.run(
        [tool, "-f", str(repo_root / "docker-compose.yml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
