"""Errors of the JSON API: one clear sentence each, documented in OpenAPI."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from helpdesk.api.schemas import Problem, ValidationProblem
from helpdesk.handoff.service import Conflict, NotFound


class ApiRoute(APIRoute):
    """Adds a readable `message` to 422 responses, keeping FastAPI's `detail` list.

    A route class rather than an app-wide exception handler: the rest of the app
    (webhook, web chat) keeps FastAPI's default responses.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                errors = list(error.errors())
                return JSONResponse(
                    status_code=422,
                    content={"message": summarize(errors), "detail": jsonable_encoder(errors)},
                )

        return handle


def api_router(**options: Any) -> APIRouter:
    return APIRouter(route_class=ApiRoute, **options)


def summarize(errors: Sequence[Any]) -> str:
    """'text: String should have at least 1 character; status: Input should be ...'"""
    parts = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        where = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else "request")
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "invalid request"


def problem(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    model = ValidationProblem if status == 422 else Problem
    return {status: {"model": model, "description": description}}


UNAUTHORIZED = problem(401, "No token, or an invalid or expired one")
FORBIDDEN = problem(403, "Admins only")
NOT_FOUND = problem(404, "No such conversation")
CONFLICT = problem(409, "The conversation's state or owner does not allow this")
INVALID = problem(422, "The request does not validate; `message` says why")


@contextmanager
def handoff_errors() -> Iterator[None]:
    """The handoff service's refusals as HTTP statuses, with its explanation."""
    try:
        yield
    except NotFound as error:
        raise HTTPException(404, str(error)) from error
    except Conflict as error:
        raise HTTPException(409, str(error)) from error
