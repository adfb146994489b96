"""Math answers: the final answer of a worked solution, and whether two answers agree.

Both go through the ``math-verify`` package, which reads ``\\boxed{18}``, ``#### 18``,
``The answer is 18.``, ``1,000``, ``18.0``, ``$3/4$`` or ``0.75`` and compares them as
mathematics, not as strings. Its parser evaluates what it reads with SymPy, so a hostile
answer (``9^{9^{9^{9}}}``) could keep it busy for hours: answers are cut to a few hundred
characters and anything with a nested or large power is compared as plain text instead.
SymPy's own timeouts use ``SIGALRM`` (main thread only) and are turned off here; the
callers run these functions in a worker thread.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

MAX_ANSWER = 120  # characters of an answer worth comparing
_TAIL = 3000  # characters at the end of a reply searched for its final answer
_BOXED = re.compile(r"\\boxed\s*\{")
_HASHES = re.compile(r"####\s*([^\n]+)")
_POWER = re.compile(r"\^|\*\*")
_BIG_POWER = re.compile(r"(\^|\*\*)\s*\{?\s*[-+]?\(?\s*\d{3,}|(\^|\*\*)[^\n]*(\^|\*\*)")
_LONG_NUMBER = re.compile(r"\d{40,}")


def _safe(text: str) -> bool:
    """Whether SymPy may evaluate ``text``: no power towers, no huge exponents."""
    if len(text) > MAX_ANSWER or _LONG_NUMBER.search(text):
        return False
    return not (_POWER.search(text) and _BIG_POWER.search(text))


def _plain(text: str) -> str:
    """The answer as text, for display and for comparing what SymPy may not read."""
    text = text.strip().strip("$").strip()
    text = re.sub(r"\\(?:text|mathrm|textbf)\{([^{}]*)\}", r"\1", text)
    text = text.replace("\\!", "").replace("\\,", "").replace("\\$", "").replace("\\%", "%")
    text = text.rstrip(".").strip()
    return text[:MAX_ANSWER]


def _last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (braces balanced), or None."""
    found = None
    for match in _BOXED.finditer(text):
        depth, start = 1, match.end()
        for index in range(start, min(len(text), start + 400)):
            if text[index] == "{":
                depth += 1
            elif text[index] == "}":
                depth -= 1
                if depth == 0:
                    found = text[start:index]
                    break
    return found


@lru_cache(maxsize=1)
def _quiet() -> None:
    """math-verify warns once that its (signal-based) timeouts are off; they are on purpose."""
    import logging

    logging.getLogger("math_verify").setLevel(logging.ERROR)


@lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple[Any, ...]:
    _quiet()
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    if not _safe(text):
        return ()
    try:
        return tuple(
            parse(
                text,
                extraction_config=[
                    LatexExtractionConfig(boxed_match_priority=0),
                    ExprExtractionConfig(),
                ],
                parsing_timeout=None,
            )
        )
    except Exception:  # math-verify's parser raises whatever SymPy raises
        return ()


def extract_answer(reply: str) -> str | None:
    """The final answer a worked solution gives, as text (``"18"``), or None.

    In order: the last ``\\boxed{}``, a ``#### N`` line, then what math-verify finds
    (an ``answer is`` phrase, else the last number)."""
    tail = reply[-_TAIL:]
    boxed = _last_boxed(tail)
    if boxed is not None and boxed.strip():
        return _plain(boxed)
    hashes = _HASHES.findall(tail)
    if hashes:
        return _plain(hashes[-1])
    found = _parsed(_safe_tail(tail))
    if len(found) >= 2 and isinstance(found[1], str) and found[1].strip():
        return _plain(found[1])
    if found:
        return _plain(str(found[0]))
    return None


def _safe_tail(text: str) -> str:
    """The reply's last lines that SymPy may read (a power tower drops a line)."""
    lines = [line for line in text.splitlines()[-12:] if _safe(line[-MAX_ANSWER:])]
    return "\n".join(line[-MAX_ANSWER:] for line in lines)


def _as_math(text: str) -> tuple[Any, ...]:
    """``text`` as math-verify reads an answer: LaTeX first (so ``1,000`` is a thousand)."""
    cleaned = _plain(text).replace(",", "") if re.fullmatch(r"[\d,.\s$%-]+", text) else text
    return _parsed(f"${_plain(cleaned)}$")


def same_answer(expected: str, given: str | None) -> bool:
    """Whether ``given`` is the same mathematical answer as ``expected``."""
    if given is None or not given.strip():
        return False
    if _plain(expected) == _plain(given):
        return True
    gold, pred = _as_math(expected), _as_math(given)
    if not gold or not pred:
        return False
    from math_verify import verify

    try:
        return bool(verify(list(gold), list(pred), timeout_seconds=None))
    except Exception:
        return False


def canonical(answer: str | None) -> str:
    """A text form under which equal answers are equal (for votes): exact rationals for
    numbers (``18``, ``18.0`` and ``\\frac{36}{2}`` all give ``18``), else the plain text."""
    if answer is None:
        return "!none!"
    parsed = _as_math(answer)
    if parsed:
        import sympy

        value = parsed[0]
        try:
            if isinstance(value, sympy.Basic) and value.is_number:
                return str(sympy.nsimplify(value, rational=True))
        except Exception:
            pass
        return str(value)
    return _plain(answer)
