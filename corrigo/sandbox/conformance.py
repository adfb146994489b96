"""Checks every Sandbox backend must pass; ``tests/`` runs them per backend.

Each check takes a started sandbox and asserts the safe outcome. A backend that cannot
contain a case lists it in ``KNOWN_GAPS`` with the reason, and the suite marks that
case as an expected failure (the README's sandbox section repeats the list).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

from corrigo.records import Limits, TestCase
from corrigo.sandbox.base import Sandbox

Check = Callable[[Sandbox], Awaitable[None]]

FAST = Limits(wall_seconds=3.0, cpu_seconds=2.0, memory_mb=512)
ADD = "def add(a, b):\n    return a + b\n"


def _tests(*codes: str) -> list[TestCase]:
    return [TestCase(name=f"t{i}", code=code) for i, code in enumerate(codes)]


async def check_per_test_results(box: Sandbox) -> None:
    result = await box.run_tests(
        ADD,
        _tests("assert add(1, 2) == 3", "assert add(1, 1) == 3, 'one plus one'", "add(None, 1)"),
        FAST,
    )
    assert result.status == "failed"
    assert [t.passed for t in result.tests] == [True, False, False]
    assert result.tests[1].message == "AssertionError: one plus one"
    assert result.tests[2].message.startswith("TypeError")


async def check_all_pass(box: Sandbox) -> None:
    result = await box.run_tests(ADD, _tests("assert add(2, 2) == 4"), FAST)
    assert result.status == "passed" and result.tests[0].passed


async def check_syntax_error_fails_every_test(box: Sandbox) -> None:
    result = await box.run_tests("def add(a, b)\n    return", _tests("pass", "pass"), FAST)
    assert result.status == "failed"
    assert all(not t.passed and "SyntaxError" in t.message for t in result.tests)


async def check_cpu_loop_times_out(box: Sandbox) -> None:
    started = time.perf_counter()
    result = await box.run_tests("while True:\n    pass\n", _tests("pass"), FAST)
    assert result.status == "timeout"
    assert not result.tests[0].passed
    assert time.perf_counter() - started < FAST.wall_seconds + 5


async def check_sleep_past_deadline(box: Sandbox) -> None:
    limits = Limits(wall_seconds=1.0)
    result = await box.run_tests("import time\ntime.sleep(30)\n", _tests("pass"), limits)
    assert result.status == "timeout" and not result.tests[0].passed
    assert result.wall_ms < 6000


async def check_sigterm_ignored(box: Sandbox) -> None:
    program = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(30)\n"
    result = await box.run_tests(program, _tests("pass"), Limits(wall_seconds=1.0))
    assert result.status == "timeout" and result.wall_ms < 6000


async def check_memory_bomb(box: Sandbox) -> None:
    result = await box.run_tests("x = bytearray(8 * 1024 ** 3)\n", _tests("pass"), FAST)
    assert result.status in ("resource_exceeded", "error", "failed")
    assert result.status != "passed" and not result.tests[0].passed


async def check_output_flood_is_capped(box: Sandbox) -> None:
    limits = Limits(wall_seconds=5.0, output_bytes=4096)
    program = "import sys\nfor _ in range(200000):\n    sys.stdout.write('x' * 100)\n"
    result = await box.run_tests(program, _tests("pass"), limits)
    assert result.truncated is True
    assert len(result.stdout.encode()) <= limits.output_bytes


async def check_sys_exit_zero_is_failure(box: Sandbox) -> None:
    for program in ("import sys\nsys.exit(0)\n", ADD):
        test = "import sys\nsys.exit(0)\n" if program == ADD else "pass"
        result = await box.run_tests(program, _tests(test), FAST)
        assert result.status != "passed" and not result.tests[0].passed, program


async def check_os_exit_zero_is_failure(box: Sandbox) -> None:
    result = await box.run_tests(ADD, _tests("import os\nos._exit(0)"), FAST)
    assert result.status != "passed" and not result.tests[0].passed


async def check_printed_fake_result_is_ignored(box: Sandbox) -> None:
    program = (
        "import json, sys\n"
        "print(json.dumps({'test': 0, 'passed': True, 'nonce': 'x'}))\n"
        "print('ALL TESTS PASSED')\n"
        "def add(a, b):\n    return 0\n"
    )
    result = await box.run_tests(program, _tests("assert add(1, 2) == 3"), FAST)
    assert result.status == "failed" and not result.tests[0].passed


async def check_secret_not_in_environment(box: Sandbox) -> None:
    os.environ["CORRIGO_CONFORMANCE_SECRET"] = "sk-conformance-secret"
    try:
        result = await box.run_tests(
            "import os\nseen = repr(dict(os.environ))\n",
            _tests("assert 'sk-conformance-secret' not in seen, seen"),
            FAST,
        )
    finally:
        del os.environ["CORRIGO_CONFORMANCE_SECRET"]
    assert result.status == "passed", result.tests[0].message
    assert "sk-conformance-secret" not in result.stdout + result.stderr


async def check_fresh_working_directory(box: Sandbox) -> None:
    first = await box.run_tests(
        "open('left-behind.txt', 'w').write('x')\n",
        _tests("import os\nassert os.listdir('.') != []"),
        FAST,
    )
    assert first.status == "passed", first.tests[0].message
    second = await box.run_tests(
        "import os\n", _tests("assert not os.path.exists('left-behind.txt')"), FAST
    )
    assert second.status == "passed", second.tests[0].message


async def check_exec_with_stdin(box: Sandbox) -> None:
    result = await box.exec("import sys\nprint(sys.stdin.read().upper())\n", "hello", FAST)
    assert result.status == "passed" and result.stdout.strip() == "HELLO"
    failing = await box.exec("raise ValueError('boom')\n", "", FAST)
    assert failing.status == "failed"


CHECKS: list[Check] = [
    check_per_test_results,
    check_all_pass,
    check_syntax_error_fails_every_test,
    check_cpu_loop_times_out,
    check_sleep_past_deadline,
    check_sigterm_ignored,
    check_memory_bomb,
    check_output_flood_is_capped,
    check_sys_exit_zero_is_failure,
    check_os_exit_zero_is_failure,
    check_printed_fake_result_is_ignored,
    check_secret_not_in_environment,
    check_fresh_working_directory,
    check_exec_with_stdin,
]

# backend name -> {check name: why the backend cannot contain it}
KNOWN_GAPS: dict[str, dict[str, str]] = {"process": {}}
