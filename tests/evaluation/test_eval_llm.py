"""`helpdesk eval --llm`: the full answer path against a fake OpenAI-compatible server."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
import structlog

from helpdesk.config import SAMPLE_KNOWLEDGE_PATH, Settings
from helpdesk.evaluation.cli import _evaluate, add_eval_parser
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.slow


async def test_llm_path_is_measured_with_concurrency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = tmp_path / "q.jsonl"
    rows = [
        ("how long do refunds take", "refund-timing"),
        ("forgot my password", "reset-password"),
        ("where is my parcel", "order-tracking"),
        ("recommend a pizza recipe", "oos"),
    ]
    queries.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers(dest="command"))
    kb = ["--kb", str(SAMPLE_KNOWLEDGE_PATH), "--queries", str(queries)]
    args = parser.parse_args(["eval", *kb, "--llm", "--concurrency", "3", "--json", "--quiet"])
    saved = structlog.get_config()
    # As `helpdesk eval` does: log lines to stderr, the report alone on stdout.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        async with FakeLLM() as fake:
            fake.delay = 0.5
            settings = Settings(
                data_dir=tmp_path / "var", llm_base_url=fake.base_url, _env_file=None
            )
            assert await _evaluate(args, settings) == 0
    finally:
        structlog.configure(**saved)
    llm = json.loads(capsys.readouterr().out)["llm"]
    assert llm["failures"] == 0 and llm["model"] == "llama3.1:8b"
    assert llm["in_scope_accuracy"] == 1.0, "the fake answers from the top article"
    assert llm["qps"] > 4 / (4 * 0.5), "requests overlap: faster than one at a time"
    assert len(fake.requests) == 4
