"""`companion-train` / `python -m training`: build data, train, evaluate and export LoRA runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from training.config import ConfigError, RunConfig, load_config

app = typer.Typer(
    name="companion-train",
    help="LoRA fine-tuning pipeline for persona adapters served by vLLM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()

ConfigArg = Annotated[Path, typer.Argument(help="Run config (YAML).", exists=False)]
PromptsOpt = Annotated[
    Path | None,
    typer.Option("--prompts-dir", help="Bot prompt templates (default: companion/prompts/)."),
]


def _expected_errors() -> tuple[type[Exception], ...]:
    # Imported lazily so `--help` does not import torch.
    from training.data.build import DatasetBuildError
    from training.data.licenses import SourceRefusedError
    from training.data.loaders import SourceError
    from training.data.personas import PersonaCardError
    from training.export import ExportError
    from training.modeling import TrainingSetupError
    from training.registry import RegistryError
    from training.tokenization import ChatTemplateError
    from training.train import DatasetMissingError

    return (
        ConfigError,
        SourceRefusedError,
        SourceError,
        PersonaCardError,
        DatasetBuildError,
        TrainingSetupError,
        DatasetMissingError,
        ExportError,
        RegistryError,
        ChatTemplateError,
    )


def _fail(error: Exception) -> typer.Exit:
    console.print(f"[bold red]error:[/] {error}", highlight=False)
    return typer.Exit(code=2)


def _load(path: Path) -> RunConfig:
    _quiet_libraries()
    try:
        return load_config(path)
    except ConfigError as error:
        raise _fail(error) from None


def _quiet_libraries() -> None:
    """Our own progress bars replace the libraries' per-file bars and deprecation chatter."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    warnings.filterwarnings("ignore", category=FutureWarning)


def _renderer(prompts_dir: Path | None) -> Any:
    from training.data.conditioning import BotSystemPrompt

    return BotSystemPrompt(prompts_dir)


def _build(config: RunConfig, prompts_dir: Path | None) -> dict[str, Any]:
    from training.console import StepProgress, new_progress
    from training.data.build import DatasetBuilder
    from training.data.licenses import check_sources
    from training.modeling import load_tokenizer
    from training.tokenization import ChatEncoder

    check_sources(config.data.sources)  # refuse before spending time on the tokenizer
    encoder = ChatEncoder(load_tokenizer(config), config.data.max_seq_len)
    with new_progress(console) as progress:
        builder = DatasetBuilder(
            config,
            count_tokens=lambda example: encoder.count_tokens(example.chat()),
            renderer=_renderer(prompts_dir),
            progress=StepProgress(progress, "dataset"),
        )
        built = builder.build()
    return built.manifest


def _train(config: RunConfig, resume: bool) -> Any:
    from training.console import RichTrainerCallback, new_progress
    from training.train import run_training

    with new_progress(console) as progress:
        return run_training(config, resume=resume, callbacks=[RichTrainerCallback(progress)])


def _evaluate(config: RunConfig, prompts_dir: Path | None) -> dict[str, Any]:
    from training.console import StepProgress, new_progress
    from training.evaluate import evaluate_run

    with new_progress(console) as progress:
        return evaluate_run(
            config, _renderer(prompts_dir), progress=StepProgress(progress, "evaluation")
        )


def _summary(config: RunConfig, **parts: Any) -> None:
    from training.console import summary_table

    rows: list[tuple[str, str]] = [("run", config.name), ("base model", config.model.base)]
    manifest = parts.get("manifest")
    if manifest:
        counts = manifest["counts"]
        rows += [
            (
                "examples",
                f"{counts['loaded']} loaded → {counts['after_dedup']} deduplicated → "
                f"{counts['after_length_filter']} within {config.data.max_seq_len} "
                "tokens",
            ),
            ("split", f"{counts['train']} train / {counts['eval']} eval"),
            ("languages", ", ".join(f"{k}: {v}" for k, v in manifest["languages"].items())),
            ("licenses", ", ".join(sorted({str(s["license"]) for s in manifest["sources"]}))),
        ]
    result = parts.get("train")
    if result is not None:
        rows += [
            (
                "steps",
                f"{result.global_step}"
                + (f" (resumed from {result.resumed_from})" if result.resumed_from else ""),
            ),
            ("train loss", f"{result.train_loss:.4f}"),
            (
                "throughput",
                f"{result.tokens_per_s} tokens/s on {result.device} ({result.precision})",
            ),
            ("peak memory", f"{result.peak_memory_mb} MiB"),
        ]
    report = parts.get("report")
    if report:
        held = report["held_out"]
        rows.append(
            ("held-out loss", f"base {held['base']['loss']} → adapter {held['adapter']['loss']}")
        )
        rows.append(
            (
                "perplexity",
                f"base {held['base']['perplexity']} → adapter {held['adapter']['perplexity']}",
            )
        )
        check = report.get("persona_check")
        if check:
            base, adapter = check["base"]["overall"], check["adapter"]["overall"]
            rows.append(
                ("in character", f"base {base['in_character']} → adapter {adapter['in_character']}")
            )
            rows.append(
                ("right language", f"base {base['language']} → adapter {adapter['language']}")
            )
        rows.append(("report", str(config.output_dir / "report.md")))
    exported = parts.get("export")
    if exported is not None:
        rows.append(("adapter", str(exported.adapter_dir)))
        if exported.merged_dir:
            rows.append(("merged model", str(exported.merged_dir)))
        rows.append(("registry", str(exported.registry_path)))
    console.print(summary_table(f"Run summary: {config.name}", rows))


@app.command()
def validate(config_path: ConfigArg) -> None:
    """Check a config and its sources' licenses without loading any model."""
    from training.data.licenses import check_sources

    config = _load(config_path)
    try:
        check_sources(config.data.sources)
    except _expected_errors() as error:
        raise _fail(error) from None
    console.print(f"[green]ok[/] {config_path}: {len(config.data.sources)} source(s) allowed")


@app.command("build-data")
def build_data(config_path: ConfigArg, prompts_dir: PromptsOpt = None) -> None:
    """Build the run's dataset (JSONL + manifest.json)."""
    config = _load(config_path)
    try:
        manifest = _build(config, prompts_dir)
    except _expected_errors() as error:
        raise _fail(error) from None
    _summary(config, manifest=manifest)


@app.command()
def train(
    config_path: ConfigArg,
    resume: Annotated[bool, typer.Option(help="Continue from the newest checkpoint.")] = False,
) -> None:
    """Train the LoRA adapter on the built dataset."""
    config = _load(config_path)
    try:
        result = _train(config, resume)
    except _expected_errors() as error:
        raise _fail(error) from None
    _summary(config, train=result)


@app.command()
def evaluate(config_path: ConfigArg, prompts_dir: PromptsOpt = None) -> None:
    """Held-out loss/perplexity (base vs adapter) and the persona check; writes report files."""
    config = _load(config_path)
    try:
        report = _evaluate(config, prompts_dir)
    except _expected_errors() as error:
        raise _fail(error) from None
    _summary(config, report=report)


@app.command()
def export(
    config_path: ConfigArg,
    merge: Annotated[bool | None, typer.Option(help="Also write a merged model.")] = None,
) -> None:
    """Write the model card, an optional merged model, and register the adapter."""
    from training.export import export_run

    config = _load(config_path)
    try:
        exported = export_run(config, merge=merge)
    except _expected_errors() as error:
        raise _fail(error) from None
    _summary(config, export=exported)


@app.command()
def run(
    config_path: ConfigArg,
    resume: Annotated[bool, typer.Option(help="Continue training from a checkpoint.")] = False,
    skip_eval: Annotated[bool, typer.Option(help="Skip evaluation.")] = False,
    merge: Annotated[bool | None, typer.Option(help="Also write a merged model.")] = None,
    prompts_dir: PromptsOpt = None,
) -> None:
    """Everything: build the dataset, train, evaluate, export."""
    from training.export import export_run

    config = _load(config_path)
    try:
        manifest = _build(config, prompts_dir)
        result = _train(config, resume)
        report = None
        if config.evaluation.enabled and not skip_eval:
            report = _evaluate(config, prompts_dir)
        exported = export_run(config, merge=merge)
    except _expected_errors() as error:
        raise _fail(error) from None
    _summary(config, manifest=manifest, train=result, report=report, export=exported)


@app.command()
def publish(
    registry_path: Annotated[Path, typer.Argument(help="Adapter registry (registry.yaml).")],
    destination: Annotated[Path, typer.Argument(help="Directory vLLM mounts, e.g. ./adapters.")],
) -> None:
    """Copy every registered adapter to DESTINATION/<adapter name>/ for deploy/vllm/serve.sh."""
    from training.registry import RegistryError, load_registry, publish_adapters

    try:
        published = publish_adapters(load_registry(registry_path), registry_path, destination)
    except RegistryError as error:
        raise _fail(error) from None
    for name in sorted(published.adapters):
        console.print(f"[green]published[/] {name} → {destination / name}")


@app.command("tiny-model")
def tiny_model(
    directory: Annotated[Path, typer.Argument(help="Where to write it.")] = Path(
        "training/runs/tiny-model"
    ),
) -> None:
    """Write a tiny random model for trying the pipeline on CPU (training/configs/tiny-cpu.yaml)."""
    from training.tiny import build_tiny_model

    _quiet_libraries()
    console.print(f"[green]wrote[/] {build_tiny_model(directory)}")


@app.command("serve-command")
def serve_command(
    registry_path: Annotated[Path, typer.Argument(help="Adapter registry (registry.yaml).")],
    host: str = "0.0.0.0",
    port: int = 8000,
    served_model_name: Annotated[str | None, typer.Option(help="Name of the base model.")] = None,
    max_loras: int | None = None,
    max_cpu_loras: int | None = None,
    max_model_len: int | None = None,
    adapters_root: Annotated[
        str | None, typer.Option(help="Where the registry's directory is mounted for vLLM.")
    ] = None,
) -> None:
    """Print the `vllm serve` command that serves every registered adapter."""
    from training.registry import RegistryError, load_registry
    from training.serving import ServeOptions, format_command, vllm_command

    try:
        registry = load_registry(registry_path)
        command = vllm_command(
            registry,
            registry_path,
            ServeOptions(
                host=host,
                port=port,
                served_model_name=served_model_name,
                max_loras=max_loras,
                max_cpu_loras=max_cpu_loras,
                max_model_len=max_model_len,
                adapters_root=adapters_root,
            ),
        )
    except RegistryError as error:
        raise _fail(error) from None
    # Plain print: the output is meant to be copied or piped into a shell.
    print(format_command(command))


def main() -> None:
    app()
