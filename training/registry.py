"""The adapter registry: which adapter serves which persona, and where its files are.

One YAML file shared by all runs that target the same served base model:

    base_model: Qwen/Qwen2.5-7B-Instruct
    adapters:
      companion-support: {path: persona-lora/adapter, rank: 16, run: persona-lora, ...}
    personas:
      mila: companion-support

Adapter paths are relative to the registry file, so the directory can be copied to the
serving host as a whole. The adapter name is what the bot sends as `model` to vLLM and what a
persona card's `lora_adapter` says.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from ruamel.yaml import YAML


class RegistryError(Exception):
    """The registry cannot take this adapter, or is not a valid registry."""


class AdapterEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    rank: int = Field(ge=1)
    run: str
    base_model: str
    personas: list[str] = Field(default_factory=list)
    created_at: str | None = None


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_model: str | None = None
    adapters: dict[str, AdapterEntry] = Field(default_factory=dict)
    personas: dict[str, str] = Field(default_factory=dict)

    def register(self, name: str, entry: AdapterEntry) -> None:
        if self.base_model is not None and self.base_model != entry.base_model:
            raise RegistryError(
                f"adapter {name!r} was trained on {entry.base_model!r} but this registry "
                f"serves {self.base_model!r}; one vLLM server serves one base model"
            )
        self.base_model = entry.base_model
        self.adapters[name] = entry
        for persona_id in entry.personas:
            self.personas[persona_id] = name
        # A persona moved to another adapter no longer belongs to the old one.
        for other_name, other in self.adapters.items():
            if other_name != name:
                other.personas = [p for p in other.personas if p not in entry.personas]

    def adapter_path(self, name: str, registry_path: Path) -> Path:
        return (registry_path.parent / self.adapters[name].path).resolve()


def load_registry(path: Path) -> Registry:
    if not path.is_file():
        return Registry()
    data: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    try:
        return Registry.model_validate(data)
    except ValueError as error:
        raise RegistryError(f"{path}: not a valid adapter registry: {error}") from None


def save_registry(registry: Registry, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    yaml = YAML()
    yaml.default_flow_style = False
    temporary = path.with_suffix(path.suffix + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(
            "# Adapter registry written by companion-train export; paths are relative "
            "to this file.\n"
        )
        yaml.dump(registry.model_dump(mode="json"), handle)
    temporary.replace(path)  # readers never see a half-written registry


def relative_path(target: Path, registry_path: Path) -> str:
    return os.path.relpath(target.resolve(), registry_path.parent.resolve())


def publish_adapters(registry: Registry, registry_path: Path, destination: Path) -> Registry:
    """Copy every registered adapter to `destination/<adapter name>/` (the layout
    deploy/vllm/serve.sh scans) with a registry of its own next to them. Each adapter is
    copied aside first and swapped in, so a server reading the directory never sees half."""
    destination.mkdir(parents=True, exist_ok=True)
    published = Registry(base_model=registry.base_model, personas=dict(registry.personas))
    for name, entry in registry.adapters.items():
        source = registry.adapter_path(name, registry_path)
        if not (source / "adapter_config.json").is_file():
            raise RegistryError(f"adapter {name!r}: {source} has no adapter_config.json")
        staging = destination / f".{name}.incoming"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        target = destination / name
        retired = destination / f".{name}.retired"
        shutil.rmtree(retired, ignore_errors=True)
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
        published.adapters[name] = entry.model_copy(update={"path": name})
    save_registry(published, destination / "registry.yaml")
    return published
