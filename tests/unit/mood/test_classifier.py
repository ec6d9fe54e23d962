"""The shipped emotion reader: real model files from companion/mood/model/."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from companion.config import MoodSettings, Settings
from companion.mood.baseline import load_baseline_reader
from companion.mood.classifier import (
    EmotionModelError,
    LinearEmotionReader,
    load_emotion_reader,
    load_reader,
    model_paths,
)
from companion.mood.emotions import NEGATIVE, Emotion


@pytest.fixture(scope="module")
def reader() -> LinearEmotionReader:
    return load_reader("emotions")


@pytest.mark.parametrize(
    "text",
    [
        "Мне так грустно и одиноко, никто не звонит",
        "Я ужасно боюсь завтрашней операции",
        "Бесит, что они опять всё отменили, я в ярости",
        "I feel so sad and lonely, nobody calls me",
        "I'm terrified of the surgery tomorrow",
    ],
)
def test_negative_messages_read_negative(reader: LinearEmotionReader, text: str) -> None:
    (reading,) = reader.read([text])
    assert reading.negative, reading
    assert reading.labels & NEGATIVE
    assert Emotion.NONE not in reading.labels


@pytest.mark.parametrize(
    "text",
    ["Ура, я сдал экзамен!!! Так рад)))", "Yay, I passed the exam! So happy :)"],
)
def test_joy_reads_joy(reader: LinearEmotionReader, text: str) -> None:
    (reading,) = reader.read([text])
    assert Emotion.JOY in reading.labels
    assert not reading.negative


@pytest.mark.parametrize(
    "text",
    ["Поезд отправляется с четвёртой платформы в 10:30.", "", "   ", "12345"],
)
def test_neutral_text_reads_no_emotion(reader: LinearEmotionReader, text: str) -> None:
    (reading,) = reader.read([text])
    assert reading.labels == frozenset({Emotion.NONE})
    assert not reading.negative


def test_scores_are_probabilities_for_every_label(reader: LinearEmotionReader) -> None:
    readings = reader.read(["Мне грустно", "Какой сюрприз!", "x" * 50_000])
    assert len(readings) == 3
    for reading in readings:
        assert set(reading.scores) == set(Emotion)
        assert all(0.0 <= p <= 1.0 for p in reading.scores.values())
        top = max(p for label, p in reading.scores.items() if label is not Emotion.NONE)
        assert reading.scores[Emotion.NONE] == pytest.approx(1.0 - top)
    assert reader.read([]) == []


def test_batch_reads_like_single_messages(reader: LinearEmotionReader) -> None:
    texts = ["Мне грустно", "Ура!", "Ничего особенного"]
    assert reader.read(texts) == [reader.read([t])[0] for t in texts]


def test_baseline_is_a_different_model_of_the_same_labels() -> None:
    baseline = load_baseline_reader()
    assert baseline.info.features == "word"
    assert not baseline.info.lemma_table
    (reading,) = baseline.read(["Мне очень грустно"])
    assert set(reading.scores) == set(Emotion)


def test_settings_choose_the_model_or_switch_reading_off(tmp_path: Path) -> None:
    assert load_emotion_reader(Settings(mood=MoodSettings(enabled=False))) is None
    shipped = load_emotion_reader(Settings())
    assert isinstance(shipped, LinearEmotionReader)
    assert shipped.info.name == "emotions"
    baseline = load_emotion_reader(Settings(mood=MoodSettings(model="baseline")))
    assert isinstance(baseline, LinearEmotionReader)
    assert baseline.info.name == "baseline"
    with pytest.raises(EmotionModelError, match="cannot load"):
        load_emotion_reader(Settings(mood=MoodSettings(model=str(tmp_path / "missing"))))


def _copy_model(tmp_path: Path) -> tuple[Path, Path]:
    meta, arrays = model_paths("baseline")
    target = tmp_path / "copy"
    (tmp_path / "copy.json").write_bytes(meta.read_bytes())
    (tmp_path / "copy.npz").write_bytes(arrays.read_bytes())
    return target.with_suffix(".json"), target.with_suffix(".npz")


def test_a_copied_model_file_pair_loads_by_path(tmp_path: Path) -> None:
    meta, _ = _copy_model(tmp_path)
    copy = LinearEmotionReader.load(meta)
    text = "Мне очень грустно"
    assert copy.read([text]) == load_baseline_reader().read([text])


def test_a_model_of_another_format_is_refused(tmp_path: Path) -> None:
    meta, _ = _copy_model(tmp_path)
    data = json.loads(meta.read_text(encoding="utf-8"))
    meta.write_text(json.dumps({**data, "format": 99}), encoding="utf-8")
    with pytest.raises(EmotionModelError, match="not an emotion model"):
        LinearEmotionReader.load(meta)


def test_pickled_arrays_are_never_loaded(tmp_path: Path) -> None:
    meta, arrays = _copy_model(tmp_path)
    with np.load(arrays, allow_pickle=False) as archive:
        content = {key: archive[key] for key in archive.files}
    # An object array can only be read back through pickle.
    content["vocabulary"] = np.array([object()] * len(content["vocabulary"]), dtype=object)
    np.savez(arrays, **content)
    with pytest.raises(EmotionModelError, match="cannot load"):
        LinearEmotionReader.load(meta)


def test_mismatched_arrays_are_refused(tmp_path: Path) -> None:
    meta, arrays = _copy_model(tmp_path)
    with np.load(arrays, allow_pickle=False) as archive:
        content = {key: archive[key] for key in archive.files}
    content["idf"] = content["idf"][:-1]
    np.savez(arrays, **content)
    with pytest.raises(EmotionModelError, match="shapes do not match"):
        LinearEmotionReader.load(meta)
