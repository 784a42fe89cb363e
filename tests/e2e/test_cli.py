"""The `helpdesk` command: db upgrade, kb import, and a terminal conversation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from helpdesk.cli import main
from helpdesk.config import SAMPLE_KNOWLEDGE_PATH

HELPDESK = Path(sys.executable).with_name("helpdesk")


async def test_db_upgrade_creates_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    result = subprocess.run(  # noqa: ASYNC221 - the CLI is the thing under test
        [str(HELPDESK), "db", "upgrade"],
        env={**os.environ, "HELPDESK_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    await engine.dispose()
    assert {"customers", "conversations", "messages", "updates", "outbox"} <= set(tables)


def test_kb_import_indexes_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    articles = tmp_path / "kb"
    shutil.copytree(SAMPLE_KNOWLEDGE_PATH, articles)
    (articles / "gift-wrapping.md").write_text(
        "---\ntitle: Gift wrapping\nurl: https://help.northwind.example/gift-wrap\n---\n"
        "We gift-wrap any order for 3 euros. Choose it at checkout.\n"
    )
    monkeypatch.setenv("HELPDESK_DATA_DIR", str(tmp_path / "var"))
    assert main(["kb", "import", str(articles)]) == 0
    count = len(list(articles.glob("*.md")))
    assert f"indexed {count} articles" in capsys.readouterr().out
    assert main(["kb", "import", str(tmp_path / "missing")]) == 2


@pytest.mark.slow
def test_chat_in_the_terminal_answers_from_the_knowledge_base(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HELPDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}",
        "HELPDESK_DATA_DIR": str(tmp_path / "var"),
        "HELPDESK_LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [str(HELPDESK), "chat"],
        input="I forgot my password\nwhat's the best pizza in Rome?\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    # Prompts ("you> ") share the line with the reply that follows them.
    replies = [line.split("bot> ", 1)[1] for line in result.stdout.splitlines() if "bot> " in line]
    assert len(replies) == 2
    assert "password" in replies[0].lower()
    assert "a person will follow up" in result.stdout
