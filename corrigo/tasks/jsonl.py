"""Users' own tasks from a JSON Lines file, one task per line.

Schema of a line (see README "Task files")::

    {"id": "add-1", "prompt": "...", "entry_point": "add",
     "visible_tests": ["assert add(1, 2) == 3", {"name": "neg", "code": "..."}],
     "hidden_tests": [...], "preamble": "", "metadata": {}}
    {"id": "m1", "kind": "math", "prompt": "<question>", "answer": "18"}
    {"id": "i1", "kind": "instructions", "prompt": "<request>",
     "instructions": [{"id": "change_case:english_lowercase", "kwargs": {}}]}

A line's ``kind`` is ``code`` (the default), ``math`` or ``instructions``. A math task
needs its final ``answer`` (hidden: it only scores). An instructions task needs
``instructions``: IFEval/IFBench instruction ids and their checkers' arguments, each
checked up front (an unknown id, or arguments its checker refuses, is rejected).

``id``, ``prompt`` and ``entry_point`` are required. A test is either a string of Python
statements or an object with ``code`` and an optional ``name``; an unnamed test is called
``visible N`` / ``hidden N`` after its place in its list. Test names are unique within a
task, across both lists, so a report naming a test names one test: a repeat is rejected
rather than renamed, since the names are the user's own.

Everything is checked before anything runs, as for any other bad input: a line that is
not a valid task raises ``TaskFormatError`` naming its file and line. The entry point
must be a Python identifier that is not a keyword; the preamble and every test must
compile (checked with ``compile``, never run); ``metadata`` must be an object.
"""

from __future__ import annotations
import __future__

import json
import keyword
import unicodedata
import warnings
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from corrigo.errors import TaskFormatError, TaskNotFound
from corrigo.records import TASK_KINDS, Instruction, Task, TestCase

_FIELDS = {"id", "prompt", "entry_point", "visible_tests", "hidden_tests", "preamble", "metadata"}
_KIND_FIELDS = {
    "math": {"id", "kind", "prompt", "answer", "metadata"},
    "instructions": {"id", "kind", "prompt", "instructions", "metadata"},
}
_TEST_FIELDS = {"name", "code"}
# The sandbox worker compiles preambles and tests in a module that imports annotations
# from __future__; compiling with the same flags accepts exactly what it accepts.
_COMPILE_FLAGS = __future__.annotations.compiler_flag
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number"}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    return _JSON_TYPES.get(type(value), "a number")  # json.loads gives these, or a float


def _compile_error(code: str, filename: str) -> str | None:
    """Why ``code`` does not compile as the sandbox compiles it, or None when it does."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a SyntaxWarning is the sandbox's to print
            compile(code, filename, "exec", flags=_COMPILE_FLAGS, dont_inherit=True)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}" if exc.lineno else exc.msg
    except (RecursionError, MemoryError):  # CPython's parser on very deep nesting
        return "nested too deeply to compile"
    return None


def _check_entry_point(name: str, where: str) -> None:
    if not name.isidentifier():
        raise TaskFormatError(f"{where}: entry_point is not a Python identifier ({name!r})")
    if keyword.iskeyword(name):
        raise TaskFormatError(f"{where}: entry_point is a Python keyword ({name!r})")
    read_as = unicodedata.normalize("NFKC", name)
    if read_as != name:  # Python would define and call `read_as`, never `name`
        raise TaskFormatError(
            f"{where}: entry_point is not spelled as Python reads it ({name!r} reads as {read_as!r})"
        )


def _test(item: Any, where: str, field: str, index: int) -> TestCase:
    kind = field.split("_")[0]
    at = f"{field}[{index}]"
    name: Any = None
    if isinstance(item, str):
        code = item
    elif isinstance(item, dict) and isinstance(item.get("code"), str):
        unknown = set(item) - _TEST_FIELDS
        if unknown:
            raise TaskFormatError(
                f"{where}: {at} has unknown field(s) {sorted(unknown)} (a test has "
                "'code' and an optional 'name')"
            )
        code, name = item["code"], item.get("name")
        if name is not None and not isinstance(name, str):
            raise TaskFormatError(f"{where}: {at}: 'name' must be a string")
    else:
        raise TaskFormatError(f"{where}: {at} must be a string or an object with 'code'")
    if not name or not name.strip():
        name = f"{kind} {index + 1}"
    if not code.strip():
        raise TaskFormatError(f"{where}: a {kind} test is empty (test {name!r})")
    error = _compile_error(code, f"<{kind} test {name!r}>")
    if error:
        raise TaskFormatError(f"{where}: a {kind} test does not compile (test {name!r}, {error})")
    return TestCase(name=name, code=code)


def _tests(value: Any, where: str, field: str) -> list[TestCase]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TaskFormatError(f"{where}: {field!r} must be a list of tests")
    return [_test(item, where, field, index) for index, item in enumerate(value)]


def _check_unique_names(visible: list[TestCase], hidden: list[TestCase], where: str) -> None:
    first: dict[str, str] = {}
    for field, tests in (("visible_tests", visible), ("hidden_tests", hidden)):
        for index, test in enumerate(tests):
            at = f"{field}[{index}]"
            if test.name in first:
                raise TaskFormatError(
                    f"{where}: test name repeats within the task "
                    f"({test.name!r}: {first[test.name]} and {at})"
                )
            first[test.name] = at


def json_object(line: str, where: str) -> dict[str, Any]:
    """One line of JSON Lines as an object, or TaskFormatError naming ``where``."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TaskFormatError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise TaskFormatError(f"{where}: expected a JSON object")
    return obj


def parse_line(line: str, where: str) -> Task:
    obj = json_object(line, where)
    kind = obj.get("kind", "code")
    if kind not in TASK_KINDS:
        known = ", ".join(TASK_KINDS)
        raise TaskFormatError(f"{where}: unknown kind {kind!r} (known: {known})")
    if kind != "code":
        return _other_kind(obj, kind, where)
    obj.pop("kind", None)
    unknown = set(obj) - _FIELDS
    if unknown:
        raise TaskFormatError(f"{where}: unknown field(s) {sorted(unknown)}")
    for key in ("id", "prompt", "entry_point"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise TaskFormatError(f"{where}: missing or empty string field {key!r}")
    _check_entry_point(obj["entry_point"], where)
    preamble = obj.get("preamble")
    if preamble is None:
        preamble = ""
    if not isinstance(preamble, str):
        raise TaskFormatError(f"{where}: preamble is not a string (got {_json_type(preamble)})")
    error = _compile_error(preamble, "<preamble>")
    if error:
        raise TaskFormatError(f"{where}: preamble does not compile ({error})")
    metadata = obj.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise TaskFormatError(
            f"{where}: metadata is not a JSON object (got {_json_type(metadata)})"
        )
    visible = _tests(obj.get("visible_tests"), where, "visible_tests")
    hidden = _tests(obj.get("hidden_tests"), where, "hidden_tests")
    _check_unique_names(visible, hidden, where)
    try:
        return Task(
            id=obj["id"],
            prompt=obj["prompt"],
            entry_point=obj["entry_point"],
            preamble=preamble,
            visible_tests=visible,
            hidden_tests=hidden,
            metadata=dict(metadata, source="jsonl"),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise TaskFormatError(f"{where}: {loc}: {first['msg']}") from None


def _metadata(obj: dict[str, Any], where: str) -> dict[str, Any]:
    metadata = obj.get("metadata")
    if metadata is None:
        return {"source": "jsonl"}
    if not isinstance(metadata, dict):
        raise TaskFormatError(
            f"{where}: metadata is not a JSON object (got {_json_type(metadata)})"
        )
    return dict(metadata, source="jsonl")


def _other_kind(obj: dict[str, Any], kind: str, where: str) -> Task:
    """A math or instructions task line."""
    unknown = set(obj) - _KIND_FIELDS[kind]
    if unknown:
        raise TaskFormatError(f"{where}: unknown field(s) {sorted(unknown)} for a {kind} task")
    for key in ("id", "prompt"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise TaskFormatError(f"{where}: missing or empty string field {key!r}")
    metadata = _metadata(obj, where)
    if kind == "math":
        answer = obj.get("answer")
        if isinstance(answer, int | float) and not isinstance(answer, bool):
            answer = str(answer)
        if not isinstance(answer, str) or not answer.strip():
            raise TaskFormatError(f"{where}: a math task needs its final answer ('answer')")
        from corrigo.checks.answers import check_answer

        problem = check_answer(answer)
        if problem:
            raise TaskFormatError(f"{where}: answer {answer.strip()[:40]!r} {problem}")
        return Task(
            id=obj["id"],
            kind="math",
            prompt=obj["prompt"],
            answer=answer.strip(),
            metadata=metadata,
        )
    items = obj.get("instructions")
    if not isinstance(items, list) or not items:
        raise TaskFormatError(f"{where}: an instructions task needs a list of 'instructions'")
    instructions = []
    for index, item in enumerate(items):
        at = f"instructions[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise TaskFormatError(f"{where}: {at} must be an object with an 'id'")
        extra = set(item) - {"id", "kwargs"}
        if extra:
            raise TaskFormatError(f"{where}: {at} has unknown field(s) {sorted(extra)}")
        kwargs = item.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise TaskFormatError(f"{where}: {at}: 'kwargs' must be an object")
        instructions.append(
            Instruction(id=item["id"], kwargs={k: v for k, v in kwargs.items() if v is not None})
        )
    from corrigo.checks.instructions import validate

    try:
        validate(instructions, obj["prompt"])
    except TaskFormatError as exc:
        raise TaskFormatError(f"{where}: {exc}") from None
    return Task(
        id=obj["id"],
        kind="instructions",
        prompt=obj["prompt"],
        instructions=instructions,
        metadata=metadata,
    )


def load(path_text: str) -> list[Task]:
    path = Path(path_text).expanduser()
    try:
        # utf-8-sig: a byte-order mark some editors write is not part of the first line.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TaskNotFound(f"task file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskFormatError(f"cannot read task file {path}: {exc}") from None
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    # Lines end at "\n" only: str.splitlines() would also split at U+2028 and friends,
    # which JSON allows unescaped inside strings, and miscount lines against an editor.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        task = parse_line(line, where)
        if task.id in seen:
            raise TaskFormatError(
                f"{where}: duplicate task id {task.id!r} (first on line {seen[task.id]})"
            )
        seen[task.id] = number
        tasks.append(task)
    if not tasks:
        raise TaskFormatError(f"{path}: no tasks in file")
    return tasks
