"""Run pedpain, and SIGKILL it from inside at the n-th audited operation that matches.

Usage: python kill_at.py EVENT NEEDLE N PEDPAIN-ARGS...
EVENT is a CPython audit event (``os.rename`` covers os.replace, ``os.remove`` covers
unlink, ``open`` every file opened); NEEDLE a text its arguments must contain. The kill
lands just before the n-th matching operation runs: a real SIGKILL, no cleanup, at a
moment set by the command's own progress. Used by test_kill_resume.py.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    event, needle, n, args = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    seen = 0

    def hook(name: str, hook_args: tuple[object, ...]) -> None:
        nonlocal seen
        if name == event and any(needle in str(a) for a in hook_args):
            seen += 1
            if seen == n:
                os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)
    from pedpain.cli.main import run

    sys.exit(run(args))


if __name__ == "__main__":  # spawned workers import this file without running it
    main()
