"""Handle one queued event in a reply thread: dedupe, parse (SDK), plan, remember the offer, send."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from linebot.v3.webhooks import Event

from bot import events, richmenu
from bot.diagnose import Diagnoser
from bot.intake import event_id
from bot.knowledge import KnowledgeBase
from bot.logfmt import kv
from bot.questionlog import QuestionLog
from bot.sender import Sender
from bot.store import Store
from bot.types import PROFILE, Feedback, Match, Reply

log = logging.getLogger(__name__)

_WHO = ("user_id", "group_id", "room_id")  # the question log keys a row by the first present


class ReplyHandler:
    """Turns a raw event into at most one reply; runs after the webhook has answered."""

    def __init__(
        self,
        kb: KnowledgeBase,
        store: Store,
        sender: Sender,
        match: Callable[[str], Match],
        render: Callable[[Match], list[dict[str, Any]]],
        menu_names: dict[str, str] | None = None,
        question_log: QuestionLog | None = None,
        diagnoser: Diagnoser | None = None,
        wait_turn: Callable[[], None] = lambda: None,
    ) -> None:
        self._kb = kb
        self._menu_names = menu_names or {}  # language -> rich menu name (knowledge/richmenu.yaml)
        self._store = store
        self._sender = sender
        self._match = match
        self._render = render
        self._log = question_log
        self._diagnoser = diagnoser
        # Webhooks go first: called after each wait on I/O, before the CPU work that follows it.
        self._wait_turn = wait_turn

    def handle(self, raw: dict[str, Any], received: float | None = None, recovered: bool = False) -> None:
        """Dedupe, parse and answer one raw event that arrived at `received` (time.monotonic()), then drop
        it from the journal.

        Dedupe and the SDK's parse run here rather than before the 200: each would cost the webhook
        a SQLite write or a pydantic model per event, with LINE waiting on it. A redelivery that
        arrives while the first copy is still queued is caught here all the same: exactly one of
        them records the id first. A `recovered` event (taken over from a dead process's journal)
        was recorded by that process and is answered all the same.
        """
        found = event_id(raw)
        try:
            if found and not self._store.first_time(found) and not recovered:
                log.info(kv("duplicate event skipped", webhookEventId=found))
                return
            self._wait_turn()
            self._answer(raw, found, received)
        finally:
            if found:
                self._store.done(found)

    def _answer(self, raw: dict[str, Any], found: str | None, received: float | None) -> None:
        """Parse (SDK), plan, remember what is offered, send."""
        try:
            event = Event.from_dict(raw)
        except Exception as exc:  # noqa: BLE001 - the SDK raises ValueError, TypeError, pydantic errors
            chat = events.raw_chat_key(raw)
            offer = self._store.offered(chat) if chat else None
            reply = events.plan_unparsed(raw, self._kb, offer[1] if offer else "ja")
            if reply is None:
                # One line as for any event without a reply (a type LINE added after this SDK, most often),
                # saying the SDK could not read it: "event skipped reason=ValueError" named neither the type nor why.
                source = raw.get("source")
                log.info(
                    kv(
                        "no reply",
                        type=_text(raw.get("type")),
                        mode=_text(raw.get("mode", "active")),
                        source=_text(source.get("type")) if isinstance(source, dict) else "-",
                        webhookEventId=found,
                        parse=type(exc).__name__,
                    )
                )
            else:
                self._sender.reply(raw["replyToken"], reply.messages, found or "-", reply.note, received)
            return
        chat = events.chat_key(event)
        quoted = events.quoted_id(event)
        ctx = events.Context(
            self._kb,
            self._match,
            self._render,
            lambda: self._store.offered(chat) if chat else None,
            self._diagnoser.data if self._diagnoser else None,
            lambda: self._store.offered(events.quote_key(quoted)) if quoted else None,
        )
        reply = events.plan(event, ctx)
        if reply is None:
            # Every event ends in one line: say which kind of event (and chat) got no reply, never who.
            source = getattr(getattr(event, "source", None), "type", None)
            mode = getattr(getattr(event, "mode", None), "value", None)
            log.info(kv("no reply", type=event.type, mode=mode, source=source, webhookEventId=found))
            return
        if reply.probe and self._diagnoser:
            # The webhook has long been answered; the probe is bounded (~10 s) well inside the token's minute.
            messages, note, related = self._diagnoser.reply(reply.probe, reply.lang, chat or "-")
            reply = dataclasses.replace(reply, messages=messages, note=note, offered=related)
        reply = self._rich_menu(event, reply)
        if chat:
            # Every reply, also one offering nothing (a deflection, a thanks): a number picks from the last
            # reply only, and the last reply's language is the conversation's.
            self._store.offer(chat, reply.offered, reply.lang)
        self._wait_turn()  # building and serialising the SDK's request is the longest stretch
        sent = self._sender.reply(event.reply_token, reply.messages, found or "-", reply.note, received)
        for message_id in sent if chat and sent else ():
            # A later message quoting this one (LINE's reply-to) picks from its list, and addresses the bot.
            # Not urgent: a quote comes seconds later at the soonest, so the SET rides the next round trip.
            self._store.offer(events.quote_key(message_id), reply.offered, reply.lang, urgent=False)
        if reply.log is not None and self._log is not None:
            self._wait_turn()
            # After the reply: a slow or failing database delays nobody's answer (it warns, once).
            # Keyed by the user, or by the group or room when LINE gives no user id: an id the operator can
            # pass to `forget --user`.
            source = event.source
            who = next((i for i in (getattr(source, a, None) for a in _WHO) if i), None) or chat
            if isinstance(reply.log, Feedback):
                self._log.feedback(who, reply.log)
            else:
                self._log.record(who, reply.log)

    def _rich_menu(self, event: Event, reply: Reply) -> Reply:
        """The LINE calls a reply asks for: the user's profile language, linking a rich menu."""
        user = getattr(event.source, "user_id", None)
        if not user or not reply.menu:
            return reply
        if reply.menu == PROFILE:
            lang = richmenu.menu_language(self._sender.profile_language(user))
            reply = next((r for r in reply.by_language if r.lang == lang), reply)
        if reply.menu in self._menu_names:
            self._sender.link_rich_menu(user, self._menu_names[reply.menu])
        return reply


def _text(value: Any) -> str:
    """A raw event's field for a log line: what it says when it is text, else its kind."""
    return value if isinstance(value, str) else type(value).__name__
