"""What the web process imports before it can answer: checks first, the SDK after, the URL check's modules
on the first check (each in a fresh interpreter: this one has imported everything already)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "KNOWLEDGE_DIR"))}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env={**clean, **env}, timeout=60
    )


def test_bad_settings_stop_the_start_before_the_sdk_is_imported() -> None:
    # bot.LAZY_SDK_PACKAGES are registered by bot/__init__.py without running their __init__: no SDK code.
    code = (
        "import sys, bot\n"
        "from bot.app import create_app_or_exit\n"
        "try:\n"
        "    create_app_or_exit()\n"
        "except SystemExit as exc:\n"
        "    loaded = (m for m in sys.modules if m.startswith(('linebot', 'sudachipy')))\n"
        "    print(exc.code, sorted(m for m in loaded if m not in bot.LAZY_SDK_PACKAGES))\n"
    )
    result = _run(code, LINE_CHANNEL_SECRET="s")
    assert result.stdout.strip() == "3 []", result.stdout + result.stderr
    assert "missing environment variable(s): LINE_CHANNEL_ACCESS_TOKEN" in result.stderr


def _loaded_after(imports: str, unwanted: tuple[str, ...]) -> str:
    """Which of `unwanted` (packages or modules) a fresh interpreter has loaded after `import <imports>`."""
    code = (
        f"import sys, {imports}\n"
        f"unwanted = {unwanted!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in unwanted or m in unwanted))\n"
    )
    result = _run(code)
    return result.stdout.strip() + result.stderr


def test_url_check_modules_are_not_imported_with_the_diagnosis() -> None:
    heavy = ("httpcore", "h2", "dns", "cryptography", "bot.probe", "bot.urlguard")
    assert _loaded_after("bot.diagnose", heavy) == "[]"


def test_the_web_edge_imports_neither_the_asyncio_client_nor_the_legacy_sdk() -> None:
    unused = (
        *("aiohttp", "requests", "linebot.api"),
        *("linebot.v3.messaging.api.async_messaging_api", "linebot.v3.webhooks.api.async_dummy"),
    )
    assert _loaded_after("bot.app, bot.service, bot.webhook, bot.richmenu", unused) == "[]"


def test_the_sdk_packages_still_export_every_name_and_validate_every_call() -> None:
    # Registered lazily by bot/__init__.py: names import on first use, and MessagingApi's argument models
    # are built on a method's first call, which still rejects what pydantic rejected.
    code = (
        "import bot, linebot, linebot.v3.messaging as m\n"
        "from linebot.v3.messaging import AsyncMessagingApi, MessagingApi, ApiClient, Configuration\n"
        "from linebot.v3.webhooks import Event, MessageEvent\n"
        "from linebot.v3 import WebhookParser\n"
        "from linebot import LineBotApi\n"
        "api = MessagingApi(ApiClient(Configuration(host='http://127.0.0.1:9', access_token='t')))\n"
        "try:\n"
        "    api.reply_message_with_http_info(123)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, linebot.__version__ == linebot.__about__.__version__, len(dir(m)) > 200)\n"
    )
    result = _run(code)
    assert result.stdout.strip() == "ValidationError True True", result.stdout + result.stderr
