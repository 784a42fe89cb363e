"""Public intent data sets as knowledge bases: each intent an article, its training
queries the article's example `questions`, so evaluation measures production retrieval.

The data live outside the repository (`../shared/datasets` next to the checkout, or
wherever `--data` / HELPDESK_DATASETS point); nothing is downloaded or copied.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from helpdesk.brain.knowledge import Article
from helpdesk.evaluation.metrics import OOS

DATASETS_ENV = "HELPDESK_DATASETS"
OOS_ARTICLE_ID = "_out_of_scope"
SPLIT_SEED = 0


class DatasetMissing(FileNotFoundError):
    """The shared data sets are not where we looked."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str  # e.g. "CLINC150 val"
    articles: list[Article]  # the knowledge base, out-of-scope article last if any
    train: list[Example]  # what the articles were built from (baselines train on it)
    queries: list[Example]  # what is measured


def datasets_dir(explicit: Path | None = None) -> Path:
    candidates = [explicit] if explicit else []
    if os.environ.get(DATASETS_ENV):
        candidates.append(Path(os.environ[DATASETS_ENV]))
    # src/helpdesk/evaluation/datasets.py -> the folder beside the checkout, then the cwd's.
    candidates += [
        Path(__file__).resolve().parents[4] / "shared" / "datasets",
        Path.cwd().parent / "shared" / "datasets",
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_dir():
            return candidate
    looked = ", ".join(str(c) for c in candidates if c is not None)
    raise DatasetMissing(
        f"no datasets folder (looked in {looked}); pass --data or set {DATASETS_ENV}"
    )


def read_jsonl(path: Path) -> list[Example]:
    if not path.is_file():
        raise DatasetMissing(f"{path} not found")
    rows = []
    with path.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            if "text" not in record or "label" not in record:
                raise ValueError(f"{path}:{n}: each line needs 'text' and 'label'")
            rows.append(Example(str(record["text"]), str(record["label"])))
    return rows


def title_of(intent: str) -> str:
    return intent.replace("_", " ").strip().capitalize()


def build_articles(train: Iterable[Example], negatives: Iterable[Example] = ()) -> list[Article]:
    """One article per intent (sorted), plus an out-of-scope article from `negatives`."""
    questions: dict[str, dict[str, None]] = defaultdict(dict)
    for example in train:
        questions[example.label][example.text.strip()] = None  # ordered, de-duplicated
    articles = [
        Article(id=label, title=title_of(label), url=None, body="", questions=tuple(qs))
        for label, qs in sorted(questions.items())
    ]
    oos = tuple(dict.fromkeys(e.text.strip() for e in negatives))
    if oos:
        articles.append(
            Article(
                id=OOS_ARTICLE_ID,
                title="Out of scope",
                url=None,
                body="",
                questions=oos,
                out_of_scope=True,
            )
        )
    return articles


def subset(
    examples: list[Example], intents: set[str] | None, per_intent: int | None
) -> list[Example]:
    """Keep the chosen intents (out-of-scope always kept) and at most `per_intent` each."""
    kept: list[Example] = []
    seen: dict[str, int] = defaultdict(int)
    for example in examples:
        if intents is not None and example.label != OOS and example.label not in intents:
            continue
        if per_intent is not None and seen[example.label] >= per_intent:
            continue
        seen[example.label] += 1
        kept.append(example)
    return kept


def clinc150(
    root: Path,
    split: str = "val",
    *,
    negatives: bool = True,
    intents: int | None = None,
    per_intent: int | None = None,
) -> Benchmark:
    """KB from `train` (+ `oos_train` as the out-of-scope article); queries `split` + oos."""
    folder = root / "clinc150"
    train = read_jsonl(folder / "train.jsonl")
    chosen = set(sorted({e.label for e in train})[:intents]) if intents else None
    train = subset(train, chosen, per_intent)
    queries = subset(read_jsonl(folder / f"{split}.jsonl"), chosen, None)
    oos_queries = folder / f"oos_{split}.jsonl"
    if oos_queries.is_file():
        queries += read_jsonl(oos_queries)
    oos_train = read_jsonl(folder / "oos_train.jsonl") if negatives else []
    return Benchmark(f"CLINC150 {split}", build_articles(train, oos_train), train, queries)


def stratified_split(
    examples: list[Example], test_fraction: float, seed: int = SPLIT_SEED
) -> tuple[list[Example], list[Example]]:
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_label[example.label].append(example)
    rng = random.Random(seed)
    train: list[Example] = []
    test: list[Example] = []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        cut = max(1, round(len(group) * test_fraction))
        test += group[:cut]
        train += group[cut:]
    return train, test


def banking77(
    root: Path, *, intents: int | None = None, per_intent: int | None = None
) -> Benchmark:
    """BANKING77 train, split 90/10 per intent (seed 0): KB from the 90 %, queries the 10 %."""
    path = root / "banking77" / "train.csv"
    if not path.is_file():
        raise DatasetMissing(f"{path} not found")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [Example(r["text"], r["category"]) for r in csv.DictReader(handle)]
    chosen = set(sorted({e.label for e in rows})[:intents]) if intents else None
    rows = subset(rows, chosen, None)
    train, test = stratified_split(rows, 0.1)
    train = subset(train, None, per_intent)
    return Benchmark("BANKING77 hold-out (10% of train)", build_articles(train), train, test)
