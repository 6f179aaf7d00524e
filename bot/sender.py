"""Send replies through one shared line-bot-sdk client; retry what may not have arrived, never raise."""

from __future__ import annotations

import functools
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import urllib3
from linebot.v3.messaging import ApiClient, ApiException, Configuration, Message, MessagingApi, ReplyMessageRequest

from bot.logfmt import kv
from bot.mask import mask

log = logging.getLogger(__name__)

REPLY_BUDGET = 30.0  # seconds after the webhook arrived: a reply token lasts about a minute
FIRST_BACKOFF = 0.1  # seconds before the second attempt; doubles, with full jitter
MAX_BACKOFF = 2.0
# Connections that fail before the request is sent are retried by urllib3 at once (nothing reached
# LINE); everything after that is retried here, where the reply token's deadline is known.
POOL_RETRIES = urllib3.Retry(total=None, connect=2, read=False, status=False, other=False, redirect=False)


class Sender:
    """One MessagingApi (and one connection pool) shared by every reply thread of a process.

    A reply token works once, which is what makes retrying safe: if an earlier attempt did reach
    LINE, the next one is refused with 400 "Invalid reply token" and nothing is delivered twice.
    """

    def __init__(
        self,
        access_token: str,
        base_url: str,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int,
        *,
        budget: float = REPLY_BUDGET,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        config = Configuration(host=base_url, access_token=access_token)
        config.retries = POOL_RETRIES
        config.connection_pool_maxsize = pool_size
        self._client = ApiClient(config)
        self._api = MessagingApi(self._client)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._timeout = (connect_timeout, read_timeout)
        self._budget = budget
        self._sleep = sleep
        self._menu_ids: dict[str, str] = {}  # rich menu name -> id, filled on the first link

    def reply(
        self,
        reply_token: str,
        messages: list[dict[str, Any]],
        event_id: str,
        note: str = "",
        received: float | None = None,
    ) -> tuple[str, ...] | None:
        """Send one reply, retrying until `received` (time.monotonic()) + budget. None when it was not
        delivered, else the ids LINE gave its messages (a message quoting one names it; none are known when
        an earlier attempt is what got through).

        One log line per event says how it ended and after how many attempts."""
        deadline = (time.monotonic() if received is None else received) + self._budget
        try:
            models = [_model(json.dumps(m, ensure_ascii=False)) for m in messages]
            request = ReplyMessageRequest(reply_token=reply_token, messages=models)
        except Exception as exc:  # noqa: BLE001 - pydantic ValidationError, ValueError: a bug in render
            log.error(kv("reply failed", status="-", webhookEventId=event_id, error=type(exc).__name__, note=note))
            return None
        attempt = 0
        while True:
            attempt += 1
            left = deadline - time.monotonic()
            timeout = (min(self._connect_timeout, max(left, 0.1)), min(self._read_timeout, max(left, 0.1)))
            status: int | str = "-"
            request_id = error = "-"
            try:
                response = self._api.reply_message_with_http_info(request, _request_timeout=timeout)
            except ApiException as exc:
                status, request_id, body = exc.status, _header(exc.headers, "x-line-request-id"), _bytes(exc.body)
                error = body.decode("utf-8", "replace")
                if attempt > 1 and status == 400 and b"invalid reply token" in body.lower():
                    # An earlier attempt reached LINE after all (or the token's minute ran out).
                    outcome, level, delivered = "already delivered or expired", logging.INFO, ()
                    break
                retry = status == 429 or 500 <= status <= 599
            except urllib3.exceptions.HTTPError as exc:  # dropped connections, timeouts, refused
                retry, error = True, type(exc).__name__
            except Exception as exc:  # noqa: BLE001 - never let a reply kill its thread
                retry, error = False, type(exc).__name__
            else:
                status, request_id = response.status_code, _header(response.headers, "x-line-request-id")
                outcome, level, delivered = "replied", logging.INFO, _sent_ids(response.data)
                break
            pause = random.uniform(0, min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (attempt - 1)))  # noqa: S311 - jitter
            if not retry or time.monotonic() + pause + 0.5 > deadline:
                outcome, level, delivered = "reply failed", logging.WARNING, None
                break
            self._sleep(pause)
        fields = {"x-line-request-id": request_id, "webhookEventId": event_id, "error": error, "note": note}
        log.log(level, kv(outcome, status=status, attempts=attempt, **fields))
        return delivered

    def profile_language(self, user_id: str) -> str | None:
        """The language of a user's LINE profile (None when not shared, or on any failure, logged)."""
        try:
            return self._api.get_profile(user_id, _request_timeout=self._timeout).language
        except Exception as exc:  # noqa: BLE001 - the welcome goes out in Japanese all the same
            log.warning("profile lookup failed: %s", _failure(exc))
            return None

    def link_rich_menu(self, user_id: str, name: str) -> bool:
        """Link the rich menu called `name` to a user; True on success, failures logged.

        Menus are found by name (`python -m bot richmenu` makes them); the ids are remembered, and
        looked up again once when a link fails, since running that command again replaces the menus."""
        for attempt in (1, 2):
            if attempt == 2 or name not in self._menu_ids:
                try:
                    menus = self._api.get_rich_menu_list(_request_timeout=self._timeout).richmenus or []
                except Exception as exc:  # noqa: BLE001 - the reply matters more than the menu
                    log.warning("rich menu list failed: %s", _failure(exc))
                    return False
                self._menu_ids = {m.name: m.rich_menu_id for m in menus}
            menu_id = self._menu_ids.get(name)
            if menu_id is None:
                log.warning("rich menu %r not found: run `python -m bot richmenu`", name)
                return False
            try:
                self._api.link_rich_menu_id_to_user(user_id, menu_id, _request_timeout=self._timeout)
            except Exception as exc:  # noqa: BLE001
                log.warning("rich menu link failed (attempt %d): %s", attempt, _failure(exc))
                continue
            log.info("rich menu %r linked", name)  # never the user id
            return True
        return False

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()


@functools.lru_cache(maxsize=1024)
def _model(message: str) -> Message:
    """The SDK's model of a message (its public from_json); the same answers go out again and again."""
    return Message.from_json(message)


def _header(headers: Any, name: str) -> str:
    """A response header by case-insensitive name, "-" when absent."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value)
    return "-"


def _bytes(body: Any) -> bytes:
    return body if isinstance(body, bytes) else str(body or "").encode()


def _failure(exc: Exception) -> str:
    """status, request id and body of an SDK failure, or the exception's type."""
    if isinstance(exc, ApiException):
        request_id = _header(exc.headers, "x-line-request-id")
        return f"status={exc.status} x-line-request-id={request_id} body={_short(exc.body)}"
    return f"error={type(exc).__name__}"


def _short(body: Any) -> str:
    """The start of an error answer, for a log line: a gateway's page may repeat the request's path, which
    for profiles and menu links holds the user id (masked, as the question log masks it)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return mask(str(body or "")[:1000])[:200].replace("\n", " ")  # masked whole: a cut id is no id to the mask


def _sent_ids(data: Any) -> tuple[str, ...]:
    """The message ids of a reply's answer (LINE's `sentMessages`); none when it had none to parse."""
    return tuple(str(m.id) for m in (getattr(data, "sent_messages", None) or []) if getattr(m, "id", None))
