"""The `vllm serve` command line for a registry: every adapter as a LoRA module on one base."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from training.config import VLLM_LORA_RANKS
from training.registry import Registry, RegistryError


@dataclass(frozen=True)
class ServeOptions:
    # Inside the container; publish the port on the internal network only (docs/serving.md).
    host: str = "0.0.0.0"
    port: int = 8000
    served_model_name: str | None = None  # the name clients use for the base model
    max_loras: int | None = None  # adapters in one batch; default: all registered, at most 8
    max_cpu_loras: int | None = None
    max_model_len: int | None = None
    # Where the registry's directory is mounted in the serving container, e.g. /adapters.
    adapters_root: str | None = None


def vllm_rank(rank: int) -> int:
    """The smallest --max-lora-rank vLLM accepts that fits `rank`."""
    for allowed in VLLM_LORA_RANKS:
        if rank <= allowed:
            return allowed
    raise RegistryError(f"rank {rank} is above what vLLM serves ({VLLM_LORA_RANKS[-1]})")


def vllm_command(registry: Registry, registry_path: Path, options: ServeOptions) -> list[str]:
    if registry.base_model is None or not registry.adapters:
        raise RegistryError(f"{registry_path}: no adapters registered yet")
    base_name = options.served_model_name or registry.base_model
    modules = []
    for name, entry in sorted(registry.adapters.items()):
        if options.adapters_root is not None:
            path = str(PurePosixPath(options.adapters_root) / entry.path)
        else:
            path = str(registry.adapter_path(name, registry_path))
        # The JSON form also records the parent model, shown by /v1/models.
        modules.append(json.dumps({"name": name, "path": path, "base_model_name": base_name}))
    max_loras = options.max_loras or min(len(registry.adapters), 8)
    # Adapters beyond the GPU slots wait in CPU memory instead of being reloaded from disk.
    max_cpu_loras = options.max_cpu_loras or (
        len(registry.adapters) if len(registry.adapters) > max_loras else None
    )
    command = [
        "vllm",
        "serve",
        registry.base_model,
        "--host",
        options.host,
        "--port",
        str(options.port),
        "--enable-lora",
        "--max-loras",
        str(max_loras),
        "--max-lora-rank",
        str(vllm_rank(max(e.rank for e in registry.adapters.values()))),
        "--enable-prefix-caching",
    ]
    if options.served_model_name:
        command += ["--served-model-name", options.served_model_name]
    if max_cpu_loras:
        command += ["--max-cpu-loras", str(max_cpu_loras)]
    if options.max_model_len:
        command += ["--max-model-len", str(options.max_model_len)]
    return [*command, "--lora-modules", *modules]


def format_command(command: list[str]) -> str:
    """One flag per line with its value; each LoRA module on a line of its own."""
    lines: list[str] = []
    in_modules = False
    for part in command:
        quoted = shlex.quote(part)
        if not lines or part.startswith("--") or in_modules:
            lines.append(quoted)
        else:
            lines[-1] += " " + quoted
        in_modules = part == "--lora-modules" or (in_modules and not part.startswith("--"))
    return " \\\n  ".join(lines)
