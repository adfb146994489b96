"""The sandbox conformance suite against every backend available here."""

from __future__ import annotations

import pytest

from corrigo.errors import SandboxUnavailable
from corrigo.sandbox.base import get_sandbox
from corrigo.sandbox.conformance import CHECKS, KNOWN_GAPS, Check

BACKENDS = ["process"]


def _cases() -> list[object]:
    cases = []
    for backend in BACKENDS:
        for check in CHECKS:
            gap = KNOWN_GAPS.get(backend, {}).get(check.__name__)
            marks = [pytest.mark.xfail(reason=gap, strict=True)] if gap else []
            cases.append(
                pytest.param(backend, check, id=f"{backend}-{check.__name__}", marks=marks)
            )
    return cases


@pytest.mark.parametrize(("backend", "check"), _cases())
async def test_conformance(backend: str, check: Check) -> None:
    async with get_sandbox(backend) as box:
        await check(box)


def test_unknown_backend_says_what_to_install() -> None:
    with pytest.raises(SandboxUnavailable, match=r"install corrigo\[docker\]"):
        get_sandbox("docker")
    with pytest.raises(SandboxUnavailable, match="unknown sandbox 'vm'"):
        get_sandbox("vm")
