"""Login rate limits (API token and console form) and the agents' last_seen_at."""

from __future__ import annotations

import httpx

from helpdesk.api.throttle import LoginLimiter, SeenTracker
from tests.fakes.telegram_server import FakeTelegram
from tests.handoff_more.conftest import (
    PASSWORD,
    Api,
    StartConsole,
    add_agent,
    agent_row,
    browser,
    log_in,
    signed_in,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def token_login(service_url: str, email: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=15) as client:
        return await client.post(
            f"{service_url}/api/auth/token", json={"email": email, "password": password}
        )


async def test_five_wrong_passwords_then_429_even_for_the_right_one(
    database_url: str, start_console: StartConsole, telegram: FakeTelegram
) -> None:
    service = await start_console(database_url)
    await add_agent(service, "grace@example.test", "Grace Hopper")
    for _ in range(5):
        wrong = await token_login(service.base_url, "grace@example.test", "guess")
        assert wrong.status_code == 401
    blocked = await token_login(service.base_url, "Grace@Example.test", PASSWORD)
    assert blocked.status_code == 429
    retry_after = int(blocked.headers["retry-after"])
    assert 890 <= retry_after <= 900, retry_after
    assert f"try again in {retry_after} s" in blocked.json()["detail"]

    # Another agent from the same address is not locked out by Grace's failures.
    await add_agent(service, "alan@example.test", "Alan Turing")
    assert (await token_login(service.base_url, "alan@example.test", PASSWORD)).status_code == 200

    # The console shares the count: Grace is refused there too, with the same wait.
    async with browser(service) as client:
        refused = await log_in(client, "grace@example.test", PASSWORD)
        assert refused.status_code == 429
        assert 890 <= int(refused.headers["retry-after"]) <= 900
        assert "Too many failed logins" in refused.text
        assert "helpdesk_console=" not in refused.headers.get("set-cookie", "")


async def test_the_console_form_is_limited_per_address_across_emails(
    database_url: str, start_console: StartConsole, telegram: FakeTelegram
) -> None:
    service = await start_console(database_url, login_max_failures_per_ip=4)
    await add_agent(service, "grace@example.test", "Grace Hopper")
    async with browser(service) as client:
        for n in range(4):
            failed = await log_in(client, f"nobody{n}@example.test", "guess")
            assert failed.status_code == 401
        # Each email failed once only, but this address has used up its attempts.
        blocked = await log_in(client, "grace@example.test", PASSWORD)
        assert blocked.status_code == 429
        assert "Retry-After" in blocked.headers
    # The API counts the same address.
    api = await token_login(service.base_url, "grace@example.test", PASSWORD)
    assert api.status_code == 429


async def test_a_successful_login_clears_the_emails_failures(
    database_url: str, start_console: StartConsole, telegram: FakeTelegram
) -> None:
    service = await start_console(database_url, login_max_failures_per_email=3)
    await add_agent(service, "grace@example.test", "Grace Hopper")
    for _ in range(2):
        assert (await token_login(service.base_url, "grace@example.test", "x")).status_code == 401
    assert (await token_login(service.base_url, "grace@example.test", PASSWORD)).status_code == 200
    for _ in range(2):  # two more typos are fine: the count started again
        assert (await token_login(service.base_url, "grace@example.test", "x")).status_code == 401
    assert (await token_login(service.base_url, "grace@example.test", PASSWORD)).status_code == 200


def test_the_limit_lifts_as_failures_leave_the_window() -> None:
    clock = Clock()
    limiter = LoginLimiter(per_email=3, per_ip=100, window=900, clock=clock)
    for step in range(3):
        assert limiter.retry_after("a@x.test", "10.0.0.1") is None
        limiter.attempt("a@x.test", "10.0.0.1")
        clock.now += 100 * (step + 1)  # failures at t=0, 100, 300
    clock.now = 1000.0 + 400
    assert limiter.retry_after("A@X.test ", "10.0.0.2") == 500  # first failure ages out at 900
    clock.now = 1000.0 + 900
    assert limiter.retry_after("a@x.test", "10.0.0.1") is None
    # Attempts in flight count: a burst cannot outrun the password check.
    limiter = LoginLimiter(per_email=2, per_ip=100, window=900, clock=clock)
    limiter.attempt("b@x.test", "10.0.0.1")
    limiter.attempt("b@x.test", "10.0.0.1")
    assert limiter.retry_after("b@x.test", "10.0.0.1") == 900


def test_last_seen_is_written_at_most_once_per_interval() -> None:
    clock = Clock()
    tracker = SeenTracker(60, clock=clock)
    assert tracker.due(1) and not tracker.due(1)
    assert tracker.due(2), "each agent has its own interval"
    clock.now += 59.9
    assert not tracker.due(1)
    clock.now += 0.2
    assert tracker.due(1)


async def test_requests_stamp_last_seen_at_without_a_write_each_time(
    database_url: str, start_console: StartConsole, telegram: FakeTelegram
) -> None:
    service = await start_console(database_url)
    api: Api = await signed_in(service, "alice@example.test")
    assert (await agent_row(service, api.agent_id)).last_seen_at is None
    assert (await api.get("/me")).status_code == 200
    first = (await agent_row(service, api.agent_id)).last_seen_at
    assert first is not None
    assert (await api.get("/conversations")).status_code == 200
    assert (await agent_row(service, api.agent_id)).last_seen_at == first, "throttled"
    # A bad token stamps nobody.
    assert (await Api(service, "not-a-token").get("/me")).status_code == 401

    grace = await add_agent(service, "grace@example.test", "Grace Hopper")
    async with browser(service) as client:
        await log_in(client, "grace@example.test")
        assert (await client.get("/console")).status_code == 200
    assert (await agent_row(service, grace)).last_seen_at is not None
