# SPDX-License-Identifier: Apache-2.0
"""End a red CI run with what failed and why: each failing test's id and the last lines of
its failure, read from pytest's JUnit XML, so the last 40 lines of the log name the cause."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

LAST_LINES = 6


def failures(junit: Path) -> list[tuple[str, str]]:
    """``(test id, failure text)`` for every failed or errored test case."""
    found = []
    for case in ET.parse(junit).getroot().iter('testcase'):
        for child in case:
            if child.tag in ('failure', 'error'):
                path = case.get('classname', '').replace('.', '/')
                test_id = f'{path}.py::{case.get("name")}'
                text = (child.text or child.get('message') or '').strip()
                found.append((f'{test_id} ({child.tag})', text))
    return found


def main(argv: list[str]) -> int:
    reports = [Path(arg) for arg in argv[1:]] or [Path('test-results/junit.xml')]
    found = []
    for junit in reports:
        if not junit.is_file():
            print(f'CI summary: no {junit}: the run failed before the tests (setup or lint), '
                  'or a test hung past the per-test timeout (setup.cfg) and ended the run: '
                  "see the lines above (a hang prints every thread's stack)")
            continue
        found += failures(junit)
    print(f'CI summary: {len(found)} failing test(s)')
    for test_id, text in found:
        print(f'FAILED {test_id}')
        for line in text.splitlines()[-LAST_LINES:]:
            print(f'    {line[:200]}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main(sys.argv))
