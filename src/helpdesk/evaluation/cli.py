"""`helpdesk eval`: answer quality of the brain on labelled queries.

helpdesk eval clinc150 --split val [--sweep] [--baselines] [--json]
helpdesk eval banking77
helpdesk eval --kb DIR --queries FILE.jsonl     (lines {"text": ..., "label": id|"oos"})
helpdesk eval calibrate                          (refit brain/confidence.py's constants)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import structlog

from helpdesk.config import Settings
from helpdesk.evaluation import datasets as ds
from helpdesk.evaluation import metrics as m
from helpdesk.evaluation.report import point_dict, quality, render

# Share of out-of-scope traffic assumed when recommending a threshold: val has 3 %,
# real help desks far more (HINT3's production bots: 30-50 % "nothing covers this").
DEFAULT_OOS_SHARE = 0.10


def add_eval_parser(commands: Any) -> None:
    p = commands.add_parser("eval", help="measure answer quality on labelled queries")
    p.add_argument("dataset", nargs="?", choices=["clinc150", "banking77", "calibrate"])
    p.add_argument("--kb", type=Path, help="knowledge-base folder (with --queries)")
    p.add_argument("--queries", type=Path, help='JSONL, one {"text", "label"} per line')
    p.add_argument("--split", default="val", help="CLINC150 split to measure (default val)")
    p.add_argument("--data", type=Path, help="datasets folder (default ../shared/datasets)")
    p.add_argument("--threshold", type=float, help="escalation threshold (default: settings)")
    p.add_argument("--sweep", action="store_true", help="print the threshold curve")
    p.add_argument("--target", type=float, default=0.95, help="answered-correct target")
    p.add_argument(
        "--oos-share",
        type=float,
        default=DEFAULT_OOS_SHARE,
        help="out-of-scope share of traffic assumed by the recommendation (default 0.10)",
    )
    p.add_argument("--baselines", action="store_true", help="also run the two reference peers")
    p.add_argument("--llm", action="store_true", help="also evaluate the full LLM answer path")
    p.add_argument("--concurrency", type=int, default=8, help="LLM requests in flight")
    p.add_argument("--no-negatives", action="store_true", help="no out-of-scope article")
    p.add_argument("--intents", type=int, help="only the first N intents (a quick slice)")
    p.add_argument("--per-intent", type=int, help="at most N training examples per intent")
    p.add_argument("--no-cache", action="store_true", help="re-embed everything (timing)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    # Log lines must not mix with the report (nor with --json) on stdout.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        if args.dataset == "calibrate":
            return asyncio.run(_calibrate(args, settings))
        return asyncio.run(_evaluate(args, settings))
    except ds.DatasetMissing as exc:
        print(f"helpdesk eval: {exc}", file=sys.stderr)
        return 2


def load_benchmark(args: argparse.Namespace) -> ds.Benchmark:
    if args.dataset == "clinc150":
        return ds.clinc150(
            ds.datasets_dir(args.data),
            args.split,
            negatives=not args.no_negatives,
            intents=args.intents,
            per_intent=args.per_intent,
        )
    if args.dataset == "banking77":
        return ds.banking77(
            ds.datasets_dir(args.data), intents=args.intents, per_intent=args.per_intent
        )
    if args.kb is None or args.queries is None:
        raise SystemExit(
            "helpdesk eval: give a dataset (clinc150, banking77) or --kb and --queries"
        )
    from helpdesk.brain.knowledge import load_articles

    articles = load_articles(args.kb)
    train = [ds.Example(q, a.id) for a in articles if not a.out_of_scope for q in a.questions]
    queries = ds.read_jsonl(args.queries)
    known = {a.id for a in articles}
    unknown = sorted({q.label for q in queries} - known - {m.OOS})
    if unknown:
        print(f"warning: labels with no article: {', '.join(unknown[:10])}", file=sys.stderr)
    return ds.Benchmark(f"{args.kb} / {args.queries.name}", articles, train, queries)


async def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from helpdesk.evaluation.runner import evaluate

    bench = load_benchmark(args)
    show = not args.quiet
    run = await evaluate(
        bench.articles, bench.queries, settings, use_cache=not args.no_cache, show_progress=show
    )
    preds = run.predictions
    threshold = settings.answer_threshold if args.threshold is None else args.threshold
    source = "--threshold" if args.threshold is not None else "settings.answer_threshold"
    summary: dict[str, Any] = {
        "dataset": bench.name,
        "model": settings.embedding_model,
        "responder": "retrieval (offline, no LLM)",
        "articles": len(run.index),
        "negatives": run.index.has_negatives,
        "threshold_source": source,
        "calibrator": run.index.calibrator.source,
        "quality": quality(preds, threshold),
        "timing": {
            "index_seconds": run.timing.index_seconds,
            "entries": run.timing.entries,
            "embed_qps": round(run.timing.embed_qps, 1),
            "rank_qps": round(run.timing.rank_qps, 1),
            "qps": round(run.timing.qps, 1),
            "peak_rss_mb": round(run.timing.peak_rss_mb),
        },
        "confused": m.confused_pairs(preds),
    }
    if args.sweep:
        weight = m.oos_weight_for(preds, args.oos_share)
        curve = m.sweep(preds, oos_weight=weight)
        best = m.recommend_threshold(curve, args.target)
        summary["sweep"] = [point_dict(p) for p in curve]
        summary["target"] = args.target
        summary["oos_share"] = args.oos_share if weight != 1.0 else None
        summary["prior_note"] = (
            f" with out-of-scope at {args.oos_share * 100:.0f}% of traffic" if weight != 1.0 else ""
        )
        summary["recommended"] = point_dict(best) if best else None
    if args.baselines:
        summary["baselines"] = await _baselines(
            bench, run, settings, threshold, show, not args.no_cache
        )
    if args.llm:
        summary["llm"] = await _llm(bench, run, settings, args.concurrency)
    print(json.dumps(summary, indent=1) if args.json else render(summary))
    return 0


async def _baselines(
    bench: ds.Benchmark,
    run: Any,
    settings: Settings,
    threshold: float,
    show: bool,
    use_cache: bool,
) -> list[dict[str, Any]]:
    from helpdesk.evaluation.baselines import minilm_logreg, tfidf_logreg
    from helpdesk.evaluation.runner import VectorCache, load_encoder

    encoder = await load_encoder(settings)
    cache = VectorCache(settings.data_dir / "eval" if use_cache else None)
    runs = [
        await asyncio.to_thread(tfidf_logreg, bench.train, bench.queries),
        await minilm_logreg(bench.train, bench.queries, encoder, cache, index_vectors(run), show),
    ]
    return [
        {
            "name": r.name,
            "fit_seconds": round(r.fit_seconds, 1),
            **quality(r.predictions, threshold),
        }
        for r in runs
    ]


def index_vectors(run: Any) -> dict[str, Any]:
    index = run.index
    return {e.text: index.vectors[i] for i, e in enumerate(index.entries)}


async def _llm(
    bench: ds.Benchmark, run: Any, settings: Settings, concurrency: int
) -> dict[str, Any]:
    """The full answer path: retrieval, then the LLM (which may itself ask for a human)."""
    from helpdesk.brain.answer import Brain
    from helpdesk.brain.llm import LLMResponder
    from helpdesk.evaluation.runner import Progress, load_encoder

    if not settings.llm_base_url:
        raise SystemExit("helpdesk eval --llm: set HELPDESK_LLM_BASE_URL first")
    encoder = await load_encoder(settings)
    brain = Brain(settings, encoder, run.index, LLMResponder(settings))
    gate = asyncio.Semaphore(max(1, concurrency))
    progress = Progress("LLM answers", len(bench.queries))
    failures = 0

    async def one(query: ds.Example) -> m.Prediction:
        nonlocal failures
        async with gate:
            answer = await brain.answer(query.text)
        progress(1)
        failures += answer.responder == "fallback"
        predicted = answer.sources[0].article_id if answer.sources else ""
        return m.Prediction(query.text, query.label, predicted, 0.0 if answer.needs_human else 1.0)

    started = time.perf_counter()
    try:
        preds = await asyncio.gather(*(one(q) for q in bench.queries))
    finally:
        await brain.aclose()
    point = m.at_threshold(preds, 0.5)
    return {
        "model": settings.llm_model,
        "in_scope_accuracy": point.in_scope_accuracy,
        "oos_recall": point.oos_recall,
        "answered_accuracy": point.answered_accuracy,
        "coverage": point.coverage,
        "failures": failures,
        "qps": len(preds) / max(time.perf_counter() - started, 1e-9),
    }


async def _calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from helpdesk.evaluation.calibrate import as_python, calibrate, load_clinc_training

    train, oos = load_clinc_training(ds.datasets_dir(args.data))
    fitted = await calibrate(train, oos, settings, show_progress=not args.quiet)
    if args.json:
        print(json.dumps([asdict(f) for f in fitted], indent=1))
    else:
        for f in fitted:
            print(
                f"negatives={f.negatives}: {f.samples} out-of-fold queries "
                f"({f.oos_samples} out of scope), CV top-1 accuracy {f.cv_accuracy * 100:.1f}%, "
                f"threshold for >= 95% answered correct at 10% out of scope: {f.cv_threshold}"
            )
        print("\n# paste into src/helpdesk/brain/confidence.py\n" + as_python(fitted))
    return 0
