"""Instruction checkers: whether a written reply follows each verifiable instruction.

The checkers are IFEval's and IFBench's own, from the maintained ``if-verifiable``
package (installed with ``corrigo[instructions]``); corrigo only builds them from a task's
instruction ids and arguments, runs them, and says what failed and why. Every result is
the checker's: strict (the reply as given) and loose (IFEval's loose mode: also the reply
without its first or last line, or without markdown asterisks).

The checkers need NLTK's ``punkt_tab`` and ``stopwords`` data, which ``corrigo suites pull``
puts under the data directory; nothing is downloaded at run time and no pickled tokenizer
is ever loaded (IFEval's sentence counter asks for one; it gets the ``punkt_tab``
tokenizer, which is read from plain text files, instead).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corrigo.errors import TaskFormatError
from corrigo.records import Instruction, TestResult

_PARAGRAPHS = re.compile(r"\s?\*\*\*\s?")
_HIGHLIGHT = re.compile(r"\*[^\n\*]+\*")
_BULLET = re.compile(r"^\s*[\*-][^\*].*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\[.*?\]")
_MISSING = "instruction checkers are not installed: pip install 'corrigo[instructions]'"


@dataclass(frozen=True)
class Checked:
    """One instruction's result: strict and loose, with what the checker asked for."""

    id: str
    strict: bool
    loose: bool
    description: str
    detail: str = ""


@functools.cache
def _ifeval() -> dict[str, Any]:
    try:
        from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT
    except ImportError as exc:
        raise TaskFormatError(f"{_MISSING} ({exc.name} is missing)") from None
    return dict(INSTRUCTION_DICT)


@functools.cache
def _ifbench() -> dict[str, Any]:
    """IFBench's checkers. Their module downloads NLTK data when it is imported and finds
    none; corrigo never goes to the network at run time, so downloading is refused there
    (a checker whose data is missing then fails its instruction, and says so)."""
    import nltk

    download = nltk.download
    nltk.download = _no_download
    try:
        from if_verifiable.ifbench.instructions_registry import INSTRUCTION_DICT
    except ImportError as exc:
        raise TaskFormatError(f"{_MISSING} ({exc.name} is missing)") from None
    finally:
        nltk.download = download
    return dict(INSTRUCTION_DICT)


def _no_download(*args: Any, **kwargs: Any) -> bool:
    return False


def _checker_class(instruction_id: str) -> Any:
    found = _ifeval().get(instruction_id)
    if found is None and ":" in instruction_id:
        found = _ifbench().get(instruction_id)
    if found is None:
        raise TaskFormatError(f"unknown instruction id {instruction_id!r}")
    return found


def use_nltk_data(folder: Path | None) -> None:
    """Point NLTK at ``folder`` (the pulled ``punkt_tab`` and ``stopwords``) and give
    IFEval's sentence counter the ``punkt_tab`` tokenizer instead of a pickle."""
    import nltk

    if folder is not None and str(folder) not in nltk.data.path:
        nltk.data.path.insert(0, str(folder))
    from if_verifiable.ifeval import instructions_util

    instructions_util._get_sentence_tokenizer = _punkt_tab


@functools.cache
def _punkt_tab() -> Any:
    from nltk.tokenize.punkt import PunktTokenizer

    return PunktTokenizer("english")


def build(instruction: Instruction, prompt: str) -> tuple[Any, str]:
    """A checker built from the instruction's arguments, and its description.

    Raises TaskFormatError when the id is unknown or the checker refuses the arguments,
    and when it would pick an argument at random (the check must be the same every time).
    """
    checker = _checker_class(instruction.id)(instruction.id)
    kwargs = {k: v for k, v in instruction.kwargs.items() if v is not None}
    try:
        description = checker.build_description(**kwargs)
        args = checker.get_instruction_args() or {}
        if "prompt" in args:
            description = checker.build_description(prompt=prompt)
    except (TypeError, ValueError, KeyError, AttributeError, LookupError) as exc:
        raise TaskFormatError(
            f"instruction {instruction.id!r} refuses its kwargs {kwargs}: {exc}"
        ) from None
    chosen = sorted(k for k in args if k not in kwargs and k != "prompt" and args[k] is not None)
    if chosen:
        raise TaskFormatError(
            f"instruction {instruction.id!r} needs kwargs {chosen} (without them its "
            "checker picks values at random)"
        )
    replaced = sorted(k for k in kwargs if k in args and _replaced(kwargs[k], args[k]))
    if replaced:
        # IFEval's checkers replace an out-of-range value (num_words=-5) by a random one.
        raise TaskFormatError(
            f"instruction {instruction.id!r} refuses kwargs {replaced} as given "
            f"({', '.join(f'{k}={kwargs[k]!r}' for k in replaced)}: its checker would pick "
            "other values at random)"
        )
    return checker, str(description)


def _replaced(given: Any, kept: Any) -> bool:
    """Whether a checker kept another value than the one given: numbers exactly, words
    whatever their case (checkers lowercase or sort lists of words, which is fine)."""
    if isinstance(given, bool) or isinstance(kept, bool):
        return given != kept
    if isinstance(given, int | float) and isinstance(kept, int | float):
        return given != kept
    if isinstance(given, str) and isinstance(kept, str):
        return given.strip().lower() != kept.strip().lower()
    return False


def validate(instructions: Sequence[Instruction], prompt: str) -> None:
    """Raise TaskFormatError if any instruction cannot be checked as given."""
    if not instructions:
        raise TaskFormatError("an instructions task needs at least one instruction")
    for instruction in instructions:
        build(instruction, prompt)


def _follows(checker: Any, text: str) -> bool:
    if not text.strip():
        return False
    try:
        return bool(checker.check_following(text))
    except Exception:  # a checker failing on odd text has not seen its instruction kept
        return False


def check(
    reply: str, instructions: Sequence[Instruction], prompt: str, nltk_data: Path | None = None
) -> list[Checked]:
    """Every instruction's strict and loose result on ``reply`` (blocking: CPU only)."""
    _seed_language_detection()
    use_nltk_data(nltk_data)
    results = []
    from if_verifiable.common import get_loose_transformations

    variants = get_loose_transformations(reply)  # IFEval's loose mode, the reply first
    for instruction in instructions:
        checker, description = build(instruction, prompt)
        strict = _follows(checker, reply)
        loose = strict or any(_follows(checker, v) for v in variants[1:])
        detail = "" if strict else measured(instruction, reply)
        results.append(Checked(instruction.id, strict, loose, description, detail))
    return results


@functools.cache
def _seed_language_detection() -> None:
    """langdetect samples at random; a fixed seed gives the same verdict every time."""
    from langdetect import DetectorFactory

    DetectorFactory.seed = 0


def measured(instruction: Instruction, reply: str) -> str:
    """What the reply has, where a number says more than "not followed"."""
    kwargs = instruction.kwargs
    kind = instruction.id.split(":", 1)[-1]
    words = len(re.findall(r"\w+", reply))
    if kind == "number_words":
        return f"the reply has {words} words"
    if kind == "number_paragraphs":
        paragraphs = len(_PARAGRAPHS.split(reply))
        return f"the reply has {paragraphs} paragraphs separated by ***"
    if kind == "number_highlighted_sections":
        return f"the reply has {len(_HIGHLIGHT.findall(reply))} highlighted sections"
    if kind == "number_bullet_lists":
        found = len(_BULLET.findall(reply))
        return f"the reply has {found} bullet points"
    if kind == "english_lowercase":
        upper = sorted({w for w in re.findall(r"\b\w*[A-Z]\w*\b", reply)})[:6]
        return "words with capitals: " + ", ".join(upper) if upper else ""
    if kind == "english_capital":
        lower = sorted({w for w in re.findall(r"\b\w*[a-z]\w*\b", reply)})[:6]
        return "words with lowercase letters: " + ", ".join(lower) if lower else ""
    if kind == "no_comma":
        return f"the reply has {reply.count(',')} commas"
    if kind == "forbidden_words":
        used = [
            w
            for w in kwargs.get("forbidden_words") or []
            if re.search(rf"\b{re.escape(str(w))}\b", reply, re.I)
        ]
        return "forbidden words used: " + ", ".join(used) if used else ""
    if kind == "existence":
        missing = [
            w for w in kwargs.get("keywords") or [] if not re.search(re.escape(str(w)), reply, re.I)
        ]
        return "missing keywords: " + ", ".join(missing) if missing else ""
    if kind == "frequency" and kwargs.get("keyword"):
        count = len(re.findall(re.escape(str(kwargs["keyword"])), reply, re.I))
        return f"{kwargs['keyword']!r} appears {count} times"
    if kind == "end_checker":
        return "the reply ends with: " + repr(reply.strip()[-60:])
    return _measured_more(kind, kwargs, reply)


def _measured_more(kind: str, kwargs: dict[str, Any], reply: str) -> str:
    """The measures of the rarer instructions (see :func:`measured`)."""
    text = reply.strip()
    if kind == "repeat_prompt" and kwargs.get("prompt_to_repeat"):
        wanted = str(kwargs["prompt_to_repeat"]).strip()
        return f"the reply must begin with exactly {wanted!r}; it begins with {text[:60]!r}"
    if kind == "two_responses":
        parts = [p for p in reply.split("******") if p.strip()]
        return (
            f"the reply has {len(parts)} part(s) between ****** separators; "
            "exactly 2 different ones are needed"
        )
    if kind == "letter_frequency" and kwargs.get("letter"):
        letter = str(kwargs["letter"]).lower()
        return f"the letter {letter!r} appears {reply.lower().count(letter)} times"
    if kind == "number_sentences":
        from if_verifiable.ifeval.instructions_util import count_sentences

        return f"the reply has {count_sentences(reply)} sentences"
    if kind == "response_language":
        return f"the reply reads as language {_language(reply)!r}"
    if kind == "title":
        return "no title wrapped in double angular brackets like <<title>> was found"
    if kind == "quotation":
        return f"the reply starts with {text[:1]!r} and ends with {text[-1:]!r}"
    if kind == "postscript" and kwargs.get("postscript_marker"):
        return f"no line starting with {kwargs['postscript_marker']!r} was found"
    if kind == "number_placeholders":
        found = len(_PLACEHOLDER.findall(reply))
        return f"the reply has {found} placeholders in square brackets"
    if kind == "multiple_sections" and kwargs.get("section_spliter"):
        marker = str(kwargs["section_spliter"])
        found = len(re.findall(rf"\s?{re.escape(marker)}\s?\d+\s?", reply))
        return f"the reply has {found} sections marked '{marker} 1', '{marker} 2', ..."
    if kind == "capital_word_frequency":
        words = re.findall(r"\b[A-Z][A-Z]+\b", reply)
        return f"the reply has about {len(words)} words in capital letters"
    if kind == "json_format":
        return "the reply, without a ```json fence, is not valid JSON"
    return ""


def _language(reply: str) -> str:
    try:
        from langdetect import detect

        return str(detect(reply))
    except Exception:  # langdetect refuses text without letters
        return "unknown"


def results(checked: Sequence[Checked]) -> list[TestResult]:
    """One test result per instruction (strict), its message saying what was asked."""
    out = []
    for item in checked:
        message = "" if item.strict else f"not followed: {item.description}"
        if item.detail:
            message += f" ({item.detail})"
        out.append(TestResult(name=item.id, passed=item.strict, message=message))
    return out


def feedback(checked: Sequence[Checked]) -> str:
    """Which instructions the reply breaks, and why, for the next round."""
    failed = [c for c in checked if not c.strict]
    if not failed:
        return f"All {len(checked)} instructions are followed."
    lines = [f"{len(failed)} of {len(checked)} instructions are not followed:"]
    for item in failed:
        line = f"- {item.id}: {item.description}"
        if item.detail:
            line += f"\n  Found: {item.detail}"
        lines.append(line)
    return "\n".join(lines)
