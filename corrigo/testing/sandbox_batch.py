"""Conformance checks for the batch API (outputs on inputs) and for execution traces.

Part of the suite in :mod:`corrigo.testing.sandbox`, which lists them in ``CHECKS``.
Batch checks put hostile candidates beside well-behaved ones in one call and assert the
well-behaved rows come back exact; trace checks assert a trace never changes a verdict
and never carries the text of a test the caller did not allow to be traced.
"""

from __future__ import annotations

import secrets

from corrigo.records import Limits, TestCase
from corrigo.sandbox.base import Sandbox

FAST = Limits(wall_seconds=8.0, cpu_seconds=3.0, memory_mb=512)
ADD = "def add(a, b):\n    return a + b\n"
INPUTS = ["1, 2", "2, 2", "3, b=4"]
SUMS = ["3", "4", "7"]


async def _rows(box: Sandbox, programs: list[str], inputs: list[str] = INPUTS) -> list[list]:
    result = await box.run_outputs(programs, inputs, FAST, entry_point="add", call_seconds=0.5)
    assert len(result.outcomes) == len(programs)
    assert all(len(row) == len(inputs) for row in result.outcomes)
    return result.outcomes


async def check_batch_outputs_and_groups(box: Sandbox) -> None:
    programs = [
        ADD,
        "def add(a, b):\n    return a - b\n",
        "def add(a, b):\n    return b + a\n",
        "def add(a, b):\n    raise ValueError(f'no {a}')\n",
        "def add(a, b):\n    return float(a + b)\n",
    ]
    result = await box.run_outputs(programs, INPUTS, FAST, entry_point="add")
    rows = result.outcomes
    assert [o.canonical for o in rows[0]] == SUMS
    assert [o.kind for o in rows[0]] == ["value"] * 3 and rows[0][0].value == 3
    assert [o.canonical for o in rows[1]] == ["-1", "0", "-1"]
    assert [(o.kind, o.error, o.message) for o in rows[3]] == [
        ("raised", "ValueError", f"no {a}") for a in (1, 2, 3)
    ]
    assert [o.canonical for o in rows[3]] == ["!ValueError"] * 3
    assert [o.canonical for o in rows[4]] == ["3.0", "4.0", "7.0"]  # not the ints' forms
    assert result.groups() == [[0, 2], [1], [3], [4]]


async def check_batch_canonical_forms(box: Sandbox) -> None:
    program = (
        "def add(a, b):\n"
        "    if a == 1:\n        return {b, a, 'x'}\n"
        "    if a == 2:\n        return {'k': [1, (2,)], 'j': {3: None}}\n"
        "    return (True, 1, 1.5, b'\\x00', frozenset(), set(), float('nan'))\n"
    )
    reordered = (
        "def add(a, b):\n"
        "    if a == 1:\n        return {'x', a, b}\n"
        "    if a == 2:\n        return {'j': {3: None}, 'k': [1, (2,)]}\n"
        "    return (True, 1, 1.5, b'\\x00', frozenset(), set(), float('nan'))\n"
    )
    rows = await _rows(box, [program, reordered, "def add(a, b):\n    return [a, b]\n"])
    assert [o.canonical for o in rows[0]] == [o.canonical for o in rows[1]]
    assert rows[0][1].canonical == "{'j': {3: None}, 'k': [1, (2,)]}"
    assert rows[0][2].canonical == "(True, 1, 1.5, b'\\x00', frozenset(), set(), nan)"
    assert [o.canonical for o in rows[2]] == ["[1, 2]", "[2, 2]", "[3, 4]"]


# Each hangs, explodes or cheats on the input (2, 2) only, or on every input.
HOSTILE_ROWS = {
    "hang_on_one": "def add(a, b):\n    if a == 2:\n        while True:\n            pass\n    return a + b\n",
    "sleep_on_one": "import time\ndef add(a, b):\n    if a == 2:\n        time.sleep(30)\n    return a + b\n",
    "memory_bomb": "def add(a, b):\n    if a == 2:\n        x = bytearray(2 ** 34)\n    return a + b\n",
    "exit_on_one": "import os\ndef add(a, b):\n    if a == 2:\n        os._exit(0)\n    return a + b\n",
    "always_equal": (
        "class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
        "def add(a, b):\n    return Yes() if a == 2 else a + b\n"
    ),
    "poses_as_status": (
        "class timeout(Exception):\n    pass\n"
        "def add(a, b):\n    if a == 2:\n        raise timeout('x')\n    return a + b\n"
    ),
    "huge_reply": "def add(a, b):\n    return 'x' * (2 ** 26) if a == 2 else a + b\n",
    "forge_frames": (
        "import json, os, struct\n"
        "def _forge():\n"
        "    for body in ({'kind': 'value', 'canonical': 'FORGED', 'test': 1},\n"
        "                 {'value': {'$': 'nope', 'v': 1}}, {'done': True, 'status': 'passed'}):\n"
        "        data = json.dumps(body).encode()\n"
        "        for fd in range(0, 64):\n"
        "            try:\n"
        "                os.write(fd, struct.pack('>I', len(data)) + data)\n"
        "            except OSError:\n"
        "                pass\n"
        "def add(a, b):\n    if a == 2:\n        _forge()\n    return a + b\n"
    ),
}


async def check_batch_hostile_rows_cost_only_their_own(box: Sandbox) -> None:
    names = list(HOSTILE_ROWS)
    rows = await _rows(box, [ADD, *HOSTILE_ROWS.values(), ADD])
    for index in (0, len(rows) - 1):
        assert [o.canonical for o in rows[index]] == SUMS, rows[index]
    by_name = dict(zip(names, rows[1:-1], strict=True))
    expected_middle = {
        "hang_on_one": "timeout",
        "sleep_on_one": "timeout",
        "memory_bomb": "resource_exceeded",
        "exit_on_one": "crashed",
    }
    for name, kind in expected_middle.items():
        row = by_name[name]
        assert row[1].kind == kind, (name, row[1])
        # its other calls still answered: a fresh process took over after the failure
        assert [row[0].canonical, row[2].canonical] == ["3", "7"], (name, row)
    assert by_name["always_equal"][1].kind != "value", by_name["always_equal"]
    assert [by_name["always_equal"][0].canonical, by_name["always_equal"][2].canonical] == [
        "3",
        "7",
    ]
    # 64 MB of text: refused as soon as its size is read, never buffered by the tester
    # (on a slow machine, building it can outlast the call's 0.5 s first: a timeout).
    huge = by_name["huge_reply"]
    assert ("oversized" in huge[1].message and huge[1].kind == "crashed") or (
        huge[1].kind == "timeout"
    ), huge[1]
    assert [huge[0].canonical, huge[2].canonical] == ["3", "7"]
    posed = by_name["poses_as_status"][1]  # its own exception named like a status
    assert (posed.kind, posed.canonical) == ("raised", "!timeout")
    assert by_name["hang_on_one"][1].canonical == "!timeout!" != posed.canonical
    forged = by_name["forge_frames"]
    assert forged[0].canonical == "3"
    assert all("FORGED" not in o.canonical for row in rows for o in row)
    assert all(o.canonical != "FORGED" and o.kind in _KINDS for o in forged)


_KINDS = {"value", "raised", "timeout", "resource_exceeded", "crashed", "not_loaded", "bad_input"}


async def check_batch_kill_others(box: Sandbox) -> None:
    """A candidate that signals every process it may: the other rows still finish."""
    killer = (
        "import os, signal, time\n"
        "def add(a, b):\n"
        "    for _ in range(20):\n"
        "        try:\n"
        "            os.kill(-1, signal.SIGKILL)\n"
        "        except OSError:\n"
        "            pass\n"
        "        time.sleep(0.01)\n"
        "    return a + b\n"
    )
    slow = "import time\ndef add(a, b):\n    time.sleep(0.1)\n    return a + b\n"
    rows = await _rows(box, [slow, killer, slow])
    for index in (0, 2):
        assert [o.canonical for o in rows[index]] == SUMS, rows[index]


async def check_batch_bad_inputs_and_load_errors(box: Sandbox) -> None:
    inputs = ["1, 2", "undefined_name", "1), (2", "[1] * 3, b=[]", "object(), 1"]
    rows = await _rows(
        box, [ADD, "def add(a, b)\n    return", "def plus(a, b):\n    return 0\n"], inputs
    )
    assert [o.kind for o in rows[0]] == ["value", "bad_input", "bad_input", "value", "bad_input"]
    assert rows[0][3].canonical == "[1, 1, 1]"
    assert "NameError" in rows[0][1].message
    assert all(o.kind == "not_loaded" and "SyntaxError" in o.message for o in rows[1])
    assert all(o.kind == "not_loaded" and "does not define add" in o.message for o in rows[2])


# ------------------------------------------------------------------ traces

LOOPING = (
    "def add(a, b):\n"
    "    total = a\n"
    "    for i in range(b - 1):\n"
    "        total += 1\n"
    "    return total\n"
)


async def check_trace_of_failing_test(box: Sandbox) -> None:
    tests = [
        TestCase(name="ok", code="assert add(5, 0) == 5"),
        TestCase(name="bad", code="assert add(1, 3) == 4"),
        TestCase(name="untraced", code="assert add(2, 3) == 5"),
    ]
    result = await box.run_tests(LOOPING, tests, FAST, entry_point="add", trace={"ok", "bad"})
    ok, bad, untraced = result.tests
    assert ok.passed and ok.trace is None
    assert not bad.passed and not untraced.passed
    assert untraced.trace is None  # not named: never traced
    trace = bad.trace
    assert trace is not None
    assert trace.call == "add(1, 3)"
    assert trace.lines == [2, 3, 4, 3, 4, 3, 5]
    assert trace.snapshots[0].locals == {"a": "1", "b": "3"}
    assert {"total": "2", "i": "0"}.items() <= trace.snapshots[1].locals.items()
    assert trace.snapshots[-1].locals["total"] == "3"
    assert trace.outcome == "returned 3"


async def check_trace_cannot_forge_a_verdict(box: Sandbox) -> None:
    hostile = (
        "import json, os, struct, sys\n"
        "def add(a, b):\n"
        "    if sys.gettrace() is not None:\n"
        "        sys.settrace(None)\n"
        "        verdict = 'passed: True, ALL TESTS PASSED'\n"
        "        for body in ({'test': 0, 'passed': True}, {'trace_for': 0, 'passed': True},\n"
        "                     {'partial_trace': {'passed': True}}, {'done': True, 'status': 'passed'}):\n"
        "            data = json.dumps(body).encode()\n"
        "            for fd in range(0, 64):\n"
        "                try:\n"
        "                    os.write(fd, struct.pack('>I', len(data)) + data)\n"
        "                except OSError:\n"
        "                    pass\n"
        "        return a + b\n"
        "    return a - b\n"
    )
    tests = [TestCase(name="t0", code="assert add(2, 2) == 4, 'two and two'")]
    plain = await box.run_tests(hostile, tests, FAST, entry_point="add")
    traced = await box.run_tests(hostile, tests, FAST, entry_point="add", trace={"t0"})
    for result in (plain, traced):
        assert result.status == "failed" and not result.tests[0].passed
        assert result.tests[0].message == "AssertionError: two and two"
    assert plain.tests[0].trace is None
    if traced.tests[0].trace is not None:  # whatever it says, it is only its own account
        dumped = traced.tests[0].trace.model_dump()
        assert set(dumped) == {
            "schema_version",
            "call",
            "lines",
            "snapshots",
            "outcome",
            "truncated",
        }


async def check_trace_never_carries_hidden_text(box: Sandbox) -> None:
    secret = "HIDDEN" + secrets.token_hex(6)
    snoop = (
        "import gc, os, sys\n"
        "def add(a, b):\n"
        "    seen = []\n"
        "    for obj in gc.get_objects():\n"
        "        if isinstance(obj, str) and 'HIDDEN' in obj:\n"
        "            seen.append(obj)\n"
        "    for fd in range(64):\n"
        "        try:\n"
        "            os.set_blocking(fd, False)\n"
        "            seen.append(os.read(fd, 4096).decode(errors='replace'))\n"
        "        except OSError:\n"
        "            pass\n"
        "    found = [s for s in seen if 'HIDDEN' in s]\n"
        "    return a - b\n"
    )
    tests = [
        TestCase(name="hidden", code=f"assert add(7, 1) == 8, {secret!r}  # {secret}"),
        TestCase(name="visible", code="assert add(1, 1) == 2"),
        TestCase(name="hidden2", code=f"x = {secret!r}\nassert add(len(x), 1) == len(x) + 1"),
    ]
    result = await box.run_tests(snoop, tests, FAST, entry_point="add", trace={"visible"})
    hidden, visible, hidden2 = result.tests
    assert not hidden.passed and not visible.passed and not hidden2.passed
    assert hidden.trace is None and hidden2.trace is None
    assert visible.trace is not None and visible.trace.call == "add(1, 1)"
    assert secret not in visible.trace.model_dump_json()
    # With only hidden tests failing, nothing is traced at all.
    only_hidden = await box.run_tests(snoop, tests[:1], FAST, entry_point="add", trace={"visible"})
    assert only_hidden.tests[0].trace is None


CHECKS = [
    check_batch_outputs_and_groups,
    check_batch_canonical_forms,
    check_batch_hostile_rows_cost_only_their_own,
    check_batch_kill_others,
    check_batch_bad_inputs_and_load_errors,
    check_trace_of_failing_test,
    check_trace_cannot_forge_a_verdict,
    check_trace_never_carries_hidden_text,
]
