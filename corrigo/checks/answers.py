"""Math answers: the final answer of a worked solution, and whether two answers agree.

Plain numbers (``18``, ``18.0``, ``1,000``, ``$12.50``, ``18 dollars``, ``18%``) are
compared exactly, float noise from a program (``4391.000000000001``) snapped away; every
other form (``\\frac{3}{4}`` against ``0.75``, ``\\sqrt{4}``) goes through the
``math-verify`` package, which compares them as mathematics, not as strings. Its parser
evaluates what it reads with SymPy, so a hostile answer (``99999999!``,
``9^{9^{9^{9}}}``, ``\\binom{10^9}{10^8}``) could keep it busy for hours: only text made
of digits, arithmetic, fractions, roots and powers with one- or two-digit exponents is
given to it; anything else is compared as text. SymPy's own timeouts use ``SIGALRM``
(main thread only) and are turned off here; the callers run these functions in a worker
thread.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Any

MAX_ANSWER = 120  # characters of an answer worth comparing
_TAIL = 3000  # characters at the end of a reply searched for its final answer
_BOXED = re.compile(r"\\boxed\s*\{")
_HASHES = re.compile(r"^\s*####\s*(\$?\s*[-+]?\d[^\n]*)", re.MULTILINE)
# A number as answers write it: sign, currency, thousands separators, decimals, percent.
_NUMBER = re.compile(r"^[-+]?\$?\s*(\d{1,3}(?:,\d{3})+|\d+)?(\.\d+)?(?=\D|$)")
# What SymPy may be given: digits, arithmetic, fractions and roots; no factorials,
# binomials or products (``99999999!`` keeps SymPy busy for hours), and powers only with
# an exponent of one or two digits.
_SAFE = re.compile(
    r"(?:[0-9.,+\-*/()\[\]{}\s%=]|\\(?:d|t)?frac|\\sqrt|\\pi|\\cdot|\\times|\\left|\\right"
    r"|\^\s*(?:\{\s*-?\d{1,2}\s*\}|-?\d{1,2}(?![\d.]))|[a-zA-Z])*"
)
_MARKUP = re.compile(r"\*\*|__|\\\(|\\\)|\\\[|\\\]")
_TEXT = re.compile(r"\\(?:text|mathrm|textbf|mbox)\s*\{([^{}]*)\}")


def _plain(text: str) -> str:
    """The answer as text: a ``\\boxed{}`` or ``####`` unwrapped, markup, ``\\text{}``
    and dollar signs off, a trailing period dropped, a Unicode minus made ASCII."""
    boxed = _last_boxed(text) if "boxed" in text else None
    if boxed is not None:
        text = boxed
    text = re.sub(r"^\s*####\s*", "", text)
    text = _MARKUP.sub("", text).replace("\u2212", "-")
    text = _TEXT.sub(r"\1", text)
    text = text.replace("\\!", "").replace("\\,", "").replace("\\$", "").replace("\\%", "%")
    text = re.sub(r"\s+", " ", text).strip().strip("$").strip().rstrip(".").strip()
    return text[:MAX_ANSWER]


def _safe(text: str) -> bool:
    """Whether SymPy may read ``text``: short, and nothing it could evaluate for long."""
    return len(text) <= MAX_ANSWER and _SAFE.fullmatch(text) is not None


def number(text: str | None) -> Fraction | None:
    """A plain numeric answer as an exact value (``"$1,234.50"``, ``"18 dollars"``,
    ``"18%"``, ``"-3"``), or None when it is not one. Float noise from a program
    (``4391.000000000001``) is snapped to the nearest short decimal."""
    if text is None:
        return None
    plain = _plain(text)
    match = _NUMBER.match(plain)
    if match is None or not (match[1] or match[2]):
        return None
    rest = plain[match.end() :].strip()
    if rest and not re.fullmatch(r"%|[a-zA-Z][a-zA-Z .'/-]*", rest):
        return None  # "3/4", "2^3", "4:00": not a plain number
    digits = (match[1] or "0").replace(",", "") + (match[2] or "")
    value = Fraction(digits)
    if plain.lstrip().startswith("-"):
        value = -value
    return _snap(value)


def _snap(value: Fraction) -> Fraction:
    """Within a billionth (relative) of a number with at most six decimals: that number."""
    near = Fraction(round(value * 10**6), 10**6)
    if abs(value - near) <= abs(near) * Fraction(1, 10**9) + Fraction(1, 10**12):
        return near
    return value


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

    In order: the last ``\\boxed{}``, a line starting ``#### <number>``, then what
    math-verify finds (an ``answer is`` phrase, else the last number)."""
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
    """The reply's last lines as SymPy may read them: an exclamation mark is prose, and a
    line with any other command than arithmetic's or a large power is left out."""
    lines = (_readable(line) for line in text.splitlines()[-12:])
    return "\n".join(line for line in lines if line)


_COMMAND = re.compile(r"\\([a-zA-Z]+)")
_READABLE_COMMANDS = {"frac", "dfrac", "tfrac", "sqrt", "pi", "cdot", "times", "left", "right"}
_SMALL_POWER = re.compile(r"\^\s*(?:\{\s*-?\d{1,2}\s*\}|-?\d{1,2}(?![\d.]))")
_LONG_NUMBER = re.compile(r"\d{40,}")


def _readable(line: str) -> str | None:
    line = _plain(line[-300:]).replace("!", ".")
    if any(c not in _READABLE_COMMANDS for c in _COMMAND.findall(line)):
        return None
    if line.count("^") != len(_SMALL_POWER.findall(line)) or _LONG_NUMBER.search(line):
        return None
    return line


def _as_math(text: str) -> tuple[Any, ...]:
    """``text`` as math-verify reads an answer (only what it may read safely)."""
    plain = _plain(text)
    if not _safe(plain):
        return ()
    return _parsed(f"${plain}$")


def same_answer(expected: str, given: str | None) -> bool:
    """Whether ``given`` is the same mathematical answer as ``expected``: plain numbers
    exactly (after snapping float noise), anything else through math-verify."""
    if given is None or not given.strip():
        return False
    if _plain(expected) == _plain(given):
        return True
    a, b = number(expected), number(given)
    if a is not None and b is not None:
        return a == b
    gold, pred = _as_math(expected), _as_math(given)
    if not gold or not pred:
        return False
    from math_verify import verify

    try:
        return bool(verify(list(gold), list(pred), timeout_seconds=None))
    except Exception:
        return False


def canonical(answer: str | None) -> str:
    """A text form under which equal answers are equal (for votes): the exact value of
    a plain number (``18``, ``18.0``, ``$18`` and ``18 dollars`` all give ``18``), else
    math-verify's reading of a safe expression, else the plain text."""
    if answer is None:
        return "!none!"
    value = number(answer)
    if value is not None:
        return str(value)
    parsed = _as_math(answer)
    if parsed:
        import sympy

        found = parsed[0]
        try:
            if isinstance(found, sympy.Basic) and found.is_number and found.is_finite:
                return str(_snap(Fraction(str(sympy.nsimplify(found, rational=True)))))
        except Exception:
            pass
        return str(found)
    return _plain(answer)


def check_answer(answer: str) -> str | None:
    """Why a task's own answer cannot be used, or None."""
    if number(answer) is not None:
        return None
    if not _safe(_plain(answer)):
        return "must be a number or a short expression without factorials or large powers"
    return None
