"""Turn recognised signals and entry scores into one outcome: answer, clarify, fallback or deflection."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import takewhile
from operator import itemgetter

from bot.knowledge import OUTSIDE, KnowledgeBase
from bot.settings import Settings
from bot.types import Match, Query


class Decider:
    """The last stage: a pure function of the question, the scores and the knowledge base."""

    def __init__(
        self,
        kb: KnowledgeBase,
        settings: Settings,
        when_calling_api: dict[str, str] | None = None,
        exact_ids: Iterable[str] = (),
        webhook_words: frozenset[str] = frozenset(),
    ) -> None:
        self.kb = kb
        # Entries that explain an error (a status code, a console string, an API message): the trouble rule's
        # pick among close entries; those not marked `howto: true` also give no answer to "how do I send a
        # flex message", which names nothing going wrong.
        errors = {e.id for e in kb.entries.values() if e.status or e.code or e.detail} | set(exact_ids)
        self._explains_error = errors
        self._errors = {e for e in errors if not kb[e].howto}
        self.s = settings
        self._api_side = when_calling_api or {}  # the webhook's entry -> the API caller's, for API signs
        self._webhook_words = webhook_words
        self._order = {entry_id: i for i, entry_id in enumerate(kb.entries)}
        # Plain dicts: a question may score thousands of entries, each looked up here once or twice.
        self._audience = {e.id: e.audience for e in kb.entries.values()}
        self._statuses = {e.id: e.status for e in kb.entries.values() if e.status}
        self._status: dict[str, list[str]] = {}
        self._secondary: set[tuple[str, str]] = set()  # (entry, status) listed after the entry's own code
        for entry in kb.entries.values():
            for i, status in enumerate(entry.status):
                self._status.setdefault(status, []).append(entry.id)
                if i:
                    self._secondary.add((entry.id, status))
            for status in entry.also_status:  # "Invalid reply token" is a 400, yet a bare 400 is the body's
                self._status.setdefault(status, []).append(entry.id)
                self._secondary.add((entry.id, status))

    # -- outcomes -----------------------------------------------------------------------------

    def _answer(self, q: Query, entry_id: str, score: float = 100.0, code: int | None = None) -> Match:
        score = min(score, 100.0)  # who-is-asking's bonus ranks entries; a reported score stays 0-100
        if q.signals.calls_api:  # "Connection timeout" from api.line.me is the bot's own network
            entry_id = self._api_side.get(entry_id, entry_id)
        if self.kb[entry_id].audience == OUTSIDE:  # a deflection is a fallback that says where to go
            return Match("fallback", q.lang, entry_id=entry_id, score=score)
        return Match("answer", q.lang, entry_id=entry_id, score=score, code=code)

    def _clarify(self, q: Query, ids: list[str], score: float, code: int | None = None) -> Match:
        ids = [i for i in dict.fromkeys(ids) if self.kb[i].audience != OUTSIDE]
        if len(ids) == 1:
            return self._answer(q, ids[0], score, code)
        ids = sorted(ids, key=self._order.__getitem__)[: self.s.max_choices]
        return Match("clarify", q.lang, choices=tuple(ids), score=min(score, 100.0), code=code)

    def _fallback(self, q: Query, ranked: list[tuple[str, float]]) -> Match:
        near = tuple(e for e, _ in _at_least(ranked, self.s.suggest_min) if self._audience[e] != OUTSIDE)[
            : self.s.max_suggestions
        ]
        return Match("fallback", q.lang, score=ranked[0][1] if ranked else 0.0, suggestions=near)

    # -- the decision ---------------------------------------------------------------------------

    def decide(self, q: Query, scores: dict[str, float]) -> Match:
        """One outcome for an analysed, recognised and routed question and its entry scores."""
        ranked = self._adjusted(q, scores)
        sig = q.signals
        if sig.elsewhere:  # a Slack bot's 403 is not a LINE webhook's: say it is not ours
            return self._answer(q, self.kb.ui.elsewhere)
        top = ranked[0] if ranked else None
        named = [e for e in sig.exact if self._audience[e] == OUTSIDE]
        if named:  # LINE Pay's returnMessage, LINE Login's id_token: the product is named exactly
            return self._answer(q, named[0])
        # Near-domain (LINE Login, payments, ...): say where to go, never guess; also when a deflection
        # is only close to the best, since a wrong answer is worse than pointing elsewhere.
        for entry_id, score in ranked:
            if top is None or score < max(self.s.deflect_min, top[1] - self.s.deflect_margin):
                break
            if self.kb[entry_id].audience == OUTSIDE:
                return self._answer(q, entry_id, score)
        if sig.details:  # a console detail beats its reason; two details: ask which
            if len(sig.details) == 1:
                return self._answer(q, sig.details[0])
            # Several details of the one reason the question also names ("all could_not_connect, but different
            # details"): the reason's entry explains each of them.
            reasons = {self.kb[d].reason for d in sig.details}
            named = [r for r in sig.reasons if self.kb[r].code in reasons]
            if len(reasons) == 1 and named:
                return self._answer(q, named[0])
            return self._clarify(q, list(sig.details), 100)
        if sig.exact:  # the API's own words, an SDK exception name
            return self._answer(q, sig.exact[0])
        if sig.codes or sig.classes:
            status = self._from_status(q, ranked)
            if status is not None:
                return status
            if sig.bare:  # "HTTP 451": nothing but a code no entry explains; its words name no topic
                return self._fallback(q, [])
            # The code was read and has no entry here: an entry for another code is not the answer
            # (a pasted curl command's Authorization header does not make a 411 a 401).
            said = {str(c) for c in sig.codes} | {f"{c // 100}xx" for c in sig.codes} | {f"{c}xx" for c in sig.classes}
            ranked = [(e, sc) for e, sc in ranked if not self._other_code(e, said)]
        if sig.reasons:
            if len(sig.reasons) > 1:
                return self._clarify(q, list(sig.reasons), 100.0)
            # A detail beats its reason also when only matched by words ("webhook dispatch error unclassified").
            code = self.kb[sig.reasons[0]].code
            if top and top[1] >= self.s.answer_min and self.kb[top[0]].reason == code:
                return self._answer(q, top[0], top[1])
            return self._answer(q, sig.reasons[0])
        return self._by_score(q, ranked)

    def _adjusted(self, q: Query, scores: dict[str, float]) -> list[tuple[str, float]]:
        """Scores with who-is-asking applied, best first (knowledge-base order breaks ties)."""
        out = dict(scores)
        if q.audience:
            # Settings read once into locals: this loop may run over thousands of entries.
            audience_of, asker, fits = self._audience, q.audience, self.s.answer_min
            bonus, penalty, neutral = self.s.audience_bonus, self.s.audience_penalty, ("anyone", OUTSIDE, q.audience)
            for entry_id, score in scores.items():
                audience = audience_of[entry_id]
                if audience == asker and score >= fits:
                    out[entry_id] = score + bonus  # context picks between fits, never makes one
                elif audience not in neutral:
                    out[entry_id] = score - penalty
        # Sorted by order, then stably by score (reverse keeps ties in order): the ranking of the key
        # (-score, order), with C-level keys only, since thousands of entries may score.
        ranked = [(entry_id, out[entry_id]) for entry_id in sorted(out, key=self._order.__getitem__)]
        ranked.sort(key=itemgetter(1), reverse=True)
        return ranked

    def _by_score(self, q: Query, ranked: list[tuple[str, float]]) -> Match:
        if q.signals.howto:
            ranked = [(e, sc) for e, sc in ranked if e not in self._errors]
        if not ranked or ranked[0][1] < self.s.answer_min:
            return self._fallback(q, ranked)
        top = ranked[0][1]
        close = [e for e, _ in _at_least(ranked, top - self.s.clarify_margin)]
        if len(close) > 1 and q.mentions_line:  # 「LINEがメンテナンス中」: LINE alone means the app
            app = [e for e in close if self.kb[e].audience == "app_user"]
            if len(app) == 1:
                return self._answer(q, app[0], top)
        # A detail beats its reason: 「接続に失敗しました」 is "Connection failed", not all of could_not_connect.
        details_of = {self.kb[e].reason for e in close if self.kb[e].reason}
        close = [e for e in close if self.kb[e].code not in details_of or not self.kb[e].code]
        if len(close) > 1 and q.signals.trouble:
            # Something goes wrong ("中間証明書が入っていない"): of a set-up guide and an error that fit alike,
            # the error explains it.
            errors = [e for e in close if e in self._explains_error]
            if len(errors) == 1:
                return self._answer(q, errors[0], top)
        if len(close) > 1:
            return self._clarify(q, close, top)
        return self._answer(q, close[0], top)

    def _about_webhook(self, q: Query) -> bool:
        """Whether the question is about the webhook: a console reason or detail, or a webhook word (any
        question, when the vocabulary lists none). A 402 in a third-party tool's console is not the webhook's."""
        sig = q.signals
        return bool(sig.reasons or sig.details or not self._webhook_words or self._webhook_words.intersection(q.words))

    def _other_code(self, entry_id: str, said: set[str]) -> bool:
        """Whether the entry explains status codes, none of them in `said` (the question's codes and classes)."""
        status = self._statuses.get(entry_id)
        return status is not None and said.isdisjoint(status)

    def _names_second(self, entry_id: str, code: int) -> bool:
        """Whether the entry lists the code (or its class) only after the code it is about."""
        return (entry_id, str(code)) in self._secondary or (entry_id, f"{code // 100}xx") in self._secondary

    def _candidates(self, code: int) -> list[str]:
        return self._status.get(str(code), []) + self._status.get(f"{code // 100}xx", [])

    def _from_status(self, q: Query, ranked: list[tuple[str, float]]) -> Match | None:
        """The outcome the question's status codes give, in the order read: a later code decides when an
        earlier one has no entry ("HTTP/1.1 411 Length Required" above a proxy's "400 Bad Request" page).
        "Another status code" answers only when no code read has an entry."""
        sig = q.signals
        codes = sig.codes or tuple(c * 100 for c in sig.classes)
        other: Match | None = None
        for code in codes:
            match = self._from_code(q, ranked, code)
            if match is None:
                continue
            if match.entry_id != self.kb.ui.other_status:
                return match
            other = other or match
        return other

    def _from_code(self, q: Query, ranked: list[tuple[str, float]], code: int) -> Match | None:
        sig = q.signals
        owners = self._candidates(code)
        # Entries about this code; one that names it after its own (a retry key's 400) answers only when
        # the question's words pick it, and is never offered in a question back.
        candidates = [e for e in owners if not self._names_second(e, code)] or owners
        audience = "app_user" if q.mentions_line else q.audience  # 「LINEで500エラー」
        if sig.calls_api:
            audience = "sender"  # a code from api.line.me is the API's answer, not the webhook's
        elif audience is None:
            audience = q.code_audience  # "webhook returns 404" in a question that also names the API
        app = any(self._audience[e] == "app_user" for e in candidates)
        if audience is None and sig.bare and app and len(candidates) > 1:
            # "Forbidden" alone, a reason phrase the LINE app shows too: the app's, the webhook's or the API's?
            return self._clarify(q, candidates, 100.0, code=code)
        if audience is None:
            # No who-is-asking word: the rest of the question decides ("client_max_body_size で 413").
            fits = _at_least(ranked, self.s.answer_min)
            if fits and fits[0][0] in owners:
                close = [e for e, sc in fits if e in owners and sc >= fits[0][1] - self.s.clarify_margin]
                if len(close) > 1:
                    return self._clarify(q, close, fits[0][1], code=code)
                return self._answer(q, fits[0][0], code=code)
            if len(candidates) == 1:  # one entry owns this code: the code says more than a loose fit
                return self._answer(q, candidates[0], code=code)
            # Several own it, and the words lean clearly to one («認証が必要で401» is a server asking for
            # credentials, not the API's "Authentication failed"): that one, though no entry fits in full.
            owning = [(e, sc) for e, sc in ranked if e in candidates][:2]
            if owning and owning[0][1] >= self.s.suggest_min:
                runner_up = owning[1][1] if len(owning) > 1 else 0.0
                if owning[0][1] - runner_up >= self.s.owner_margin:
                    return self._answer(q, owning[0][0], code=code)
            if fits and not self.kb[fits[0][0]].status:
                audience = self.kb[fits[0][0]].audience
        if audience:
            mine = [e for e in owners if self.kb[e].audience in (audience, "anyone")]
            if mine:
                # Several entries explain the code for this asker (a 400 from a retry key on reply, or any
                # other 400): the one the question's words fit, else the one listing the code first.
                fit = {e: -sc for e, sc in _at_least(ranked, self.s.answer_min)}
                best = min(mine, key=lambda e: (fit.get(e, 0.0), self._names_second(e, code)))
                return self._answer(q, best, code=code)
            if audience == "operator" and 200 <= code <= 599:
                return (
                    None
                    if code < 300 or not self._about_webhook(q)
                    else self._answer(q, self.kb.ui.other_status, code=code)
                )
            if len(candidates) > 1:
                return self._clarify(q, candidates, 100.0, code=code)
            return None
        if len(candidates) == 1:
            return self._answer(q, candidates[0], code=code)
        if candidates:
            return self._clarify(q, candidates, 100.0, code=code)
        if 300 <= code <= 599 and sig.codes and self._about_webhook(q):
            return self._answer(q, self.kb.ui.other_status, code=code)
        return None


def _at_least(ranked: list[tuple[str, float]], floor: float) -> list[tuple[str, float]]:
    """The head of a best-first ranking that scores `floor` or more (the tail is never read)."""
    return list(takewhile(lambda item: item[1] >= floor, ranked))
