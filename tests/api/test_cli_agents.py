"""`helpdesk agents create`: the first admin is made on the command line, then logs in."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

import pytest

from helpdesk.cli import main
from tests.api.conftest import Api, StartService

HELPDESK = Path(sys.executable).with_name("helpdesk")


async def test_an_agent_created_on_the_command_line_can_log_in(
    start_service: StartService, database_url: str
) -> None:
    service = await start_service()
    process = await asyncio.create_subprocess_exec(
        str(HELPDESK),
        *("agents", "create", "--email", "Root@Example.com", "--name", "Root", "--role", "admin"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HELPDESK_DATABASE_URL": database_url, "HELPDESK_LOG_LEVEL": "WARNING"},
    )
    out, err = await asyncio.wait_for(process.communicate(b"a long passphrase\n"), 120)
    assert process.returncode == 0, err.decode()
    agent_id = int(out.decode().strip())

    root = await Api(service).login("root@example.com", "a long passphrase")
    me = (await root.get("/me")).json()
    assert (me["id"], me["role"], me["name"]) == (agent_id, "admin", "Root")
    assert (await root.get("/agents")).status_code == 200


def test_a_duplicate_email_or_a_short_password_is_refused_with_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HELPDESK_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("HELPDESK_LOG_LEVEL", "WARNING")

    def create(email: str, password: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(f"{password}\n"))
        return main(["agents", "create", "--email", email, "--name", "Sam"])

    assert create("sam@example.com", "long enough") == 0
    assert capsys.readouterr().out.strip().isdigit()
    assert create("SAM@example.com", "long enough too") == 2
    assert "an agent with email sam@example.com exists" in capsys.readouterr().err
    assert create("kim@example.com", "short") == 2
    assert "password: String should have at least 8 characters" in capsys.readouterr().err
    assert create("kim.example.com", "long enough") == 2
    assert "email: not an email address" in capsys.readouterr().err
