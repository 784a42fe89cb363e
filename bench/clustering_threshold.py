"""Where the common-queries clustering cuts: agreement with known intents per threshold.

The dashboard groups customer questions by agglomerative clustering (average
linkage, cosine distance) cut at `helpdesk.analytics.clusters.DISTANCE_THRESHOLD`.
This prints the adjusted Rand index and V-measure against known labels for a range
of cuts, on the sample knowledge base's example questions (label: the article) and
on Bitext's customer-support set (first 25 instructions of each intent):

    .venv/bin/python bench/clustering_threshold.py [--data ../shared/datasets]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score, v_measure_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpdesk.analytics.clusters import DISTANCE_THRESHOLD, group
from helpdesk.brain.embeddings import Encoder
from helpdesk.brain.knowledge import load_articles
from helpdesk.config import SAMPLE_KNOWLEDGE_PATH, Settings

THRESHOLDS = (0.45, 0.50, 0.55, 0.60, 0.65, 0.70)
PER_INTENT = 25


def sample_kb() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for article in load_articles(SAMPLE_KNOWLEDGE_PATH):
        for question in article.questions:
            texts.append(question)
            labels.append(article.id)
    return texts, labels


def bitext(folder: Path) -> tuple[list[str], list[str]]:
    per_intent: dict[str, list[str]] = {}
    with (folder / "bitext-customer-support" / "train.csv").open(newline="") as file:
        for row in csv.DictReader(file):
            examples = per_intent.setdefault(row["intent"], [])
            if len(examples) < PER_INTENT:
                examples.append(row["instruction"])
    texts = [text for examples in per_intent.values() for text in examples]
    labels = [intent for intent, examples in per_intent.items() for _ in examples]
    return texts, labels


def labels_of(count: int, groups: list[list[int]]) -> list[int]:
    labels = [0] * count
    for number, rows in enumerate(groups):
        for row in rows:
            labels[row] = number
    return labels


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    args = parser.parse_args()
    encoder = Encoder(Settings(_env_file=None).embedding_model)
    sets = {"sample knowledge base": sample_kb()}
    if (args.data / "bitext-customer-support").is_dir():
        sets["Bitext customer support"] = bitext(args.data)
    else:
        print(f"Bitext skipped: no {args.data}/bitext-customer-support", file=sys.stderr)
    print("| data | texts / labels | cut | ARI | V-measure |")
    print("| --- | --- | --- | --- | --- |")
    for name, (texts, truth) in sets.items():
        vectors = np.asarray(await encoder.encode_many(texts))
        for threshold in THRESHOLDS:
            found = labels_of(len(texts), group(vectors, threshold=threshold))
            mark = " (product)" if threshold == DISTANCE_THRESHOLD else ""
            print(
                f"| {name} | {len(texts)} / {len(set(truth))} | {threshold:.2f}{mark} "
                f"| {adjusted_rand_score(truth, found):.2f} "
                f"| {v_measure_score(truth, found):.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
