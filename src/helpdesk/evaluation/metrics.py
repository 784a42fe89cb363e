"""Answer-quality metrics over (label, predicted article, confidence) triples.

Conventions (those of CLINC150's paper): an out-of-scope query is labelled "oos";
a query is *answered* when its confidence reaches the threshold and *escalated*
otherwise; an in-scope query counts as correct only if it is answered with the
right article, an out-of-scope one only if it is escalated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

OOS = "oos"


@dataclass(frozen=True, slots=True)
class Prediction:
    text: str
    label: str  # article id, or "oos"
    predicted: str  # top-1 article id
    confidence: float

    @property
    def in_scope(self) -> bool:
        return self.label != OOS

    @property
    def top1_correct(self) -> bool:
        return self.in_scope and self.predicted == self.label


@dataclass(frozen=True, slots=True)
class AtThreshold:
    threshold: float
    coverage: float  # share of all queries answered
    answered_accuracy: float | None  # correct among answered (None if nothing answered)
    in_scope_accuracy: float  # in-scope queries answered with the right article
    oos_recall: float | None  # out-of-scope queries escalated
    oos_precision: float | None  # escalated queries that were out of scope


def top1_accuracy(preds: Sequence[Prediction]) -> float:
    inside = [p for p in preds if p.in_scope]
    return sum(p.top1_correct for p in inside) / len(inside) if inside else float("nan")


def at_threshold(
    preds: Sequence[Prediction], threshold: float, *, oos_weight: float = 1.0
) -> AtThreshold:
    """Figures when queries below `threshold` are escalated.

    `oos_weight` re-weights out-of-scope queries in coverage, answered accuracy and
    out-of-scope precision, to read them at another share of out-of-scope traffic
    than the data set's (see `oos_weight_for`); recall and accuracies do not depend on it.
    """
    inside = [p for p in preds if p.in_scope]
    outside = [p for p in preds if not p.in_scope]

    def mass(items: Iterable[Prediction]) -> float:
        return sum(1.0 if p.in_scope else oos_weight for p in items)

    answered = [p for p in preds if p.confidence >= threshold]
    escalated = [p for p in preds if p.confidence < threshold]
    answered_mass, escalated_mass = mass(answered), mass(escalated)
    return AtThreshold(
        threshold=threshold,
        coverage=answered_mass / mass(preds) if preds else 0.0,
        answered_accuracy=(
            sum(p.top1_correct for p in answered) / answered_mass if answered else None
        ),
        in_scope_accuracy=(
            sum(p.top1_correct and p.confidence >= threshold for p in inside) / len(inside)
            if inside
            else float("nan")
        ),
        oos_recall=(
            sum(p.confidence < threshold for p in outside) / len(outside) if outside else None
        ),
        oos_precision=(
            mass(p for p in escalated if not p.in_scope) / escalated_mass
            if escalated and outside
            else None
        ),
    )


def oos_weight_for(preds: Sequence[Prediction], share: float | None) -> float:
    """Weight that makes out-of-scope queries `share` of the traffic (1.0 if None)."""
    n_out = sum(not p.in_scope for p in preds)
    n_in = len(preds) - n_out
    if share is None or not n_out or not n_in:
        return 1.0
    return share / (1 - share) * n_in / n_out


def decided_label(pred: Prediction, threshold: float) -> str:
    return pred.predicted if pred.confidence >= threshold else OOS


def macro_f1(preds: Sequence[Prediction], threshold: float) -> float:
    """Mean F1 over every label (out-of-scope included when present), escalation = "oos"."""
    labels = sorted({p.label for p in preds})
    truth = [p.label for p in preds]
    decided = [decided_label(p, threshold) for p in preds]
    scores = []
    for label in labels:
        tp = sum(t == label and d == label for t, d in zip(truth, decided, strict=True))
        fp = sum(t != label and d == label for t, d in zip(truth, decided, strict=True))
        fn = sum(t == label and d != label for t, d in zip(truth, decided, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores)) if scores else float("nan")


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float | None:
    """P(a positive scores above a negative), ties counting half (Mann-Whitney U)."""
    if not positive or not negative:
        return None
    scores = np.concatenate([np.asarray(positive, float), np.asarray(negative, float)])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average ranks over ties.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    stops = np.concatenate([boundaries, [len(scores)]])
    for start, stop in zip(starts, stops, strict=True):
        ranks[order[start:stop]] = (start + stop + 1) / 2
    n_pos, n_neg = len(positive), len(negative)
    u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def in_scope_auroc(preds: Sequence[Prediction]) -> float | None:
    """How well confidence separates in-scope from out-of-scope queries."""
    return auroc(
        [p.confidence for p in preds if p.in_scope],
        [p.confidence for p in preds if not p.in_scope],
    )


def expected_calibration_error(preds: Sequence[Prediction], bins: int = 10) -> float:
    """Mean |confidence - accuracy| over equal-width bins, weighted by bin size."""
    if not preds:
        return float("nan")
    conf = np.array([p.confidence for p in preds], dtype=float)
    correct = np.array([p.top1_correct for p in preds], dtype=float)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(conf[mask].mean() - correct[mask].mean())
    return float(error)


def sweep(
    preds: Sequence[Prediction], step: float = 0.01, *, oos_weight: float = 1.0
) -> list[AtThreshold]:
    grid = np.round(np.arange(0.0, 1.0 + step / 2, step), 6)
    return [at_threshold(preds, float(t), oos_weight=oos_weight) for t in grid]


def recommend_threshold(curve: Sequence[AtThreshold], target: float) -> AtThreshold | None:
    """The lowest threshold (most answers) whose answered queries are >= target correct."""
    for point in curve:
        if point.answered_accuracy is not None and point.answered_accuracy >= target:
            return point
    return None


def oos_recall_at_accuracy(curve: Sequence[AtThreshold], floor: float) -> AtThreshold | None:
    """The highest threshold (most escalations) keeping in-scope accuracy >= floor."""
    best = None
    for point in curve:
        if point.in_scope_accuracy >= floor:
            best = point
    return best


def confused_pairs(preds: Sequence[Prediction], top: int = 5) -> list[tuple[str, str, int]]:
    """Most frequent (label, wrongly predicted article) pairs among in-scope queries."""
    counts = Counter((p.label, p.predicted) for p in preds if p.in_scope and not p.top1_correct)
    return [(label, predicted, n) for (label, predicted), n in counts.most_common(top)]
