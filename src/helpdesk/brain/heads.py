"""Light classifier heads trained on the knowledge base's own entries at index build.

Nearest-example cosine alone ranks CLINC150's 150 intents 1-in-11 wrong; a linear
head over the same MiniLM vectors, plus a lexical one over word and character
n-grams, learns which words of an article's example questions actually matter
(measured on CLINC150 train folds and a BANKING77 inner split; see
`helpdesk.evaluation.calibrate`). Both fit in seconds on 15,000 examples.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

from helpdesk.brain.embeddings import Vectors

Floats = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]

# Chosen by 5-fold cross-validation on CLINC150 train (never on val): C=10 beat 1 and
# 100; the SVM's C=0.5 and the temperature that turns its margins into log-probabilities.
DENSE_C = 10.0
LEXICAL_C = 0.5
LEXICAL_TEMPERATURE = 0.2
LOG_FLOOR = 1e-6
# Batches up to this size take the one-text path (a live question; not an evaluation).
FAST_BATCH = 4


def _log_softmax(z: Floats) -> Floats:
    z = z - z.max(axis=1, keepdims=True)
    out: Floats = (z - np.log(np.exp(z).sum(axis=1, keepdims=True))).astype(np.float32)
    return out


@dataclass(slots=True)
class DenseHead:
    """Multinomial logistic regression over the entry vectors: W x + b, per article."""

    weights: Floats  # (classes, dim)
    bias: Floats  # (classes,)
    classes: Labels  # article index of each row

    @classmethod
    def fit(cls, vectors: Vectors, labels: Labels) -> DenseHead:
        with warnings.catch_warnings():
            # lbfgs stopping at max_iter is still a fine head: accuracy had plateaued.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(C=DENSE_C, max_iter=300).fit(vectors, labels)
        weights = np.asarray(model.coef_, dtype=np.float32)
        bias = np.asarray(model.intercept_, dtype=np.float32)
        classes = np.asarray(model.classes_, dtype=np.int64)
        if len(classes) == 2:  # sklearn keeps one row for two classes: make it softmax-shaped
            weights = np.vstack([-weights / 2, weights / 2])
            bias = np.array([-bias[0] / 2, bias[0] / 2], dtype=np.float32)
        return cls(weights, bias, classes)

    def log_proba(self, queries: Vectors, n_articles: int) -> Floats:
        """(queries, n_articles) log-probabilities; articles without entries get the floor."""
        out = np.full((len(queries), n_articles), np.log(LOG_FLOOR), dtype=np.float32)
        out[:, self.classes] = _log_softmax(queries @ self.weights.T + self.bias)
        return out


def _tfidf_parts(union: FeatureUnion) -> list[tuple[Any, dict[str, int], Any, int]]:
    # (analyzer, vocabulary, idf, first column) of each fitted vectorizer, in union order.
    parts = []
    offset = 0
    for _, vectorizer in union.transformer_list:
        parts.append((vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_, offset))
        offset += len(vectorizer.vocabulary_)
    return parts


class LexicalHead:
    """Linear SVM over TF-IDF word 1-2-grams and character 2-5-grams of the entries."""

    def __init__(self, texts: list[str], labels: Labels) -> None:
        self.vectorizer = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                (
                    "chars",
                    TfidfVectorizer(
                        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2
                    ),
                ),
            ]
        )
        features = self.vectorizer.fit_transform(texts)
        self.classes = np.unique(labels)
        model = LinearSVC(C=LEXICAL_C)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(features, labels)
        coef = np.asarray(model.coef_, dtype=np.float32)
        bias = np.asarray(model.intercept_, dtype=np.float32)
        if len(self.classes) == 2:
            coef, bias = np.vstack([-coef, coef]), np.array([-bias[0], bias[0]], np.float32)
        self.coef = sparse.csr_matrix(coef.T)
        self.bias = bias

    def _margins_of_one(self, text: str) -> npt.NDArray[np.float64]:
        """What `vectorizer.transform([text]) @ coef` gives, without sklearn's per-call cost.

        A customer's question is one short text: validation, sparse-matrix assembly and
        joblib dispatch cost more than the arithmetic (a third of the head's time).
        """
        parts = getattr(self, "_parts", None)
        if parts is None:
            parts = self._parts = _tfidf_parts(self.vectorizer)
        indices: list[int] = []
        values: list[float] = []
        for analyze, vocabulary, idf, offset in parts:
            counts = Counter(
                column
                for feature in analyze(text)
                if (column := vocabulary.get(feature)) is not None
            )
            if not counts:
                continue
            columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
            weights = tf * idf[columns]
            weights /= np.sqrt(weights @ weights)
            indices.extend((columns + offset).tolist())
            values.extend(weights.tolist())
        if not indices:
            return np.zeros(self.coef.shape[1], dtype=np.float64)
        rows = self.coef[np.asarray(indices)]
        return np.asarray(rows.T @ np.asarray(values), dtype=np.float64).ravel()

    def log_proba(self, texts: list[str], n_articles: int) -> Floats:
        if len(texts) <= FAST_BATCH:
            raw = np.stack([self._margins_of_one(text) for text in texts])
        else:
            raw = np.asarray((self.vectorizer.transform(texts) @ self.coef).todense())
        margins: Floats = ((raw + self.bias) / LEXICAL_TEMPERATURE).astype(np.float32)
        out = np.full((len(texts), n_articles), np.log(LOG_FLOOR), dtype=np.float32)
        out[:, self.classes] = _log_softmax(margins)
        return out


@dataclass(slots=True)
class Heads:
    dense: DenseHead | None
    lexical: LexicalHead | None

    def log_proba(
        self, queries: Vectors, texts: list[str], n_articles: int
    ) -> tuple[Floats, Floats]:
        zeros = np.zeros((len(texts), n_articles), dtype=np.float32)
        dense = self.dense.log_proba(queries, n_articles) if self.dense else zeros
        lexical = self.lexical.log_proba(texts, n_articles) if self.lexical else zeros
        return dense, lexical
