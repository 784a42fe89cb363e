"""What Telegram itself would refuse: requests off the Bot API spec, and bad HTML markup.

The spec is the machine-readable Bot API description (methods with typed fields),
read from $HELPDESK_TELEGRAM_SPEC or ../shared/specs/ beside the repository (never copied in).
"""

from __future__ import annotations

import html
import json
import os
import re
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

_SPEC_NAME = "telegram-bot-api.json"
_SPEC_CANDIDATES = (Path(__file__).resolve().parents[3] / "shared" / "specs" / _SPEC_NAME,)


def spec_path() -> Path:
    override = os.environ.get("HELPDESK_TELEGRAM_SPEC")
    candidates = (Path(override),) if override else _SPEC_CANDIDATES
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"Telegram Bot API spec not found; looked in {candidates}")


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(spec_path().read_text(encoding="utf-8"))
    # Telegram matches method names case-insensitively.
    spec["_methods_lower"] = {name.lower(): method for name, method in spec["methods"].items()}
    return spec


def find_method(name: str) -> dict[str, Any] | None:
    method: dict[str, Any] | None = load_spec()["_methods_lower"].get(name.lower())
    return method


_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_TYPE_NAME = re.compile(r"^[A-Z]\w*$")
_MAX_DEPTH = 8


class _Mismatch(Exception):
    pass


def _decode_json(value: Any, want: type, depth: int) -> Any:
    """Form bodies carry arrays and objects JSON-encoded; JSON bodies carry them inline."""
    if isinstance(value, str) and depth == 0:
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise _Mismatch(f"can't parse JSON {value[:40]!r}") from exc
    if not isinstance(value, want):
        raise _Mismatch(f"expected {'an array' if want is list else 'an object'}")
    return value


def _coerce(value: Any, type_name: str, depth: int = 0) -> Any:
    """Return `value` as Telegram would read it for `type_name`, or raise _Mismatch."""
    if type_name.startswith("Array of "):
        items = _decode_json(value, list, depth)
        return [_coerce(item, type_name[len("Array of ") :], depth + 1) for item in items]
    if type_name == "String":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _Mismatch("expected a string")
    if type_name == "Integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INT.match(value):
            return int(value)
        raise _Mismatch("expected an integer")
    if type_name in ("Float", "Float number"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT.match(value):
            return float(value)
        raise _Mismatch("expected a number")
    if type_name in ("Boolean", "True"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _Mismatch("expected a boolean")
    if type_name == "InputFile":
        return value
    return _coerce_object(value, type_name, depth)


def _coerce_object(value: Any, type_name: str, depth: int) -> Any:
    spec_type = load_spec()["types"].get(type_name)
    if spec_type is None or not _TYPE_NAME.match(type_name):
        return value  # a type the spec does not describe: nothing to check against
    obj = _decode_json(value, dict, depth)
    if depth > _MAX_DEPTH:
        return obj
    subtypes = spec_type.get("subtypes")
    if subtypes:
        errors = []
        for subtype in subtypes:
            try:
                return _coerce_object(obj, subtype, depth + 1)
            except _Mismatch as exc:
                errors.append(f"{subtype}: {exc}")
        raise _Mismatch(f"matches no {type_name} ({'; '.join(errors[:3])})")
    fields = {f["name"]: f for f in spec_type.get("fields", [])}
    unknown = sorted(set(obj) - set(fields))
    if fields and unknown:
        raise _Mismatch(f"{type_name} has no field(s) {', '.join(unknown)}")
    missing = [name for name, f in fields.items() if f["required"] and name not in obj]
    if missing:
        raise _Mismatch(f"{type_name} lacks required field(s) {', '.join(missing)}")
    return {
        key: _coerce_any(item, fields[key]["types"], depth + 1) if key in fields else item
        for key, item in obj.items()
    }


def _coerce_any(value: Any, type_names: list[str], depth: int = 0) -> Any:
    errors = []
    # "Integer or String" (chat_id): an integer-looking string is an integer.
    for type_name in type_names:
        try:
            return _coerce(value, type_name, depth)
        except _Mismatch as exc:
            errors.append(str(exc))
    raise _Mismatch(" or ".join(errors))


def check_request(method_name: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Normalised params (typed as the spec says) and the list of spec violations."""
    method = find_method(method_name)
    if method is None:
        return dict(params), [f"{method_name}: no such method in the Bot API"]
    fields = {f["name"]: f for f in method.get("fields", [])}
    problems = []
    normalised: dict[str, Any] = {}
    for name, value in params.items():
        field = fields.get(name)
        if field is None:
            problems.append(f"{method['name']}: unknown parameter {name!r}")
            normalised[name] = value
            continue
        try:
            normalised[name] = _coerce_any(value, field["types"])
        except _Mismatch as exc:
            problems.append(f"{method['name']}: parameter {name!r}: {exc}")
            normalised[name] = value
    for name, field in fields.items():
        if field["required"] and name not in params:
            problems.append(f"{method['name']}: missing required parameter {name!r}")
    return normalised, problems


# ---- Telegram's answers ------------------------------------------------------------------

CHAT_ACTIONS = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
ERROR_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


# ---- parse_mode=HTML ---------------------------------------------------------------------


class EntityParseError(ValueError):
    """Telegram's "Bad Request: can't parse entities: ..."."""


_FORMATTING = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "tg-spoiler"}
_ALLOWED_ATTRS = {
    "a": {"href"},
    "code": {"class"},
    "span": {"class"},
    "tg-emoji": {"emoji-id"},
    "blockquote": {"expandable"},
}
_SUPPORTED = _FORMATTING | {"a", "code", "pre", "span", "tg-emoji", "blockquote"}
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#[xX][0-9a-fA-F]+);")


class _TelegramHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text: list[str] = []

    def fail(self, message: str) -> None:
        raise EntityParseError(f"{message} at byte offset {self.getpos()[1]}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SUPPORTED:
            self.fail(f'Unsupported start tag "{tag}"')
        names = {name for name, _ in attrs}
        if names - _ALLOWED_ATTRS.get(tag, set()):
            self.fail(f'Unsupported attribute(s) {sorted(names)} in tag "{tag}"')
        values = dict(attrs)
        if tag == "a" and not values.get("href"):
            self.fail('Tag "a" must have attribute "href"')
        if tag == "span" and values.get("class") != "tg-spoiler":
            self.fail('Tag "span" must have class "tg-spoiler"')
        if tag == "code" and "class" in values:
            if not (values["class"] or "").startswith("language-"):
                self.fail('Tag "code" may only have class "language-..."')
            if not self.stack or self.stack[-1] != "pre":
                self.fail("Programming language can't be specified for standalone code")
        # Telegram's nesting rules for entities.
        if (
            self.stack
            and self.stack[-1] in ("code", "pre")
            and not (self.stack[-1] == "pre" and tag == "code")
        ):
            self.fail(f'Tag "{tag}" can\'t be nested in "{self.stack[-1]}"')
        if tag == "a" and "a" in self.stack:
            self.fail('Tag "a" can\'t be nested in another "a"')
        if tag == "blockquote" and "blockquote" in self.stack:
            self.fail("Blockquotes can't be nested")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.fail(f'Unsupported self-closing tag "{tag}"')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            self.fail(f'Unexpected end tag "{tag}"')
        if self.stack[-1] != tag:
            self.fail(f'Unmatched end tag, expected "</{self.stack[-1]}>", found "</{tag}>"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data:
            self.fail('Unexpected "<" (escape it as &lt;)')
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(html.unescape(f"&#{name};"))

    def handle_comment(self, data: str) -> None:
        self.fail("Comments are not supported")

    def handle_decl(self, decl: str) -> None:
        self.fail("Declarations are not supported")

    def handle_pi(self, data: str) -> None:
        self.fail("Processing instructions are not supported")

    def unknown_decl(self, data: str) -> None:
        self.fail("Declarations are not supported")


def parse_telegram_html(text: str) -> str:
    """The visible text of a parse_mode=HTML message, or EntityParseError."""
    for match in re.finditer("&", text):
        if not _ENTITY.match(text, match.start()):
            raise EntityParseError(
                f'Unsupported HTML entity or unescaped "&" at byte offset {match.start()}'
            )
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.rawdata:  # html.parser keeps an unfinished "<..." here instead of failing
        raise EntityParseError(f"Unclosed start tag {parser.rawdata[:20]!r}")
    if parser.stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
        )
    return "".join(parser.text)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
