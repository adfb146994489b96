"""The sandbox interface, and backends registered by name.

A sandbox runs untrusted candidate code. Its lifecycle is ``async with``: nothing starts
in ``__init__``; workers, containers and temporary state start in ``__aenter__`` and are
gone after ``__aexit__``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from types import TracebackType
from typing import Any, ClassVar, Self

from corrigo.errors import SandboxUnavailable
from corrigo.records import ExecResult, Limits, OutputsResult, TestCase


class Sandbox(ABC):
    """Runs candidate programs against tests, outside the caller's process."""

    name: ClassVar[str]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    async def start(self) -> None:
        """Acquire what the backend needs (workers, containers)."""

    @abstractmethod
    async def close(self) -> None:
        """Release everything :meth:`start` acquired; safe to call twice."""

    @abstractmethod
    async def run_tests(
        self,
        program: str,
        tests: Sequence[TestCase],
        limits: Limits,
        *,
        preamble: str = "",
        entry_point: str = "",
        trace: Collection[str] = (),
    ) -> ExecResult:
        """Run each test against ``program``; one ``TestResult`` per test.

        ``preamble`` is trusted task code (helpers the tests may call); ``entry_point``
        is the function under test, which the candidate's program must define.
        ``trace`` names the tests that may be traced: the first of them that fails is run
        again with its calls traced, after every verdict is written, and its result gets
        a :class:`~corrigo.records.Trace`. Never name a test whose text must stay
        hidden: a trace shows the arguments the candidate was called with.
        """

    @abstractmethod
    async def run_outputs(
        self,
        programs: Sequence[str],
        inputs: Sequence[str],
        limits: Limits,
        *,
        entry_point: str,
        preamble: str = "",
        call_seconds: float = 1.0,
    ) -> OutputsResult:
        """Call ``entry_point`` of each program on each input, in one batch.

        An input is the source of a call's arguments (``"3, [1, 2], key='x'"``),
        evaluated with ``preamble`` in scope, contained, before any candidate code runs.
        Each call gets ``call_seconds``; ``limits`` bound each program's whole row. A
        program that crashes, hangs or runs out of memory loses only its own calls.
        """

    @abstractmethod
    async def exec(self, code: str, stdin: str = "", limits: Limits | None = None) -> ExecResult:
        """Run ``code`` as a script with ``stdin``; ``passed`` means it exited 0."""


# name -> "module:Class"; imported only when asked for, so optional backends cost nothing.
BACKENDS: dict[str, str] = {
    "process": "corrigo.sandbox.process:ProcessSandbox",
    "bwrap": "corrigo.sandbox.process:BwrapSandbox",
    "docker": "corrigo.sandbox.docker:DockerSandbox",
}


def get_sandbox(name: str, **options: Any) -> Sandbox:
    """A new, not yet started, sandbox of the named backend."""
    target = BACKENDS.get(name)
    if target is None:
        known = ", ".join(sorted(BACKENDS))
        raise SandboxUnavailable(f"unknown sandbox {name!r} (known: {known})")
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise SandboxUnavailable(f"sandbox {name!r} is not available: {exc}") from None
    sandbox: Sandbox = cls(**options)
    return sandbox
