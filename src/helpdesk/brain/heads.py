"""Light classifier heads trained on the knowledge base's own entries at index build.

Nearest-example cosine alone ranks CLINC150's 150 intents 1-in-11 wrong; a linear
head over the same MiniLM vectors, plus a lexical one over word and character
n-grams, learns which words of an article's example questions actually matter
(measured on CLINC150 train folds and a BANKING77 inner split; see
`helpdesk.evaluation.calibrate`). Both fit in seconds on 15,000 examples.

scikit-learn only fits them: its import is ~90 MB of resident memory, so it happens
inside `fit`. A fitted head is plain arrays (weights; for the lexical head each TF-IDF
part's vocabulary and idf too) and scores with numpy, scipy.sparse (already loaded by
bm25s) and our own copy of scikit-learn's analyzers: a service whose index is on
disk never imports scikit-learn.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse

from helpdesk.brain.embeddings import Vectors

Floats = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]
Arrays = dict[str, npt.NDArray[Any]]

# Chosen by 5-fold cross-validation on CLINC150 train (never on val): C=10 beat 1 and
# 100; the SVM's C=0.5 and the temperature that turns its margins into log-probabilities.
DENSE_C = 10.0
LEXICAL_C = 0.5
LEXICAL_TEMPERATURE = 0.2
LOG_FLOOR = 1e-6
# Batches up to this size take the one-text path (a live question; not an evaluation).
FAST_BATCH = 4

AnalyzerKind = Literal["word", "char_wb"]
# The lexical head's TF-IDF parts, in column order: (name, analyzer, n-gram range, min_df).
PARTS: tuple[tuple[str, AnalyzerKind, tuple[int, int], int], ...] = (
    ("words", "word", (1, 2), 1),
    ("chars", "char_wb", (2, 5), 2),
)

# scikit-learn's defaults: token_pattern, and char_wb's whitespace normalisation.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_WHITE_SPACES = re.compile(r"\s\s+")


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
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

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

    def arrays(self) -> Arrays:
        return {"w": self.weights, "b": self.bias, "c": self.classes}

    @classmethod
    def from_arrays(cls, saved: Mapping[str, npt.NDArray[Any]]) -> DenseHead:
        return cls(
            np.asarray(saved["w"], dtype=np.float32),
            np.asarray(saved["b"], dtype=np.float32),
            np.asarray(saved["c"], dtype=np.int64),
        )


def word_ngrams(text: str, ngram_range: tuple[int, int] = (1, 2)) -> list[str]:
    """scikit-learn's `analyzer="word"`: lowercase, default token_pattern, n-grams."""
    tokens: list[str] = _TOKEN.findall(text.lower())
    min_n, max_n = ngram_range
    if max_n == 1:
        return tokens
    grams = list(tokens) if min_n == 1 else []
    for n in range(max(min_n, 2), min(max_n + 1, len(tokens) + 1)):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_wb_ngrams(text: str, ngram_range: tuple[int, int] = (2, 5)) -> list[str]:
    """scikit-learn's `analyzer="char_wb"`: n-grams of each word padded with spaces."""
    min_n, max_n = ngram_range
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for n in range(min_n, max_n + 1):
            offset = 0
            grams.append(padded[:n])
            while offset + n < len(padded):
                offset += 1
                grams.append(padded[offset : offset + n])
            if offset == 0:  # a short word (padded length <= n) counts once
                break
    return grams


@dataclass(slots=True)
class TfidfPart:
    """One fitted TfidfVectorizer (sublinear tf, smooth idf, l2 norm) as plain data."""

    analyzer: AnalyzerKind
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]  # feature -> column within this part
    idf: npt.NDArray[np.float64]
    offset: int  # first column of this part in the head's feature space

    def analyze(self, text: str) -> list[str]:
        if self.analyzer == "word":
            return word_ngrams(text, self.ngram_range)
        return char_wb_ngrams(text, self.ngram_range)

    def weights(self, text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Columns (with the offset) and l2-normalised tf-idf values of one text."""
        vocabulary = self.vocabulary
        counts = Counter(
            column
            for feature in self.analyze(text)
            if (column := vocabulary.get(feature)) is not None
        )
        columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        if not counts:
            return columns, np.zeros(0, dtype=np.float64)
        tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
        values = tf * self.idf[columns]
        values /= np.sqrt(values @ values)
        return columns + self.offset, values


def _pack_terms(vocabulary: dict[str, int]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    # Terms in column order as one UTF-8 blob plus each term's length in characters:
    # no pickle, and no fixed-width strings (numpy's would drop a trailing NUL).
    terms = sorted(vocabulary, key=vocabulary.__getitem__)
    blob = "".join(terms).encode("utf-8", "surrogatepass")
    lengths = np.fromiter((len(t) for t in terms), dtype=np.int64, count=len(terms))
    return np.frombuffer(blob, dtype=np.uint8), lengths


def _unpack_terms(blob: npt.NDArray[np.uint8], lengths: npt.NDArray[np.int64]) -> dict[str, int]:
    text = blob.tobytes().decode("utf-8", "surrogatepass")
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]]
    if ends and ends[-1] != len(text):
        raise ValueError("vocabulary does not match its lengths")
    return {text[a:b]: column for column, (a, b) in enumerate(zip(starts, ends, strict=True))}


@dataclass(slots=True)
class LexicalHead:
    """Linear SVM over TF-IDF word 1-2-grams and character 2-5-grams of the entries."""

    parts: list[TfidfPart]
    coef: sparse.csr_matrix  # (features, classes), float32
    bias: Floats  # (classes,)
    classes: Labels  # article index of each column

    @classmethod
    def fit(cls, texts: list[str], labels: Labels) -> LexicalHead:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        parts: list[TfidfPart] = []
        blocks = []
        offset = 0
        for _, analyzer, ngram_range, min_df in PARTS:
            vectorizer = TfidfVectorizer(
                analyzer=analyzer, ngram_range=ngram_range, min_df=min_df, sublinear_tf=True
            )
            blocks.append(vectorizer.fit_transform(texts))
            vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
            idf = np.asarray(vectorizer.idf_, dtype=np.float64)
            parts.append(TfidfPart(analyzer, ngram_range, vocabulary, idf, offset))
            offset += len(vocabulary)
        features = sparse.hstack(blocks).tocsr()  # what FeatureUnion builds
        classes = np.unique(labels).astype(np.int64)
        model = LinearSVC(C=LEXICAL_C)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(features, labels)
        coef = np.asarray(model.coef_, dtype=np.float32)
        bias = np.asarray(model.intercept_, dtype=np.float32)
        if len(classes) == 2:
            coef, bias = np.vstack([-coef, coef]), np.array([-bias[0], bias[0]], np.float32)
        # A fifth of the weights are non-zero on CLINC150: sparse is half the memory.
        return cls(parts, sparse.csr_matrix(coef.T), bias, classes)

    @property
    def n_features(self) -> int:
        return int(self.coef.shape[0])

    def _weights(self, text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        pieces = [part.weights(text) for part in self.parts]
        return (
            np.concatenate([columns for columns, _ in pieces]),
            np.concatenate([values for _, values in pieces]),
        )

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        """What scikit-learn's fitted `FeatureUnion.transform(texts)` gives (csr, float64)."""
        indptr = [0]
        indices: list[npt.NDArray[np.int64]] = [np.zeros(0, dtype=np.int64)]
        values: list[npt.NDArray[np.float64]] = [np.zeros(0, dtype=np.float64)]
        for text in texts:
            columns, weights = self._weights(text)
            indices.append(columns)
            values.append(weights)
            indptr.append(indptr[-1] + len(columns))
        return sparse.csr_matrix(
            (np.concatenate(values), np.concatenate(indices), np.asarray(indptr)),
            shape=(len(texts), self.n_features),
        )

    def _margins_of_one(self, text: str) -> npt.NDArray[np.float64]:
        """One text's `features @ coef` without building a sparse matrix (a live question)."""
        columns, values = self._weights(text)
        if not len(columns):
            return np.zeros(self.coef.shape[1], dtype=np.float64)
        rows = self.coef[columns]
        return np.asarray(rows.T @ values, dtype=np.float64).ravel()

    def margins(self, texts: list[str]) -> npt.NDArray[np.float64]:
        """(texts, classes) SVM decision values, before the temperature."""
        if len(texts) <= FAST_BATCH:
            raw = np.stack([self._margins_of_one(text) for text in texts])
        else:
            raw = np.asarray((self.features(texts) @ self.coef).todense(), dtype=np.float64)
        out: npt.NDArray[np.float64] = raw + self.bias
        return out

    def log_proba(self, texts: list[str], n_articles: int) -> Floats:
        margins: Floats = (self.margins(texts) / LEXICAL_TEMPERATURE).astype(np.float32)
        out = np.full((len(texts), n_articles), np.log(LOG_FLOOR), dtype=np.float32)
        out[:, self.classes] = _log_softmax(margins)
        return out

    def arrays(self) -> Arrays:
        coef = self.coef
        saved: Arrays = {
            "bias": self.bias,
            "classes": self.classes,
            "coef_data": np.asarray(coef.data, dtype=np.float32),
            "coef_indices": np.asarray(coef.indices, dtype=np.int32),
            "coef_indptr": np.asarray(coef.indptr, dtype=np.int64),
            "coef_shape": np.asarray(coef.shape, dtype=np.int64),
        }
        for i, part in enumerate(self.parts):
            blob, lengths = _pack_terms(part.vocabulary)
            saved[f"p{i}_terms"], saved[f"p{i}_lengths"] = blob, lengths
            saved[f"p{i}_idf"] = part.idf
            saved[f"p{i}_offset"] = np.asarray(part.offset, dtype=np.int64)
        return saved

    @classmethod
    def from_arrays(cls, saved: Mapping[str, npt.NDArray[Any]]) -> LexicalHead:
        parts = []
        for i, (_, analyzer, ngram_range, _) in enumerate(PARTS):
            vocabulary = _unpack_terms(saved[f"p{i}_terms"], saved[f"p{i}_lengths"])
            idf = np.asarray(saved[f"p{i}_idf"], dtype=np.float64)
            if len(idf) != len(vocabulary):
                raise ValueError("idf and vocabulary differ in length")
            offset = int(saved[f"p{i}_offset"])
            parts.append(TfidfPart(analyzer, ngram_range, vocabulary, idf, offset))
        rows, columns = (int(n) for n in saved["coef_shape"])
        coef = sparse.csr_matrix(
            (saved["coef_data"], saved["coef_indices"], saved["coef_indptr"]),
            shape=(rows, columns),
        )
        if parts[-1].offset + len(parts[-1].vocabulary) != rows:
            raise ValueError("coefficients do not match the vocabulary")
        bias = np.asarray(saved["bias"], dtype=np.float32)
        return cls(parts, coef, bias, np.asarray(saved["classes"], dtype=np.int64))


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

    def arrays(self) -> Arrays:
        """Flat name -> array map for `np.savez` (no pickled objects); {} without heads."""
        saved: Arrays = {}
        if self.dense is not None:
            saved.update({f"dense_{k}": v for k, v in self.dense.arrays().items()})
        if self.lexical is not None:
            saved.update({f"lexical_{k}": v for k, v in self.lexical.arrays().items()})
        return saved

    @classmethod
    def from_arrays(cls, saved: Mapping[str, npt.NDArray[Any]]) -> Heads:
        """Heads from `arrays()`; raises KeyError or ValueError if they are incomplete."""

        def prefixed(prefix: str) -> dict[str, npt.NDArray[Any]]:
            return {k[len(prefix) :]: saved[k] for k in saved if k.startswith(prefix)}

        dense, lexical = prefixed("dense_"), prefixed("lexical_")
        return cls(
            DenseHead.from_arrays(dense) if dense else None,
            LexicalHead.from_arrays(lexical) if lexical else None,
        )
