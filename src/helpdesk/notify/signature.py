"""Is a webhook really from Twilio? (X-Twilio-Signature on status callbacks.)

Twilio signs the exact URL it called plus the sorted form parameters with the
account's auth token. Behind a proxy or TLS terminator the URL our server sees is
not that URL: pass the public one (settings.public_url + path and query), or every
signature fails.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator


def twilio_signature_valid(
    url: str, params: Mapping[str, str], signature: str | None, auth_token: str
) -> bool:
    """True when `signature` is Twilio's signature of `url` and the form `params`."""
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))


def public_request_url(public_url: str, path_qs: str) -> str:
    """The URL Twilio called: our public base plus the path (and query) we received."""
    return public_url.rstrip("/") + "/" + path_qs.lstrip("/")
