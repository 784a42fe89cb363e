"""Admins' setting overrides and their audit trail (tables of migration 0006)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.store.models import SettingChange, SettingOverride
from helpdesk.store.types import utcnow


async def load_overrides(session: AsyncSession) -> dict[str, Any]:
    rows = (await session.execute(select(SettingOverride.key, SettingOverride.value))).all()
    return {key: value for key, value in rows}


async def save_overrides(
    session: AsyncSession,
    values: Mapping[str, Any],
    old: Mapping[str, Any],
    *,
    agent_id: int | None,
) -> None:
    """Store `values` (JSON-ready) and one audit row each, `old` being the values before."""
    now = utcnow()
    for key, value in values.items():
        row = await session.get(SettingOverride, key)
        if row is None:
            session.add(SettingOverride(key=key, value=value, updated_by=agent_id, updated_at=now))
        else:
            row.value, row.updated_by, row.updated_at = value, agent_id, now
        session.add(
            SettingChange(
                key=key,
                old_value=old.get(key),
                new_value=value,
                reset=False,
                changed_by=agent_id,
                changed_at=now,
            )
        )


async def delete_override(
    session: AsyncSession, key: str, old: Any, new: Any, *, agent_id: int | None
) -> bool:
    """Drop the override of `key` (audited); False if there was none."""
    result = await session.execute(delete(SettingOverride).where(SettingOverride.key == key))
    if not getattr(result, "rowcount", 0):
        return False
    session.add(
        SettingChange(
            key=key,
            old_value=old,
            new_value=new,
            reset=True,
            changed_by=agent_id,
            changed_at=utcnow(),
        )
    )
    return True


async def recent_changes(session: AsyncSession, limit: int = 50) -> Sequence[SettingChange]:
    query = select(SettingChange).order_by(SettingChange.id.desc()).limit(limit)
    return (await session.scalars(query)).all()
