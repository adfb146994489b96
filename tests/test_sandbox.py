"""The sandbox conformance suite against every backend available here.

Known gaps come from the backend's own report of the isolation it achieved (for example
``process`` without root); those cases are strict expected failures, and the ones that
would harm this machine if uncontained are not run at all.

``scripts/test.sh`` runs this file twice: as root, and as an unprivileged user
(``scripts/test-unprivileged.sh``). Unprivileged, ``process`` runs its worker inside
bubblewrap, and ``process-unwrapped`` (``wrap=False``) runs it with no namespaces at all,
so every gap the README admits to is exercised, not just described.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from corrigo.errors import SandboxUnavailable
from corrigo.sandbox.base import Sandbox, get_sandbox
from corrigo.testing.sandbox import CHECKS, DANGEROUS, Check, known_gaps

ROOT = os.geteuid() == 0
README = Path(__file__).resolve().parents[1] / "README.md"


@dataclass(frozen=True)
class Backend:
    """A registered sandbox name plus the constructor options the suite opens it with."""

    id: str
    name: str
    options: tuple[tuple[str, Any], ...] = ()

    def open(self) -> Sandbox:
        return get_sandbox(self.name, **dict(self.options))


PROCESS = Backend("process", "process")
BWRAP = Backend("bwrap", "bwrap")
UNWRAPPED = Backend("process-unwrapped", "process", (("wrap", False),))
DOCKER = Backend("docker", "docker")

# As root `wrap` changes nothing (the worker isolates itself), so the unwrapped case runs
# only unprivileged, where it is the bare worker the README's known gaps describe.
BACKENDS = [PROCESS, BWRAP, DOCKER] if ROOT else [PROCESS, BWRAP, UNWRAPPED, DOCKER]

ISOLATED = {"root": True, "network": True, "filesystem": True, "pid": True, "uids": True}
NOTHING = dict.fromkeys(ISOLATED, False)
# Bubblewrap run by an ordinary user: namespaces, but no uids to give candidates.
USER_NAMESPACES = dict(ISOLATED, root=False, uids=False)
EXPECTED_ISOLATION: dict[str, dict[str, bool]] = (
    {"process": ISOLATED, "bwrap": ISOLATED, "docker": ISOLATED}
    if ROOT
    else {
        "process": USER_NAMESPACES,
        "bwrap": USER_NAMESPACES,
        "process-unwrapped": NOTHING,
        "docker": ISOLATED,  # the worker is root inside its container
    }
)

# The README's "Known gaps, honestly" paragraph, phrase by phrase, and the checks each
# phrase stands for: first what bubblewrap run by an ordinary user cannot contain, then
# what a bare worker (no bubblewrap, not root) cannot contain on top of that.
README_BUBBLEWRAP_GAPS = {
    "fork bomb": ("check_fork_bomb",),
    "killing the parent": ("check_killing_the_parent",),
    "setsid daemons": ("check_daemon_does_not_survive",),
    "killing the other candidates of a batch": ("check_batch_kill_others",),
    "files left in the private": (
        "check_no_writes_outside_workdir",
        "check_fresh_state_between_runs",
    ),
}
README_BARE_GAPS = {
    **README_BUBBLEWRAP_GAPS,
    "loopback": ("check_no_loopback_connections",),
    "outside network": ("check_no_outside_network",),
    "host sockets": ("check_no_docker_or_host_sockets",),
    "world-writable host folders": ("check_no_writes_outside_workdir",),
    "files in the host's": ("check_fresh_state_between_runs",),
    "disk fill": ("check_disk_fill",),
}


def _named(phrases: dict[str, tuple[str, ...]]) -> set[str]:
    return {check for checks in phrases.values() for check in checks}


def _unreachable(backend: Backend) -> str | None:
    """Why this backend cannot be tried here, or None; only ever a reason when not root."""
    if backend is not DOCKER or ROOT or os.environ.get("DOCKER_HOST"):
        return None
    socket_path = "/var/run/docker.sock"
    if os.access(socket_path, os.R_OK | os.W_OK):
        return None
    return (
        f"not root and {socket_path} is not open to this user: "
        "the root pass of scripts/test.sh runs the docker cases"
    )


@functools.cache
def _isolation(backend: Backend) -> dict[str, object]:
    async def probe() -> dict[str, object]:
        async with backend.open() as box:
            return dict(getattr(box, "isolation", {}))

    return asyncio.run(probe())


# Cases whose candidate signals every process it may (``os.kill(-1, ...)``). With neither
# uids of its own nor a PID namespace that is every process of the user running the suite,
# this test run included, so there they are reported without being run.
SIGNAL_EVERYONE = {"check_killing_the_parent", "check_batch_kill_others"}


def _runnable(check: str, isolation: dict[str, object]) -> bool:
    """Whether a known-gap case may run here without harming this machine."""
    if check in DANGEROUS:
        return False
    return bool(isolation.get("pid") or isolation.get("uids")) or check not in SIGNAL_EVERYONE


def _cases() -> list[object]:
    cases = []
    for backend in BACKENDS:
        if backend is BWRAP and shutil.which("bwrap") is None:
            raise RuntimeError("bubblewrap is missing: run scripts/services.sh")
        skip = _unreachable(backend)
        isolation = {} if skip else _isolation(backend)
        gaps = {} if skip else known_gaps(isolation)
        for check in CHECKS:
            name = check.__name__
            marks = []
            if skip:
                marks = [pytest.mark.skip(reason=skip)]
            elif name in gaps:
                run = _runnable(name, isolation)
                marks = [pytest.mark.xfail(reason=gaps[name], strict=True, run=run)]
            cases.append(pytest.param(backend, check, id=f"{backend.id}-{name}", marks=marks))
    return cases


@pytest.mark.parametrize(("backend", "check"), _cases())
async def test_conformance(backend: Backend, check: Check) -> None:
    async with backend.open() as box:
        await check(box)


@pytest.mark.parametrize("backend", BACKENDS, ids=[b.id for b in BACKENDS])
def test_reported_isolation_is_the_documented_one(backend: Backend) -> None:
    skip = _unreachable(backend)
    if skip:
        pytest.skip(skip)
    reported = _isolation(backend)
    assert {key: reported.get(key) for key in ISOLATED} == EXPECTED_ISOLATION[backend.id]


def test_readme_names_every_known_gap() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    section = re.search(r"\*\*Known gaps, honestly\.\*\*(.*?)\*\*Speed\*\*", text)
    assert section is not None, "README lost its 'Known gaps, honestly' paragraph"
    missing = [phrase for phrase in README_BARE_GAPS if phrase not in section.group(1)]
    assert missing == []
    assert set(known_gaps(USER_NAMESPACES)) == _named(README_BUBBLEWRAP_GAPS)
    bare = known_gaps(NOTHING)
    assert set(bare) == _named(README_BARE_GAPS)
    assert all(bare.values()), "every gap needs a reason"
    assert known_gaps(ISOLATED) == {}  # "every case passes on all three backends"


def test_cases_that_signal_everyone_exist() -> None:
    # A renamed check would silently slip past the guard in _runnable.
    assert SIGNAL_EVERYONE.issubset(check.__name__ for check in CHECKS)


def test_unknown_backend_is_named() -> None:
    with pytest.raises(SandboxUnavailable, match="unknown sandbox 'vm'"):
        get_sandbox("vm")
