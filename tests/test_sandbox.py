"""The sandbox conformance suite against every backend available here.

Known gaps come from the backend's own report of the isolation it achieved (for example
``process`` without root); those cases are strict expected failures, and the ones that
would harm this machine if uncontained are not run at all.
"""

from __future__ import annotations

import asyncio
import shutil

import pytest

from corrigo.errors import SandboxUnavailable
from corrigo.sandbox.base import get_sandbox
from corrigo.sandbox.conformance import CHECKS, DANGEROUS, Check, known_gaps

BACKENDS = ["process", "bwrap", "docker"]


def _isolation(backend: str) -> dict[str, object]:
    async def probe() -> dict[str, object]:
        async with get_sandbox(backend) as box:
            return dict(getattr(box, "isolation", {}))

    return asyncio.run(probe())


def _cases() -> list[object]:
    cases = []
    for backend in BACKENDS:
        if backend == "bwrap" and shutil.which("bwrap") is None:
            raise RuntimeError("bubblewrap is missing: run scripts/services.sh")
        gaps = known_gaps(_isolation(backend))
        for check in CHECKS:
            gap = gaps.get(check.__name__)
            marks = []
            if gap:
                marks = [
                    pytest.mark.xfail(reason=gap, strict=True, run=check.__name__ not in DANGEROUS)
                ]
            cases.append(
                pytest.param(backend, check, id=f"{backend}-{check.__name__}", marks=marks)
            )
    return cases


@pytest.mark.parametrize(("backend", "check"), _cases())
async def test_conformance(backend: str, check: Check) -> None:
    async with get_sandbox(backend) as box:
        await check(box)


def test_unknown_backend_is_named() -> None:
    with pytest.raises(SandboxUnavailable, match="unknown sandbox 'vm'"):
        get_sandbox("vm")
