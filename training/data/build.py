"""Build the training dataset of a run: gate, load, tag, condition, dedup, filter, split, write.

The output is `<output_dir>/data/{train,eval}.jsonl` (OpenAI `messages` records with
`source`, `language` and `persona_id`) and `manifest.json`: the sources with their licenses,
counts before and after each step, and sha256 of every input and output file.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from companion.domain.personas import Persona
from training.config import RunConfig, SourceConfig, SourceKind
from training.data.conditioning import PersonaConditioner, SystemPromptRenderer
from training.data.filters import content_key, deduplicate, filter_length, split_train_eval
from training.data.language import tag_language
from training.data.licenses import check_sources, is_noncommercial
from training.data.loaders import FILE_LOADERS, LoadedSource, load_persona_dialogues
from training.data.personas import load_persona_cards, select_personas
from training.data.records import Example, Role

MANIFEST_VERSION = 1
# (step name, done, total): lets the CLI drive a progress bar without this module knowing rich.
ProgressHook = Callable[[str, int, int], None]


class DatasetBuildError(Exception):
    """The dataset cannot be built as configured (nothing left, missing personas, ...)."""


@dataclass(frozen=True)
class BuiltDataset:
    train_path: Path
    eval_path: Path
    manifest_path: Path
    manifest: dict[str, Any]


def sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def read_examples(path: Path) -> list[Example]:
    with path.open(encoding="utf-8") as handle:
        return [Example.model_validate_json(line) for line in handle if line.strip()]


def _write_jsonl(path: Path, examples: list[Example]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(example.model_dump_json(exclude_none=False) + "\n")


class DatasetBuilder:
    """Builds the dataset of one run.

    `count_tokens` measures an example as the model will see it (rendered with the chat
    template); `renderer` gives the bot's system prompt for persona conditioning and is only
    needed when a source is conditioned or persona cards are a source.
    """

    def __init__(
        self,
        config: RunConfig,
        count_tokens: Callable[[Example], int],
        renderer: SystemPromptRenderer | None = None,
        progress: ProgressHook | None = None,
    ) -> None:
        self._config = config
        self._count_tokens = count_tokens
        self._renderer = renderer
        self._progress = progress or (lambda step, done, total: None)

    def build(self) -> BuiltDataset:
        config = self._config
        data = config.data
        check_sources(data.sources)  # before reading anything
        personas = self._personas()
        conditioner = (
            PersonaConditioner(personas, self._renderer)
            if personas and self._renderer is not None
            else None
        )
        source_reports: list[dict[str, Any]] = []
        examples: list[Example] = []
        for index, source in enumerate(data.sources):
            self._progress(f"loading {source.name}", index, len(data.sources))
            loaded = self._load(source, personas)
            kept, report = self._prepare(source, loaded, conditioner)
            examples.extend(kept)
            source_reports.append(report)
        self._progress("loading", len(data.sources), len(data.sources))

        counts: dict[str, int] = {"loaded": len(examples)}
        if data.dedup:
            examples = deduplicate(examples)
        counts["after_dedup"] = len(examples)
        self._progress("measuring length", 0, 1)
        examples, lengths = filter_length(examples, self._count_tokens, data.max_seq_len)
        counts["after_length_filter"] = len(examples)
        if not examples:
            raise DatasetBuildError(
                "no examples left after filtering; check the sources, languages and max_seq_len"
            )
        train, evaluation = split_train_eval(examples, data.eval_fraction, config.seed)
        counts["train"] = len(train)
        counts["eval"] = len(evaluation)

        config.data_dir.mkdir(parents=True, exist_ok=True)
        train_path = config.data_dir / "train.jsonl"
        eval_path = config.data_dir / "eval.jsonl"
        _write_jsonl(train_path, train)
        _write_jsonl(eval_path, evaluation)
        manifest = {
            "version": MANIFEST_VERSION,
            "run": config.name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seed": config.seed,
            "max_seq_len": data.max_seq_len,
            "eval_fraction": data.eval_fraction,
            "tokenizer": config.model.tokenizer or config.model.base,
            "sources": source_reports,
            "counts": counts,
            "tokens": {
                "total": sum(lengths),
                "max": max(lengths),
                "mean": round(sum(lengths) / len(lengths), 1),
            },
            "languages": dict(sorted(Counter(e.language for e in examples).items())),
            "personas": dict(sorted(Counter(e.persona_id or "-" for e in examples).items())),
            "outputs": {
                "train.jsonl": {"examples": len(train), "sha256": sha256_file(train_path)},
                "eval.jsonl": {"examples": len(evaluation), "sha256": sha256_file(eval_path)},
            },
        }
        manifest_path = config.data_dir / "manifest.json"
        manifest_path.write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        self._progress("written", 1, 1)
        return BuiltDataset(train_path, eval_path, manifest_path, manifest)

    def _personas(self) -> dict[str, Persona]:
        """Every card that conditioning may use: data.personas_dir plus the directories of
        persona_cards sources, narrowed to data.personas when that is set."""
        data = self._config.data
        card_sources = [s for s in data.sources if s.kind is SourceKind.PERSONA_CARDS]
        conditioned = [s for s in data.sources if s.condition_on_personas]
        if not card_sources and not conditioned:
            return {}
        if self._renderer is None:
            raise DatasetBuildError("persona conditioning needs the bot's system prompt renderer")
        if conditioned and data.personas_dir is None:
            raise DatasetBuildError(
                f"source(s) {[s.name for s in conditioned]} set condition_on_personas but "
                "data.personas_dir is not set"
            )
        directories = [data.personas_dir] if data.personas_dir else []
        directories += [s.path for s in card_sources if s.path not in directories]
        cards: dict[str, Persona] = {}
        for directory in directories:
            for persona_id, persona in load_persona_cards(directory).items():
                cards.setdefault(persona_id, persona)
        return select_personas(cards, data.personas)

    def _load(self, source: SourceConfig, personas: dict[str, Persona]) -> LoadedSource:
        if source.kind is SourceKind.PERSONA_CARDS:
            own = load_persona_cards(source.path)
            cards = {pid: persona for pid, persona in personas.items() if pid in own}
            return load_persona_dialogues(source, cards, self._config.data.user_names)
        return FILE_LOADERS[source.kind](source)

    def _prepare(
        self,
        source: SourceConfig,
        loaded: LoadedSource,
        conditioner: PersonaConditioner | None,
    ) -> tuple[list[Example], dict[str, Any]]:
        data = self._config.data
        allowed = set(source.languages or data.languages)
        kept: list[Example] = []
        dropped: Counter[str] = Counter()
        for example in loaded.examples:
            # A declared language (OASST `lang`, persona dialogue language) wins over the tag.
            if example.language in {"und", ""}:
                example = example.model_copy(
                    update={"language": tag_language(example.dialogue_text())}
                )
            if example.language not in allowed or example.language not in data.languages:
                dropped["language"] += 1
                continue
            replies = [t.content for t in example.messages if t.role is Role.ASSISTANT]
            if min(len(reply) for reply in replies) < data.min_assistant_chars:
                dropped["too short"] += 1
                continue
            if source.kind is SourceKind.PERSONA_CARDS or source.condition_on_personas:
                if conditioner is None:
                    raise DatasetBuildError(
                        f"source {source.name!r} needs persona conditioning, but no personas "
                        "were loaded"
                    )
                conditioned = conditioner.condition(example, content_key(example))
                if conditioned is None:
                    dropped["no persona speaks the language"] += 1
                    continue
                example = conditioned
            kept.append(example)
            if source.max_examples is not None and len(kept) >= source.max_examples:
                break
        report = {
            "name": source.name,
            "kind": source.kind.value,
            "path": str(source.path),
            "url": source.url,
            "license": source.license,
            "noncommercial": bool(source.license and is_noncommercial(source.license)),
            "persona_conditioned": source.condition_on_personas
            or source.kind is SourceKind.PERSONA_CARDS,
            "files": [{"path": str(path), "sha256": sha256_file(path)} for path in loaded.files],
            "records": loaded.records,
            "examples_loaded": len(loaded.examples),
            "skipped": dict(sorted(loaded.skipped.items())),
            "dropped": dict(sorted(dropped.items())),
            "examples_kept": len(kept),
        }
        return kept, report
