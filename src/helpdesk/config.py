"""Settings, read from `HELPDESK_*` environment variables (see the README table)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SAMPLE_KNOWLEDGE_PATH = Path(__file__).parent / "sample_kb"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HELPDESK_", env_file=".env", extra="ignore")

    # Storage and serving
    database_url: str = "sqlite+aiosqlite:///var/helpdesk.db"
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_format: str = Field(default="console", pattern="^(console|json)$")

    # Telegram
    telegram_bot_token: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_rate_limit: float = 30.0
    telegram_chat_rate_limit: float = 1.0
    telegram_poll_timeout: int = 25

    # LLM (any OpenAI-compatible chat-completions server)
    llm_base_url: str | None = None
    llm_model: str = "llama3.1:8b"
    llm_api_key: str = "not-needed"
    llm_timeout: float = 30.0
    llm_max_retries: int = 1
    # json_schema (Ollama >= 0.5, vLLM), json_object, or text (e.g. llama.cpp server).
    llm_structured_output: str = Field(
        default="json_schema", pattern="^(json_schema|json_object|text)$"
    )
    llm_history_turns: int = 6

    # Notifications: SMS and one-time codes through Twilio, email through SendGrid
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    twilio_verify_service_sid: str | None = None
    twilio_verify_api_base: str = "https://verify.twilio.com"
    sendgrid_api_key: str | None = None
    sendgrid_from: str | None = None
    sendgrid_api_base: str = "https://api.sendgrid.com"
    # Where Twilio reaches us: status callbacks are signed over this exact URL.
    public_url: str = "http://127.0.0.1:8000"

    # Knowledge and answers
    knowledge_path: Path = SAMPLE_KNOWLEDGE_PATH
    embedding_model: str = "all-MiniLM-L6-v2"
    answer_threshold: float = 0.5
    retrieval_top_k: int = 4
    company_name: str = "Northwind Goods"
    contact_footer: str = "Need more help? Reply /human to talk to our team."
    escalation_keywords: Annotated[list[str], NoDecode] = [
        "lawyer",
        "refund now",
        "cancel my account",
        "chargeback",
    ]

    @field_validator("escalation_keywords", mode="before")
    @classmethod
    def _split_keywords(cls, value: object) -> object:
        # Let operators write HELPDESK_ESCALATION_KEYWORDS=lawyer,refund now
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @cached_property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def webhook_mode(self) -> bool:
        return bool(self.telegram_webhook_url)
