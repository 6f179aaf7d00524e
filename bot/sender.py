"""Send replies through one shared line-bot-sdk client; log failures, never raise."""

from __future__ import annotations

import logging
from typing import Any

from linebot.v3.messaging import ApiClient, ApiException, Configuration, MessagingApi, ReplyMessageRequest

log = logging.getLogger(__name__)


class _Checked:
    """A message dict already proven against the SDK's models (tests/test_render.py renders and parses
    every kind) and LINE's limits (checked when the knowledge base loads).

    The SDK would parse it into pydantic models and serialise it back for every reply: about 2.5 ms
    of CPU per reply, several times the cost of matching and of the webhook itself. Handed over as
    it is, it goes out byte for byte the same (tests/test_webhook.py compares)."""

    __slots__ = ("message",)

    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return self.message


class Sender:
    """One MessagingApi (and one connection pool) shared by every reply thread of a process."""

    def __init__(
        self,
        access_token: str,
        base_url: str,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int,
    ) -> None:
        config = Configuration(host=base_url, access_token=access_token)
        # A reply token works once: a retried POST could only fail again or reply twice.
        config.retries = False
        config.connection_pool_maxsize = pool_size
        self._client = ApiClient(config)
        self._api = MessagingApi(self._client)
        self._timeout = (connect_timeout, read_timeout)
        self._menu_ids: dict[str, str] = {}  # rich menu name -> id, filled on the first link

    def reply(self, reply_token: str, messages: list[dict[str, Any]], event_id: str, note: str = "") -> bool:
        """Send one reply; True on success. Every failure is logged once, with its request id."""
        try:
            request = ReplyMessageRequest.construct(
                reply_token=reply_token, messages=[_Checked(m) for m in messages], notification_disabled=None
            )
            response = self._api.reply_message_with_http_info(request, _request_timeout=self._timeout)
        except ApiException as exc:
            headers = exc.headers
            log.warning(
                "reply failed: status=%s x-line-request-id=%s webhookEventId=%s body=%s (%s)",
                exc.status,
                _header(headers, "x-line-request-id"),
                event_id,
                _short(exc.body),
                note,
            )
            return False
        except Exception as exc:  # noqa: BLE001 - timeouts, refused connections, bad messages
            log.warning(
                "reply failed: status=- x-line-request-id=- webhookEventId=%s error=%s (%s)",
                event_id,
                type(exc).__name__,
                note,
            )
            return False
        log.info(
            "replied: status=%s x-line-request-id=%s webhookEventId=%s (%s)",
            response.status_code,
            _header(response.headers, "x-line-request-id"),
            event_id,
            note,
        )
        return True

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


def _header(headers: Any, name: str) -> str:
    """A response header by case-insensitive name, "-" when absent."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value)
    return "-"


def _failure(exc: Exception) -> str:
    """status, request id and body of an SDK failure, or the exception's type."""
    if isinstance(exc, ApiException):
        request_id = _header(exc.headers, "x-line-request-id")
        return f"status={exc.status} x-line-request-id={request_id} body={_short(exc.body)}"
    return f"error={type(exc).__name__}"


def _short(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return str(body or "")[:200].replace("\n", " ")
