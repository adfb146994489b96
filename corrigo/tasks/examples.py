"""Turn the usage examples in a prompt's docstring into visible tests.

Handles doctest form (``>>> f(1)`` then the expected value on the next line) and the
informal forms HumanEval prompts use: ``f(1) == 2``, ``f(1) ➞ 2``, ``f(1) => 2``,
``f(1) ==> 2``, ``f(1) -> 2``, ``f(1) returns 2``, ``f(1) should return 2``,
``f(1) = 2``. Only examples whose call and expected value parse as Python literals
become tests; anything else is skipped rather than guessed.
"""

from __future__ import annotations

import ast
import re

from corrigo.records import TestCase

_SEPARATORS = ("==>", "==", "=>", "➞", "->", "should return", "returns", "=")
_BOOL_WORDS = {"true": "True", "false": "False"}


def _call_end(text: str, start: int) -> int | None:
    """Index just past the parenthesis that closes the call opening at ``start``."""
    depth = 0
    quote: str | None = None
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _literal(text: str) -> str | None:
    """The canonical repr of ``text`` if it is a Python literal, else None."""
    text = text.strip().rstrip(".").strip()
    text = _BOOL_WORDS.get(text, text)
    if not text:
        return None
    try:
        return repr(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _call_is_literal(call: str, entry_point: str) -> bool:
    try:
        node = ast.parse(call, mode="eval").body
    except SyntaxError:
        return False
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return False
    if node.func.id != entry_point:
        return False
    try:
        for arg in node.args:
            ast.literal_eval(arg)
        for kw in node.keywords:
            ast.literal_eval(kw.value)
    except (ValueError, SyntaxError, TypeError):
        return False
    return True


def check_code(call: str, expected: str) -> str:
    """Test statements asserting ``call`` evaluates to the literal ``expected``."""
    return (
        f"_got = {call}\n"
        f"_want = {expected}\n"
        "_ok = type(_got) is type(_want) and _got == _want\n"
        "if not _ok and isinstance(_want, float) and type(_got) in (int, float):\n"
        "    _ok = abs(_got - _want) <= 1e-6 * max(1.0, abs(_want))\n"
        "if not _ok and type(_want) is int and type(_got) is float:\n"
        "    _ok = _got == _want\n"
        f"assert _ok, '%s returned %r, expected %r' % ({call!r}, _got, _want)\n"
    )


def _doctest_examples(prompt: str, entry_point: str) -> list[tuple[str, str]]:
    lines = prompt.splitlines()
    found = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith(">>>"):
            continue
        call = stripped[3:].strip()
        if entry_point + "(" not in call:
            continue
        expected_lines = []
        for nxt in lines[i + 1 :]:
            s = nxt.strip()
            if not s or s.startswith(">>>") or s.startswith('"""') or s.startswith("'''"):
                break
            expected_lines.append(s)
        if not expected_lines and " == " in call:
            call, _, rhs = call.rpartition(" == ")
            expected_lines = [rhs]
        if not expected_lines:
            expected_lines = ["None"]  # doctest: no output means the value was None
        expected = _literal(" ".join(expected_lines))
        if expected is None:
            continue
        try:
            ast.parse(call, mode="eval")
        except SyntaxError:
            continue
        found.append((call, expected))
    return found


def _informal_examples(prompt: str, entry_point: str) -> list[tuple[str, str]]:
    found = []
    pattern = re.compile(r"\b" + re.escape(entry_point) + r"\(")
    for raw in prompt.splitlines():
        line = raw.strip().lstrip("*-").strip()
        if ">>>" in line or line.startswith("def "):
            continue
        match = pattern.search(line)
        if not match:
            continue
        end = _call_end(line, match.end() - 1)
        if end is None:
            continue
        call = line[match.start() : end]
        if not _call_is_literal(call, entry_point):
            continue
        rest = line[end:].strip()
        if rest.startswith("#"):
            rest = rest[1:].strip()
        for sep in _SEPARATORS:
            if rest.startswith(sep):
                rest = rest[len(sep) :]
                break
        else:
            continue
        rest = rest.split("#", 1)[0]
        expected = _literal(rest)
        if expected is None:
            continue
        found.append((call, expected))
    return found


_FOR_FORM = re.compile(
    r"For (?P<args>\w+ ?=.+?),? the (?:output|result) should be (?P<want>.+)$", re.IGNORECASE
)


def _parameters(prompt: str, entry_point: str) -> list[str]:
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return [a.arg for a in node.args.args]
    return []


def _for_form_examples(prompt: str, entry_point: str) -> list[tuple[str, str]]:
    """``For lst = [1, 2] the output should be 3``: arguments named as parameters."""
    params = _parameters(prompt, entry_point)
    found = []
    for raw in prompt.splitlines():
        match = _FOR_FORM.search(raw.strip())
        if not match:
            continue
        try:
            node = ast.parse(f"_f({match['args']})", mode="eval").body
        except SyntaxError:
            continue
        if not isinstance(node, ast.Call) or node.args:
            continue
        names = [kw.arg for kw in node.keywords]
        if names != params[: len(names)] or len(names) != len(params):
            continue
        try:
            values = [repr(ast.literal_eval(kw.value)) for kw in node.keywords]
        except (ValueError, SyntaxError, TypeError):
            continue
        want = match["want"].strip()
        expected = _literal(want) or _literal(want.split(" ", 1)[0])
        if expected is None:
            continue
        found.append((f"{entry_point}({', '.join(values)})", expected))
    return found


def examples_to_tests(prompt: str, entry_point: str) -> list[TestCase]:
    pairs = (
        _doctest_examples(prompt, entry_point)
        or _informal_examples(prompt, entry_point)
        or _for_form_examples(prompt, entry_point)
    )
    tests: list[TestCase] = []
    seen: set[tuple[str, str]] = set()
    for call, expected in pairs:
        if (call, expected) in seen:
            continue
        seen.add((call, expected))
        tests.append(
            TestCase(name=f"example {len(tests) + 1}: {call}", code=check_code(call, expected))
        )
    return tests
