"""Send replies through one shared line-bot-sdk client; log failures, never raise."""

from __future__ import annotations

import logging
from typing import Any

from linebot.v3.messaging import ApiClient, ApiException, Configuration, MessagingApi, ReplyMessageRequest

log = logging.getLogger(__name__)


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

    def reply(self, reply_token: str, messages: list[dict[str, Any]], event_id: str) -> bool:
        """Send one reply; True on success. Every failure is logged once, with its request id."""
        try:
            request = ReplyMessageRequest.from_dict({"replyToken": reply_token, "messages": messages})
            response = self._api.reply_message_with_http_info(request, _request_timeout=self._timeout)
        except ApiException as exc:
            headers = exc.headers or {}
            log.warning(
                "reply failed: status=%s x-line-request-id=%s webhookEventId=%s body=%s",
                exc.status,
                headers.get("x-line-request-id", "-"),
                event_id,
                _short(exc.body),
            )
            return False
        except Exception as exc:  # noqa: BLE001 - timeouts, refused connections, bad messages
            log.warning(
                "reply failed: status=- x-line-request-id=- webhookEventId=%s error=%s",
                event_id,
                type(exc).__name__,
            )
            return False
        log.info(
            "replied: status=%s x-line-request-id=%s webhookEventId=%s",
            response.status_code,
            (response.headers or {}).get("x-line-request-id", "-"),
            event_id,
        )
        return True

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()


def _short(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return str(body or "")[:200].replace("\n", " ")
