"""`python -m bot`: the command line."""

import os
import sys

from bot.cli import main

try:
    code = main()
    sys.stdout.flush()
except BrokenPipeError:
    # `python -m bot show --json | head`: the reader left. Python's documented way out: point stdout at
    # devnull so the interpreter's final flush does not raise again, and exit quietly.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 1
sys.exit(code)
