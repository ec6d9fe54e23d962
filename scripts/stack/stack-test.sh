#!/usr/bin/env bash
# `make stack-test`: build the image and run the whole stack here (scripts/stack/stack_test.py,
# docs/operations.md "The stack test"). Needs root: it installs Debian's docker.io and
# debootstrap when missing and starts dockerd (stopped again when this script started it).
# Where that is impossible it says why and exits 0, unless STACK_TEST_REQUIRED=1.
# Bounded: the driver gives up after STACK_TEST_TIMEOUT_S (900 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV_PY="${VENV_PY:-.venv/bin/python}"

cannot() {
    echo "stack test not run: $1" >&2
    [[ "${STACK_TEST_REQUIRED:-0}" == "1" ]] && exit 1
    exit 0
}

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    [[ "$(id -u)" == "0" ]] || cannot "needs root to install docker.io and debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        docker.io debootstrap >/tmp/companion-stack-apt.log 2>&1 \
        || cannot "apt-get install docker.io debootstrap failed (/tmp/companion-stack-apt.log)"
fi
started=""
if ! docker info >/dev/null 2>&1; then
    [[ "$(id -u)" == "0" ]] || cannot "no Docker engine and not root to start one"
    # No bridge networks: their private addresses are off limits on these machines.
    dockerd --bridge=none --iptables=false --ip-masq=false >/tmp/companion-dockerd.log 2>&1 &
    started=$!
    trap 'kill "${started}" 2>/dev/null || true' EXIT
    for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || cannot "dockerd did not start (/tmp/companion-dockerd.log)"
fi
if ! docker compose version >/dev/null 2>&1; then
    plugins="${HOME}/.docker/cli-plugins"
    mkdir -p "${plugins}"
    "${VENV_PY}" - "${plugins}" <<'PY'
import shutil, sys
from importlib import resources
shutil.copy(str(resources.files("compose") / "docker-compose"), sys.argv[1])
PY
    chmod +x "${plugins}/docker-compose"
fi

scripts/stack/base-image.sh companion-base:bookworm
DOCKER_BUILDKIT=0 docker build -q --network host --build-arg BASE_IMAGE=companion-base:bookworm \
    -t companion-bot:local .
timeout "${STACK_TEST_TIMEOUT_S:-900}" "${VENV_PY}" scripts/stack/stack_test.py
