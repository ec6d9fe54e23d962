#!/usr/bin/env bash
# vLLM's OpenAI-compatible server with every persona adapter loaded as a LoRA module on one
# base model. The bot sends a persona's `lora_adapter` name as `model`; the base model is
# served under SERVED_MODEL_NAME for personas without an adapter. See docs/serving.md.
#
# Environment:
#   BASE_MODEL              base model id or path the adapters were trained on (required)
#   SERVED_MODEL_NAME       name clients use for the base model (default companion-base)
#   ADAPTERS_DIR            directory with one adapter per subdirectory, named as the adapter
#                           (default /adapters; `companion-train publish` writes this layout)
#   LORA_MODULES            "name=path name=path ..." instead of scanning ADAPTERS_DIR
#   MAX_LORAS               adapters active in one batch (default: number found, at most 8)
#   MAX_CPU_LORAS           adapters cached in CPU memory (default: all found when > MAX_LORAS)
#   MAX_LORA_RANK           highest adapter rank: 8, 16, 32, 64, ... (default 64)
#   HOST / PORT             default 0.0.0.0 / 8000: publish on the internal network only
#   MAX_MODEL_LEN, GPU_MEMORY_UTILIZATION   passed through when set
#   VLLM_API_KEY            read by vLLM itself: a bearer key for the /v1 endpoints
#   VLLM_BIN                the vllm executable (default vllm)
# Extra arguments are passed to `vllm serve` as they are.
set -euo pipefail

: "${BASE_MODEL:?set BASE_MODEL to the base model the adapters were trained on}"
ADAPTERS_DIR="${ADAPTERS_DIR:-/adapters}"
SERVED_MODEL_NAME="${SERVED_MODEL_NAME:-companion-base}"
HOST="${HOST:-0.0.0.0}"
PORT="${PORT:-8000}"
MAX_LORA_RANK="${MAX_LORA_RANK:-64}"

modules=()
if [[ -n "${LORA_MODULES:-}" ]]; then
    read -r -a modules <<<"${LORA_MODULES}"
elif [[ -d "${ADAPTERS_DIR}" ]]; then
    for config in "${ADAPTERS_DIR}"/*/adapter_config.json; do
        [[ -e "${config}" ]] || continue
        dir="$(dirname "${config}")"
        if [[ ! -f "${dir}/adapter_model.safetensors" ]]; then
            echo "serve.sh: skipping ${dir}: no adapter_model.safetensors" >&2
            continue
        fi
        modules+=("$(basename "${dir}")=${dir}")
    done
fi
count=${#modules[@]}
echo "serve.sh: ${count} LoRA adapter(s) on ${BASE_MODEL}" >&2

default_loras=$(( count < 1 ? 1 : (count > 8 ? 8 : count) ))
MAX_LORAS="${MAX_LORAS:-${default_loras}}"
if [[ -z "${MAX_CPU_LORAS:-}" ]] && (( count > MAX_LORAS )); then
    MAX_CPU_LORAS="${count}"
fi

# Runtime loading (/v1/load_lora_adapter) loads any path the caller names into the server.
# It stays off unless the operator opts in twice (docs/serving.md, "Loading adapters at runtime").
if [[ "${VLLM_ALLOW_RUNTIME_LORA_UPDATING:-}" =~ ^(1|[Tt]rue|TRUE)$ ]] \
        && [[ "${COMPANION_ALLOW_RUNTIME_LORA:-0}" != "1" ]]; then
    echo "serve.sh: ignoring VLLM_ALLOW_RUNTIME_LORA_UPDATING; set COMPANION_ALLOW_RUNTIME_LORA=1 to really allow it" >&2
    unset VLLM_ALLOW_RUNTIME_LORA_UPDATING
fi

args=(
    serve "${BASE_MODEL}"
    --served-model-name "${SERVED_MODEL_NAME}"
    --host "${HOST}"
    --port "${PORT}"
    --enable-lora
    --max-loras "${MAX_LORAS}"
    --max-lora-rank "${MAX_LORA_RANK}"
    --enable-prefix-caching
)
if [[ -n "${MAX_CPU_LORAS:-}" ]]; then args+=(--max-cpu-loras "${MAX_CPU_LORAS}"); fi
if [[ -n "${MAX_MODEL_LEN:-}" ]]; then args+=(--max-model-len "${MAX_MODEL_LEN}"); fi
if [[ -n "${GPU_MEMORY_UTILIZATION:-}" ]]; then
    args+=(--gpu-memory-utilization "${GPU_MEMORY_UTILIZATION}")
fi
if (( count > 0 )); then args+=(--lora-modules "${modules[@]}"); fi

exec "${VLLM_BIN:-vllm}" "${args[@]}" "$@"
