"""Intake: store an update before it is acknowledged, then queue it for its chat."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from helpdesk.conversation.queue import ChatQueue
from helpdesk.domain import IncomingMessage
from helpdesk.store import updates as update_store
from helpdesk.store.db import Connections

log = structlog.get_logger(__name__)


class StorageUnavailable(RuntimeError):
    """The update could not be stored; it was not acknowledged and must come again."""


class Intake:
    def __init__(
        self,
        connect: Connections,
        queue: ChatQueue,
        *,
        channel: str,
        parse: Callable[[dict[str, Any]], IncomingMessage],
        remember: Callable[[int, IncomingMessage], None] | None = None,
    ) -> None:
        self._connect = connect  # autocommit: each unit here is one statement
        self._queue = queue
        self._channel = channel
        self._parse = parse
        self._remember = remember

    async def accept(self, payload: Any) -> bool:
        """Record and queue one update. False for a duplicate, which is not processed again.

        A payload that cannot be parsed is still kept (status `invalid`) before the
        parse error is re-raised for the caller to report. StorageUnavailable means
        nothing was kept: the sender must deliver the update again.
        """
        try:
            incoming = self._parse(payload)
        except ValueError as error:
            async with self._storing(), self._connect() as connection:
                await update_store.record_invalid_update(
                    connection, self._channel, payload, str(error)
                )
            log.warning("update.invalid", channel=self._channel, error=str(error))
            raise
        async with self._storing(), self._connect() as connection:
            row_id = await update_store.record_update(connection, incoming, payload)
        if row_id is None:
            log.info("update.duplicate", channel=self._channel, update_id=incoming.update_id)
            return False
        if self._remember is not None:
            self._remember(row_id, incoming)
        self._queue.submit(incoming.chat_id, row_id)
        return True

    @contextlib.asynccontextmanager
    async def _storing(self) -> AsyncIterator[None]:
        try:
            yield
        except (SQLAlchemyError, OSError) as error:
            # The database is down or saturated (a restart, an exhausted pool).
            log.warning("update.not_stored", channel=self._channel, error=repr(error))
            raise StorageUnavailable(str(error)) from error

    async def accept_polled(self, payload: dict[str, Any]) -> None:
        """Polling variant: an unparseable update is kept and skipped, not retried forever."""
        with contextlib.suppress(ValueError):
            await self.accept(payload)

    async def resume_pending(self) -> int:
        """Queue updates stored before a restart but never processed."""
        async with self._connect() as connection:
            pending = await update_store.pending_updates(connection, self._channel)
        for row_id, chat_id in pending:
            self._queue.submit(chat_id or 0, row_id)
        if pending:
            log.info("update.resumed", count=len(pending))
        return len(pending)
