"""Evaluation of a trained run: held-out loss/perplexity with and without the adapter, and the
persona check (replies to fixed prompts scored by training/scoring.py). Writes report.json and
report.md into the run's output directory."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from ruamel.yaml import YAML

from companion.domain.personas import Persona
from training.collators import PaddingCollator
from training.config import RunConfig
from training.data.build import read_examples
from training.data.conditioning import SystemPromptRenderer
from training.data.personas import load_persona_cards, select_personas
from training.modeling import DevicePlan, load_adapter_model, load_tokenizer, plan_device
from training.scoring import score_reply
from training.tokenization import IGNORE_INDEX, ChatEncoder, EncodedChat
from training.train import encode_examples

DEFAULT_PROMPTS = Path(__file__).resolve().parent / "data" / "persona_prompts.yaml"
ProgressHook = Callable[[str, int, int], None]


def _variant(model: Any, adapter: bool) -> AbstractContextManager[Any]:
    return nullcontext() if adapter else model.disable_adapter()


@torch.no_grad()
def held_out_loss(
    model: Any, items: Sequence[EncodedChat], pad_token_id: int, batch_size: int, device: str
) -> tuple[float, int]:
    """Mean negative log-likelihood per assistant token, and the number of such tokens."""
    collator = PaddingCollator(pad_token_id)
    total, count = 0.0, 0
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        batch = collator([{"input_ids": i.input_ids, "labels": i.labels} for i in chunk])
        batch = {key: value.to(device) for key, value in batch.items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        shift_logits = logits[:, :-1, :].float()
        shift_labels = batch["labels"][:, 1:]
        losses = torch.nn.functional.cross_entropy(
            shift_logits.reshape(-1, shift_logits.size(-1)),
            shift_labels.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        total += float(losses)
        count += int((shift_labels != IGNORE_INDEX).sum())
    return (total / count if count else float("nan")), count


@torch.no_grad()
def generate_replies(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[int]],
    *,
    max_new_tokens: int,
    batch_size: int,
    device: str,
) -> list[str]:
    """Greedy replies, batched with left padding."""
    replies: list[str] = []
    pad = tokenizer.pad_token_id
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        width = max(len(p) for p in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, prompt in enumerate(chunk):
            ids[row, width - len(prompt) :] = torch.tensor(prompt)
            mask[row, width - len(prompt) :] = 1
        output = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad,
            eos_token_id=tokenizer.eos_token_id,
        )
        for row in output[:, width:]:
            replies.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    return replies


def load_prompts(path: Path | None) -> dict[str, list[str]]:
    data = YAML(typ="safe").load((path or DEFAULT_PROMPTS).read_text(encoding="utf-8"))
    return {str(lang): [str(p) for p in prompts] for lang, prompts in data.items()}


def _rates(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(verdicts)
    return {
        "n": n,
        "in_character": round(sum(v["in_character"] for v in verdicts) / n, 3) if n else None,
        "language": round(sum(v["language_ok"] for v in verdicts) / n, 3) if n else None,
    }


def persona_check(
    model: Any,
    tokenizer: Any,
    encoder: ChatEncoder,
    personas: dict[str, Persona],
    renderer: SystemPromptRenderer,
    config: RunConfig,
    device: str,
) -> dict[str, Any]:
    section = config.evaluation
    prompts = load_prompts(section.prompts)
    cases: list[tuple[Persona, str, str]] = [
        (persona, language, prompt)
        for persona in personas.values()
        for language in persona.languages
        for prompt in prompts.get(language, [])
    ]
    inputs = [
        encoder.prompt_ids(
            [
                {"role": "system", "content": renderer.render(persona, language)},
                {"role": "user", "content": prompt},
            ]
        )
        for persona, language, prompt in cases
    ]
    replies: dict[str, list[str]] = {}
    for variant in ("base", "adapter"):
        with _variant(model, variant == "adapter"):
            replies[variant] = generate_replies(
                model,
                tokenizer,
                inputs,
                max_new_tokens=section.max_new_tokens,
                batch_size=section.batch_size,
                device=device,
            )
    samples: list[dict[str, Any]] = []
    by_variant: dict[str, dict[str, list[dict[str, Any]]]] = {
        "base": defaultdict(list),
        "adapter": defaultdict(list),
    }
    for index, (persona, language, prompt) in enumerate(cases):
        sample: dict[str, Any] = {"persona": persona.id, "language": language, "prompt": prompt}
        for variant in ("base", "adapter"):
            reply = replies[variant][index]
            verdict = asdict(score_reply(reply, persona, language, section.forbidden_phrases))
            sample[variant] = {"reply": reply, **verdict}
            by_variant[variant][persona.id].append(verdict)
        samples.append(sample)
    summary = {
        variant: {
            "overall": _rates([v for vs in groups.values() for v in vs]),
            "personas": {pid: _rates(vs) for pid, vs in sorted(groups.items())},
        }
        for variant, groups in by_variant.items()
    }
    return {"prompts": len(cases), **summary, "samples": samples}


def _ppl(loss: float) -> float:
    return math.exp(loss) if math.isfinite(loss) and loss < 50 else float("inf")


def evaluate_run(
    config: RunConfig,
    renderer: SystemPromptRenderer | None,
    *,
    plan: DevicePlan | None = None,
    progress: ProgressHook | None = None,
) -> dict[str, Any]:
    notify = progress or (lambda step, done, total: None)
    plan = plan or plan_device(config)
    tokenizer = load_tokenizer(config)
    encoder = ChatEncoder(tokenizer, config.data.max_seq_len)
    model = load_adapter_model(config, plan)
    section = config.evaluation

    notify("held-out loss", 0, 3)
    eval_path = config.data_dir / "eval.jsonl"
    examples = read_examples(eval_path) if eval_path.is_file() else []
    items, _ = encode_examples(encoder, examples[: section.max_eval_examples])
    held_out: dict[str, Any] = {"examples": len(items)}
    for variant in ("base", "adapter"):
        with _variant(model, variant == "adapter"):
            loss, tokens = held_out_loss(
                model, items, tokenizer.pad_token_id, section.batch_size, plan.device
            )
        held_out[variant] = {"loss": round(loss, 4), "perplexity": round(_ppl(loss), 3)}
        held_out["tokens"] = tokens
    notify("persona check", 1, 3)

    personas: dict[str, Persona] = {}
    if config.data.personas_dir is not None:
        ids = section.personas if section.personas is not None else config.data.personas
        personas = select_personas(load_persona_cards(config.data.personas_dir), ids)
    check: dict[str, Any] | None = None
    if personas and renderer is not None:
        check = persona_check(model, tokenizer, encoder, personas, renderer, config, plan.device)
    notify("report", 2, 3)

    report = {
        "run": config.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": config.model.base,
        "adapter": str(config.adapter_dir),
        "device": plan.device,
        "precision": plan.precision,
        "held_out": held_out,
        "persona_check": check,
    }
    train_result = config.output_dir / "train_result.json"
    if train_result.is_file():
        report["training"] = json.loads(train_result.read_text(encoding="utf-8"))
    (config.output_dir / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (config.output_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    notify("report", 3, 3)
    return report


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def render_markdown(report: dict[str, Any]) -> str:
    held = report["held_out"]
    lines = [
        f"# Evaluation of `{report['run']}`",
        "",
        f"Base model `{report['base_model']}`, adapter `{report['adapter']}`, "
        f"on {report['device']} ({report['precision']}), {report['created_at']}.",
        "",
        "## Held-out loss (assistant tokens only)",
        "",
        f"{held['examples']} examples, {held.get('tokens', 0)} tokens.",
        "",
        "| model | loss | perplexity |",
        "| --- | --- | --- |",
    ]
    for variant in ("base", "adapter"):
        if variant in held:
            lines.append(f"| {variant} | {held[variant]['loss']} | {held[variant]['perplexity']} |")
    check = report.get("persona_check")
    lines += ["", "## Persona check", ""]
    if not check:
        lines.append("Not run (no persona cards configured).")
    else:
        lines += [
            "Scorer: training/scoring.py (character breaks, forbidden phrases, self-naming; "
            "script-based language tag).",
            "",
            "| persona | base in character | adapter in character | base language | "
            "adapter language | prompts |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        rows = [("all", check["base"]["overall"], check["adapter"]["overall"])]
        rows += [
            (pid, check["base"]["personas"][pid], stats)
            for pid, stats in check["adapter"]["personas"].items()
        ]
        for name, base, adapter in rows:
            lines.append(
                f"| {name} | {_cell(base['in_character'])} | {_cell(adapter['in_character'])} "
                f"| {_cell(base['language'])} | {_cell(adapter['language'])} | {adapter['n']} |"
            )
        failures = [s for s in check["samples"] if not s["adapter"]["in_character"]][:10]
        if failures:
            lines += ["", "### Adapter replies out of character (first 10)", ""]
            for sample in failures:
                reply = sample["adapter"]["reply"].replace("\n", " ")[:200]
                reasons = "; ".join(sample["adapter"]["reasons"])
                lines.append(
                    f"- **{sample['persona']}** ({sample['language']}) "
                    f"_{sample['prompt']}_ → {reply!r} — {reasons}"
                )
    if "training" in report:
        t = report["training"]
        lines += [
            "",
            "## Training",
            "",
            f"{t['global_step']} steps, train loss {t['train_loss']:.4f}, "
            f"{t['tokens_per_s']} tokens/s, peak memory {t['peak_memory_mb']} MiB "
            f"({t['device']}, {t['precision']}).",
        ]
    return "\n".join(lines) + "\n"
