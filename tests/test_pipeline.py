"""The matching algorithm on a small knowledge base of its own (tests/data/mini_kb), through public calls."""

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import knowledge, menus, render, vocabulary
from bot.evaluate import Question, is_right
from bot.knowledge import KnowledgeError
from bot.matcher import Matcher
from bot.settings import SETTINGS

MINI = Path(__file__).parent / "data" / "mini_kb"


@pytest.fixture(scope="module")
def mini() -> Matcher:
    return Matcher(knowledge.load(MINI))


def test_question_is_analysed_once_with_its_signals(mini: Matcher) -> None:
    q = mini.question("webhookがタイムアウトしちゃった")
    assert q.lang == "ja"
    assert "timeout" in q.tokens and "webhook" in q.tokens  # synonym from the vocabulary, particles gone


def test_exact_api_message_beats_status_code(mini: Matcher) -> None:
    text = 'ApiException: (400)\nReason: Bad Request\nHTTP response body: {"message":"Invalid reply token"}'
    match = mini.match(text)
    assert (match.kind, match.entry_id) == ("answer", "messaging_api.invalid_reply_token")


def test_status_code_with_signs_of_calling_the_api_goes_to_the_api(mini: Matcher) -> None:
    assert (
        mini.match("POST https://api.line.me/v2/bot/message/push returned 401").entry_id == "messaging_api.unauthorized"
    )
    assert mini.match("webhook returned 401").entry_id == "webhook.status.401"


def test_verify_dialog_reads_the_code_in_parentheses(mini: Matcher) -> None:
    match = mini.match("The webhook returned an HTTP status code other than 200.(302 Found)")
    assert (match.entry_id, match.code) == ("webhook.status.3xx", 302)
    assert (
        mini.match("Webhookが200以外のHTTPステータスコードを返しました。(302 Found)").entry_id == "webhook.status.3xx"
    )


def test_exact_strings_from_the_vocabulary(mini: Matcher) -> None:
    line = 'at=error code=H12 desc="Request timeout" method=POST path="/callback" status=503 service=30000ms'
    assert mini.match(line).entry_id == "webhook.reason.request_timeout"
    assert mini.match("verify fails: the id_token is rejected").entry_id == "outside.line_login"
    assert mini.match("verify fails: invalid token").entry_id != "outside.line_login"  # not the name


def test_deflection_is_a_fallback_with_its_id(mini: Matcher) -> None:
    match = mini.match("LIFFアプリでログインできない 400エラー")
    assert (match.kind, match.entry_id) == ("fallback", "outside.line_login")
    assert is_right(Question(q="x", expect="none"), match)
    assert not is_right(Question(q="x", expect="outside.payments"), match)  # the deflection it names
    text = render.render_text(mini.kb, match)
    assert mini.kb["outside.line_login"].text["ja"].summary in text


def test_expect_none_with_accept_also_takes_those_answers(mini: Matcher) -> None:
    answer = mini.match("push message failed")
    assert answer.entry_id == "messaging_api.5xx"
    assert not is_right(Question(q="x", expect="none"), answer)
    assert is_right(Question(q="x", expect="none", accept=("messaging_api.5xx",)), answer)
    assert not is_right(Question(q="x", expect="none", accept=("webhook.signature",)), answer)


def test_deflections_are_never_suggested(mini: Matcher) -> None:
    for text in ("what is the weather in Osaka", "LINE login webhook 500 server", "liff"):
        match = mini.match(text)
        assert "outside.line_login" not in match.suggestions
        assert "outside.line_login" not in menus.options(mini.kb, match)


def test_a_detail_beats_its_reason(mini: Matcher) -> None:
    match = mini.match("could_not_connect Connection timeout")
    assert (match.kind, match.entry_id) == ("answer", "webhook.detail.connection_timeout")


def test_unrelated_question_falls_back(mini: Matcher) -> None:
    assert mini.match("おすすめのラーメン屋").kind == "fallback"
    assert mini.match("LINEのIDを変更したい").kind == "fallback"


def test_fragment_of_several_topics_asks_back(mini: Matcher) -> None:
    match = mini.match("timeout")
    assert match.kind == "clarify"
    assert {"webhook.reason.request_timeout", "webhook.detail.connection_timeout"} <= set(match.choices)


def test_typo_in_a_rare_word(mini: Matcher) -> None:
    assert mini.match("conection timout").entry_id == "webhook.detail.connection_timeout"


def test_long_paste_the_error_line_decides(mini: Matcher) -> None:
    text = (
        "I deployed my bot to Heroku last week and set the channel secret.\n"
        "Users say the bot app stopped answering and I want to restart it.\n"
        "In the console I see: error_status_code 500\n"
        "What should I check?"
    )
    match = mini.match(text)
    assert (match.entry_id, match.code) == ("webhook.status.500", 500)


def test_one_sentence_of_a_long_story_can_name_the_topic(mini: Matcher) -> None:
    text = (
        "先週サーバーを新しいクラウドに引っ越して、設定ファイルもいろいろ書き換えました。"
        "それからコンソールに接続に失敗と出ます。どこから見ればいいですか"
    )
    assert mini.match(text).entry_id == "webhook.detail.connection_failed"
    whole_only = Matcher(mini.kb, mini.vocabulary, dataclasses.replace(SETTINGS, sentence_weight=0.0))
    assert whole_only.match(text).kind == "fallback"  # the story's other words dilute the whole question


def test_whole_phrases_are_compared_as_text(mini: Matcher) -> None:
    assert mini.match("このボットは何ができる？").entry_id == "bot.help"  # grammar words, with a soft word
    assert mini.match("メニュー").entry_id == "bot.help"  # an "=text" alias: the whole question
    assert mini.match("LINE VOOMの使い方").entry_id != "bot.help"  # ... and not inside a longer one
    assert mini.match("500エラー").kind == "clarify"  # a code is not grammar


def test_a_how_to_question_gets_no_error_explanation(mini: Matcher) -> None:
    assert mini.match("push message failed").entry_id == "messaging_api.5xx"
    assert mini.match("how to send a push message").kind == "fallback"  # nothing goes wrong: not a 5xx
    assert mini.match("how to restart the app").entry_id == "line_app.restart_app"  # a procedure answers it
    assert mini.match("how to fix: push message failed").entry_id == "messaging_api.5xx"


def test_another_chat_platform_without_line_is_not_ours(mini: Matcher) -> None:
    assert mini.match("push returned 500").entry_id == "messaging_api.5xx"
    slack = mini.match("my Slack bot: push returned 500")
    assert (slack.kind, slack.entry_id, slack.suggestions) == ("fallback", "outside.other_platforms", ())
    assert mini.match("moving a Slack bot to LINE: push returned 500").entry_id == "messaging_api.5xx"
    assert mini.match("Microsoft Teams push returned 500").kind == "fallback"  # a phrase of two words
    assert mini.match("my teams push returned 500").entry_id == "messaging_api.5xx"  # ... not one of them


def test_the_longer_phrase_wins(mini: Matcher) -> None:
    # "line app error 500" leaves the phrase {app} (with its soft words); "restart line app" holds it and
    # more: 500 fits less.
    question = "restart line app error"
    flat = Matcher(mini.kb, mini.vocabulary, dataclasses.replace(SETTINGS, subsumed=1.0)).scores(question)
    scores = mini.scores(question)
    assert scores["line_app.restart_app"] == pytest.approx(flat["line_app.restart_app"])
    assert scores["line_app.500"] < flat["line_app.500"] - 4


def test_who_is_asking_picks_between_status_entries(mini: Matcher) -> None:
    assert mini.match("LINEアプリで500").entry_id == "line_app.500"
    assert mini.match("push returned 500").entry_id == "messaging_api.5xx"
    assert mini.match("500エラー").kind == "clarify"


def test_vocabulary_errors_name_file_and_field(tmp_path: Path) -> None:
    kb = knowledge.load(MINI)
    (tmp_path / "vocabulary.yaml").write_text("stopwords: [ok, 3]\nexact:\n  no.such_entry: [Invalid thing]\n")
    problems = [str(p) for p in vocabulary.check(tmp_path, kb)]
    assert any("vocabulary.yaml" in p and "stopwords" in p for p in problems)
    assert any("exact.no.such_entry" in p and "unknown entry id" in p for p in problems)
    with pytest.raises(KnowledgeError):
        vocabulary.load(tmp_path, kb)


def test_an_entry_for_another_status_code_does_not_answer(mini: Matcher) -> None:
    assert mini.match("api.line.me answers: access token invalid").entry_id == "messaging_api.unauthorized"
    # A code read from the question, with no entry of its own: the 401 entry's words do not make it a 401.
    match = mini.match("api.line.me 411 access token invalid")
    assert (match.kind, match.entry_id) == ("fallback", None)
    assert "messaging_api.unauthorized" not in match.suggestions  # ... nor is it suggested


def test_a_phrase_naming_the_question_beats_one_holding_it(mini: Matcher) -> None:
    # "connection refused" is exactly an alias of connection_failed; goaway's "connection refused while
    # connecting" only holds it: a partial fit there, not "the question is a fragment of this phrase".
    question, goaway = "connection refused", "webhook.detail.connection_failed_goaway"
    share = Matcher(mini.kb, mini.vocabulary, dataclasses.replace(SETTINGS, alias_weight=0.0)).scores(question)
    fit = (mini.scores(question)[goaway] - (1 - SETTINGS.alias_weight) * share[goaway]) / (100 * SETTINGS.alias_weight)
    assert fit < SETTINGS.contained - 0.1
    assert mini.match(question).entry_id == "webhook.detail.connection_failed"


def _mini_with(tmp_path: Path, entries: str, vocabulary: str = "") -> knowledge.KnowledgeBase:
    """The fixture knowledge base with more entries (YAML list items) appended, and `vocabulary` replacing
    top-level keys of its vocabulary, loaded from tmp_path."""
    for name in ("links.yaml", "ui.yaml", "vocabulary.yaml"):
        (tmp_path / name).write_text((MINI / name).read_text())
    if vocabulary:
        with (tmp_path / "vocabulary.yaml").open("a") as file:
            file.write(vocabulary)
    (tmp_path / "entries.yaml").write_text((MINI / "entries.yaml").read_text() + entries)
    return knowledge.load(tmp_path)


@pytest.mark.parametrize(
    "codes",
    [
        "status: ['403', '401']",  # a second entry that also explains 401, listing it after its own code
        "also_status: ['401']",  # one with no code of its own ("Invalid reply token" is a 400 the API returns)
    ],
)
def test_entries_sharing_a_status_code_are_chosen_by_the_words(tmp_path: Path, codes: str) -> None:
    revoked = f"""
- id: messaging_api.token_revoked
  audience: sender
  {codes}
  links: [help_center]
  ja: {{title: トークン失効, label: トークン失効, summary: 説明です。, steps: [確認します。], aliases: [トークン 失効]}}
  en: {{title: Token revoked, label: Token revoked, summary: Explained., steps: [Check.], aliases: [token revoked]}}
"""
    matcher = Matcher(_mini_with(tmp_path, revoked))
    assert matcher.match("push to api.line.me: 401, token revoked").entry_id == "messaging_api.token_revoked"
    # No words for either: the entry owning 401 answers.
    assert matcher.match("push to api.line.me answered 401").entry_id == "messaging_api.unauthorized"
    # Nobody named: a question back offers the entries about 401, not the one naming it second.
    back = matcher.match("401")
    assert back.kind == "clarify"
    assert "messaging_api.token_revoked" not in back.choices


def test_also_status_lists_real_codes(tmp_path: Path) -> None:
    bad = """
- id: messaging_api.odd
  audience: sender
  also_status: [other]
  links: [help_center]
  ja: {title: 変, label: 変, summary: 説明です。, steps: [確認します。], aliases: [変]}
  en: {title: Odd, label: Odd, summary: Explained., steps: [Check.], aliases: [odd]}
"""
    with pytest.raises(knowledge.KnowledgeError, match=r"entries\.yaml.*messaging_api\.odd.*also_status"):
        _mini_with(tmp_path, bad)


def test_a_word_in_most_entries_names_no_topic(mini: Matcher) -> None:
    # "webhook" is in most of the fixture's entries: alone it is explained by all of them and picks none.
    for question in ("webhook", "Webhookとは何ですか"):
        match = mini.match(question)
        assert match.kind == "fallback" and match.entry_id is None
    assert mini.match("webhook timeout").entry_id == "webhook.reason.request_timeout"


def test_another_status_code_is_the_webhooks_only_when_the_question_is_about_it(mini: Matcher) -> None:
    # An operator's 418 has no entry: "another status code" explains what the webhook answered, and a 418
    # in some console (the operator named only by "bot") is not that.
    assert mini.match("my webhook returns 418").entry_id == "webhook.status.other"
    assert mini.match("nginx answers 418").entry_id == "webhook.status.other"
    other = mini.match("the bot console shows 418")
    assert other.kind == "fallback" and other.entry_id is None


def test_a_log_of_lines_own_request_routes_to_the_operator(mini: Matcher) -> None:
    log = "POST /callback 500\nUser-Agent: LineBotWebhook/2.0\nerror from api.line.me"
    assert mini.match(log).entry_id == "webhook.status.500"
    assert mini.match("POST https://api.line.me/v2/bot/message/push 500").entry_id == "messaging_api.5xx"


def test_a_reason_phrase_alone_that_the_app_shows_too_asks_back(tmp_path: Path) -> None:
    forbidden = """
- id: webhook.status.403
  audience: operator
  status: ['403']
  links: [help_center]
  ja: {title: Webhookの403, label: Webhookの403, summary: 説明です。, steps: [確認します。], aliases: [Forbidden]}
  en: {title: Webhook 403, label: Webhook 403, summary: Explained., steps: [Check.], aliases: [forbidden]}
- id: line_app.403
  audience: app_user
  status: ['403']
  links: [help_center]
  ja: {title: LINEで403, label: LINEで403, summary: 説明です。, steps: [確認します。], aliases: [Forbidden LINE]}
  en: {title: 403 in LINE, label: 403 in LINE, summary: Explained., steps: [Check.], aliases: [forbidden in line]}
"""
    kb = _mini_with(
        tmp_path, forbidden, "status_phrases: {internal server error: 500, unauthorized: 401, forbidden: 403}\n"
    )
    matcher = Matcher(kb)
    # The webhook's entry fits "forbidden" in full, but the LINE app shows "403 Forbidden" too: ask.
    back = matcher.match("Forbidden")
    assert back.kind == "clarify" and {"webhook.status.403", "line_app.403"} <= set(back.choices)
    assert matcher.match("webhook forbidden").entry_id == "webhook.status.403"  # someone is named
    assert matcher.match("unauthorized").entry_id == "webhook.status.401"  # no app entry owns 401


def test_the_exception_at_the_end_of_a_long_traceback_counts(mini: Matcher) -> None:
    frames = "".join(f'  File "/app/handler.py", line {n}, in handle\n    do_something()\n' for n in range(60))
    traceback = "Traceback (most recent call last):\n" + frames + "ApiException: (401) Invalid reply token"
    assert len(traceback) > 2000
    assert mini.match(traceback).entry_id == "messaging_api.invalid_reply_token"


def test_a_bare_code_no_entry_explains_falls_back(mini: Matcher) -> None:
    # "HTTP" and "status" name no topic: whatever phrases hold "http", 451 alone is not theirs.
    for question in ("HTTP 451", "status 451"):
        match = mini.match(question)
        assert match.kind == "fallback" and match.entry_id is None
    assert mini.match("webhook returns 451").entry_id == "webhook.status.other"  # the webhook's, named


def test_words_that_lean_to_one_owner_of_a_code_pick_it(mini: Matcher) -> None:
    # Both the webhook's 401 and the API's 401 own the code; no entry fits in full (under 65), but the
    # words ("middleware") lean clearly to one of them.
    assert mini.match("ミドルウェアが401を返している").entry_id == "webhook.status.401"
    assert mini.match("401").kind == "clarify"  # nothing leans: ask


def test_something_wrong_picks_the_error_among_close_entries(tmp_path: Path) -> None:
    # A set-up guide (no status, reason or detail) holding the same phrase as the Connection timeout detail.
    guide = """
- id: server.firewall_setup
  audience: operator
  links: [help_center]
  ja: {title: ファイアウォールの設定, label: 設定, summary: 説明です。, steps: [設定します。], aliases: [パケット 破棄]}
  en: {title: Firewall set-up, label: Firewall, summary: Explained., steps: [Set it up.], aliases: [packets dropped]}
"""
    kb = _mini_with(tmp_path, guide)
    matcher = Matcher(kb)
    asked = matcher.match("packets dropped")
    assert asked.kind == "clarify"
    assert {"server.firewall_setup", "webhook.detail.connection_timeout"} <= set(asked.choices)
    # Something going wrong: of the close entries, the one that explains an error answers.
    assert matcher.match("packets dropped: error").entry_id == "webhook.detail.connection_timeout"


def test_an_error_that_is_also_a_procedure_still_explains_what_went_wrong(tmp_path: Path) -> None:
    both = """
- id: server.dedupe_guide
  audience: operator
  links: [help_center]
  ja: {title: 重複の扱い, label: 重複, summary: 説明です。, steps: [確認します。], aliases: [二重 届く]}
  en: {title: Duplicates, label: Duplicates, summary: Explained., steps: [Check.], aliases: [delivered twice]}
- id: messaging_api.retry_key
  audience: anyone
  status: ['409']
  howto: true
  links: [help_center]
  ja: {title: リトライキー, label: リトライキー, summary: 説明です。, steps: [確認します。], aliases: [二重 届く]}
  en: {title: Retry key, label: Retry key, summary: Explained., steps: [Check.], aliases: [delivered twice]}
"""
    matcher = Matcher(_mini_with(tmp_path, both))
    assert matcher.match("delivered twice").kind == "clarify"
    # 「〜てしまう」 says something went wrong, as "error" does: the entry explaining an error answers,
    # though it also answers "how do I ..." (howto: true).
    assert matcher.match("二重に届いてしまう").entry_id == "messaging_api.retry_key"
    assert matcher.match("delivered twice, an error?").entry_id == "messaging_api.retry_key"


def test_a_one_word_phrase_needs_its_soft_words(tmp_path: Path) -> None:
    # "LINE self" is one content word and a soft one: Python's `self` in a traceback is not it.
    selfbots = """
- id: outside.selfbots
  audience: outside
  links: [help_center]
  ja: {title: セルフボット, label: セルフボット, summary: 対象外です。, steps: [], aliases: [セルフボット]}
  en: {title: Self-bots, label: Self-bots, summary: Not covered., steps: [], aliases: [line self]}
"""
    kb = _mini_with(tmp_path, selfbots)
    fit_only = Matcher(kb, settings=dataclasses.replace(SETTINGS, alias_weight=1.0))
    assert fit_only.scores("my LINE self account")["outside.selfbots"] == pytest.approx(100.0)
    assert fit_only.scores("await self.post() failed").get("outside.selfbots", 0.0) < 100 * SETTINGS.contained


def test_the_first_sentence_weighs_more_than_a_later_one(mini: Matcher) -> None:
    title = "The webhook request timed out again today."
    story = "Then I also restarted the app on my phone twice."
    first = mini.scores(f"{title} {story}")["webhook.reason.request_timeout"]
    later = mini.scores(f"{story} {title}")["webhook.reason.request_timeout"]
    assert first > later


def test_a_product_named_exactly_is_pointed_to_before_anything_else(tmp_path: Path) -> None:
    account = """
- id: outside.account
  audience: outside
  links: [help_center]
  ja: {title: アカウント, label: アカウント, summary: 対象外です。, steps: [], aliases: [アカウント 停止]}
  en: {title: Accounts, label: Accounts, summary: Not covered., steps: [], aliases: [account suspended]}
"""
    matcher = Matcher(_mini_with(tmp_path, account))
    question = "account suspended after the id_token check failed"
    assert max(matcher.scores(question).items(), key=lambda kv: kv[1])[0] == "outside.account"
    # id_token is LINE Login's exactly: that deflection, though another scores first.
    match = matcher.match(question)
    assert (match.kind, match.entry_id) == ("fallback", "outside.line_login")


@pytest.mark.parametrize(
    ("text", "sure"),
    [
        ("could_not_connect / Connection timeout", False),  # console strings: English in both consoles
        ("webhook 500", False),
        ("Internal Server Error", False),  # a status phrase
        ("my webhook returns 500", True),
        ("Webhookが500", True),
        ("Error: Request failed with status code 500\n    at wrapError (dist/http.js:10:15)", False),  # printed
        ("my webhook returns this:\nError: Request failed with status code 500", True),
    ],
)
def test_a_message_of_console_strings_shows_no_language(mini: Matcher, text: str, sure: bool) -> None:
    assert mini.match(text).lang_sure is sure
    assert mini.match(text, "ja").lang_sure  # a language asked for is sure


def test_a_greeting_is_a_whole_message_not_a_word_in_a_question(tmp_path: Path) -> None:
    hello = """
- id: smalltalk.hello
  audience: anyone
  alone: true
  links: [help_center]
  ja: {title: こんにちは, label: あいさつ, summary: こんにちは。, steps: [], aliases: [こんにちは]}
  en: {title: Hello, label: Hello, summary: Hello., steps: [], aliases: [hello]}
"""
    matcher = Matcher(_mini_with(tmp_path, hello))
    assert matcher.match("Hello!").entry_id == "smalltalk.hello"
    assert matcher.match("hello there, bot").entry_id == "smalltalk.hello"
    story = "Hello, I am just trying to run the examples on a sandbox and nothing comes back at all."
    assert "smalltalk.hello" not in matcher.scores(story)
    assert "smalltalk.hello" not in matcher.match(story).suggestions


def test_an_unknown_compound_counts_through_its_parts(mini: Matcher) -> None:
    # Sudachi gives 「確認方法」 and its parts 確認, 方法; no entry uses the compound, so only the parts count.
    tokens = mini.question("ログの確認方法").tokens
    assert "確認方法" not in tokens
    assert "方法" in tokens
    # A prefixed noun no entry uses (「未設定」) counts as its noun, as before the prefix was kept.
    tokens = mini.question("トークンが未設定").tokens
    assert "未設定" not in tokens
    assert "設定" in tokens


def _mini_words() -> list[str]:
    """Words and phrases of the fixture's entries (titles, aliases, summaries), to build questions from."""
    pieces = set()
    for entry in knowledge.load(MINI).entries.values():
        for text in entry.text.values():
            for part in (text.title, text.summary, *text.aliases):
                pieces.update(part.removeprefix("=").split())
    return sorted(pieces)


@pytest.fixture(scope="module")
def pruned_and_exhaustive(mini: Matcher) -> tuple[Matcher, Matcher]:
    """Sentences off (they take the best of two scores); keep_min 0: no entry sharing a word is skipped."""
    whole = dataclasses.replace(SETTINGS, sentence_weight=0.0)
    return Matcher(mini.kb, mini.vocabulary, whole), Matcher(
        mini.kb, mini.vocabulary, dataclasses.replace(whole, keep_min=0.0)
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_mini_words()), min_size=1, max_size=12))
def test_pruned_scoring_equals_exhaustive_scoring(
    pruned_and_exhaustive: tuple[Matcher, Matcher], pieces: list[str]
) -> None:
    """Retrieval skips entries whose words cannot lift them to keep_min; with keep_min 0 nothing can be
    skipped. Kept entries and their scores (the same floats, hence the same ranking) must not differ."""
    pruned, exhaustive = pruned_and_exhaustive
    text = " ".join(pieces)
    expected = {e: s for e, s in exhaustive.scores(text).items() if s >= SETTINGS.keep_min}
    assert pruned.scores(text) == expected


def test_a_later_code_decides_when_the_first_has_no_entry(mini: Matcher) -> None:
    # A proxy's page under an unexplained 411 names a code that has an entry: that one answers.
    paste = "push to api.line.me\nHTTP/1.1 411 Length Required\n<TITLE>401 Unauthorized</TITLE>"
    match = mini.match(paste)
    assert (match.kind, match.entry_id, match.code) == ("answer", "messaging_api.unauthorized", 401)
    # A code with an entry still decides first, and "another status code" waits for the codes after it.
    assert mini.match("webhook returns 401 then 418").entry_id == "webhook.status.401"
    assert mini.match("webhook returns 418 then 401").entry_id == "webhook.status.401"


def test_several_details_of_the_reason_named_answer_the_reason(mini: Matcher) -> None:
    rows = (
        "All could_not_connect, with different details:\n"
        "could_not_connect Connection failed\ncould_not_connect Connection timeout"
    )
    assert mini.match(rows).entry_id == "webhook.reason.could_not_connect"
    # The reason not named, or details of different reasons: ask which detail.
    back = mini.match("Connection failed and Connection timeout")
    assert back.kind == "clarify"
    assert set(back.choices) == {"webhook.detail.connection_failed", "webhook.detail.connection_timeout"}


def test_an_entrys_title_or_label_typed_alone_names_it(tmp_path: Path) -> None:
    # LINE for PC shows no buttons: people type the label they saw. A label whose words other entries share
    # ("Messaging API", "API") names its entry; one shared by two entries names neither.
    extra = """
- id: messaging_api.egress
  audience: sender
  links: [help_center]
  ja: {title: APIに届かない, label: APIに届かない, summary: 説明です。, steps: [確認します。],
       aliases: [外向き通信 遮断]}
  en: {title: The API cannot be reached, label: API unreachable, summary: Explained., steps: [Check.],
       aliases: [egress blocked]}
- id: messaging_api.twin
  audience: sender
  links: [help_center]
  ja: {title: 双子, label: Messaging API 5xx, summary: 説明です。, steps: [確認します。], aliases: [双子 項目]}
  en: {title: Twin, label: Messaging API 5xx, summary: Explained., steps: [Check.], aliases: [twin entry]}
"""
    matcher = Matcher(_mini_with(tmp_path, extra))
    for typed in ("API unreachable", "The API cannot be reached", "APIに届かない"):
        assert matcher.match(typed).entry_id == "messaging_api.egress", typed
    assert matcher.match("Messaging API 5xx").entry_id != "messaging_api.twin"  # two entries carry it


def test_an_exact_cased_string_is_found_only_as_written(tmp_path: Path) -> None:
    # A product name that is also plain words: "LINE WORKS" is Works Mobile's chat, "LINE works fine" is English.
    kb = _mini_with(tmp_path, "", "exact_cased:\n  outside.other_platforms: [LINE WORKS]\n")
    matcher = Matcher(kb)
    for text in ("LINE WORKSのBotで401", "ＬＩＮＥ　ＷＯＲＫＳ bot returns 500", "LINE  WORKS callback"):
        assert (matcher.match(text).kind, matcher.match(text).entry_id) == ("fallback", "outside.other_platforms")
    for text in ("LINE works fine but my webhook returns 500", "my LINE bot works: webhook returned 500"):
        assert matcher.match(text).entry_id == "webhook.status.500"
    assert matcher.match("LINE WORKSHOP webhook returned 500").entry_id == "webhook.status.500"  # not inside a word


@pytest.mark.parametrize(
    ("yaml_text", "field"),
    [
        ("exact_cased:\n  no.such_entry: [LINE WORKS]\n", "exact_cased.no.such_entry"),
        ("exact_cased:\n  outside.other_platforms: [line works]\n", "exact_cased.outside.other_platforms"),
        ("exact_cased:\n  outside.other_platforms: LINE WORKS\n", "exact_cased.outside.other_platforms"),
    ],
)
def test_exact_cased_errors_name_the_field(tmp_path: Path, yaml_text: str, field: str) -> None:
    (tmp_path / "vocabulary.yaml").write_text(yaml_text)
    problems = [str(p) for p in vocabulary.check(tmp_path, knowledge.load(MINI))]
    assert problems and all("vocabulary.yaml" in p and field in p for p in problems), problems


def test_a_deflections_name_alone_is_a_fallback(mini: Matcher) -> None:
    # "Slack" typed alone is the deflection's whole-message alias: before, `ask --json` said kind "answer".
    match = mini.match("Slack")
    assert (match.kind, match.entry_id) == ("fallback", "outside.other_platforms")


def test_a_console_string_with_a_word_misspelt_is_still_that_string(mini: Matcher) -> None:
    question = mini.question("webhook stats show conection timeout, server is a VPS")
    assert question.signals.details == ("webhook.detail.connection_timeout",)
    assert mini.match("webhook stats show conection timeout, server is a VPS").entry_id == (
        "webhook.detail.connection_timeout"
    )
    # The fixed words must stand together, as in the string: these are two unrelated words.
    assert mini.question("the conection was fine until a timeout").signals.details == ()


def test_a_code_said_of_the_webhook_is_the_webhooks_when_the_question_names_several_askers(mini: Matcher) -> None:
    # "push" names a sender and "webhook" an operator: the question alone says nobody.
    both = "push works and the access token is set. The webhook returns 500"
    assert mini.question(both).signals.codes == (500,)
    assert mini.match(both).entry_id == "webhook.status.500"
    # Here the clause before the code names the push: the webhook's words elsewhere do not claim the 500.
    assert mini.match("The webhook is set, but the push returns 500").entry_id != "webhook.status.500"


def test_a_vocabulary_without_its_exact_strings_still_builds_a_matcher(mini: Matcher) -> None:
    # The 5,000-entry benchmark drops the exact strings (their ids are not in its generated entries).
    bare = Matcher(mini.kb, dataclasses.replace(mini.vocabulary, exact=()))
    assert bare.question("conection timeout").signals.details == ("webhook.detail.connection_timeout",)
