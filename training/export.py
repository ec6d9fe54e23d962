"""Export of a trained run: the adapter as vLLM loads it, its model card, an optional merged
model, and the registry entry that maps personas to the adapter."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.config import RunConfig
from training.modeling import DevicePlan, load_adapter_model, load_tokenizer, plan_device
from training.registry import (
    AdapterEntry,
    Registry,
    load_registry,
    relative_path,
    save_registry,
)

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


class ExportError(Exception):
    """The run has no adapter to export, or it is not in the layout vLLM loads."""


@dataclass(frozen=True)
class ExportResult:
    adapter_dir: Path
    model_card: Path
    merged_dir: Path | None
    registry_path: Path
    registry: Registry


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def check_adapter_layout(adapter_dir: Path) -> dict[str, Any]:
    missing = [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]
    if missing:
        raise ExportError(f"{adapter_dir}: missing {missing}; train the run first")
    adapter_config = json.loads((adapter_dir / "adapter_config.json").read_text("utf-8"))
    if adapter_config.get("peft_type") != "LORA":
        raise ExportError(f"{adapter_dir}: not a LoRA adapter ({adapter_config.get('peft_type')})")
    return dict(adapter_config)


def model_card(
    config: RunConfig,
    manifest: dict[str, Any] | None,
    report: dict[str, Any] | None,
    personas: list[str],
) -> str:
    sources = (manifest or {}).get("sources") or [
        {
            "name": s.name,
            "kind": s.kind.value,
            "license": s.license,
            "url": s.url,
            "noncommercial": False,
            "examples_kept": None,
        }
        for s in config.data.sources
    ]
    licenses = sorted({str(s["license"]) for s in sources})
    noncommercial = [s["name"] for s in sources if s.get("noncommercial")]
    lines = [
        "---",
        f"base_model: {config.model.base}",
        "library_name: peft",
        "tags: [lora, companion, persona]",
        "---",
        "",
        f"# {config.export.adapter_name}",
        "",
        f"LoRA adapter for `{config.model.base}` trained by the Companion training pipeline "
        f"(run `{config.name}`). Served by vLLM as model `{config.export.adapter_name}`.",
        "",
        f"- Personas: {', '.join(personas) or '-'}",
        f"- LoRA: r={config.lora.r}, alpha={config.lora.alpha}, dropout={config.lora.dropout}, "
        f"target modules {', '.join(config.lora.target_modules)}"
        + (" (QLoRA, 4-bit base)" if config.lora.qlora else ""),
        f"- Sequence length {config.data.max_seq_len}, seed {config.seed}",
        "",
        "## Training data",
        "",
        "| source | kind | license | examples | url |",
        "| --- | --- | --- | --- | --- |",
    ]
    for source in sources:
        lines.append(
            f"| {source['name']} | {source['kind']} | {source['license']} | "
            f"{source.get('examples_kept', '-')} | {source.get('url') or '-'} |"
        )
    lines += [
        "",
        f"Licenses: {', '.join(licenses)}. No conversations of the service's users were used.",
    ]
    if noncommercial:
        lines.append(
            f"**Non-commercial data included** ({', '.join(noncommercial)}): this adapter "
            "must not be used commercially."
        )
    if manifest:
        counts = manifest["counts"]
        lines += [
            "",
            f"Examples: {counts['loaded']} loaded, {counts['after_dedup']} after deduplication, "
            f"{counts['after_length_filter']} after the length filter; {counts['train']} train, "
            f"{counts['eval']} eval. Dataset sha256: train "
            f"`{manifest['outputs']['train.jsonl']['sha256']}`.",
        ]
    if report:
        held = report["held_out"]
        lines += [
            "",
            "## Evaluation",
            "",
            f"Held-out loss {held['base']['loss']} (base) → {held['adapter']['loss']} (adapter); "
            f"perplexity {held['base']['perplexity']} → {held['adapter']['perplexity']}.",
        ]
        check = report.get("persona_check")
        if check:
            base, adapter = check["base"]["overall"], check["adapter"]["overall"]
            lines.append(
                f"Persona check: in character {base['in_character']} → "
                f"{adapter['in_character']}, right language {base['language']} → "
                f"{adapter['language']} ({adapter['n']} prompts)."
            )
    lines += [
        "",
        "## Intended use",
        "",
        "Persona-consistent replies in the Companion bot, with the bot's own system prompt "
        "(companion/prompts/system/*.j2). Not evaluated for other uses.",
    ]
    return "\n".join(lines) + "\n"


def merge_adapter(config: RunConfig, plan: DevicePlan) -> Path:
    """Base + adapter folded into plain weights (for servers without LoRA support)."""
    if config.lora.qlora:
        raise ExportError(
            "a QLoRA run cannot be merged into 4-bit weights; merge from a "
            "full-precision base with lora.qlora: false"
        )
    model = load_adapter_model(config, plan)
    merged = model.merge_and_unload()
    merged.save_pretrained(str(config.merged_dir))
    load_tokenizer(config).save_pretrained(str(config.merged_dir))
    return config.merged_dir


def export_run(
    config: RunConfig, *, merge: bool | None = None, plan: DevicePlan | None = None
) -> ExportResult:
    adapter_dir = config.adapter_dir
    adapter_config = check_adapter_layout(adapter_dir)
    # vLLM and peft read the base model from here; make it the configured id, not whatever
    # local cache path the trainer happened to load.
    adapter_config["base_model_name_or_path"] = config.model.base
    adapter_config["inference_mode"] = True
    (adapter_dir / "adapter_config.json").write_text(
        json.dumps(adapter_config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    personas = list(
        config.export.personas if config.export.personas is not None else config.data.personas
    )
    manifest = _read_json(config.data_dir / "manifest.json")
    report = _read_json(config.output_dir / "report.json")
    card = adapter_dir / "README.md"
    card.write_text(model_card(config, manifest, report, personas), encoding="utf-8")

    merged_dir = None
    if merge if merge is not None else config.export.merge:
        merged_dir = merge_adapter(config, plan or plan_device(config))

    registry_path = config.registry_path
    registry = load_registry(registry_path)
    registry.register(
        config.export.adapter_name,
        AdapterEntry(
            path=relative_path(adapter_dir, registry_path),
            rank=int(adapter_config["r"]),
            run=config.name,
            base_model=config.model.base,
            personas=personas,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ),
    )
    save_registry(registry, registry_path)
    return ExportResult(adapter_dir, card, merged_dir, registry_path, registry)
