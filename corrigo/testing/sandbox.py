"""Checks every Sandbox backend must pass; ``tests/`` runs them per backend.

Each check takes a started sandbox and asserts the safe outcome: hostile candidate code
is contained and can never make a test pass that it should fail. A backend that cannot
contain a case says so through :func:`known_gaps` (with the reason), and the suite marks
that case as an expected failure; the README's sandbox section lists them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import tempfile
import time

from corrigo.records import Limits
from corrigo.sandbox.base import Sandbox
from corrigo.testing import sandbox_batch, sandbox_forgery
from corrigo.testing.sandbox_cases import ADD, CHECK_ADD, FAST, Check, must_fail, still_works, tests

# ------------------------------------------------------------------ correctness


async def check_per_test_results(box: Sandbox) -> None:
    result = await box.run_tests(
        ADD,
        tests("assert add(1, 2) == 3", "assert add(1, 1) == 3, 'one plus one'", "add(None, 1)"),
        FAST,
    )
    assert result.status == "failed"
    assert [t.passed for t in result.tests] == [True, False, False]
    assert result.tests[1].message == "AssertionError: one plus one"
    assert result.tests[2].message.startswith("TypeError")


async def check_all_pass_and_data_types(box: Sandbox) -> None:
    program = (
        "LIMIT = 3\n"
        "def f(x):\n    return {'t': (x, 1.5), 's': {1, 2}, 'b': b'ok', 'n': None, 'l': [True]}\n"
        "def boom(x):\n    raise ValueError(f'bad {x}')\n"
    )
    checks = (
        "assert f(2) == {'t': (2, 1.5), 's': {1, 2}, 'b': b'ok', 'n': None, 'l': [True]}",
        "assert LIMIT == 3",
        "try:\n    boom(1)\nexcept ValueError as e:\n    assert str(e) == 'bad 1'\nelse:\n    raise AssertionError('no error')",
    )
    result = await box.run_tests(program, tests(*checks), FAST)
    assert result.status == "passed", result.tests


async def check_syntax_error_fails_every_test(box: Sandbox) -> None:
    result = await box.run_tests("def add(a, b)\n    return", tests("pass", "pass"), FAST)
    assert result.status == "failed"
    assert all(not t.passed and "SyntaxError" in t.message for t in result.tests)


async def check_exec_with_stdin(box: Sandbox) -> None:
    result = await box.exec("import sys\nprint(sys.stdin.read().upper())\n", "hello", FAST)
    assert result.status == "passed" and result.stdout.strip() == "HELLO"
    failing = await box.exec("raise ValueError('boom')\n", "", FAST)
    assert failing.status == "failed" and "ValueError: boom" in failing.stderr


# ------------------------------------------------------------------ resources


async def check_cpu_loop_times_out(box: Sandbox) -> None:
    started = time.perf_counter()
    result = await box.run_tests(
        "def add(a, b):\n    while True:\n        pass\n", tests(CHECK_ADD), FAST
    )
    assert result.status == "timeout", result
    assert not result.tests[0].passed
    assert time.perf_counter() - started < FAST.wall_seconds + 5


async def check_sleep_past_deadline(box: Sandbox) -> None:
    limits = Limits(wall_seconds=1.0)
    result = await box.run_tests("import time\ntime.sleep(30)\n", tests("pass"), limits)
    assert result.status == "timeout" and not result.tests[0].passed
    assert result.wall_ms < 6000


async def check_sigterm_ignored(box: Sandbox) -> None:
    program = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(30)\n"
    result = await box.run_tests(program, tests("pass"), Limits(wall_seconds=1.0))
    assert result.status == "timeout" and result.wall_ms < 6000


async def check_memory_bomb(box: Sandbox) -> None:
    result = await must_fail(box, "x = bytearray(8 * 1024 ** 3)\n" + ADD)
    assert result.status in ("resource_exceeded", "error", "failed")


def _process_count() -> int:
    return sum(1 for p in os.listdir("/proc") if p.isdigit())


async def check_fork_bomb(box: Sandbox) -> None:
    before = _process_count()
    program = (
        "import os, time\n"
        "def add(a, b):\n"
        "    for _ in range(10):\n"  # at most 1024 processes if nothing stops it
        "        try:\n            os.fork()\n        except OSError:\n            pass\n"
        "    time.sleep(2)\n"
        "    return a + b\n"
    )
    await must_fail(box, program, "assert add(2, 2) == 5")
    await asyncio.sleep(0.5)
    assert _process_count() - before < 20, "processes survived the run"
    await still_works(box)


async def check_output_flood_is_capped(box: Sandbox) -> None:
    limits = Limits(wall_seconds=5.0, output_bytes=4096)
    program = "import sys\nfor _ in range(200000):\n    sys.stdout.write('x' * 100)\n"
    result = await box.run_tests(program, tests("pass"), limits)
    assert result.truncated is True
    assert len(result.stdout.encode()) <= limits.output_bytes


async def check_disk_fill(box: Sandbox) -> None:
    program = (
        "def fill():\n"
        "    written = 0\n"
        "    for i in range(64):\n"  # up to 64 files of up to 16 MiB each
        "        try:\n"
        "            with open(f'fill-{i}', 'wb') as fh:\n"
        "                for _ in range(16):\n"
        "                    fh.write(b'x' * 1024 * 1024)\n"
        "                    written += 1024 * 1024\n"
        "        except OSError:\n"
        "            break\n"
        "    return written\n"
    )
    limits = Limits(wall_seconds=20.0, file_size_mb=4)
    result = await box.run_tests(program, tests("assert fill() < 300 * 1024 * 1024"), limits)
    assert result.status == "passed", result.tests[0].message


# ------------------------------------------------------------------ host effects


async def check_no_writes_outside_workdir(box: Sandbox) -> None:
    tag = secrets.token_hex(6)
    targets = [
        f"/tmp/corrigo-escape-{tag}",
        f"/var/tmp/corrigo-escape-{tag}",
        f"/dev/shm/corrigo-escape-{tag}",
        f"/root/corrigo-escape-{tag}",
        f"/etc/corrigo-escape-{tag}",
        f"/usr/corrigo-escape-{tag}",
        f"../corrigo-escape-{tag}",
    ]
    program = (
        "def escape(paths):\n"
        "    done = []\n"
        "    for p in paths:\n"
        "        try:\n"
        "            with open(p, 'w') as fh:\n"
        "                fh.write('x')\n"
        "            done.append(p)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return done\n"
    )
    await box.run_tests(program, tests(f"escape({targets!r})"), FAST)
    leaked = [p for p in targets if not p.startswith("..") and os.path.exists(p)]
    for path in leaked:
        with contextlib.suppress(OSError):
            os.unlink(path)
    assert leaked == [], f"candidate wrote {leaked}"
    result = await box.run_tests(program, tests(f"assert escape({targets[:-1]!r}) == []"), FAST)
    assert result.status == "passed", result.tests[0].message


async def check_secret_not_visible(box: Sandbox) -> None:
    secret = "sk-conformance-" + secrets.token_hex(8)
    os.environ["CORRIGO_CONFORMANCE_SECRET"] = secret
    program = (
        "import os\n"
        "def snoop():\n"
        "    found = [repr(dict(os.environ))]\n"
        "    for pid in os.listdir('/proc'):\n"
        "        if pid.isdigit():\n"
        "            try:\n"
        "                with open(f'/proc/{pid}/environ', 'rb') as fh:\n"
        "                    found.append(fh.read().decode('latin-1'))\n"
        "            except OSError:\n"
        "                pass\n"
        "    return '\\n'.join(found)\n"
    )
    try:
        result = await box.run_tests(
            program,
            tests(f"seen = snoop()\nassert {secret!r} not in seen, 'secret visible'"),
            FAST,
        )
    finally:
        del os.environ["CORRIGO_CONFORMANCE_SECRET"]
    assert result.status == "passed", result.tests[0].message
    assert secret not in result.model_dump_json()


async def check_no_loopback_connections(box: Sandbox) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    program = (
        "import socket\n"
        "def reach(port):\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', port), timeout=1).close()\n"
        "        return True\n"
        "    except OSError:\n"
        "        return False\n"
    )
    try:
        result = await box.run_tests(program, tests(f"assert reach({port}) is False"), FAST)
        accepted = False
        with contextlib.suppress(BlockingIOError):
            listener.accept()[0].close()
            accepted = True
    finally:
        listener.close()
    assert not accepted, "candidate connected to a loopback service"
    assert result.status == "passed", result.tests[0].message


async def check_no_outside_network(box: Sandbox) -> None:
    # Asserted without sending a packet: no interface but loopback, no route anywhere.
    program = (
        "import socket\n"
        "def net():\n"
        "    names = [n for _, n in socket.if_nameindex() if n != 'lo']\n"
        "    try:\n"
        "        with open('/proc/net/route') as fh:\n"
        "            routes = fh.read().splitlines()[1:]\n"
        "    except OSError:\n"
        "        routes = []\n"
        "    return names, len(routes)\n"
    )
    result = await box.run_tests(program, tests("assert net() == ([], 0), net()"), FAST)
    assert result.status == "passed", result.tests[0].message


async def check_no_docker_or_host_sockets(box: Sandbox) -> None:
    folder = tempfile.mkdtemp(prefix="corrigo-conf-")
    os.chmod(folder, 0o755)
    path = os.path.join(folder, "open.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o666)
    server.listen(4)
    targets = [path, "/var/run/docker.sock", "/run/docker.sock"]
    program = (
        "import socket\n"
        "def reach(paths):\n"
        "    ok = []\n"
        "    for p in paths:\n"
        "        s = socket.socket(socket.AF_UNIX)\n"
        "        try:\n"
        "            s.connect(p)\n"
        "            ok.append(p)\n"
        "        except OSError:\n"
        "            pass\n"
        "        finally:\n"
        "            s.close()\n"
        "    return ok\n"
    )
    try:
        result = await box.run_tests(
            program, tests(f"assert reach({targets!r}) == [], reach({targets!r})"), FAST
        )
    finally:
        server.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
            os.rmdir(folder)
    assert result.status == "passed", result.tests[0].message


def _comm_holders(name: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/comm") as fh:
                if fh.read().strip() == name:
                    found.append(pid)
    return found


async def check_daemon_does_not_survive(box: Sandbox) -> None:
    name = "cg" + secrets.token_hex(5)
    program = (
        "import os, time\n"
        "def add(a, b):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            import ctypes\n"
        f"            ctypes.CDLL(None).prctl(15, {name.encode()!r}, 0, 0, 0)\n"
        "            time.sleep(60)\n"
        "        os._exit(0)\n"
        "    time.sleep(0.3)\n"
        "    return a + b\n"
    )
    await box.run_tests(program, tests(CHECK_ADD), FAST)
    await asyncio.sleep(0.3)
    survivors = _comm_holders(name)
    for pid in survivors:
        with contextlib.suppress(OSError):
            os.kill(int(pid), 9)
    assert survivors == [], "a setsid daemon outlived the run"


async def check_killing_the_parent(box: Sandbox) -> None:
    program = (
        "import os, signal\n"
        "def add(a, b):\n"
        "    for target in (os.getppid(), -1):\n"
        "        try:\n"
        "            os.kill(target, signal.SIGKILL)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return a + b\n"
    )
    await must_fail(box, program, "assert add(2, 2) == 5")
    await still_works(box)


async def check_fresh_state_between_runs(box: Sandbox) -> None:
    places = ["left-behind.txt", "/tmp/corrigo-left-behind", "/dev/shm/corrigo-left-behind"]
    program = (
        "import os\n"
        "def leave(paths):\n"
        "    for p in paths:\n"
        "        try:\n"
        "            open(p, 'w').write('x')\n"
        "        except OSError:\n"
        "            pass\n"
        "def seen(paths):\n"
        "    return [p for p in paths if os.path.exists(p)]\n"
    )
    await box.run_tests(program, tests(f"leave({places!r})"), FAST)
    result = await box.run_tests(
        program, tests(f"assert seen({places!r}) == [], seen({places!r})"), FAST
    )
    for place in places[1:]:
        with contextlib.suppress(OSError):
            os.unlink(place)
    assert result.status == "passed", result.tests[0].message


CHECKS: list[Check] = [
    check_per_test_results,
    check_all_pass_and_data_types,
    check_syntax_error_fails_every_test,
    check_exec_with_stdin,
    check_cpu_loop_times_out,
    check_sleep_past_deadline,
    check_sigterm_ignored,
    check_memory_bomb,
    check_fork_bomb,
    check_output_flood_is_capped,
    check_disk_fill,
    check_no_writes_outside_workdir,
    check_secret_not_visible,
    check_no_loopback_connections,
    check_no_outside_network,
    check_no_docker_or_host_sockets,
    check_daemon_does_not_survive,
    check_killing_the_parent,
    check_fresh_state_between_runs,
    *sandbox_forgery.CHECKS,
    *sandbox_batch.CHECKS,
]

# Cases that would harm the machine running the suite if the backend cannot contain them:
# they are reported as expected failures without being run.
DANGEROUS = {
    "check_fork_bomb",
    "check_killing_the_parent",
    "check_disk_fill",
    "check_batch_kill_others",
}


def known_gaps(isolation: dict[str, object]) -> dict[str, str]:
    """What a worker with this isolation cannot contain, by check name, with the reason."""
    gaps: dict[str, str] = {}
    if not isolation.get("uids"):
        reason = "not root: candidates run as the caller's own user"
        for name in (
            "check_fork_bomb",
            "check_killing_the_parent",
            "check_daemon_does_not_survive",
            "check_batch_kill_others",
        ):
            gaps[name] = reason
        # The private /tmp belongs to the uid candidates share with the worker.
        gaps["check_no_writes_outside_workdir"] = (
            "not root: candidates own the sandbox's private /tmp, /var/tmp, /dev/shm and /run"
        )
        gaps["check_fresh_state_between_runs"] = (
            "not root: files in the sandbox's private /tmp outlive a run"
        )
    if not isolation.get("network"):
        gaps["check_no_loopback_connections"] = "no network namespace: loopback is reachable"
        gaps["check_no_outside_network"] = "no network namespace: the host's interfaces are visible"
        gaps["check_no_docker_or_host_sockets"] = (
            "no private /tmp or /run: host sockets are reachable"
        )
    if not isolation.get("filesystem"):
        gaps["check_no_writes_outside_workdir"] = (
            "no private /tmp: world-writable host folders are writable"
        )
        gaps["check_fresh_state_between_runs"] = "no private /tmp: files in /tmp outlive a run"
        gaps["check_disk_fill"] = "no size-capped private /tmp: the work folder is on the host disk"
    return gaps
