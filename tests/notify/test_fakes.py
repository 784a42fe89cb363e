"""The fakes catch what the real services would refuse (else a green test proves little)."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from tests.fakes.openapi_check import check_request
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio

FORM = "application/x-www-form-urlencoded"


def test_openapi_check_reports_what_is_off_the_spec() -> None:
    good_sid = "AC" + "a" * 32
    path = f"/2010-04-01/Accounts/{good_sid}/Messages.json"
    form = {"To": ["+15551234567"], "From": ["+15005550006"], "Body": ["hi"]}
    assert check_request("twilio_api_v2010.json", "POST", path, form=form, content_type=FORM) == []

    problems = check_request(
        "twilio_api_v2010.json",
        "POST",
        "/2010-04-01/Accounts/ACnope/Messages.json",
        form={"Body": ["hi"], "Colour": ["red"], "ValidityPeriod": ["soon"]},
        content_type=FORM,
    )
    text = "\n".join(problems)
    assert "path AccountSid" in text
    assert "required form field To missing" in text
    assert "unknown form field Colour" in text
    assert "form ValidityPeriod" in text
    assert check_request("twilio_api_v2010.json", "DELETE", path)  # no such operation
    assert check_request("twilio_api_v2010.json", "POST", "/2010-04-01/Nope.json")

    mail = {
        "from": {"email": "a@b.example"},
        "personalizations": [{"to": [{"email": "c@d.example"}]}],
        "subject": "s",
        "content": [{"type": "text/plain", "value": "x"}],
    }
    ok = check_request(
        "sendgrid_mail_v3.json",
        "POST",
        "/v3/mail/send",
        json_body=mail,
        content_type="application/json",
    )
    assert ok == []
    bad = check_request(
        "sendgrid_mail_v3.json",
        "POST",
        "/v3/mail/send",
        json_body={**mail, "from": {"name": "no address"}},
        content_type="application/json",
    )
    assert any("'email' is a required property" in p for p in bad)


async def test_fake_twilio_checks_auth_and_spec() -> None:
    async with FakeTwilio() as fake, aiohttp.ClientSession() as session:
        url = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
        form = {"To": "+15551234567", "From": "+15005550006", "Body": "hi"}
        async with session.post(url, data=form) as response:
            assert response.status == 401
            assert (await response.json())["code"] == 20003
        assert fake.messages == []

        token = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        async with session.post(url, data={**form, "Colour": "red"}, headers=headers) as response:
            assert response.status == 400
        assert any("unknown form field Colour" in v for v in fake.spec_violations)

        async with session.post(url, data=form, headers=headers) as response:
            assert response.status == 201
            message = await response.json()
        assert message["sid"].startswith("SM") and message["status"] == "queued"
        async with session.get(f"{url[:-5]}/{message['sid']}.json", headers=headers) as response:
            assert (await response.json())["sid"] == message["sid"]


async def test_fake_sendgrid_checks_auth_and_rules() -> None:
    async with FakeSendGrid() as fake, aiohttp.ClientSession() as session:
        url = f"{fake.base_url}/v3/mail/send"
        mail: dict[str, Any] = {
            "from": {"email": "a@b.example"},
            "personalizations": [{"to": [{"email": "c@d.example"}]}],
            "subject": "s",
            "content": [
                {"type": "text/html", "value": "<p>x</p>"},
                {"type": "text/plain", "value": "x"},
            ],
        }
        async with session.post(url, json=mail) as response:
            assert response.status == 401
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        async with session.post(url, json=mail, headers=headers) as response:
            assert response.status == 400
        assert any("text/plain content type must be first" in v for v in fake.spec_violations)

        mail["content"].reverse()
        async with session.post(url, json=mail, headers=headers) as response:
            assert response.status == 202
            assert response.headers["X-Message-Id"] == fake.message_ids[0]
            assert await response.read() == b""
