"""Settings, read from `HELPDESK_*` environment variables (see the README table)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
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

    # Phone verification (helpdesk.verification): our own codes when no Verify service is set.
    verify_code_ttl_seconds: int = Field(default=600, ge=60)
    verify_max_attempts: int = Field(default=5, ge=1)
    verify_resend_cooldown_seconds: int = Field(default=60, ge=0)
    verify_daily_limit_per_number: int = Field(default=5, ge=1)
    verify_daily_limit_per_user: int = Field(default=5, ge=1)
    # Keys the HMAC of stored codes: without it a stolen database alone can't reveal one.
    verify_secret: SecretStr | None = None
    # Region (ISO 3166, e.g. "GB") for numbers typed without "+country"; empty: "+" needed.
    verify_default_region: str | None = None
    # Articles with this front-matter tag are answered only to verified customers.
    verify_required_tag: str = "requires_verification"

    # Knowledge and answers
    knowledge_path: Path = SAMPLE_KNOWLEDGE_PATH
    embedding_model: str = "all-MiniLM-L6-v2"
    # Calibrated: the brain's confidence is P(answer right), and 0.33 is what
    # `helpdesk eval clinc150 --split val --sweep --no-negatives` recommends for >= 95 %
    # of answered queries correct with out-of-scope messages at 10 % of traffic, for a
    # knowledge base without an out-of-scope article (the usual case, like the sample).
    # With one, val recommends 0.23. See helpdesk/brain/confidence.py for the fit.
    answer_threshold: float = Field(default=0.33, ge=0.0, le=1.0)  # a probability
    retrieval_top_k: int = 4
    company_name: str = "Northwind Goods"
    contact_footer: str = "Need more help? Reply /human to talk to our team."
    escalation_keywords: Annotated[list[str], NoDecode] = [
        "lawyer",
        "refund now",
        "cancel my account",
        "chargeback",
    ]

    # Escalation policy (helpdesk.handoff.policy): each trigger can be switched off.
    escalation_low_confidence_enabled: bool = True
    escalation_keywords_enabled: bool = True
    # More keywords per language, as JSON: {"de": ["anwalt", "sofort erstatten"]}.
    # Every list is checked on every message: a chat's UI language is no guide to
    # the language a customer writes in.
    escalation_keywords_by_language: dict[str, list[str]] = {}
    escalation_explicit_request_enabled: bool = True
    # Extra "I want a person" phrases (any language), on top of the built-in English ones.
    escalation_human_phrases: Annotated[list[str], NoDecode] = []
    escalation_repetition_enabled: bool = True
    # Cosine of all-MiniLM-L6-v2 vectors: paraphrases score ~0.60-0.97, different
    # support questions mostly below 0.58 (see helpdesk.handoff.policy).
    escalation_repeat_similarity: float = Field(default=0.58, gt=0.0, le=1.0)
    # Earlier near-duplicates of the current message, within the window, that escalate.
    escalation_repeat_count: int = Field(default=2, ge=1)
    escalation_repeat_window_seconds: int = Field(default=600, ge=1)
    # Consecutive low-confidence answers (the current one included); 0 switches it off.
    escalation_low_confidence_streak: int = Field(default=2, ge=0)
    escalation_sentiment_enabled: bool = True
    escalation_llm_failure_enabled: bool = True
    escalation_llm_request_enabled: bool = True

    # Human handoff: alerts and the customer's "a person will reply" message
    handoff_sla_seconds: int = Field(default=300, ge=1)
    # Preferred alert channels in order; a failed channel falls back to the next one.
    handoff_alert_channels: Annotated[list[str], NoDecode] = ["sms", "email"]
    # Agents alerted one after the other (each after an SLA) before the admins are.
    handoff_agents_before_admin: int = Field(default=2, ge=0)
    # Opening hours, e.g. "mon-fri 09:00-17:30, sat 10:00-14:00"; empty: not announced.
    handoff_hours: str = ""
    handoff_timezone: str = "UTC"
    # Wait estimate before enough conversations have been handled to take a median.
    handoff_default_handling_seconds: int = Field(default=600, ge=1)

    # Console and API logins (in-process counts, see helpdesk/api/throttle.py): failed
    # attempts allowed per email and per client IP within the window, then 429. The IP
    # limit is higher: a team behind one office NAT shares an address.
    login_max_failures_per_email: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=20, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    # An agent's last_seen_at is written at most this often (not once per request).
    agent_seen_interval_seconds: float = Field(default=60.0, ge=0)

    # Analytics (helpdesk.analytics): outcomes, surveys, retention
    # A bot conversation with no follow-up for this long counts as resolved by the bot.
    analytics_resolution_window_seconds: int = Field(default=3600, ge=1)
    # A conversation left with the team (or unanswered) this long counts as abandoned.
    analytics_abandon_window_seconds: int = Field(default=86400, ge=1)
    analytics_closer_interval_seconds: float = Field(default=60.0, gt=0)
    # The 1-5 survey and the 👍/👎 buttons (never to customers who opted out).
    analytics_surveys_enabled: bool = True
    analytics_answer_feedback_enabled: bool = True
    # No survey for conversations that ended longer ago (e.g. a backlog after an upgrade).
    analytics_survey_max_age_seconds: int = Field(default=172800, ge=1)
    analytics_rating_change_window_seconds: int = Field(default=86400, ge=0)
    # The next text message within this window after a rating is its comment.
    analytics_comment_window_seconds: int = Field(default=600, ge=0)
    # Conversations, messages, raw updates and ratings older than this are purged daily.
    retention_days: int = Field(default=365, ge=1)
    retention_purge_interval_hours: float = Field(default=24.0, ge=0)
    # Knowledge-gap drafts saved from the console (/console/gaps), one Markdown file each.
    kb_drafts_path: Path = Path("var/kb_drafts")
    # Monday-morning report of the last 7 days, emailed to every admin through SendGrid.
    weekly_report: bool = False
    weekly_report_hour: int = Field(default=8, ge=0, le=23)  # in handoff_timezone

    # Customer updates (campaigns, helpdesk.campaigns)
    # SMS per second from our one sending number: a US long code is allowed 1, a
    # toll-free number 3, a short code 100 (Twilio queues, then drops, what is faster).
    campaign_sms_rate: float = Field(default=1.0, gt=0)
    campaign_sms_max_attempts: int = Field(default=8, ge=1)
    # Campaign messages in the Telegram outbox at once (and never more than two seconds'
    # worth at the bot-wide limit): replies to customers never queue behind a whole
    # campaign, and an opt-out catches every message not yet handed to Telegram.
    campaign_outbox_window: int = Field(default=60, ge=1)
    # "topic" segment: customers whose questions the article answered in this many days.
    campaign_topic_days: int = Field(default=30, ge=1)

    @field_validator(
        "escalation_keywords", "escalation_human_phrases", "handoff_alert_channels", mode="before"
    )
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
