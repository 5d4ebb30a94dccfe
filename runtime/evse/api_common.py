"""What every part of the evse local API shares: typed app keys, body and query parsing, errors.

Every answer is JSON, errors too: `{"error": ..., "fields": [{"field", "message"}]}`, so a
client can show which field of its request was wrong.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from runtime.evse.api_models import ErrorAnswer, FieldError
from runtime.evse.csms_bridge import CsmsBridge
from runtime.evse.service import EvseContext
from runtime.persistence.errors import PersistenceError

log = logging.getLogger(__name__)

CONTEXT_KEY = web.AppKey("evse_context", EvseContext)
BRIDGE_KEY = web.AppKey("csms_bridge", CsmsBridge)
SOCKETS_KEY = web.AppKey("event_sockets", set[web.WebSocketResponse])

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An error answer: HTTP status, what went wrong, and which request fields."""

    def __init__(self, status: int, message: str, fields: tuple[FieldError, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.answer = ErrorAnswer(error=message, fields=fields)


def json_answer(model: BaseModel, status: int = 200) -> web.Response:
    """A pydantic model as the JSON answer."""
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json"
    )


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The request's JSON body as `model`; ApiError 400 naming the fields otherwise."""
    raw = await request.read()
    try:
        return model.model_validate_json(raw if raw.strip() else b"{}")
    except ValidationError as error:
        raise _invalid("body", error) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    """The query string as `model`; ApiError 400 naming the parameters otherwise."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as error:
        raise _invalid("query", error) from None


def _invalid(where: str, error: ValidationError) -> ApiError:
    fields = tuple(
        FieldError(
            field=".".join(str(part) for part in item["loc"]) or f"({where})",
            message=item["msg"],
        )
        for item in error.errors(include_url=False)
    )
    summary = "; ".join(f"{field.field}: {field.message}" for field in fields)
    return ApiError(400, f"invalid request {where}: {summary}", fields)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into a JSON answer (aiohttp's own 404/405 included)."""
    try:
        return await handler(request)
    except ApiError as error:
        return json_answer(error.answer, error.status)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        answer = ErrorAnswer(error=f"{error.reason}: {request.method} {request.path}")
        response = json_answer(answer, error.status)
        if headers:
            response.headers.update(headers)
        return response
    except PersistenceError as error:
        log.error("%s %s: %s", request.method, request.path, error)
        return json_answer(ErrorAnswer(error=f"database unavailable: {error}"), 503)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        log.exception("%s %s failed", request.method, request.path)
        return json_answer(ErrorAnswer(error=f"internal error: {type(error).__name__}"), 500)
