# SPDX-License-Identifier: Apache-2.0
"""Rules over the test suite itself: no test may depend on how busy the machine is.

A fixed sleep standing in for "ready" and a literal wall-clock limit both pass on a quiet
machine and fail on a loaded one. Waits go through ``test.bounds.wait_until`` and limits come
from ``test/bounds.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from test.bounds import POLL_S

TEST_DIR = Path(__file__).parent
CLOCKS = {'monotonic', 'time', 'perf_counter', 'time_ns', 'monotonic_ns', 'perf_counter_ns'}


def _is_clock_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCKS and isinstance(node.func.value, ast.Name)
            and node.func.value.id == 'time')


def _has_clock(node: ast.AST, clocked: set[str]) -> bool:
    return any(_is_clock_call(n) or (isinstance(n, ast.Name) and n.id in clocked)
               for n in ast.walk(node))


def _literal(node: ast.AST) -> float | None:
    """The value of a numeric literal (``-1``, ``2.5``), else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _literal(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    return None


def timing_violations(source: str, name: str = '<test>') -> list[str]:
    """Fixed sleeps over ``POLL_S`` and wall-clock comparisons or deadlines with a literal."""
    tree = ast.parse(source)
    # names that hold a clock reading or a difference of them (elapsed = time.monotonic() - t)
    clocked: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _has_clock(node.value, set()):
            clocked.update(t.id for t in node.targets if isinstance(t, ast.Name))
    found = []
    for node in ast.walk(tree):
        where = f'{name}:{getattr(node, "lineno", "?")}'
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', '')
            if called == 'sleep' and node.args:
                value = _literal(node.args[0])
                if value is not None and value > POLL_S:
                    found.append(f'{where}: sleep({value:g}) stands in for a condition')
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if (any(_has_clock(o, clocked) for o in operands)
                    and any(_literal(o) is not None for o in operands)):
                found.append(f'{where}: wall-clock time compared with a literal')
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            sides = (node.left, node.right)
            if any(_is_clock_call(s) for s in sides) and any(_literal(s) for s in sides):
                found.append(f'{where}: a deadline from a literal number of seconds')
    return found


def test_the_rule_finds_sleeps_and_literal_time_limits():
    bad = '\n'.join([
        'import time',
        'time.sleep(0.3)',
        'deadline = time.monotonic() + 10',
        'start = time.monotonic()',
        'elapsed = time.monotonic() - start',
        'assert elapsed < 2.0',
        'assert time.monotonic() - start < 5',
    ])
    found = timing_violations(bad)
    assert sorted(int(f.split(':')[1]) for f in found) == [2, 3, 6, 7], found
    ok = '\n'.join([
        'import time',
        'from test.bounds import STOP_S, wait_until',
        'time.sleep(0.05)',
        'start = time.monotonic()',
        'assert time.monotonic() - start < STOP_S',
        'wait_until(lambda: True, "x")',
    ])
    assert timing_violations(ok) == []


def test_no_test_sleeps_for_readiness_or_limits_wall_clock_time_with_a_literal():
    found = []
    for path in sorted(TEST_DIR.rglob('*.py')):
        if path.name in ('bounds.py', 'test_rules.py'):
            continue
        found += timing_violations(path.read_text(), str(path.relative_to(TEST_DIR.parent)))
    assert not found, 'use test.bounds (wait_until and its bounds):\n' + '\n'.join(found)
