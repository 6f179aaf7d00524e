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
    # `linebot` alone is bot/__init__.py's registration of the package without its __init__: no SDK code.
    code = (
        "import sys\n"
        "from bot.app import create_app_or_exit\n"
        "try:\n"
        "    create_app_or_exit()\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, sorted(m for m in sys.modules if m.startswith(('linebot.', 'sudachipy'))))\n"
    )
    result = _run(code, LINE_CHANNEL_SECRET="s")
    assert result.stdout.strip() == "3 []", result.stdout + result.stderr
    assert "missing environment variable(s): LINE_CHANNEL_ACCESS_TOKEN" in result.stderr


def test_url_check_modules_are_not_imported_with_the_diagnosis() -> None:
    code = (
        "import sys, bot.diagnose\n"
        "heavy = ('httpcore', 'h2', 'dns', 'cryptography', 'bot.probe', 'bot.urlguard')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
    )
    result = _run(code)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
