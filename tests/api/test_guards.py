"""What the API refuses, and how: 401, 403, 404, 409, 422, each with a clear message."""

from __future__ import annotations

import asyncio
from pathlib import Path

from helpdesk.store.migrate import upgrade_async
from tests.api.conftest import PASSWORD, Api, StartService, add_agent, conversation_of, say, team
from tests.e2e.service import RunningService, service_settings
from tests.fakes.telegram_server import FakeTelegram


async def test_of_two_agents_claiming_at_once_exactly_one_wins(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    crew = await team(service)
    await say(service, telegram, 1, 801, "/human")
    conversation = f"/conversations/{(await conversation_of(crew.alice, 801))['id']}"

    alice, bob = await asyncio.gather(
        crew.alice.post(f"{conversation}/assign"), crew.bob.post(f"{conversation}/assign")
    )
    assert sorted([alice.status_code, bob.status_code]) == [200, 409], (alice.text, bob.text)
    winner, loser = (crew.alice, crew.bob) if alice.status_code == 200 else (crew.bob, crew.alice)
    refusal = (alice if loser is crew.alice else bob).json()["detail"]
    assert refusal == f"cannot claim: the conversation is human by agent {winner.agent_id}"
    # Claiming again is harmless for the owner; the other can neither reply nor close it.
    assert (await winner.post(f"{conversation}/assign")).status_code == 200
    for action, body in (("messages", {"text": "Hello!"}), ("release", None), ("resolve", None)):
        response = await loser.post(f"{conversation}/{action}", body)
        assert response.status_code == 409, (action, response.text)
        assert f"agent {winner.agent_id}" in response.json()["detail"]
    # An admin may hand a conversation to someone, but not take it from its owner.
    other = crew.alice if winner is crew.bob else crew.bob
    taken = await crew.admin.post(f"{conversation}/assign", {"agent_id": other.agent_id})
    assert taken.status_code == 409
    handing = await loser.post(f"{conversation}/assign", {"agent_id": crew.admin.agent_id})
    assert handing.status_code == 403


async def test_requests_without_a_valid_token_get_401(start_service: StartService) -> None:
    service = await start_service()
    await add_agent(service, "carol@example.com")
    anonymous = Api(service)
    forged = Api(service, "not-a-token")
    for api, message in ((anonymous, "not authenticated"), (forged, "invalid or expired token")):
        for method, path in (
            ("GET", "/me"),
            ("GET", "/conversations"),
            ("GET", "/conversations/1"),
            ("POST", "/conversations/1/assign"),
            ("POST", "/conversations/1/messages"),
            ("GET", "/events"),
            ("GET", "/agents"),
        ):
            response = await service.http.request(method, api.url(path), headers=api.headers)
            assert response.status_code == 401, (method, path, response.text)
            assert message in response.json()["detail"]
            assert response.headers["www-authenticate"] == "Bearer"

    # Wrong password and unknown email: the same answer, so emails cannot be probed.
    url = anonymous.url("/auth/token")
    wrong = await service.http.post(url, json={"email": "carol@example.com", "password": "nope"})
    unknown = await service.http.post(url, json={"email": "who@example.com", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong email or password"}

    carol = await anonymous.login("Carol@Example.com ")
    assert (await carol.get("/me")).json()["email"] == "carol@example.com"
    # OAuth2 password-flow clients (Swagger UI's "Authorize") post a form.
    form = await service.http.post(
        url, data={"grant_type": "password", "username": "carol@example.com", "password": PASSWORD}
    )
    assert form.status_code == 200, form.text
    token = form.json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 7 * 24 * 3600
    logout = await service.http.delete(url, headers={"Authorization": f"Bearer {carol.token}"})
    assert logout.status_code == 204
    assert (await carol.get("/me")).status_code == 401
    assert (await Api(service, token["access_token"]).get("/me")).status_code == 200


async def test_unknown_ids_get_404_and_bad_bodies_422_with_a_message(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    crew = await team(service)
    for action in ("assign", "release", "resolve"):
        response = await crew.alice.post(f"/conversations/999/{action}")
        assert response.status_code == 404
        assert response.json() == {"detail": "no conversation 999"}
    assert (await crew.alice.get("/conversations/999")).status_code == 404
    for action in ("messages", "notes"):
        response = await crew.alice.post(f"/conversations/999/{action}", {"text": "hi"})
        assert response.status_code == 404

    await say(service, telegram, 1, 802, "/human")
    conversation = f"/conversations/{(await conversation_of(crew.alice, 802))['id']}"
    cases = [
        (f"{conversation}/messages", {"text": "   "}, "text: String should have at least 1"),
        (f"{conversation}/messages", {}, "text: Field required"),
        (f"{conversation}/notes", None, "body: Field required"),
        (f"{conversation}/messages", {"text": "x" * 16001}, "text: String should have at most"),
        ("/me/availability", {"available": "maybe"}, "available: Input should be a valid bool"),
        ("/auth/token", {"email": "a@example.com"}, "password: Field required"),
        (f"{conversation}/assign", {"agent_id": 12345}, "agent_id: no such active agent"),
    ]
    for path, body, message in cases:
        response = await crew.admin.post(path, body)
        assert response.status_code == 422, (path, body, response.text)
        assert message in response.json()["message"], response.json()
        assert response.json()["detail"], "FastAPI's list of errors is kept"
    broken = await service.http.post(
        crew.alice.url(f"{conversation}/messages"),
        content=b'{"text": ',
        headers={**crew.alice.headers, "Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    assert "JSON" in broken.json()["message"]
    assert (await crew.alice.get("/conversations", status="lost")).status_code == 422
    assert (await crew.alice.get("/conversations/abc")).status_code == 422
    # Nothing of the refused bodies reached the customer.
    await asyncio.sleep(0.2)
    assert len(telegram.sent_messages(chat_id=802)) == 1


async def test_only_admins_manage_agents_and_everyone_sets_their_availability(
    start_service: StartService,
) -> None:
    service = await start_service()
    crew = await team(service)
    dave = {"email": "Dave@Example.com", "name": "Dave", "password": "s3cure-enough"}
    for denied in (crew.alice.post("/agents", dave), crew.alice.get("/agents")):
        response = await denied
        assert response.status_code == 403
        assert response.json() == {"detail": "only admins can do this"}

    created = await crew.admin.post("/agents", {**dave, "phone": "+49 151 1234 5678"})
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "dave@example.com"
    assert created.json()["phone"] == "+4915112345678"
    assert created.json()["role"] == "agent"
    assert "password" not in created.text and "hash" not in created.text
    again = await crew.admin.post("/agents", dave)
    assert again.status_code == 409
    assert again.json() == {"detail": "an agent with email dave@example.com exists"}
    for bad, message in (
        ({**dave, "email": "eve@example.com", "password": "short"}, "password: String should"),
        ({**dave, "email": "not-an-email"}, "email: not an email address"),
        ({**dave, "email": "eve@example.com", "role": "owner"}, "role: Input should be"),
        ({**dave, "email": "eve@example.com", "phone": "0151"}, "phone: phone must be in"),
    ):
        response = await crew.admin.post("/agents", bad)
        assert response.status_code == 422
        assert message in response.json()["message"], response.json()

    listed = await crew.admin.get("/agents")
    assert [a["email"] for a in listed.json()] == [
        "admin@example.com",
        "alice@example.com",
        "bob@example.com",
        "dave@example.com",
    ]
    dave_api = await Api(service).login("dave@example.com", "s3cure-enough")
    away = await dave_api.post("/me/availability", {"available": False})
    assert away.status_code == 200 and away.json()["available"] is False
    assert (await dave_api.get("/me")).json()["available"] is False


async def test_openapi_documents_every_route_with_bearer_auth(
    tmp_path: Path, data_dir: Path
) -> None:
    # The description does not depend on the database: one run, on SQLite, is enough.
    url = f"sqlite+aiosqlite:///{tmp_path / 'openapi.db'}"
    await upgrade_async(url)
    async with RunningService(service_settings(url, str(data_dir))) as service:
        spec = (await service.http.get(f"{service.base_url}/openapi.json")).json()
    operations = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        if path.startswith("/api/")
        for method in item
    }
    conversation = "/api/conversations/{conversation_id}"
    assert operations == {
        ("POST", "/api/auth/token"),
        ("DELETE", "/api/auth/token"),
        ("GET", "/api/me"),
        ("POST", "/api/me/availability"),
        ("GET", "/api/agents"),
        ("POST", "/api/agents"),
        ("GET", "/api/conversations"),
        ("GET", conversation),
        ("POST", f"{conversation}/assign"),
        ("POST", f"{conversation}/messages"),
        ("POST", f"{conversation}/notes"),
        ("POST", f"{conversation}/release"),
        ("POST", f"{conversation}/resolve"),
        ("GET", "/api/events"),
        ("GET", "/api/analytics/summary"),
        ("GET", "/api/analytics/export"),
        ("GET", "/api/settings"),
        ("PUT", "/api/settings"),
        ("DELETE", "/api/settings/{key}"),
        ("GET", "/api/campaigns"),
        ("POST", "/api/campaigns"),
        ("GET", "/api/campaigns/{campaign_id}"),
        ("POST", "/api/campaigns/{campaign_id}/cancel"),
    }
    claim = spec["paths"][f"{conversation}/assign"]["post"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(claim["responses"])
    assert claim["security"] == [{"OAuth2PasswordBearer": []}]
    events = spec["paths"]["/api/events"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in events
    token = spec["paths"]["/api/auth/token"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(token)
    schemas = spec["components"]["schemas"]
    assert {"ConversationOut", "ConversationDetailOut", "ConsoleEvent", "AgentOut"} <= set(schemas)
