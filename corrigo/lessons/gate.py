"""Whether a lesson helps: the help gate, applied after every run that used lessons.

A lesson's *with* rate is ``helped / uses``: of the runs whose prompts carried it, the
share that ended passed. Its *baseline* is the pass rate of the runs in the lesson's
own scope that did not carry it: ``(scope.passed - helped) / (scope.runs - uses)``.

- Until it has :data:`MIN_USES` (3) uses, or while the baseline has no runs, a lesson
  keeps its status: there is nothing to compare yet.
- A lesson that does not help (with rate not above the baseline rate) is ``demoted``:
  still retrieved, ranked lower.
- A demoted lesson that still does not help once it has :data:`RETIRE_USES` (6) uses is
  ``retired``: never retrieved again.
- A demoted lesson whose with rate rises above the baseline is ``active`` again.
- ``retired`` is final: only ``corrigo lessons prune`` (or a manual status change)
  touches it again.

"Passed" is the run's *verified* outcome: the tests the loop may see (docstring examples,
generated tests), never the hidden-test score. Hidden tests score, never teach: a lesson
promoted or demoted on hidden results would carry hidden-test information into later
prompts, so neither the gate nor retrieval ever reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from corrigo.errors import RunNotFound
from corrigo.lessons.retrieval import scope_keys
from corrigo.records import Lesson, LessonStatus, ScopeStats, Task
from corrigo.storage.lessons import LessonStore

__all__ = ["MIN_USES", "RETIRE_USES", "Assessment", "assess", "gate", "record_outcome"]

#: Uses a lesson needs before the gate judges it.
MIN_USES = 3
#: Uses after which a demoted lesson that still does not help is retired.
RETIRE_USES = 6


@dataclass(frozen=True)
class Assessment:
    """What the gate sees for one lesson and what it decides (for ``lessons show``)."""

    uses: int
    helped: int
    baseline_runs: int
    baseline_passed: int
    status: LessonStatus
    reason: str

    @property
    def with_rate(self) -> float | None:
        return self.helped / self.uses if self.uses else None

    @property
    def baseline_rate(self) -> float | None:
        return self.baseline_passed / self.baseline_runs if self.baseline_runs > 0 else None


def assess(lesson: Lesson, baseline: ScopeStats) -> Assessment:
    """The gate's decision for ``lesson`` given its scope's counters, with the reason."""
    runs = max(0, baseline.runs - lesson.uses)
    passed = min(runs, max(0, baseline.passed - lesson.helped))

    def decided(status: LessonStatus, reason: str) -> Assessment:
        return Assessment(lesson.uses, lesson.helped, runs, passed, status, reason)

    if lesson.status == "retired":
        return decided("retired", "retired is final (only prune removes it)")
    if lesson.uses < MIN_USES:
        return decided(lesson.status, f"too few uses to judge ({lesson.uses} of {MIN_USES})")
    if runs == 0:
        return decided(lesson.status, "no runs without it in its scope to compare with")
    with_rate, base_rate = lesson.helped / lesson.uses, passed / runs
    compared = f"{with_rate:.0%} with it vs {base_rate:.0%} without"
    if with_rate > base_rate:
        return decided("active", f"helps: {compared}")
    if lesson.status == "demoted" and lesson.uses >= RETIRE_USES:
        return decided("retired", f"still does not help after {lesson.uses} uses: {compared}")
    return decided("demoted", f"does not help: {compared}")


def gate(lesson: Lesson, baseline: ScopeStats) -> LessonStatus:
    """The help gate: the status ``lesson`` should have, given the counters of its own
    scope (``baseline`` is ``scope_stats`` of ``lesson.scope_key``). Pure."""
    return assess(lesson, baseline).status


async def record_outcome(
    store: LessonStore, task: Task, used: Sequence[str], passed: bool
) -> list[tuple[str, str]]:
    """Count a finished run with lessons enabled, then apply the gate to each lesson it
    used; returns the status changes ``[(lesson id, new status)]``.

    ``passed`` must be the run's verified outcome (visible or generated tests), never the
    hidden-test result. Lessons pruned meanwhile are skipped."""
    used = list(dict.fromkeys(used))
    await store.record_lesson_outcome(scope_keys(task), used, passed)
    lessons: list[Lesson] = []
    for lesson_id in used:
        try:
            lessons.append(await store.get_lesson(lesson_id))
        except RunNotFound:
            continue
    if not lessons:
        return []
    stats = await store.scope_stats(sorted({lesson.scope_key for lesson in lessons}))
    changes: list[tuple[str, str]] = []
    for lesson in lessons:
        status = gate(lesson, stats.get(lesson.scope_key, ScopeStats(scope_key=lesson.scope_key)))
        if status == lesson.status:
            continue
        try:
            await store.set_lesson_status(lesson.id, status)
        except RunNotFound:
            continue
        changes.append((lesson.id, status))
    return changes
