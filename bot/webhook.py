"""HTTP routes: POST /callback for LINE, GET /healthz for the platform."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from bot.intake import Rejected
from bot.service import Service

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)


def _service() -> Service:
    return current_app.extensions["line_error_bot"]


@bp.post("/callback")
def callback() -> tuple[str, int]:
    """Verify and queue the events, answer at once; replies go out from the worker pool."""
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        log.warning("webhook rejected (413): body over %s bytes", current_app.config["MAX_CONTENT_LENGTH"])
        return "Payload Too Large\n", 413
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("webhook rejected (400): body is not UTF-8")
        return "Bad Request\n", 400
    if request.mimetype != "application/json":
        log.warning("webhook rejected (400): Content-Type %r", request.mimetype)
        return "Bad Request\n", 400
    try:
        accepted = _service().accept(body, request.headers.get("X-Line-Signature"))
    except Rejected as exc:
        log.warning("webhook rejected (%s): %s", exc.status, exc)
        return "Bad Request\n", exc.status
    log.debug(
        "webhook accepted: queued=%d skipped=%d refused=%d", accepted.queued, accepted.skipped, len(accepted.refused)
    )
    if accepted.refused:
        # Overloaded: 503 makes LINE redeliver (when redelivery is on); queued events are deduped.
        return "Service Unavailable\n", 503
    return "OK\n", 200


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness plus what is loaded: entry count and knowledge version (a content hash)."""
    service = _service()
    return jsonify(status="ok", entries=len(service.kb), version=service.kb.version, pending=service.pending)
