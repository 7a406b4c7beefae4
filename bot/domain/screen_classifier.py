"""A second opinion for the free-text screen: a small statistical classifier that can only raise a level.

Why: eight rounds of hand-written rules (`free_text_screen.py`) plateaued at about 95 % of urgent messages and 90 %
of calm ones on each new blind writer's words. A classifier learns from all the labelled corpora at once
(`docs/clinical/screen-corpora/*.jsonl`) and reads messages differently (pieces of words, not patterns), so its
misses need not be the rules' misses. It is combined with the rules so that it can only RAISE the level the rules
give (never lower it), and it names a danger group, so the advice matches (suicidal -> 3114 and 15, ...).
Whether it earns its place is measured by leave-one-set-out cross-validation (docs/clinical/free-text-screen.md,
"Second opinion: a classifier").

What it is: multinomial logistic regression over hashed features of the screen's folded text (lower case, no
accents): character 3- to 5-grams inside words and word uni- and bigrams, each present feature worth 1/sqrt(n).
Inference is a sum of weight rows (a dot product with a sparse vector): numpy only, no model library. The weights
are a plain `.npz` file (no pickle), written by `python -m bot screen train`, which records the SHA-256 of the
training data so a test can check the shipped file matches its corpora.

Pure: `load_classifier` reads the file (the only I/O); everything else is a function of its arguments.
Training is deterministic: full-batch gradient descent (Adam) from zero weights, a fixed number of steps.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from bot.domain.free_text_screen import FreeTextVocabulary, fold_text

__all__ = [
    "CLASSES",
    "DEFAULT_CORPORA_DIR",
    "DEFAULT_WEIGHTS_PATH",
    "GROUP_CATEGORY",
    "THRESHOLD",
    "ScreenClassifier",
    "classify",
    "corpora_digest",
    "features",
    "load_classifier",
    "load_corpora",
    "train",
    "with_second_opinion",
]

DEFAULT_WEIGHTS_PATH: Final[Path] = Path(__file__).resolve().parent / "screen_classifier_weights.npz"
DEFAULT_CORPORA_DIR: Final[Path] = Path(__file__).resolve().parents[2] / "docs" / "clinical" / "screen-corpora"

BUCKETS: Final[int] = 1 << 16
"""Hashed feature space (65,536 rows of weights). Collisions cost a little accuracy; the file stays ~3 MB."""

CLASSES: Final[tuple[tuple[str, str], ...]] = (
    ("not_urgent", "not_urgent"),
    ("cord_compression", "urgent"),
    ("urinary_retention", "urgent"),
    ("fever_chemo", "urgent"),
    ("opioid_toxicity", "urgent"),
    ("suicidal", "urgent"),
    ("unconscious", "urgent"),
    ("bleeding", "urgent"),
    ("chest_breathing", "urgent"),
    ("fall", "urgent"),
    ("fall", "same_day"),
    ("vomiting_swallowing", "same_day"),
    ("severe_pain", "same_day"),
)
"""(danger group, level) pairs the classifier predicts; class 0 is "nothing to raise"."""

GROUP_CATEGORY: Final[dict[str, str]] = {
    "cord_compression": "leg_weakness",
    "urinary_retention": "urinary_retention",
    "fever_chemo": "fever",
    "opioid_toxicity": "opioid_toxicity",
    "suicidal": "suicidal",
    "unconscious": "unconscious",
    "bleeding": "bleeding",
    "chest_breathing": "chest_breathing",
    "fall": "fall",
    "vomiting_swallowing": "vomiting_swallowing",
    "severe_pain": "unbearable_pain",
}
"""Danger group of the corpora -> the vocabulary category whose label and advice a raised message gets."""

THRESHOLD: Final[float] = 0.9
"""Chosen from the leave-one-set-out figures (docs/clinical/free-text-screen.md, "Second opinion")."""

_TOKEN: Final[re.Pattern[str]] = re.compile(r"[a-z0-9]+")
_REPEAT: Final[re.Pattern[str]] = re.compile(r"([a-z])\1{2,}")

# Training settings (part of the data digest, so changing one makes the shipped file stale).
_STEPS: Final[int] = 80
_LEARNING_RATE: Final[float] = 0.1
_L2: Final[float] = 1e-5


def features(text: str) -> npt.NDArray[np.int64]:
    """Sorted distinct hashed feature ids of a message (CRC-32 of each feature string: stable across processes)."""
    words = _TOKEN.findall(_REPEAT.sub(r"\1\1", fold_text(text)))
    found: set[int] = set()
    for word in words:
        padded = f" {word} "
        for size in (3, 4, 5):
            for start in range(len(padded) - size + 1):
                found.add(zlib.crc32(b"c" + padded[start : start + size].encode()) % BUCKETS)
        found.add(zlib.crc32(b"w" + word.encode()) % BUCKETS)
    for first, second in zip(words, words[1:], strict=False):
        found.add(zlib.crc32(f"b{first} {second}".encode()) % BUCKETS)
    return np.array(sorted(found), dtype=np.int64)


@dataclass(frozen=True)
class ScreenClassifier:
    """Weights (BUCKETS x classes), biases, and the digest of the data they were trained on."""

    weights: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    digest: str
    threshold: float = 0.0
    """Least probability of its best danger class for the classifier to give an opinion (0: its best guess)."""

    def opinion(self, text: str) -> tuple[str, str] | None:
        """(vocabulary category, level) the message should be raised to, or None when the classifier's best guess
        is "nothing urgent" or below `threshold` (`bot.domain.free_text_screen.SecondOpinion`)."""
        group, level, probability = classify(text, self)
        if group == "not_urgent" or probability < self.threshold:
            return None
        return GROUP_CATEGORY[group], level


def probabilities(text: str, model: ScreenClassifier) -> npt.NDArray[np.float64]:
    """Probability of each class of `CLASSES` for one message."""
    ids = features(text)
    scores = model.bias.astype(np.float64).copy()
    if ids.size:
        scores += model.weights[ids].sum(axis=0, dtype=np.float64) / np.sqrt(ids.size)
    scores -= scores.max()
    exp = np.exp(scores)
    return exp / exp.sum()  # type: ignore[no-any-return]


def classify(text: str, model: ScreenClassifier) -> tuple[str, str, float]:
    """(group, level, probability) of the most probable class; group "not_urgent" means nothing to raise."""
    p = probabilities(text, model)
    best = int(p.argmax())
    group, level = CLASSES[best]
    return group, level, float(p[best])


def with_second_opinion(vocabulary: FreeTextVocabulary, path: Path = DEFAULT_WEIGHTS_PATH) -> FreeTextVocabulary:
    """The vocabulary with the shipped classifier attached: `screen_free_text` then lets it raise a level."""
    return replace(vocabulary, second_opinion=load_classifier(path))


def load_classifier(path: Path = DEFAULT_WEIGHTS_PATH) -> ScreenClassifier:
    """Read the weights file (numpy's .npz, pickle refused)."""
    with np.load(path, allow_pickle=False) as data:
        weights = data["weights"].astype(np.float32)
        bias = data["bias"].astype(np.float32)
        digest = str(data["digest"])
    if weights.shape != (BUCKETS, len(CLASSES)) or bias.shape != (len(CLASSES),):
        raise ValueError(f"{path}: weights of shape {weights.shape}, expected {(BUCKETS, len(CLASSES))}")
    return ScreenClassifier(weights=weights, bias=bias, digest=digest, threshold=THRESHOLD)


# ---------------------------------------------------------------------------------------------------------------
# Training (only `python -m bot screen train`, the tests and the cross-validation script use it)
# ---------------------------------------------------------------------------------------------------------------
def load_corpora(directory: Path = DEFAULT_CORPORA_DIR) -> dict[str, list[dict[str, str]]]:
    """Every labelled set `*.jsonl` of the folder, by file stem, each in file order."""
    return {
        path.stem: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for path in sorted(directory.glob("*.jsonl"))
    }


def corpora_digest(rows: Sequence[dict[str, str]]) -> str:
    """SHA-256 of the training rows (text, group, expected, in order) and of the training settings."""
    digest = hashlib.sha256(f"{BUCKETS} {_STEPS} {_LEARNING_RATE} {_L2} {CLASSES}".encode())
    for row in rows:
        digest.update(json.dumps([row["text"], row["group"], row["expected"]], ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _label(row: dict[str, str]) -> int:
    return CLASSES.index((row["group"], row["expected"]))


def train(
    rows: Sequence[dict[str, str]], ids: Sequence[npt.NDArray[np.int64]] | None = None, steps: int = _STEPS
) -> ScreenClassifier:
    """Softmax regression by full-batch Adam from zero: the same rows always give the same weights.
    `ids`: the rows' `features`, when the caller already has them (cross-validation computes them once)."""
    if ids is None:
        ids = [features(row["text"]) for row in rows]
    labels = np.array([_label(row) for row in rows], dtype=np.int64)
    lengths = np.array([max(len(i), 1) for i in ids], dtype=np.int64)
    flat = np.concatenate([i if len(i) else np.zeros(1, dtype=np.int64) for i in ids])
    values = np.repeat(1.0 / np.sqrt(lengths), lengths).astype(np.float32)
    row_of = np.repeat(np.arange(len(rows)), lengths)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    n, classes = len(rows), len(CLASSES)
    weights = np.zeros((BUCKETS, classes), dtype=np.float32)
    bias = np.zeros(classes, dtype=np.float32)
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), labels] = 1.0
    # Classes are unbalanced (about 40 % calm); weigh each class equally so a rare group is not drowned.
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    sample_weight = (n / (classes * np.maximum(counts, 1)))[labels] / n
    moments = [np.zeros_like(weights), np.zeros_like(weights), np.zeros_like(bias), np.zeros_like(bias)]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        gathered = weights[flat]
        gathered *= values[:, None]
        scores = np.add.reduceat(gathered, starts, axis=0) + bias
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=1, keepdims=True)
        delta = ((p - onehot) * sample_weight[:, None]).astype(np.float32)
        spread = delta[row_of]
        spread *= values[:, None]
        grad_w = np.stack(
            [np.bincount(flat, weights=spread[:, c], minlength=BUCKETS) for c in range(classes)], axis=1
        ).astype(np.float32)
        grad_w += _L2 * weights
        grad_b = delta.sum(axis=0)
        for number, (param, grad) in enumerate(((weights, grad_w), (bias, grad_b))):
            m, v = moments[2 * number], moments[2 * number + 1]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param -= _LEARNING_RATE * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
    return ScreenClassifier(
        weights=weights.astype(np.float32), bias=bias.astype(np.float32), digest=corpora_digest(rows)
    )


def save_classifier(model: ScreenClassifier, path: Path = DEFAULT_WEIGHTS_PATH) -> None:
    """Write the weights as a compressed .npz (plain arrays and one string, no pickle)."""
    with path.open("wb") as fh:
        np.savez_compressed(fh, weights=model.weights, bias=model.bias, digest=np.array(model.digest))
