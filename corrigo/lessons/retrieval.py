"""Which lessons to show a new task: scopes, a task's topic, and TF-IDF similarity.

**Scopes.** A task's scope keys are its id, its family (the part of the id before the
first "/": ``HumanEval/12`` → ``HumanEval``) and ``"*"`` (global). A lesson applies to
the tasks whose scope keys include its ``scope_key``.

**Retrieval** (:func:`relevant`). The candidates are the task's active and demoted
lessons in those scopes (at most :data:`CANDIDATES`, newest first). Each is scored by
TF-IDF-weighted cosine similarity between the task's words (:func:`topic_of`: its prompt
and entry point, never its hidden tests) and the lesson's text plus topic: lower-cased
words and identifier parts (``sum_of_digits``, ``sumOfDigits`` → sum, of, digits), stop
words removed, crude plural/-ing/-ed stemming, IDF over the candidates plus the query.
A lesson below :data:`MIN_SIMILARITY` is not relevant, except a lesson of this very task.
The score adds :data:`TASK_BOOST` for a lesson of this task and :data:`FAMILY_BOOST` for
one of its family, and a demoted lesson's score is multiplied by :data:`DEMOTED_FACTOR`,
so it ranks below active ones of similar similarity. Best first, at most ``k``.
``benchmarks/lessons_retrieval.py`` measures it: on a small hand-labelled set TF-IDF
matched or beat the sentence-embedding model all-MiniLM-L6-v2 (precision@1 0.89 vs
0.78, recall@3 0.92 vs 0.89) at about 16-21 ms a call (p50) over 1,000 stored lessons; the
model would need torch (or a hand-written forward pass), 90 MB of weights, ~50 ms of CPU
per text and a stored vector per lesson. So corrigo uses TF-IDF and depends on no model.

Retrieval never reads a task's tests, visible or hidden: what a lesson is matched
against is the task's prompt and entry point only.
"""

from __future__ import annotations

import ast
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

from corrigo.records import Lesson, Task
from corrigo.storage.lessons import LessonStore

__all__ = [
    "CANDIDATES",
    "DEMOTED_FACTOR",
    "FAMILY_BOOST",
    "MIN_SIMILARITY",
    "TASK_BOOST",
    "TOPIC_WORDS",
    "family",
    "relevant",
    "scope_keys",
    "similarity",
    "topic_of",
]

#: Cosine similarity below which a lesson is not relevant to a task.
MIN_SIMILARITY = 0.08
#: Added to the score of a lesson scoped to this very task / to the task's family.
TASK_BOOST = 0.3
FAMILY_BOOST = 0.1
#: A demoted lesson's score is multiplied by this.
DEMOTED_FACTOR = 0.7
#: How many lessons retrieval considers (newest first).
CANDIDATES = 500
#: How many words of a task :func:`topic_of` keeps.
TOPIC_WORDS = 60


def family(task_id: str) -> str:
    """The task's family: ``"HumanEval/12"`` → ``"HumanEval"``; an id without "/" is its own."""
    head, sep, _ = task_id.partition("/")
    return head if sep and head else task_id


def scope_keys(task: Task) -> list[str]:
    """``[task id, family, "*"]``, without repeats (an id without "/" is its own family)."""
    return list(dict.fromkeys([task.id, family(task.id), "*"]))


# --- text ------------------------------------------------------------------------------

_STOP = frozenset(
    " ".join(
        [
            "a about above after again all also am an and any are as at be because been before",
            "being below between both but by can could did do does doing done down during each",
            "either else etc few for from further get gets given had has have having he her here",
            "hers him his how however i if in into is it its itself just let like may me might",
            "more most must my no nor not of off on once only or other our out over own per same",
            "she should so some such than that the their them then there these they this those",
            "through thus to too under until up upon us use used using very via was we were what",
            "when where whether which while who whom why will with within without would yet you",
            "your def return returns function write implement import typing self example examples",
            "eg ie re ll ve don",
        ]
    ).split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*|[0-9]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_STEM_LEN = 6


def _stem(word: str) -> str:
    """A crude, consistent stemmer: a few suffix rules, then the first :data:`_STEM_LEN`
    letters (truncation stemming): lists→list, sorted→sort, recursively→recurs."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word[:_STEM_LEN]


def _split_identifier(token: str) -> list[str]:
    parts = [p for piece in token.split("_") for p in _CAMEL.findall(piece)]
    return [p.lower() for p in parts]


@lru_cache(maxsize=8192)
def _terms(text: str) -> tuple[str, ...]:
    """The terms of ``text``: identifier parts, lower-cased, stemmed, no stop words.

    A compound identifier also counts whole (``has_close_elements`` matches itself)."""
    out: list[str] = []
    for token in _WORD.findall(text):
        parts = _split_identifier(token)
        for part in parts:
            if len(part) > 1 and part not in _STOP:
                out.append(_stem(part))
        if len(parts) > 1:
            out.append(token.lower())
    return tuple(out)


def _doc_lines(text: str) -> Iterable[str]:
    """``text`` without imports and doctest examples (their outputs included)."""
    in_example = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(">>>"):
            in_example = True
            continue
        if in_example and line:
            continue
        in_example = False
        if line.startswith(("import ", "from ")):
            continue
        yield line


def _prompt_text(prompt: str) -> str:
    """What a prompt says: for Python, each function's name, parameter names and
    docstring (type annotations are left out: ``int``, ``List`` say little about the
    task); any other prompt as it is."""
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError):
        return prompt
    parts: list[str] = []
    docstring = ast.get_docstring(tree)
    if docstring:
        parts.append(docstring)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            parts.append(node.name)
            if not isinstance(node, ast.ClassDef):
                args = node.args
                every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
                every += [a for a in (args.vararg, args.kwarg) if a is not None]
                parts.append(" ".join(a.arg for a in every))
            docstring = ast.get_docstring(node)
            if docstring:
                parts.append(docstring)
    return "\n".join(parts) if parts else prompt


def topic_of(task: Task) -> str:
    """The words retrieval matches a task against: its entry point, then the words of its
    prompt (function names, parameter names and docstring prose; no type annotations,
    imports or doctest lines), stop words removed, at most :data:`TOPIC_WORDS` words.
    Never its tests."""
    words: list[str] = [task.entry_point] if task.entry_point else []
    for line in _doc_lines(_prompt_text(task.prompt)):
        for token in _WORD.findall(line):
            if token.lower() not in _STOP and len(token) > 1 and token != task.entry_point:
                words.append(token)
    return " ".join(words[:TOPIC_WORDS])


def _lesson_text(lesson: Lesson) -> str:
    return f"{lesson.text}\n{lesson.topic}"


def _weights(terms: Sequence[str], idf: dict[str, float]) -> dict[str, float]:
    counts = Counter(terms)
    return {t: (1.0 + math.log(n)) * idf[t] for t, n in counts.items()}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    dot = sum(w * b.get(t, 0.0) for t, w in a.items())
    if not dot:
        return 0.0
    norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return dot / norm


def similarity(query: str, documents: Sequence[str]) -> list[float]:
    """TF-IDF cosine similarity of ``query`` to each document, in order (0..1).

    IDF is computed over the documents plus the query, smoothed: ``ln((n+1)/(df+1)) + 1``;
    term frequency is sublinear (``1 + ln tf``)."""
    query_terms = _terms(query)
    doc_terms = [_terms(d) for d in documents]
    n = len(documents) + 1
    df: Counter[str] = Counter(set(query_terms))
    for terms in doc_terms:
        df.update(set(terms))
    idf = {t: math.log((n + 1) / (c + 1)) + 1.0 for t, c in df.items()}
    q = _weights(query_terms, idf)
    if not q:
        return [0.0] * len(documents)
    return [_cosine(q, _weights(terms, idf)) for terms in doc_terms]


# --- retrieval -------------------------------------------------------------------------


async def relevant(store: LessonStore, task: Task, k: int = 3) -> list[Lesson]:
    """At most ``k`` active or demoted lessons for ``task``, the most relevant first."""
    if k <= 0:
        return []
    keys = scope_keys(task)
    fam = family(task.id)
    candidates = [
        lesson
        for lesson in await store.list_lessons(
            keys, statuses=["active", "demoted"], limit=CANDIDATES
        )
        # The store filters these already; a lesson of another task must never leak in.
        if lesson.status != "retired"
        and lesson.scope_key in keys
        and not (lesson.scope == "task" and lesson.scope_key != task.id)
    ]
    if not candidates:
        return []
    sims = similarity(topic_of(task), [_lesson_text(c) for c in candidates])
    scored: list[tuple[float, int, Lesson]] = []
    for order, (lesson, sim) in enumerate(zip(candidates, sims, strict=True)):
        own = lesson.scope_key == task.id
        if sim < MIN_SIMILARITY and not own:
            continue
        score = sim + (TASK_BOOST if own else FAMILY_BOOST if lesson.scope_key == fam else 0.0)
        if lesson.status == "demoted":
            score *= DEMOTED_FACTOR
        scored.append((score, order, lesson))
    # Ties keep the store's order: newest first.
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [lesson for _, _, lesson in scored[:k]]
