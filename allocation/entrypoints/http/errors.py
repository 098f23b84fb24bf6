"""Expected failures as HTTP answers: the CLI's exit status decides the HTTP status.

Every error is `{"detail": "<one line>"}`. Exit 2 is 400, 3 is 404, 4 is 409, 5 (busy) is 503
with `Retry-After`, 6 (object storage failed) is 502. A request FastAPI cannot validate is a
400 naming the field. A bug is a 500 with no traceback in the answer (the server logs it).
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from allocation.entrypoints.exits import EXPECTED_ERRORS, Exit, exit_status, one_line

HTTP_STATUS: Final = {
    Exit.INVALID: status.HTTP_400_BAD_REQUEST,
    Exit.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    Exit.CONFLICT: status.HTTP_409_CONFLICT,
    Exit.BUSY: status.HTTP_503_SERVICE_UNAVAILABLE,
    Exit.STORAGE: status.HTTP_502_BAD_GATEWAY,
}
"""The HTTP status of each exit status a request can meet."""

RETRY_AFTER_SECONDS: Final = 5
"""The product's error types a request can raise; `exits` decides each one's status."""


class ErrorBody(BaseModel):
    """What went wrong, in one line a person can act on."""

    detail: str = Field(examples=["no batch b-chair-1"])


ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 502, 503)
}
"""The error answers every route declares (its OpenAPI `responses`)."""


def _expected(_: Request, error: Exception) -> JSONResponse:
    status_code = HTTP_STATUS.get(exit_status(error) or Exit.UNEXPECTED)
    if status_code is None:
        raise error
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status_code == 503 else None
    return JSONResponse({"detail": one_line(error)}, status_code, headers=headers)


def _invalid_request(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0]
    where = [str(part) for part in first["loc"]]
    # `qty`, not `body.qty`; `body` for the body itself (and for JSON that does not parse)
    field = "body" if first["type"] == "json_invalid" else ".".join(where[1:] or where)
    message = first["msg"].splitlines()[0]
    if first["type"] == "model_attributes_type" or first["type"] == "dict_type":
        message += " (send a JSON object with Content-Type: application/json)"
    return JSONResponse({"detail": f"{field}: {message}"}, status.HTTP_400_BAD_REQUEST)


def _bug(_: Request, error: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "internal error: the server's log has the details"},
        status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def install_handlers(app: FastAPI) -> None:
    """Answer expected failures with their status, invalid requests with 400, bugs with 500."""
    for kind in EXPECTED_ERRORS:
        app.add_exception_handler(kind, _expected)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _bug)
