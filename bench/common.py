"""What the load benchmarks share: the service as a subprocess on a throwaway database,
resource sampling, percentiles, figures printed next to their targets, common options.

The scripts put the repository root on `sys.path` before importing this module.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
from tests.conftest import fresh_postgres_database
from tests.fakes.telegram_server import FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class SQLite:
    """A database file in var/, removed before and after the run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def __aenter__(self) -> str:
        self.path.unlink(missing_ok=True)
        return f"sqlite+aiosqlite:///{self.path}"

    async def __aexit__(self, *_exc: object) -> None:
        self.path.unlink(missing_ok=True)


def database(args: argparse.Namespace, sqlite_file: str) -> AbstractAsyncContextManager[str]:
    """`--sqlite`: a file under var/; otherwise a fresh PostgreSQL database."""
    if args.sqlite:
        return SQLite(ROOT / "var" / sqlite_file)
    return fresh_postgres_database()


def database_name(args: argparse.Namespace) -> str:
    return "SQLite" if args.sqlite else "PostgreSQL"


def free_port() -> int:
    # Other benchmarks may be running on this machine: never assume a fixed port is free.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_env(
    database_url: str, port: int, telegram: FakeTelegram, **settings: str
) -> dict[str, str]:
    """The service's environment: this database and port, the fake Telegram in webhook mode;
    `settings` adds HELPDESK_* variables (`rate_limit="0"` -> HELPDESK_RATE_LIMIT=0)."""
    return {
        **os.environ,
        "HELPDESK_DATABASE_URL": database_url,
        "HELPDESK_DATA_DIR": str(ROOT / "var" / "bench"),
        "HELPDESK_PORT": str(port),
        "HELPDESK_LOG_LEVEL": "WARNING",
        "HELPDESK_TELEGRAM_BOT_TOKEN": telegram.token,
        "HELPDESK_TELEGRAM_API_BASE": telegram.base_url,
        "HELPDESK_TELEGRAM_WEBHOOK_URL": "https://bench.example.test/telegram/webhook",
        "HELPDESK_TELEGRAM_WEBHOOK_SECRET": SECRET,
        **{f"HELPDESK_{name.upper()}": value for name, value in settings.items()},
    }


async def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("service exited during start-up")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError("service did not become ready")


@asynccontextmanager
async def running_service(
    env: dict[str, str],
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """`helpdesk serve` with this environment, ready on /readyz: (base URL, process)."""
    service = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "helpdesk"), "serve"], env=env, cwd=ROOT
    )
    url = f"http://127.0.0.1:{env['HELPDESK_PORT']}"
    try:
        await wait_ready(url, service)
        yield url, service
    except Exception:
        if service.poll() is not None:
            print(f"the service exited with {service.returncode}", file=sys.stderr)
        raise
    finally:
        service.terminate()
        service.wait(timeout=30)


@contextlib.contextmanager
def profiling(pid: int, output: Path | None) -> Iterator[None]:
    """py-spy's collapsed stacks of process `pid` while the block runs (nothing if no file)."""
    if output is None:
        yield
        return
    py_spy = str(ROOT / ".venv" / "bin" / "py-spy")
    command = [py_spy, "record", "--format", "raw", "--rate", "250", "--pid", str(pid)]
    command += ["--output", str(output)]
    profiler = subprocess.Popen(command)
    try:
        yield
    finally:
        # py-spy writes its file when interrupted, as after Ctrl-C.
        profiler.send_signal(signal.SIGINT)
        profiler.wait(timeout=60)


def add_profile_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--py-spy", type=Path, help="profile the service under load into this file (py-spy)"
    )


def cpu_seconds(process: psutil.Process) -> float:
    """User plus system CPU time the process has used so far."""
    return float(sum(process.cpu_times()[:2]))


def database_cpu_seconds() -> float:
    """CPU time used so far by this machine's PostgreSQL processes (its server's share of
    the work: the service's own figure leaves it out). Backends that exited are missed."""
    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "postgres":
            with contextlib.suppress(psutil.Error):
                total += cpu_seconds(process)
    return total


def rss_mb(process: psutil.Process) -> float:
    return float(process.memory_info().rss / 2**20)


async def sample_rss(
    process: psutil.Process, stop: asyncio.Event, peak: list[float], every: float = 0.1
) -> None:
    """Keep the highest RSS (MB) seen in peak[0] until `stop` is set."""
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb(process))
        await asyncio.sleep(every)


def meets(value: float, op: str, limit: float) -> bool:
    return value >= limit if op == ">=" else value <= limit


def print_figures(
    figures: dict[str, float], targets: dict[str, tuple[str, float]], width: int
) -> bool:
    """One line a figure, with PASS or FAIL next to those with a target; all passed?"""
    ok = True
    for name, value in figures.items():
        verdict = ""
        if name in targets:
            op, limit = targets[name]
            passed = meets(value, op, limit)
            ok &= passed
            verdict = f"target {op} {limit:g}  {'PASS' if passed else 'FAIL'}"
        print(f"  {name:{width}} {value:10.1f}   {verdict}")
    return ok


def add_common_arguments(parser: argparse.ArgumentParser, *, json_file: bool = True) -> None:
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    if json_file:
        parser.add_argument("--json", type=Path, help="also write the figures here")


def write_json(figures: dict[str, float], path: Path | None) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(figures, indent=2))


def run_and_report(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, float]]],
    report: Callable[[dict[str, float], argparse.Namespace], bool],
) -> int:
    """Run the benchmark, print its figures, write them to `--json` if given; exit status."""
    figures = asyncio.run(run(args))
    ok = report(figures, args)
    write_json(figures, getattr(args, "json", None))
    return 0 if ok else 1
