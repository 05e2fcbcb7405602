"""One error shape: ``{"ok": false, "status": <int>, "error": "<message>"}``.

Every failure under ``/api`` (a bad parameter, an unknown PMID, Flask's own 404/405/413, an
unexpected exception) leaves as that JSON; elsewhere the same status and message are
rendered as an HTML page. The status of the product's own errors is their ``status``
attribute (``indexer/errors.py``): below 500 (or when the error is ``public``, as ``Busy``)
their message is shown to the client; from 500 up, and for any other exception (500), the
failure is logged and the client gets a generic message: no stack trace or internal detail
ever reaches the client. An error with a ``retry_after`` (``Busy``: 503) also sends
``Retry-After``. Errors waitress answers before the app sees a request (400, 413, 431)
take the same shape in ``web.server``.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from indexer.errors import PubmedSearchError

log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "internal server error: the failure was logged on the server"


class ApiError(PubmedSearchError):
    """A request the API refuses, with the HTTP status to answer and a message safe to show
    to the client (``ApiError(400, "body: not valid JSON")``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(status: int, message: str) -> dict:
    return {"ok": False, "status": status, "error": message}


def wants_json() -> bool:
    path = request.path
    return path == "/api" or path.startswith("/api/")


def error_response(status: int, message: str, retry_after: int | None = None) -> Response:
    if wants_json():
        response = jsonify(error_body(status, message))
    else:
        response = Response(
            render_template("error.html", status=status, message=message),
            mimetype="text/html",
        )
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(int(retry_after))
    return response


def _classify(error: Exception) -> tuple[int, str]:
    """(status, message to show) of an exception raised while handling a request."""
    if isinstance(error, PubmedSearchError):
        if error.status < 500 or error.public:
            log.info("refused %s: %s", request.full_path, error)
            return error.status, str(error)
        log.error("%s on %s: %s", type(error).__name__, request.full_path, error)
        return error.status, INTERNAL_MESSAGE
    log.exception("unhandled error on %s %s", request.method, request.full_path)
    return 500, INTERNAL_MESSAGE


def handle_http(error: HTTPException) -> Response:
    status = error.code or 500
    message = f"{error.name.lower()}: {error.description}" if error.description else error.name
    if status == 404 and wants_json():
        message = f"not found: no API endpoint at {request.path}"
    response = error_response(status, message)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def handle_exception(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http(error)
    return error_response(*_classify(error), retry_after=getattr(error, "retry_after", None))


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(Exception, handle_exception)
