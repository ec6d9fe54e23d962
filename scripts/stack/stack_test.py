"""The stack test: the production image behind Caddy, really running, driven like production.

Run by scripts/stack/stack-test.sh (`make stack-test`) after the images are built. It starts the
Bot API, OpenAI-compatible and YooKassa emulators on 127.0.0.1, brings docker-compose.stack-test.yml
up, and checks, in order:

1. both workers answer /healthz and /readyz, and Caddy serves /legal/terms over TLS;
2. a user's update reaches a worker through Caddy (the emulator posts to the registered
   https webhook with the secret) and the streamed reply reaches the Bot API emulator;
3. a YooKassa notification through Caddy passes the address allowlist (Caddy replaced the
   client's forged X-Forwarded-For), while the same forgery sent straight to a worker is 403;
4. /metrics of each worker counts the updates and the reply;
5. one worker killed, the next message is answered by the other;
6. `companion db backup` in the backup container, the database wiped, `companion db restore`:
   the user's conversation is back;
7. everything torn down (also on failure), within a time limit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from pymongo import AsyncMongoClient

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.emulators.openai_server import OpenAIEmulator  # noqa: E402
from tests.emulators.telegram import TelegramBotAPIEmulator  # noqa: E402
from tests.emulators.telegram.client import TelegramUser  # noqa: E402
from tests.emulators.yookassa import YooKassaEmulator  # noqa: E402

COMPOSE_FILE = REPO / "docker-compose.stack-test.yml"
PROXY = "https://127.0.0.1:18443"
WORKERS = {"bot-1": (18081, 19101), "bot-2": (18082, 19102)}
MONGO = "mongodb://127.0.0.1:27117/?directConnection=true"


def step(message: str) -> None:
    print(f"[stack-test {time.strftime('%H:%M:%S')}] {message}", flush=True)


def compose(env: dict[str, str], *args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker compose {' '.join(args)}: {result.stderr[-2000:]}")
    return result.stdout


async def until(what: str, probe: Any, limit_s: float = 120.0) -> Any:
    deadline = time.monotonic() + limit_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = await probe()
            if result:
                return result
        except Exception as exc:  # a probe fails until the service is up
            last = exc
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {limit_s:.0f}s ({last!r})")


async def status(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> int:
    async with http.get(url, **kwargs) as response:
        await response.read()
        return response.status


async def run(workdir: Path) -> None:
    caddy_data = workdir / "caddy"
    backups = workdir / "backups"
    for folder in (caddy_data, backups):
        folder.mkdir()
        folder.chmod(0o777)  # the backup container writes as uid 10001
    async with (
        OpenAIEmulator(reply="Hello from the stack! How are you?") as llm,
        YooKassaEmulator() as kassa,
    ):
        # Up before the workers: they call it at start (commands, the webhook).
        tg = TelegramBotAPIEmulator()
        await tg.start()
        env = {
            **os.environ,
            "STACK_LLM_URL": llm.base_url,
            "STACK_TELEGRAM_TOKEN": tg.token,
            "STACK_TELEGRAM_API": tg.base_url,
            "STACK_YOOKASSA_API": kassa.base_url,
            "STACK_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
            "STACK_CADDY_DATA": str(caddy_data),
            "STACK_BACKUPS": str(backups),
        }
        try:
            step("compose up")
            compose(env, "up", "-d", "mongo", "redis", "bot-1", "bot-2", "caddy")
            await checks(env, tg, llm, kassa, caddy_data)
        except BaseException:
            step("failed; deliveries and last logs:")
            print([(d.update_id, d.status, d.url) for d in tg.deliveries], flush=True)
            for service in ("bot-1", "bot-2", "caddy"):
                logs = compose(env, "logs", "--tail", "60", service, check=False)
                lines = [line for line in logs.splitlines() if "health_checker" not in line]
                print("\n".join(lines[-25:])[-5000:], flush=True)
            raise
        finally:
            step("compose down")
            compose(env, "--profile", "tools", "down", "-v", "--timeout", "5", check=False)
            await tg.stop()


async def checks(
    env: dict[str, str],
    tg: TelegramBotAPIEmulator,
    llm: OpenAIEmulator,
    kassa: YooKassaEmulator,
    caddy_data: Path,
) -> None:
    async with aiohttp.ClientSession() as http:
        for name, (port, _) in WORKERS.items():
            base = f"http://127.0.0.1:{port}"
            await until(f"{name} /healthz", lambda b=base: _ok(http, f"{b}/healthz"), 240)
            await until(f"{name} /readyz", lambda b=base: _ok(http, f"{b}/readyz"), 120)
        step("workers live and ready")
        root = caddy_data / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        await until("Caddy's internal CA", lambda: asyncio.sleep(0, root.exists()), 60)
        tls = ssl.create_default_context(cafile=str(root))
        await until(
            "Caddy over TLS",
            lambda: _ok(http, f"{PROXY}/legal/terms?lang=en", ssl=tls),
            60,
        )
        step("Caddy serves /legal/terms over TLS")

    # The Bot API emulator posts updates to the webhook the workers registered (through Caddy).
    tg.webhook_ssl = tls
    await until("webhook registered", lambda: asyncio.sleep(0, tg.webhook is not None), 120)
    assert tg.webhook is not None and tg.webhook["url"].startswith(PROXY)
    user = TelegramUser(tg, 424242, first_name="Olga", language_code="en")
    await user.command("start")
    await user.expect("sendMessage", where=lambda call: "reply_markup" in call.params, timeout=60)
    await user.press(text="English")
    await user.expect("sendMessage", where=lambda call: "consent" in str(call.params), timeout=60)
    await user.press(text="✅")
    await user.expect("sendPhoto", timeout=60)
    for _ in range(10):
        picks = [data for _, data in user.buttons() if data.startswith("lib:pick:")]
        if picks:
            await user.press(picks[0])
            break
    await user.idle(1.0)
    user.skip()
    await user.say("Hi there, this is a stack test.")
    await user.expect("sendMessage", contains="Hello from the stack!", timeout=60)
    assert all(d.status == 200 for d in tg.deliveries), [d.status for d in tg.deliveries]
    assert {d.url for d in tg.deliveries} == {tg.webhook["url"]}
    step(f"reply streamed through Caddy ({len(tg.deliveries)} deliveries)")

    async with aiohttp.ClientSession() as http:
        body = kassa.notification("payment.succeeded", {"id": "stack-unknown", "status": "x"})
        forged = {"X-Forwarded-For": "8.8.8.8"}
        async with http.post(
            f"{PROXY}/yookassa/webhook", json=body, headers=forged, ssl=tls
        ) as response:
            through_proxy = response.status
        async with http.post(
            "http://127.0.0.1:18081/yookassa/webhook", json=body, headers=forged
        ) as response:
            direct = response.status
        # Past the allowlist (the payment is unknown to YooKassa: "retry later" is fine).
        assert through_proxy != 403, through_proxy
        assert direct == 403, direct
        step(f"YooKassa notification: through Caddy {through_proxy}, forged direct {direct}")

        replied = 0.0
        for name, (_, metrics_port) in WORKERS.items():
            async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as response:
                text = await response.text()
            assert response.status == 200, name
            replied += _value(text, 'companion_replies_total{outcome="replied"}')
            assert "companion_updates_total" in text
        assert replied == 1, replied
        step("/metrics of both workers: one reply counted")

    compose(env, "kill", "bot-1")
    step("bot-1 killed")
    before = len(tg.deliveries)
    await user.say("Are you still there?")
    await user.expect("sendMessage", contains="Hello from the stack!", timeout=60)
    assert tg.deliveries[before].status == 200
    step("bot-2 answered")

    compose(env, "--profile", "tools", "run", "--rm", "backup", "db", "backup")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO)
    try:
        db = client["companion"]
        messages = await db["messages"].count_documents({})
        assert messages >= 4, messages
        await client.drop_database("companion")
        assert await db["messages"].count_documents({}) == 0
        compose(env, "--profile", "tools", "run", "--rm", "backup", "db", "restore", "--yes")
        assert await db["messages"].count_documents({}) == messages
        assert await db["users"].count_documents({"_id": 424242}) == 1
    finally:
        await client.close()
    step(f"backup, wipe, restore: {messages} messages back")


def _value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[1])
    return 0.0


async def _ok(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> bool:
    return await status(http, url, **kwargs) == 200


def main() -> None:
    limit = float(os.environ.get("STACK_TEST_TIMEOUT_S", "900"))
    with tempfile.TemporaryDirectory(prefix="companion-stack-") as workdir:
        asyncio.run(asyncio.wait_for(run(Path(workdir)), limit))
    step("passed")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
