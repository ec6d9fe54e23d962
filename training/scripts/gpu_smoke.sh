#!/usr/bin/env bash
# End-to-end run of the training pipeline on a GPU machine with a small real model:
# build the dataset from the sample files, train a LoRA adapter in bf16 for a few hundred
# steps, evaluate it against the base model, export it, and leave the report files in
# $OUT (or the first argument). Numbers to record in BENCHMARKS.md: tokens/s and peak memory
# (train_result.json), held-out loss/perplexity and the persona check (report.md).
#
#   MODEL=Qwen/Qwen2.5-0.5B-Instruct STEPS=300 training/scripts/gpu_smoke.sh /tmp/smoke
#
# MODEL is a hub id or a local directory; with no network on the machine the weights must be
# in HF_HOME already or carried as a directory. Wheels that the machine's image lacks
# (pydantic, ruamel.yaml, jinja2 if missing) can be carried in .whl/ (see
# /work/.library/device/README.md); they are installed to /tmp/site first when present.
#
# Environment: MODEL (above; a relative local directory is taken relative to the current
# directory), STEPS (300), PYTHON (python3), WHEELS (directory of wheels to install first,
# default .whl/ in the repository; point it at a missing directory to install nothing).
# The work directory (dataset, checkpoints, adapter) is made under $TMPDIR (default /tmp) and
# kept; its path is printed at the end.
#
# CI runs this script on a CPU with a tiny local model and STEPS=2
# (tests/training/test_gpu_smoke_script.py).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${1:-${OUT:-${REPO}/training/runs/gpu-smoke-report}}"
MODEL="${MODEL:-Qwen/Qwen2.5-0.5B-Instruct}"
# The YAML is written to the work directory, and the config resolves "./x" against the YAML's
# directory: make a local model directory absolute here.
if [[ -d "${MODEL}" ]]; then
    MODEL="$(cd "${MODEL}" && pwd)"
fi
STEPS="${STEPS:-300}"
PYTHON="${PYTHON:-python3}"
WHEELS="${WHEELS:-${REPO}/.whl}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/companion-gpu-smoke.XXXXXX")"
mkdir -p "${DEST}"

if compgen -G "${WHEELS}/*.whl" >/dev/null; then
    "${PYTHON}" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "${WHEELS}"/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:${PYTHONPATH}}"
fi
export PYTHONPATH="${REPO}${PYTHONPATH:+:${PYTHONPATH}}"
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    | tee "${DEST}/gpu.txt" || echo "no nvidia-smi" | tee "${DEST}/gpu.txt"

SAMPLES="${REPO}/training/data/samples"
cat >"${WORK}/smoke.yaml" <<YAML
name: gpu-smoke
seed: 42
output_dir: ${WORK}/run
model:
  base: ${MODEL}
lora:
  r: 16
  alpha: 32
  dropout: 0.05
data:
  personas_dir: ${SAMPLES}/personas
  personas: [mila, max]
  max_seq_len: 2048
  eval_fraction: 0.15
  sources:
    - {name: sample-openai, kind: openai_messages, path: ${SAMPLES}/openai_messages.jsonl,
       license: CC0-1.0, condition_on_personas: true}
    - {name: sample-sharegpt, kind: sharegpt, path: ${SAMPLES}/sharegpt.jsonl, license: CC0-1.0}
    - {name: sample-oasst, kind: oasst_trees, path: ${SAMPLES}/oasst_trees.jsonl,
       license: Apache-2.0}
    - {name: persona-cards, kind: persona_cards, path: ${SAMPLES}/personas,
       license: LicenseRef-Proprietary}
training:
  learning_rate: 1.0e-4
  lr_scheduler: cosine
  warmup_ratio: 0.05
  max_steps: ${STEPS}
  batch_size: 8
  gradient_accumulation_steps: 1
  packing: true
  precision: auto
  gradient_checkpointing: auto
  logging_steps: 10
  save_steps: 100
  eval_steps: 100
evaluation:
  max_new_tokens: 96
  batch_size: 18
export:
  adapter_name: gpu-smoke
YAML

start=$(date +%s)
"${PYTHON}" -m training run "${WORK}/smoke.yaml" 2>&1 | tee "${DEST}/run.log"
echo "wall seconds: $(( $(date +%s) - start ))" | tee -a "${DEST}/run.log"

for file in run/report.json run/report.md run/train_result.json run/data/manifest.json \
        run/adapter/adapter_config.json run/adapter/README.md; do
    cp "${WORK}/${file}" "${DEST}/$(echo "${file#run/}" | tr '/' '_')"
done
echo "report files in ${DEST}; work directory ${WORK}"
