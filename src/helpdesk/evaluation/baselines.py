"""Two plain peers the product must beat, trained on the same in-scope examples.

- TF-IDF over word 1-2-grams and character 2-5-grams, logistic regression;
- all-MiniLM-L6-v2 embeddings, logistic regression.

Confidence is the classifier's top probability, as in CLINC150's paper.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from helpdesk.brain.embeddings import Encoder, Vectors
from helpdesk.evaluation.datasets import Example
from helpdesk.evaluation.metrics import OOS, Prediction
from helpdesk.evaluation.runner import Progress, VectorCache


@dataclass(frozen=True, slots=True)
class BaselineRun:
    name: str
    predictions: list[Prediction]
    fit_seconds: float


def _predictions(queries: list[Example], classes: list[str], proba: np.ndarray) -> list[Prediction]:
    best = proba.argmax(axis=1)
    return [
        Prediction(q.text, q.label, classes[int(b)], float(proba[i, b]))
        for i, (q, b) in enumerate(zip(queries, best, strict=True))
    ]


def _fit(features: object, labels: list[str], c: float) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegression(C=c, max_iter=300).fit(features, labels)


def tfidf_logreg(train: list[Example], queries: list[Example]) -> BaselineRun:
    started = time.perf_counter()
    train = [e for e in train if e.label != OOS]
    vectorizer = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
        ]
    )
    model = _fit(vectorizer.fit_transform([e.text for e in train]), [e.label for e in train], 20.0)
    proba = model.predict_proba(vectorizer.transform([q.text for q in queries]))
    return BaselineRun(
        "TF-IDF word+char n-grams + logistic regression",
        _predictions(queries, list(model.classes_), proba),
        time.perf_counter() - started,
    )


async def minilm_logreg(
    train: list[Example],
    queries: list[Example],
    encoder: Encoder,
    cache: VectorCache,
    known: dict[str, Vectors],
    show_progress: bool,
) -> BaselineRun:
    """`known`: vectors already computed (the product index's entries): not re-embedded."""
    train = [e for e in train if e.label != OOS]
    texts = [e.text.strip() for e in train]
    missing = sorted({t for t in texts if t not in known})
    if missing:
        fresh = await cache.encode(
            encoder, missing, Progress("embedding train", len(missing), show_progress)
        )
        known = {**known, **dict(zip(missing, fresh, strict=True))}
    x = np.stack([known[t] for t in texts])
    q = await cache.encode(encoder, [e.text for e in queries])
    started = time.perf_counter()
    model = _fit(x, [e.label for e in train], 10.0)
    proba = model.predict_proba(q)
    return BaselineRun(
        f"{encoder.model_name} embeddings + logistic regression",
        _predictions(queries, list(model.classes_), proba),
        time.perf_counter() - started,
    )
