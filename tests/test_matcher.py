"""The three outcomes, status-code routing, the dev question set, and any input whatsoever."""

import re
import sys
from typing import Any

import pytest
from conftest import DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.evaluate import evaluate, load_questions
from bot.matcher import ASCII_LOOKALIKES, Matcher


def test_detail_beats_reason(matcher: Matcher) -> None:
    match = matcher.match("could_not_connect Connection timeout")
    assert (match.kind, match.entry_id) == ("answer", "webhook.detail.connection_timeout")


def test_reason_alone(matcher: Matcher) -> None:
    assert matcher.match("request_timeoutとは").entry_id == "webhook.reason.request_timeout"


def test_status_with_webhook_context(matcher: Matcher) -> None:
    match = matcher.match("2026/11/20 10:15 error_status_code 404")
    assert (match.kind, match.entry_id, match.code) == ("answer", "webhook.status.404", 404)


def test_status_without_entry_goes_to_other_with_code(matcher: Matcher) -> None:
    match = matcher.match("webhook returns 418")
    assert (match.entry_id, match.code) == ("webhook.status.other", 418)


def test_bare_status_with_several_entries_asks_back(matcher: Matcher) -> None:
    match = matcher.match("404")
    assert match.kind == "clarify"
    assert {"line_app.404", "webhook.status.404"} <= set(match.choices)  # the Messaging API's 404 may join them


def test_app_context_picks_app_entry(matcher: Matcher) -> None:
    assert matcher.match("LINEアプリで503が出る").entry_id == "line_app.503"
    assert matcher.match("アプリで503が出る").entry_id != "webhook.status.503"  # "app" alone is not the bot


def test_the_verify_buttons_dummy_event_is_the_verify_button(matcher: Matcher) -> None:
    # A webhook body with the older Verify's dummy reply token, whose reply failed and made the bot answer 500.
    body = 'LineBotApiError when I reply. Body: {"events": [{"replyToken": "00000000000000000000000000000000"}]} -> 500'
    assert matcher.match(body).entry_id == "webhook.verify_url"
    assert matcher.match("reply_token='ffffffffffffffffffffffffffffffff' then 500").entry_id == "webhook.verify_url"
    # The nil UUID in a log is no reply token.
    nil = "push failed: LineBotApiError 500, request id 00000000-0000-0000-0000-000000000000"
    assert matcher.match(nil).entry_id == "messaging_api.5xx"


def test_sender_context_picks_messaging_api(matcher: Matcher) -> None:
    assert matcher.match("multicast returned 502").entry_id == "messaging_api.5xx"


def test_question_of_grammar_words_only_matches_a_whole_phrase(matcher: Matcher) -> None:
    assert matcher.match("What can you do?").entry_id == "bot.help"
    assert matcher.match("what can you").kind == "fallback"  # not the phrase: nothing to go on


def test_request_words_name_no_topic(matcher: Matcher) -> None:
    assert matcher.match("メニューを見せて").entry_id == "bot.help"  # = 「メニュー」, a whole-text alias


def test_english_endings_do_not_hide_a_word(matcher: Matcher) -> None:
    assert matcher.match("how long until LINE fixes the error").entry_id == "line_app.wait_and_retry"  # ~ fixed
    assert matcher.match("retrying pushes without duplicates").entry_id == "messaging_api.retry_key"  # ~ retry


def test_line_alone_breaks_a_tie_for_the_app(matcher: Matcher) -> None:
    assert matcher.match("LINEがメンテナンス中").entry_id == "line_app.503"
    assert matcher.match("メンテナンス中").kind == "clarify"  # whose maintenance? ask


def test_every_english_negation_is_one_word(matcher: Matcher) -> None:
    # The production vocabulary: "cannot receive" must share every word of the phrase "not receiving".
    assert matcher.content("webhook cannot receive requests") == matcher.content("webhook not receiving requests")
    assert matcher.content("bot doesn't reply") == matcher.content("bot does not reply")


def test_latin_one_word_alias_needs_that_word(matcher: Matcher) -> None:
    # "thinks" is 83 like "thanks": a one-word Latin alias that is only similar counts as missing.
    assert matcher.match("she thinks so").kind == "fallback"
    assert matcher.match("webhook took longer than 2s").entry_id == "webhook.reason.request_timeout"


def test_fuzzy_typo(matcher: Matcher) -> None:
    assert matcher.match("tls handshak failur").entry_id == "webhook.detail.tls_handshake_failure"


def test_out_of_scope_falls_back_with_no_entry(matcher: Matcher) -> None:
    match = matcher.match("LINEスタンプの作り方を教えて")
    assert match.kind == "fallback" and match.entry_id is None


def test_english_question_gets_english(matcher: Matcher) -> None:
    assert matcher.match("how do I turn on webhook redelivery").lang == "en"
    assert matcher.match("Webhookの再送", lang="en").lang == "en"


def test_dev_set_accuracy(matcher: Matcher) -> None:
    report = evaluate(matcher, load_questions(DATA / "dev-questions.yaml"))
    misses = [(q.q, m.kind, m.entry_id, m.choices) for q, m in report.misses]
    assert report.accuracy >= 0.98, (report.summary(), misses)
    assert report.groups["out-of-scope"][0] == report.groups["out-of-scope"][1], misses
    assert report.groups["clarify"][0] == report.groups["clarify"][1], misses


def test_paraphrase_set_accuracy(matcher: Matcher) -> None:
    """Questions written apart from the dev set and the aliases: a check on generalisation."""
    report = evaluate(matcher, load_questions(DATA / "paraphrase-questions.yaml"))
    misses = [(q.q, m.kind, m.entry_id, m.choices) for q, m in report.misses]
    assert report.accuracy >= 0.95, (report.summary(), misses)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=5000))
def test_any_text_gives_an_outcome(matcher: Matcher, text: str) -> None:
    match = matcher.match(text)
    assert match.kind in ("answer", "clarify", "fallback")
    assert match.lang in ("ja", "en")
    assert 0.0 <= match.score <= 100.0


def test_reported_scores_stay_within_100(matcher: Matcher) -> None:
    # Who-is-asking's bonus lifts a full fit above 100 for ranking; the score the bot reports and logs does not.
    for text in ("webhookでタイムアウト", "証明書の期限が切れた"):
        assert matcher.match(text).score <= 100.0


_nasty = st.text(
    alphabet=st.sampled_from(list("\u200b\u200d\ufeff\x00\x1b\n\t😀🇯🇵ｱｰ_-/ 500could_not_connectタイムアウト")),
    max_size=5000,
)


@settings(max_examples=200, deadline=None)
@given(_nasty)
def test_control_zero_width_emoji_mix(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).kind in ("answer", "clarify", "fallback")


def test_no_alias_is_only_a_generic_word(kb: Any, matcher: Matcher) -> None:
    """An alias whose content is a lone generic word such as "bot" or 「アプリ」 would claim every question
    naming it (the lesson of "what can this bot do", which became "bot")."""
    generic = {
        w
        for text in ("bot", "webhook", "app", "アプリ", "スマホ", "api", "server", "サーバー", "message")
        for w in matcher.content(text)
    }
    cores = {
        (entry.id, alias): set(matcher.content(alias.removeprefix("="))) - matcher.vocabulary.soft
        for entry in kb.entries.values()
        for alias in entry.aliases()
        if not alias.startswith("=")
    }
    lone = [key for key, core in cores.items() if core and core <= generic]
    assert lone == []


def test_no_alias_word_is_only_grammar(kb: Any) -> None:
    """A space-separated alias word such as 「ない」 or 「される」 is grammar, not content: it would make
    any negative or passive sentence fit (the lesson of 「https でない」)."""
    import re

    grammar = {"ない", "なし", "がない", "でない", "される", "させ", "する", "した", "して", "いる", "ある"}
    found = [
        (entry.id, alias)
        for entry in kb.entries.values()
        for lang in ("ja", "en")
        for alias in entry.text[lang].aliases
        if any(word in grammar for word in re.split(r"\s+", alias.lstrip("=")))
    ]
    assert found == []


def test_topic_question_set(matcher: Matcher) -> None:
    """Questions for the Messaging API errors, set-up topics and deflections (pasted bodies and SDK texts)."""
    report = evaluate(matcher, load_questions(DATA / "topic-questions.yaml"))
    misses = [(q.q[:60], m.kind, m.entry_id, m.choices) for q, m in report.misses]
    assert report.accuracy >= 0.8, (report.summary(), misses)


def test_real_questions_tune_split_gives_few_wrong_answers(matcher: Matcher) -> None:
    """Real questions (tune split only): a fallback is acceptable, a confident wrong answer rarely."""
    report = evaluate(matcher, load_questions(DATA / "real-questions.yaml", "tune"))
    assert report.accuracy >= 0.55, report.summary()
    assert report.confident_wrong <= 0.06 * report.total, report.summary()


def test_blind_questions_tune_split(matcher: Matcher) -> None:
    """Questions written without seeing the knowledge base (tune split only): most answered, few wrong."""
    report = evaluate(matcher, load_questions(DATA / "blind-questions.yaml", "tune"))
    assert report.accuracy >= 0.85, report.summary()
    assert report.confident_wrong <= 0.04 * report.total, report.summary()


def test_blind_pastes_tune_split(matcher: Matcher) -> None:
    """Pastes and long reports written without seeing the knowledge base (tune split only)."""
    report = evaluate(matcher, load_questions(DATA / "blind-pastes.yaml", "tune"))
    assert report.accuracy >= 0.8, report.summary()
    assert report.confident_wrong <= 0.06 * report.total, report.summary()


def test_ascii_lookalikes_are_every_letter_ignorecase_takes_for_ascii() -> None:
    # The pasted-message check looks for an exact string's words in the lower-cased text with these spelled in
    # ASCII: any other character that re.IGNORECASE matches to an ASCII letter would hide a match.
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    lookalikes = {c for c in re.findall("[a-z]", every, re.IGNORECASE) if not c.isascii()}
    assert lookalikes == {chr(c) for c in ASCII_LOOKALIKES}
    assert all(re.fullmatch(ASCII_LOOKALIKES[ord(c)], c, re.IGNORECASE) for c in lookalikes)


def test_a_pasted_message_in_any_case_shows_no_language(matcher: Matcher) -> None:
    # The API's message (found exactly) and another written with a dotless i and in capitals are both taken out.
    match = matcher.match('{"message":"The request body has 1 error(s)"} ıNVALID REPLY TOKEN')
    assert not match.lang_sure
    assert matcher.match('{"message":"The request body has 1 error(s)"} my webhook').lang_sure


def test_a_bare_yes_or_no_is_small_talk_and_takes_no_topic_word(matcher: Matcher) -> None:
    assert [matcher.match(t).entry_id for t in ("no", "いいえ", "違います")] == ["smalltalk.reply"] * 3
    # Its label and title are typed names too: neither may be a topic's word ("reply" is the reply API's).
    assert matcher.match("reply").entry_id != "smalltalk.reply" and matcher.match("返事").entry_id != "smalltalk.reply"


def test_small_talk_with_a_problem_is_a_question_but_solved_is_thanks(matcher: Matcher) -> None:
    for text in ("thanks, but it still doesn't work", "ありがとう、でも動かない", "hello, my webhook fails"):
        assert matcher.match(text).entry_id not in {"smalltalk.thanks", "smalltalk.greeting"}, text
    for text in ("thank you, problem solved", "ありがとう！解決しました", "ありがとう、問題ありません", "thanks"):
        assert matcher.match(text).entry_id == "smalltalk.thanks", text


def test_it_works_now_is_thanks_and_it_does_not_is_not(matcher: Matcher) -> None:
    """ "fixed" after an answer got "wait a while and retry" (a fragment of "long until fixed"), "it works" the
    LINE outage check (a fragment of "not work")."""
    for text in ("fixed", "it works", "it worked", "works now", "that fixed it"):
        assert matcher.match(text).entry_id == "smalltalk.thanks", text
    for text in ("not fixed", "it does not work", "still not fixed"):
        assert matcher.match(text).entry_id != "smalltalk.thanks", text


def test_solved_in_japanese_is_thanks_and_not_solved_is_not(matcher: Matcher) -> None:
    """「解決しました」 after an answer got the DNS timeout's answer (a fragment of 「名前解決 タイムアウト」). Sudachi
    gives 「解決しない」 the same words, so small talk's whole phrases need the message to say no trouble."""
    for text in ("解決しました", "解決した", "直りました", "直った", "動いた", "ありがとう、解決しました"):
        assert matcher.match(text).entry_id == "smalltalk.thanks", text
    for text in ("解決しない", "直らない", "動かない", "まだ動かない"):
        assert matcher.match(text).entry_id != "smalltalk.thanks", text
    assert matcher.match("何ができる").entry_id == "bot.help"


@pytest.mark.parametrize(
    "text",
    [
        "LINE WORKS API 2.0 で 401",
        "LINE WORKSのBotがcallbackを受け取らない",
        "ラインワークスのBotでエラーが出ます",
        "LINEWORKS bot returns 403 when sending a message",
        "LINE Works bot callback not received",
        "POST https://www.worksapis.com/v1.0/bots/123/users/u1/messages 400 Bad Request",
        "X-WORKS-Signature does not match in my webhook",
    ],
)
def test_line_works_is_deflected(kb: Any, matcher: Matcher, text: str) -> None:
    """Works Mobile's business chat has its own bots, API and errors: not LINE's webhook or Messaging API."""
    match = matcher.match(text)
    assert (match.kind, match.entry_id) == ("fallback", kb.ui.elsewhere)
    links = [link.url for link in kb[kb.ui.elsewhere].links["ja"]]
    assert "https://developers.worksmobile.com/jp/docs/bot" in links


@pytest.mark.parametrize(
    ("text", "entry_id"),
    [
        ("LINE works fine but my webhook returns 500", "webhook.status.500"),
        ("my LINE bot works on my phone but the webhook returns 502", "webhook.status.502"),
        ("Line works on wifi, but my webhook returned 500 Internal Server Error", "webhook.status.500"),
    ],
)
def test_line_that_works_is_not_line_works(matcher: Matcher, text: str, entry_id: str) -> None:
    match = matcher.match(text)
    assert (match.kind, match.entry_id) == ("answer", entry_id)


@pytest.mark.parametrize(
    ("text", "sure"),
    [
        ("linebot.v3.messaging.exceptions.ApiException: (401)\nReason: Unauthorized", False),
        ("Error: Request failed with status code 401", False),
        ('at=error code=H12 desc="Request timeout" method=POST path="/callback" status=503', False),
        ("TypeError: Cannot read properties of undefined (reading 'replyToken')", False),
        ("my push fails:\nError: Request failed with status code 401", True),  # the asker's own sentence
        ("Error: Request failed with status code 401. Why does my token not work?", True),
    ],
)
def test_printed_output_alone_shows_no_language(matcher: Matcher, text: str, sure: bool) -> None:
    """A traceback, a log line or an exception pasted alone is no one's English: the conversation keeps its
    language. What is matched does not change, and a language asked for is sure."""
    match = matcher.match(text)
    assert match.lang_sure is sure and match.lang == "en"
    assert (match.kind, match.entry_id) == (matcher.match(text, "ja").kind, matcher.match(text, "ja").entry_id)
