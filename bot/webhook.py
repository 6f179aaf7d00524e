"""HTTP routes: POST /callback for LINE, GET /healthz for the platform."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from bot.intake import Rejected
from bot.logfmt import kv
from bot.service import Service

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)


def _service() -> Service:
    return current_app.extensions["line_error_bot"]


@bp.post("/callback")
def callback() -> tuple[str, int]:
    """Verify and queue the events, answer at once; replies go out from the worker pool."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    try:
        raw = _body(limit)
    except RequestEntityTooLarge:
        log.warning(kv("webhook rejected", status=413, reason=f"body over {limit} bytes"))
        return "Payload Too Large\n", 413
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        log.warning(kv("webhook rejected", status=400, reason="body is not UTF-8"))
        return "Bad Request\n", 400
    if request.mimetype != "application/json":
        log.warning(kv("webhook rejected", status=400, reason="Content-Type", content_type=request.mimetype))
        return "Bad Request\n", 400
    try:
        accepted = _service().accept(body, request.headers.get("X-Line-Signature"))
    except Rejected as exc:
        log.warning(kv("webhook rejected", status=exc.status, reason=str(exc)))
        return "Bad Request\n", exc.status
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            kv("webhook accepted", queued=accepted.queued, skipped=accepted.skipped, refused=len(accepted.refused))
        )
    if accepted.refused:
        # Overloaded: 503 makes LINE redeliver (when redelivery is on); queued events are deduped.
        return "Service Unavailable\n", 503
    return "OK\n", 200


def _body(limit: int) -> bytes:
    """The request body, RequestEntityTooLarge past `limit` bytes, chunked or not.

    Without a Content-Length (chunked), werkzeug reads nothing unless the server sets
    wsgi.input_terminated, which gunicorn does not: the body came out empty and the signature
    check refused it with 400. gunicorn's input stream ends where the chunks end, so it is read
    here directly, one byte past the limit at most."""
    if request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        data = request.environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise RequestEntityTooLarge()
        return data
    return request.get_data(cache=False)


@bp.get("/healthz")
def healthz() -> Response | tuple[Response, int]:
    """Liveness plus what is loaded: entry count and knowledge version (a content hash).

    A store that cannot be used (dedupe file unusable, Redis unreachable) makes it 503 "degraded"
    with the reason: the bot still answers, but may answer a redelivered event twice."""
    service = _service()
    problem = service.problem
    body = jsonify(
        status="degraded" if problem else "ok",
        entries=len(service.kb),
        version=service.kb.version,
        pending=service.pending,
        **({"reason": problem} if problem else {}),
    )
    return (body, 503) if problem else body
