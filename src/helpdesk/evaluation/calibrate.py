"""Fit the confidence calibrators on CLINC150 train folds (never on val).

`helpdesk eval calibrate` reproduces the constants of `helpdesk.brain.confidence`:
5-fold cross-validation over `train` and `oos_train`, the product index built on 4
folds, the top-ranked article's features on the fifth, and a logistic regression
from those features to "this answer is right" (wrong article and out-of-scope
both count as wrong).
"""

from __future__ import annotations

import random
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from helpdesk.brain.confidence import Calibrator
from helpdesk.brain.embeddings import Vectors
from helpdesk.brain.index import HybridIndex, build_entries
from helpdesk.config import Settings
from helpdesk.evaluation.datasets import Example, build_articles, read_jsonl
from helpdesk.evaluation.metrics import (
    OOS,
    Prediction,
    oos_weight_for,
    recommend_threshold,
    sweep,
)
from helpdesk.evaluation.runner import Progress, VectorCache, load_encoder

FOLDS = 5
SEED = 0
# Out-of-scope share of the calibration mass: a deployment prior ("about one message in
# ten is something the knowledge base does not cover"), not a figure read off val.
OOS_PRIOR = 0.10
FEATURES_WITH = ("dense_logp", "neighbours", "oos_logp")
FEATURES_WITHOUT = ("dense_logp", "neighbours")


@dataclass(frozen=True, slots=True)
class Fitted:
    negatives: bool
    weights: dict[str, float]
    bias: float
    samples: int
    oos_samples: int
    cv_accuracy: float
    # The threshold the val sweep would recommend, recommended on these out-of-fold
    # queries instead: a check that the product default does not hinge on val.
    cv_threshold: float | None


def fold_of(examples: list[Example], seed: int = SEED) -> list[int]:
    """Stratified fold numbers: each label's examples dealt round-robin after a shuffle."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        by_label[example.label].append(i)
    rng = random.Random(seed)
    folds = [0] * len(examples)
    for label in sorted(by_label):
        rows = by_label[label][:]
        rng.shuffle(rows)
        for n, row in enumerate(rows):
            folds[row] = n % FOLDS
    return folds


def out_of_fold_features(
    train: list[Example],
    oos: list[Example],
    vector_of: dict[str, Vectors],
    negatives: bool,
    progress: Progress,
) -> tuple[dict[str, list[float]], list[bool], list[bool]]:
    folds, oos_folds = fold_of(train), fold_of(oos)
    features: dict[str, list[float]] = defaultdict(list)
    correct: list[bool] = []
    is_oos: list[bool] = []
    for fold in range(FOLDS):
        kb = [e for e, f in zip(train, folds, strict=True) if f != fold]
        negs = [e for e, f in zip(oos, oos_folds, strict=True) if f != fold] if negatives else []
        queries = [e for e, f in zip(train, folds, strict=True) if f == fold]
        queries += [e for e, f in zip(oos, oos_folds, strict=True) if f == fold]
        articles = build_articles(kb, negs)
        entries = build_entries(articles)
        vectors = np.stack([vector_of[e.text] for e in entries])
        index = HybridIndex(f"cv{fold}", articles, entries, vectors, rebuilt=True)
        texts = [q.text for q in queries]
        query_vectors = np.stack([vector_of[t] for t in texts])
        for begin in range(0, len(texts), 512):
            ranking = index.rank(texts[begin : begin + 512], query_vectors[begin : begin + 512])
            best = ranking.fused.argmax(axis=1)
            rows = np.arange(len(best))
            for name, values in ranking.features.items():
                features[name] += values[rows, best].astype(float).tolist()
            for q, a in zip(queries[begin : begin + 512], best, strict=True):
                correct.append(q.label != OOS and index.articles[int(a)].id == q.label)
                is_oos.append(q.label == OOS)
        progress(1)
    return features, correct, is_oos


def fit(
    features: dict[str, list[float]],
    correct: list[bool],
    is_oos: list[bool],
    names: tuple[str, ...],
) -> tuple[dict[str, float], float]:
    x = np.column_stack([features[n] for n in names])
    y = np.asarray(correct)
    oos = np.asarray(is_oos)
    n_in, n_out = int((~oos).sum()), int(oos.sum())
    weight = OOS_PRIOR / (1 - OOS_PRIOR) * n_in / max(n_out, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(C=1.0, max_iter=2000).fit(
            x, y, sample_weight=np.where(oos, weight, 1.0)
        )
    weights = {n: round(float(w), 4) for n, w in zip(names, model.coef_[0], strict=True)}
    return weights, round(float(model.intercept_[0]), 4)


def recommended_threshold(
    features: dict[str, list[float]],
    correct: list[bool],
    is_oos: list[bool],
    calibrator: Calibrator,
    target: float = 0.95,
) -> float | None:
    """As `eval --sweep` on val: >= target answered correctly at OOS_PRIOR out-of-scope."""
    confidence = calibrator({n: np.asarray(v, dtype=np.float32) for n, v in features.items()})
    preds = [
        Prediction("", OOS if o else "in", "in" if c else "other", float(p))
        for c, o, p in zip(correct, is_oos, confidence, strict=True)
    ]
    curve = sweep(preds, oos_weight=oos_weight_for(preds, OOS_PRIOR))
    best = recommend_threshold(curve, target)
    return None if best is None else best.threshold


async def calibrate(
    examples: list[Example], oos: list[Example], settings: Settings, show_progress: bool = True
) -> list[Fitted]:
    encoder = await load_encoder(settings)
    titles = [a.title for a in build_articles(examples, oos)]
    texts = list(
        dict.fromkeys(
            [*(e.text.strip() for e in examples), *(e.text.strip() for e in oos), *titles]
        )
    )
    cache = VectorCache(settings.data_dir / "eval")
    vectors = await cache.encode(encoder, texts, Progress("embedding", len(texts), show_progress))
    vector_of = dict(zip(texts, vectors, strict=True))
    train = [Example(e.text.strip(), e.label) for e in examples]
    oos = [Example(e.text.strip(), e.label) for e in oos]
    results = []
    for negatives in (True, False):
        progress = Progress(
            f"folds (negatives={'yes' if negatives else 'no'})", FOLDS, show_progress
        )
        features, correct, is_oos = out_of_fold_features(train, oos, vector_of, negatives, progress)
        names = FEATURES_WITH if negatives else FEATURES_WITHOUT
        weights, bias = fit(features, correct, is_oos, names)
        inside = [c for c, o in zip(correct, is_oos, strict=True) if not o]
        results.append(
            Fitted(
                negatives,
                weights,
                bias,
                len(correct),
                sum(is_oos),
                sum(inside) / len(inside),
                recommended_threshold(features, correct, is_oos, Calibrator(weights, bias, "")),
            )
        )
    return results


def load_clinc_training(root: Path) -> tuple[list[Example], list[Example]]:
    folder = root / "clinc150"
    return read_jsonl(folder / "train.jsonl"), read_jsonl(folder / "oos_train.jsonl")


def as_python(results: list[Fitted]) -> str:
    lines = []
    for r in results:
        name = "WITH_NEGATIVES" if r.negatives else "WITHOUT_NEGATIVES"
        lines.append(
            f"{name} = Calibrator(\n    weights={r.weights!r},\n    bias={r.bias!r},\n"
            f'    source="CLINC150 train+oos_train, {FOLDS}-fold CV, seed {SEED}, '
            f'{r.samples} queries",\n)'
        )
    return "\n".join(lines)
