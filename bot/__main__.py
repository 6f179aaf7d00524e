"""`python -m bot`: the command line."""

import os
import sys

try:
    from bot.cli import main  # inside: Ctrl-C during the imports (the SDK, Sudachi) ends quietly too

    code = main()
    sys.stdout.flush()
except BrokenPipeError:
    # `python -m bot show --json | head`: the reader left. Python's documented way out: point stdout at
    # devnull so the interpreter's final flush does not raise again, and exit quietly.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 1
except KeyboardInterrupt:
    # Ctrl-C in a long eval, a URL check or a chat's answer: no traceback; 130 as shells report SIGINT.
    print(file=sys.stderr)
    code = 130
sys.exit(code)
