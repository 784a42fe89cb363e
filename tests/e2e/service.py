"""The real service on a loopback port, started and stopped by tests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import uvicorn

from helpdesk.app import Runtime, create_app
from helpdesk.config import Settings

WEBHOOK_SECRET = "s3cret-token"


class RunningService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.base_url = ""
        self.http = httpx.AsyncClient(timeout=30)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def start(self) -> RunningService:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("server exited during start-up")
            await asyncio.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None
        await self.http.aclose()

    async def __aenter__(self) -> RunningService:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def send_update(
        self, update: dict[str, Any], *, secret: str | None = WEBHOOK_SECRET
    ) -> httpx.Response:
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        return await self.http.post(
            f"{self.base_url}/telegram/webhook", json=update, headers=headers
        )

    async def idle(self, timeout: float = 20.0) -> None:
        """Wait until every accepted update has been processed."""
        async with asyncio.timeout(timeout):
            await self.runtime.queue.drain()


def service_settings(
    database_url: str,
    data_dir: str,
    *,
    telegram_api_base: str | None = None,
    token: str = "123456:TEST",
    llm_base_url: str | None = None,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "llm_base_url": llm_base_url,
        "llm_timeout": 5,
    }
    if telegram_api_base is not None:
        values.update(
            telegram_bot_token=token,
            telegram_api_base=telegram_api_base,
            telegram_webhook_url="https://bot.example.test/telegram/webhook",
            telegram_webhook_secret=WEBHOOK_SECRET,
        )
    values.update(overrides)
    return Settings(_env_file=None, **values)
