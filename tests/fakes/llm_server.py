"""A fake OpenAI-compatible chat-completions server on loopback, for the brain and e2e tests.

openai 3.x talks through httpx2, which respx cannot intercept, so the fake is a real
HTTP server in the test's event loop. It behaves like the servers we meet in the
field: Ollama/vLLM (structured JSON), llama.cpp (HTTP 500 on json_schema), a model that
answers in prose, one that writes broken JSON, one that is down or hangs.

`assert_valid_chat_request(body)` checks a received body against OpenAI's own
OpenAPI description (CreateChatCompletionRequest).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.http_fake import HttpFake

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "specs"
SPEC_FILE = SPEC_DIR / "openai-openapi.yaml"

MODES = ("json", "text", "error", "hang", "bad_json")


class FakeLLM(HttpFake):
    """POST /v1/chat/completions (and GET /v1/models), behaviour set by attributes."""

    shutdown_timeout = 1.0
    url_path = "/v1"  # OpenAI clients take the API root, version included

    def __init__(self, *, model: str = "llama3.1:8b") -> None:
        super().__init__()
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.delay: float = 0.0
        # Per-request delays, first in first out, before `delay`: lets a test make an
        # earlier question slower than a later one.
        self.delays: list[float] = []
        # Builds the answer from the customer's last message, before `scripted`.
        self.answer_for: Callable[[str], str] | None = None
        self.mode: str = "json"
        self.answer_text: str | None = None
        # Answers used one per request, first in first out, before `answer_text`.
        self.scripted: list[str] = []
        self.confidence: float = 0.9
        self.needs_human: bool = False
        self.reason: str = ""
        self.reject_response_format: bool = False
        # In "bad_json" mode: how many broken replies before good ones (None: always broken).
        self.bad_json_replies: int | None = None
        self._bad_sent = 0
        self._stopping = asyncio.Event()

    # Lifecycle -----------------------------------------------------------------

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/chat/completions", self._chat)
        router.add_get("/v1/models", self._models)

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        await super().start()

    async def stop(self) -> None:
        self._stopping.set()  # releases "hang" handlers so shutdown is quick
        await super().stop()

    # Handlers ------------------------------------------------------------------

    async def _models(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "fake"}]}
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "invalid JSON body", "invalid_request_error")
        self._record(self.requests, body)
        delay = self.delays.pop(0) if self.delays else self.delay
        if delay:
            await asyncio.sleep(delay)
        if self.mode == "hang":
            await self._stopping.wait()
            return _error(503, "server shutting down", "server_error")
        if self.mode == "error":
            return _error(500, "model crashed: CUDA out of memory", "server_error")
        fmt = body.get("response_format") or {}
        if self.reject_response_format and fmt.get("type") == "json_schema":
            # What llama-cpp-python's server does with a json_schema response_format.
            return _error(
                500, "response_format type 'json_schema' is not supported", "server_error"
            )
        if body.get("stream"):
            return _error(400, "streaming is not supported by this fake", "invalid_request_error")
        return web.json_response(self._completion(body, self._content(body)))

    def _content(self, body: dict[str, Any]) -> str:
        messages = body.get("messages") or []
        answer = self._answer_text(messages)
        fmt = (body.get("response_format") or {}).get("type")
        system = " ".join(str(m.get("content")) for m in messages if m.get("role") == "system")
        wants_json = fmt in ("json_schema", "json_object") or "JSON" in system
        if self.mode == "text" or not wants_json:
            return answer
        reply = {
            "answer": answer,
            "confidence": self.confidence,
            "needs_human": self.needs_human,
            "reason": self.reason,
        }
        if self.mode == "bad_json" and (
            self.bad_json_replies is None or self._bad_sent < self.bad_json_replies
        ):
            self._bad_sent += 1
            # Truncated mid-object, as when a model hits its token limit.
            return json.dumps(reply)[:-25]
        return json.dumps(reply)

    def _answer_text(self, messages: list[dict[str, Any]]) -> str:
        if self.answer_for is not None:
            users = [m for m in messages if m.get("role") == "user"]
            return self.answer_for(str(users[-1].get("content", "")) if users else "")
        if self.scripted:
            return self.scripted.pop(0)
        if self.answer_text is not None:
            return self.answer_text
        prompt = "\n".join(str(m.get("content")) for m in messages)
        title, sentence = first_article(prompt)
        if title is None:
            return "I'm not sure about that. A person from our team will follow up."
        return f"According to {title}: {sentence}"

    def _completion(self, body: dict[str, Any], content: str) -> dict[str, Any]:
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        completion_tokens = max(1, int(len(content.split()) * 1.3))
        prompt_tokens = max(1, int(prompt_words * 1.3))
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": None}}, status=status
    )


_ARTICLE = re.compile(
    r"^\[1\] (?P<title>[^\n]+)\n(?:URL: [^\n]*\n)?(?P<text>.*?)(?=\n\[2\] |\Z)",
    re.MULTILINE | re.DOTALL,
)


def first_article(prompt: str) -> tuple[str | None, str]:
    """Title and first sentence of the first article ("[1] Title") in a prompt."""
    match = _ARTICLE.search(prompt)
    if match is None:
        return None, ""
    lines = [ln.strip() for ln in match.group("text").splitlines()]
    text = " ".join(ln for ln in lines if ln and not ln.startswith("#"))
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return match.group("title").strip(), sentence.strip()


# The OpenAI spec --------------------------------------------------------------


@lru_cache(maxsize=1)
def _chat_request_validator() -> Any:
    import yaml
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(SPEC_FILE.read_text(encoding="utf-8"), Loader=loader)
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; $refs point into this document.
    registry = Registry().with_resource(
        "urn:openai-openapi", Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    schema = {"$ref": "urn:openai-openapi#/components/schemas/CreateChatCompletionRequest"}
    return Draft202012Validator(schema, registry=registry)


def assert_valid_chat_request(body: dict[str, Any]) -> None:
    """Fail if `body` is not a valid OpenAI CreateChatCompletionRequest; skip without spec."""
    if not SPEC_FILE.is_file():
        import pytest

        pytest.skip(f"OpenAI OpenAPI spec not found at {SPEC_FILE}")
    validator = _chat_request_validator()
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        details = "\n".join(
            f"- {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in errors[:10]
        )
        raise AssertionError(f"request body is off the OpenAI spec:\n{details}")
