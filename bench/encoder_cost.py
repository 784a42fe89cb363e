"""What the query encoder costs per question, alone and in batches.

The webhook benchmark's customer questions (18 tokens each) through the bundled
all-MiniLM-L6-v2 on one thread, as the service runs it: CPU ms per question when
encoded one at a time and in batches of 8 (what batching saves; the rest is the
model's arithmetic, paid for every question):

    .venv/bin/python bench/encoder_cost.py [--questions 600]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.webhook_load import question

from helpdesk.brain.embeddings import OnnxEncoderModel, resolve_model_files


def cpu_ms_per_question(model: OnnxEncoderModel, texts: list[str], batch: int) -> float:
    started = time.process_time()
    for begin in range(0, len(texts), batch):
        model.encode(texts[begin : begin + batch])
    return (time.process_time() - started) * 1000 / len(texts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=600)
    args = parser.parse_args()
    model = OnnxEncoderModel(resolve_model_files("all-MiniLM-L6-v2"), threads=1)
    texts = [question(c, t) for c in range(200) for t in range(8)][: args.questions]
    cpu_ms_per_question(model, texts[:50], 1)  # warm-up
    print(f"encoder, one thread, {len(texts)} questions of the webhook benchmark")
    for batch in (1, 8):
        cost = cpu_ms_per_question(model, texts, batch)
        print(f"  batch of {batch}: {cost:5.2f} ms CPU/question")
    return 0


if __name__ == "__main__":
    sys.exit(main())
