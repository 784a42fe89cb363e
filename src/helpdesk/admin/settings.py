"""Settings an admin may change while the service runs, validated, stored and audited.

The environment (`HELPDESK_*`, see helpdesk.config) stays the default: an override in
the `setting_overrides` table wins over it until an admin removes it. Overrides are
validated with the Settings model's own types and limits, then set on the one Settings
instance that every component holds, so the next message, alert or reply uses them.
Components that derive something from a setting at construction register `on_change`.

Only this process applies a change at once; other processes (a second `serve`) pick
it up when they restart. Secrets, URLs, ports and storage are never editable.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from pydantic import SecretStr, ValidationError
from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.config import Settings
from helpdesk.handoff.queue_position import parse_opening_hours
from helpdesk.store import settings as store

log = structlog.get_logger(__name__)

ESCALATION, ANSWERS, HANDOFF, BRANDING = "Escalation", "Answers", "Handoff", "Branding"

# key -> (topic, help): the whitelist, in the order the console shows it.
EDITABLE: dict[str, tuple[str, str]] = {
    "escalation_keywords": (ESCALATION, "Words that hand a conversation to a person."),
    "escalation_keywords_by_language": (
        ESCALATION,
        'More keywords per language, as JSON: {"de": ["anwalt"]}.',
    ),
    "escalation_human_phrases": (ESCALATION, 'Extra "I want a person" phrases.'),
    "escalation_keywords_enabled": (ESCALATION, "Escalate on keywords."),
    "escalation_explicit_request_enabled": (ESCALATION, "Escalate when asked for a person."),
    "escalation_low_confidence_enabled": (ESCALATION, "Escalate on a low-confidence answer."),
    "escalation_repetition_enabled": (ESCALATION, "Escalate on a repeated question."),
    "escalation_sentiment_enabled": (ESCALATION, "Escalate an upset or abusive customer."),
    "escalation_llm_failure_enabled": (ESCALATION, "Escalate when the AI is unavailable."),
    "escalation_llm_request_enabled": (ESCALATION, "Escalate when the AI asks for help."),
    "escalation_repeat_count": (ESCALATION, "Earlier near-duplicates that escalate."),
    "escalation_repeat_window_seconds": (ESCALATION, "How far back repeats count."),
    "escalation_repeat_similarity": (ESCALATION, "Similarity (0-1] that makes a repeat."),
    "escalation_low_confidence_streak": (
        ESCALATION,
        "Low-confidence answers in a row that escalate; 0: off.",
    ),
    "answer_threshold": (ANSWERS, "Confidence below which the bot does not answer."),
    "handoff_sla_seconds": (HANDOFF, "Wait before the next person is alerted."),
    "handoff_alert_channels": (HANDOFF, "Alert channels in order of preference (sms, email)."),
    "handoff_agents_before_admin": (HANDOFF, "Agents alerted one by one before the admins."),
    "handoff_hours": (HANDOFF, 'Opening hours, e.g. "mon-fri 09:00-17:30"; empty: none.'),
    "handoff_timezone": (HANDOFF, "Time zone of the opening hours, e.g. Europe/Berlin."),
    "handoff_default_handling_seconds": (
        HANDOFF,
        "Wait estimate before there is enough history.",
    ),
    "company_name": (BRANDING, "The name the bot speaks for."),
    "contact_footer": (BRANDING, "Line added under every answer; empty: none."),
}
TOPICS = (ESCALATION, ANSWERS, HANDOFF, BRANDING)
ALERT_CHANNELS = frozenset({"sms", "email"})
_SECRET_NAME = re.compile(r"token|secret|api_key|password|_sid$")
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
MASK = "********"


class InvalidSetting(ValueError):
    """A change refused; `problems` maps each key to why."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{key}: {why}" for key, why in self.problems.items()))


@dataclass(frozen=True, slots=True)
class SettingView:
    key: str
    topic: str
    help: str
    kind: str  # bool | int | float | text | list | json: how a form edits it
    value: Any  # JSON-ready; secrets masked
    default: Any  # the environment's value
    overridden: bool
    editable: bool


@dataclass(frozen=True, slots=True)
class ChangeView:
    key: str
    old_value: Any
    new_value: Any
    reset: bool
    changed_by: int | None
    changed_at: datetime


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "json"
    return "text"


def _jsonable(value: object) -> Any:
    return to_jsonable_python(value)


def _shown(key: str, value: object) -> Any:
    """A read-only setting as an admin may see it: no secret, no password in a URL."""
    if value is None:
        return None
    if isinstance(value, SecretStr) or _SECRET_NAME.search(key):
        return MASK
    shown = _jsonable(value)
    return _URL_PASSWORD.sub(rf"\g<1>{MASK}@", shown) if isinstance(shown, str) else shown


def parse_form_value(kind: str, raw: str | None) -> Any:
    """A console form field as the value to validate (pydantic coerces numbers)."""
    if kind == "bool":
        return raw is not None and raw.lower() in {"on", "true", "1", "yes"}
    raw = raw or ""
    if kind == "list":
        return [line.strip() for line in re.split(r"[\n,]", raw) if line.strip()]
    if kind == "json":
        try:
            return json.loads(raw or "{}")
        except json.JSONDecodeError as error:
            raise ValueError(f"not valid JSON: {error.msg}") from error
    return raw.strip() if kind in {"int", "float"} else raw


def _extra_checks(values: Mapping[str, Any]) -> dict[str, str]:
    """What the types alone allow but the service would misread (checked before storing:
    at run time these would fall back silently)."""
    problems: dict[str, str] = {}
    if "handoff_timezone" in values:
        try:
            ZoneInfo(values["handoff_timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            problems["handoff_timezone"] = f"unknown time zone {values['handoff_timezone']!r}"
    if "handoff_hours" in values:
        try:
            parse_opening_hours(values["handoff_hours"])
        except ValueError as error:
            problems["handoff_hours"] = str(error)
    if "handoff_alert_channels" in values:
        channels = [c.strip().lower() for c in values["handoff_alert_channels"]]
        unknown = [c for c in channels if c not in ALERT_CHANNELS]
        if unknown or not channels:
            problems["handoff_alert_channels"] = "expected one or more of: sms, email"
    for key in ("escalation_keywords", "escalation_human_phrases"):
        if key in values and any(not str(k).strip() for k in values[key]):
            problems[key] = "empty keyword"
    return problems


class SettingsAdmin:
    """The whitelist applied to one running service's Settings."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self._sessions = sessions
        # The environment's values, before any override is set on the shared instance.
        self.defaults = {key: copy.deepcopy(getattr(settings, key)) for key in EDITABLE}
        self.overrides: dict[str, Any] = {}
        self._listeners: list[Callable[[Settings], None]] = []
        self._lock = asyncio.Lock()

    def on_change(self, listener: Callable[[Settings], None]) -> None:
        """Call `listener(settings)` after every change (not for the start-up load)."""
        self._listeners.append(listener)

    async def load(self) -> None:
        """Apply the stored overrides; one that no longer validates is skipped, logged."""
        async with self._sessions() as session:
            stored = await store.load_overrides(session)
        for key, value in stored.items():
            try:
                self._apply(self.validate({key: value}))
            except InvalidSetting as error:
                log.warning("settings.override_skipped", key=key, error=str(error))
                continue
            self.overrides[key] = value
        if self.overrides:
            log.info("settings.overrides_applied", keys=sorted(self.overrides))

    def validate(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """The changes as typed values, or InvalidSetting saying what is wrong with each."""
        if not changes:
            raise InvalidSetting({"body": "send at least one setting"})
        problems: dict[str, str] = {}
        for key in changes:
            if key not in Settings.model_fields:
                problems[key] = "no such setting"
            elif key not in EDITABLE:
                problems[key] = (
                    f"cannot be changed at run time: set HELPDESK_{key.upper()} and restart"
                )
        if problems:
            raise InvalidSetting(problems)
        current = {key: getattr(self.settings, key) for key in EDITABLE}
        try:
            checked = Settings.model_validate({**current, **changes})
        except ValidationError as error:
            for e in error.errors(include_url=False):
                key = str(e["loc"][0]) if e["loc"] else "body"
                problems.setdefault(key, e["msg"].removeprefix("Value error, "))
            raise InvalidSetting(problems) from error
        values = {key: getattr(checked, key) for key in changes}
        problems = _extra_checks(values)
        if problems:
            raise InvalidSetting(problems)
        return values

    async def update(self, changes: Mapping[str, Any], *, agent_id: int | None) -> dict[str, Any]:
        """Validate, store (audited) and apply; returns the new values, JSON-ready."""
        async with self._lock:
            values = self.validate(changes)
            new = {key: _jsonable(value) for key, value in values.items()}
            old = {key: _jsonable(getattr(self.settings, key)) for key in values}
            async with self._sessions.begin() as session:
                await store.save_overrides(session, new, old, agent_id=agent_id)
            self._apply(values)
            self.overrides.update(new)
            log.info("settings.changed", keys=sorted(new), agent_id=agent_id)
            self._notify()
            return new

    async def reset(self, key: str, *, agent_id: int | None) -> bool:
        """Back to the environment's value; False if `key` was not overridden."""
        if key not in EDITABLE:
            self.validate({key: None})  # raises with the reason
        async with self._lock:
            old = _jsonable(getattr(self.settings, key))
            default = copy.deepcopy(self.defaults[key])
            async with self._sessions.begin() as session:
                removed = await store.delete_override(
                    session, key, old, _jsonable(default), agent_id=agent_id
                )
            if not removed:
                return False
            self._apply({key: default})
            self.overrides.pop(key, None)
            log.info("settings.reset", key=key, agent_id=agent_id)
            self._notify()
            return True

    def view(self) -> list[SettingView]:
        """Every setting: the editable ones first (by topic), then the rest read-only."""
        views = [
            SettingView(
                key=key,
                topic=topic,
                help=help,
                kind=_kind(self.defaults[key]),
                value=_jsonable(getattr(self.settings, key)),
                default=_jsonable(self.defaults[key]),
                overridden=key in self.overrides,
                editable=True,
            )
            for topic_wanted in TOPICS
            for key, (topic, help) in EDITABLE.items()
            if topic == topic_wanted
        ]
        for key in Settings.model_fields:
            if key in EDITABLE:
                continue
            shown = _shown(key, getattr(self.settings, key))
            views.append(
                SettingView(key, "Environment", "", _kind(shown), shown, shown, False, False)
            )
        return views

    async def recent_changes(self, limit: int = 50) -> list[ChangeView]:
        async with self._sessions() as session:
            rows: Sequence[Any] = await store.recent_changes(session, limit)
            return [
                ChangeView(r.key, r.old_value, r.new_value, r.reset, r.changed_by, r.changed_at)
                for r in rows
            ]

    def _apply(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            setattr(self.settings, key, value)

    def _notify(self) -> None:
        for listener in self._listeners:
            try:
                listener(self.settings)
            except Exception:  # one component's trouble must not undo a stored change
                log.exception("settings.listener_failed", listener=repr(listener))
