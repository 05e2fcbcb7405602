"""How a long-running command stops: SIGINT (Ctrl+C) or SIGTERM ends it with one line, exit 0.

Why not ``sys.exit`` in a signal handler: the handler runs wherever the main thread is when the
signal arrives. A second signal (``make`` passes Ctrl+C to the whole process group, then a
supervisor sends SIGTERM) can land while the interpreter runs its atexit callbacks, so
``SystemExit`` is raised inside one of them (torch's ``dump_compile_times``) and Python prints
``Exception ignored in atexit callback ... SystemExit: 0``. Here the first signal ignores any
further SIGINT/SIGTERM before it interrupts the main thread as ``KeyboardInterrupt`` (which
waitress's loop and wasyncore re-raise rather than swallow; waitress's ``run()`` ends on it and
returns), and the command then prints ``stopped`` and exits 0: shutdown and the atexit
callbacks run undisturbed.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []  # the stop signal seen, if any


def _stop(signum: int, frame: object) -> None:
    _received.append(signum)
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)  # the first signal stops; the rest are not heard
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def stoppable() -> Iterator[None]:
    """Run the body until SIGINT/SIGTERM; then print ``stopped`` and exit with status 0."""
    previous = {s: signal.signal(s, _stop) for s in STOP_SIGNALS}
    try:
        yield
    except KeyboardInterrupt:
        _stopped()
    if _received:  # the body caught the interrupt itself (waitress's run() does) and returned
        _stopped()
    for s, handler in previous.items():
        signal.signal(s, handler)


def _stopped() -> None:
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    click.echo("stopped")
    sys.stdout.flush()
    raise SystemExit(0) from None
