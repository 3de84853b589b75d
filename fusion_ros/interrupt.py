# SPDX-License-Identifier: Apache-2.0
"""A caught Ctrl-C must end the process with the code its handler chose."""

from __future__ import annotations


def forget_caught_interrupt() -> None:
    """Clear CPython's record of a KeyboardInterrupt that ended a string ``exec``; call it
    where a KeyboardInterrupt is caught before the process exits.

    CPython marks such an interrupt as unhandled even when a caller catches it (imports that
    build dataclasses or namedtuples run string ``exec``), and under ``python -m`` the
    interpreter then ends the process by SIGINT (exit -2) instead of with the code the
    handler chose: a loaded CI machine saw ``fusion-ros bag fuse`` print 'interrupted' and
    still die by SIGINT. Every string ``exec`` clears the mark as it starts.
    """
    exec('pass', {})  # a constant string, on purpose: see above
