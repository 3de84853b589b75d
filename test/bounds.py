# SPDX-License-Identifier: Apache-2.0
"""The one home of the tests' time bounds, and the one way to wait for a condition.

Each bound catches a hang; none is a speed target (speed, jitter and throughput live in
benchmarks/ and docs/BENCHMARKS.md): a busy shared 2-core machine starves a healthy process
for seconds. A test waits for what it needs (a subscription matched, a log line, a file, a
count reached) with :func:`wait_until`, never for a fixed time: ``test/test_rules.py`` fails
on a ``time.sleep`` longer than :data:`POLL_S` or a literal wall-clock comparison elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# a stop that hangs, or that finishes its work first, takes far longer; 2.1 s and 4.6 s were
# seen for healthy stops on loaded CI machines
STOP_S = 10.0
# a process start up to its ready line or state: a cold import of torch and rclpy on a loaded
# machine took 40 s
READY_S = 120.0
# anything else that happens "soon": messages arriving, a node draining, a service reply
HANG_S = 60.0
# a listener or recorder counts as drained after this long without a new message: a healthy
# stream of 10-20 Hz never pauses that long, a starved spin thread may
QUIET_S = 2.0
# a service request unanswered this long is sent again: one sent just as the service was
# discovered can be lost (the client matched the server before the server matched the
# client, and nothing resends it: one loaded run waited 60 s for a reply); a healthy reply
# takes milliseconds, a starved one a few seconds, and the requests resent are idempotent
RESEND_S = 5.0
# how often a wait polls
POLL_S = 0.05
# a scenario's moment, not a wait: a Ctrl-C this soon after start lands in the CLI's imports
# (on any load: imports take far longer)
IMPORTING_S = 0.3


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = HANG_S,
               alive: Callable[[], bool] | None = None, context: Callable[[], str] | None = None
               ) -> None:
    """Poll ``condition`` until it holds.

    Fails naming ``what`` (and ``context()``, a log say) after ``timeout_s``, or at once when
    ``alive()`` says the process the test waits on has gone.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        gone = alive is not None and not alive()
        if gone or time.monotonic() > deadline:
            why = 'the process ended' if gone else f'not within {timeout_s:g} s'
            detail = context() if context is not None else ''
            raise AssertionError(f'waiting for {what}: {why}\n{detail}')
        time.sleep(POLL_S)


def elapsed_since(start: float) -> float:
    """Seconds since ``start`` (a ``time.monotonic()`` value)."""
    return time.monotonic() - start
