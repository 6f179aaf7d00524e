"""Who is speaking: the bot's operator, a sender calling the Messaging API, or a LINE app user."""

from __future__ import annotations

from dataclasses import replace

from bot.types import Query
from bot.vocabulary import Vocabulary

CALLS_API_WEIGHT = 3.0  # api.line.me, x-line-request-id, an SDK's API exception: the asker sends
EXACT_REASON_WEIGHT = 2.0  # a console reason or detail string: the asker runs the bot


def route(question: Query, vocabulary: Vocabulary) -> Query:
    """The question with `audience` set from its who-is-asking words and signals (None when unclear)."""
    hits = _hits(question.words, vocabulary)
    signals = question.signals
    if signals.calls_api:
        hits["sender"] = hits.get("sender", 0.0) + CALLS_API_WEIGHT
    if signals.details or signals.reasons:
        hits["operator"] = hits.get("operator", 0.0) + EXACT_REASON_WEIGHT
    if signals.from_line:  # a log line of LINE's own request: the asker runs the bot
        hits["operator"] = hits.get("operator", 0.0) + CALLS_API_WEIGHT
    best = max(hits.values(), default=0.0)
    leaders = [aud for aud, n in hits.items() if n == best]
    audience = leaders[0] if best >= 1 and len(leaders) == 1 else None  # "my app" alone says nothing
    # "LINE" alone means the app, unless anyone else is named, even weakly ("my bot in LINE").
    alone = best == 0 and "line" in question.words
    # The clause before a status code may say whose code it is when the question names several askers:
    # "the webhook returns 404" in a question about an access token. Only the webhook's words say so: the
    # other audiences' words are weaker (a rich menu is tapped in the app and built through the API).
    of_webhook = bool(vocabulary.webhook_words.intersection(signals.code_clause))
    return replace(question, audience=audience, mentions_line=alone, code_audience="operator" if of_webhook else None)


def _hits(words: tuple[str, ...], vocabulary: Vocabulary) -> dict[str, float]:
    """How strongly the words name each audience (the sum of its phrases' weights found in them)."""
    joined = f" {' '.join(words)} "
    # A phrase can be in the text only if its first word is one of the text's words: a set lookup spares
    # searching a long paste for each of the vocabulary's phrases.
    pieces = set(joined.split(" "))
    return {
        audience: sum(weight for phrase, weight, first in phrases if first in pieces and phrase in joined)
        for audience, phrases in vocabulary.audience.items()
    }
