"""A LINE bot that explains webhook, LINE app and Messaging API errors."""

import importlib.util
import sys


def _skip_legacy_sdk() -> None:
    """Register line-bot-sdk's top-level package without running its __init__.

    `import linebot.v3...` first runs linebot/__init__.py, which imports the legacy v2 API this bot
    never uses (LineBotApi and its models, requests, the v2 aiohttp client): 4.5 MB of heap in gunicorn's
    master and in every worker, and 0.2-0.4 s of start-up. The package's own spec is kept, so its
    submodules (linebot.v3.*, linebot.__about__) import exactly as before."""
    if "linebot" in sys.modules:
        return
    spec = importlib.util.find_spec("linebot")
    if spec is not None and spec.submodule_search_locations is not None:
        sys.modules["linebot"] = importlib.util.module_from_spec(spec)


_skip_legacy_sdk()
