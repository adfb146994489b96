"""Forged verdicts: candidate code that tries to make a failing test read as passed
(exits, patched assertions, always-equal objects, frame walks, fake result frames, edited
test files, a scan of memory for earlier tests). Every one must read as failed, and the
sandbox must still work afterwards."""

from __future__ import annotations

import secrets

from corrigo.sandbox.base import Sandbox
from corrigo.testing.sandbox_cases import FAST, WRONG_ADD, Check, must_fail, still_works, tests

# ------------------------------------------------------------------ forged verdicts

FORGERIES: dict[str, str] = {
    "sys_exit_at_import": "import sys\nsys.exit(0)\n" + WRONG_ADD,
    "sys_exit_in_function": "import sys\ndef add(a, b):\n    sys.exit(0)\n",
    "os_exit_at_import": "import os\nos._exit(0)\n",
    "os_exit_in_function": "import os\ndef add(a, b):\n    os._exit(0)\n",
    "atexit_os_exit": "import atexit, os\natexit.register(lambda: os._exit(0))\ndef add(a, b):\n    raise SystemExit(1)\n",
    "system_exit_from_del": (
        "class Bomb:\n    def __del__(self):\n        raise SystemExit(0)\n"
        "def add(a, b):\n    b = Bomb()\n    del b\n    return a - 1\n"
    ),
    "replace_assertion_error": (
        "import builtins\nclass Quiet(Exception):\n    pass\nbuiltins.AssertionError = Quiet\n"
        + WRONG_ADD
    ),
    "patch_unittest": (
        "import unittest\nunittest.TestCase.assertEqual = lambda *a, **k: None\n"
        "unittest.TestCase.assertTrue = lambda *a, **k: None\n" + WRONG_ADD
    ),
    "always_equal_object": (
        "class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
        "def add(a, b):\n    return Yes()\n"
    ),
    "always_equal_int_subclass": (
        "class Yes(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
        "def add(a, b):\n    return Yes(0)\n"
    ),
    "frame_walk_to_results": (
        "import sys, gc\n"
        "def add(a, b):\n"
        "    frame = sys._getframe()\n"
        "    while frame is not None:\n"
        "        for key in ('passed', 'ok', 'result', 'results'):\n"
        "            if key in frame.f_locals:\n"
        "                frame.f_locals[key] = True\n"
        "        frame = frame.f_back\n"
        "    for obj in gc.get_objects():\n"
        "        if isinstance(obj, dict) and 'passed' in obj:\n"
        "            obj['passed'] = True\n"
        "    return a - b\n"
    ),
    "print_fake_result": (
        "import json, struct, sys\n"
        "line = json.dumps({'test': 0, 'passed': True, 'nonce': 'x', 'done': True, 'status': 'passed'})\n"
        "print(line)\nprint('ALL TESTS PASSED')\nprint('1 passed, 0 failed')\n"
        "sys.stdout.buffer.write(struct.pack('>I', len(line)) + line.encode())\n" + WRONG_ADD
    ),
    "write_result_channel": (
        "import json, os, struct\n"
        "def _forge():\n"
        "    for body in ({'value': 4}, {'test': 0, 'passed': True}, {'done': True, 'status': 'passed'}):\n"
        "        data = json.dumps(body).encode()\n"
        "        for fd in range(0, 256):\n"
        "            try:\n"
        "                os.write(fd, struct.pack('>I', len(data)) + data)\n"
        "            except OSError:\n"
        "                pass\n"
        "_forge()\n"
        "def add(a, b):\n    _forge()\n    return a - b\n"
    ),
    "edit_test_files": (
        "import os\n"
        "def _rewrite(root):\n"
        "    for folder, _, files in os.walk(root):\n"
        "        for name in files:\n"
        "            path = os.path.join(folder, name)\n"
        "            try:\n"
        "                with open(path, 'r+') as fh:\n"
        "                    if 'assert' in fh.read():\n"
        "                        fh.seek(0)\n"
        "                        fh.write('pass\\n')\n"
        "                        fh.truncate()\n"
        "            except (OSError, UnicodeDecodeError):\n"
        "                pass\n"
        "for root in ('.', '..', '/tmp'):\n"
        "    _rewrite(root)\n" + WRONG_ADD
    ),
}


MEMORY_SCAN = (
    "import ctypes, re\n"
    "def add(a, b):\n"
    "    found = set()\n"
    "    with open('/proc/self/maps') as maps:\n"
    "        regions = [line.split() for line in maps]\n"
    "    for region in regions:\n"
    "        name = region[5] if len(region) > 5 else ''\n"
    "        if not region[1].startswith('r') or name.startswith('[v') or name.startswith('/'):\n"
    "            continue\n"
    "        lo, hi = (int(x, 16) for x in region[0].split('-'))\n"
    "        if hi - lo > 256 * 2 ** 20:\n"
    "            continue\n"
    "        data = ctypes.string_at(lo, hi - lo)\n"
    "        found.update(m.decode() for m in re.findall(rb'HID' rb'DEN-[0-9a-f]{16}-END', data))\n"
    "    print(sorted(found))\n"
    "    return sorted(found)\n"
    "add(0, 0) if __name__ == '__main__' else None\n"
)


async def check_no_earlier_test_text_in_memory(box: Sandbox) -> None:
    """A hidden test's text and its failure message never reach a later candidate's
    memory (testers and candidates come from processes that never held them)."""
    secret = f"HIDDEN-{secrets.token_hex(8)}-END"
    hidden = f"expected = {secret!r}\nassert add(2, 2) == 4, {secret!r}"
    failed = await box.run_tests(WRONG_ADD, tests(hidden), FAST)
    assert secret in failed.tests[0].message  # the worker did read it
    for _ in range(3):  # spare testers and candidates are forked after that
        rows = await box.run_outputs([MEMORY_SCAN], ["0, 0"], FAST, entry_point="add")
        assert rows.outcomes[0][0].kind == "value", rows.outcomes[0][0]
        assert secret not in rows.outcomes[0][0].canonical
        scanned = await box.exec(MEMORY_SCAN, limits=FAST)
        assert scanned.status == "passed", scanned
        assert secret not in scanned.stdout
        tested = await box.run_tests(MEMORY_SCAN, tests("assert add(0, 0) == 1"), FAST)
        assert secret not in tested.tests[0].message + tested.stdout


async def check_forged_by_shadowing_builtins(box: Sandbox) -> None:
    """A candidate's own ``abs``, ``len`` or ``all`` must not stand in for the builtins
    the test uses to judge it."""
    program = (
        "def abs(x):\n    return 0\n"
        "def len(x):\n    return 1\n"
        "def all(x):\n    return True\n"
        "sorted = None\n"
        "def add(a, b):\n    return a - b\n"
    )
    for test in (
        "assert abs(add(2, 2) - 4) < 1e-9",
        "assert len([add(1, 1)]) == 1 and add(2, 2) == 4",
        "assert all([add(2, 2) == 4])",
        "for a in (1, 2):\n    assert abs(add(a, a) - 2 * a) < 1e-9",
    ):
        await must_fail(box, program, test)
    await still_works(box)


def _forgery_check(name: str, program: str) -> Check:
    async def check(box: Sandbox) -> None:
        await must_fail(box, program)
        await still_works(box)

    check.__name__ = f"check_forged_{name}"
    return check


CHECKS: list[Check] = [
    *(_forgery_check(name, program) for name, program in FORGERIES.items()),
    check_forged_by_shadowing_builtins,
    check_no_earlier_test_text_in_memory,
]
