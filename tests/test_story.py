"""The refine loop as a story, driven by scripted models through the real sandbox and store."""

from __future__ import annotations

from pathlib import Path

import corrigo
from corrigo.config import Settings
from tests.helpers import fenced, write_script

BUGGY = """
from typing import List, Optional

def longest(strings: List[str]) -> Optional[str]:
    if not strings:
        return None
    best = strings[0]
    for s in strings:
        if len(s) >= len(best):
            best = s
    return best
"""

FIXED = BUGGY.replace("len(s) >= len(best)", "len(s) > len(best)")
CRITIQUE = "The comparison uses >= so a later string of equal length replaces the first one; use >."


def story_script(tmp_path: Path) -> Path:
    return write_script(
        tmp_path / "story.yaml",
        {
            "model": "story-script",
            "tasks": {
                "HumanEval/12": {
                    "solver": ["Here is a solution.\n" + fenced(BUGGY)],
                    "reviewer": [CRITIQUE],
                    "refiner": ["Fixed:\n" + fenced(FIXED) + "\nThis keeps the first."],
                }
            },
        },
    )


async def test_bug_found_named_and_fixed(tmp_path: Path, settings: Settings) -> None:
    script = story_script(tmp_path)
    [outcome] = await corrigo.run(
        "humaneval:HumanEval/12", strategy="refine", model=f"scripted:{script}", settings=settings
    )
    assert outcome.stop_reason == "verified"
    assert outcome.first_round_passed is False
    assert outcome.visible_passed is True
    assert outcome.hidden_passed is True
    assert outcome.first_round_hidden_passed is False
    assert outcome.rounds == 2
    assert outcome.totals.model_calls == 3
    assert outcome.best is not None and "len(s) > len(best)" in outcome.best.code

    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    steps = stored.steps
    assert [(s.role, s.round) for s in steps] == [
        ("solver", 1),
        ("verifier", 1),
        ("reviewer", 1),
        ("refiner", 2),
        ("verifier", 2),
        ("scorer", 2),
        ("scorer", 1),
    ]
    assert [s.seq for s in steps] == list(range(1, 8))
    solver, verify1, reviewer, refiner, verify2, score_best, score_first = steps

    # The verifier shows the failing visible test with the actual and expected values.
    assert verify1.verdict is not None and not verify1.verdict.passed
    failing = [t for t in verify1.verdict.evidence.tests if not t.passed]  # type: ignore[union-attr]
    assert [t.name for t in failing] == ["example 2: longest(['a', 'b', 'c'])"]
    assert "returned 'c', expected 'a'" in failing[0].message
    # The reviewer sees that failure; the refiner sees the failure and the critique.
    assert "returned 'c', expected 'a'" in reviewer.messages[-1].content
    assert BUGGY.strip() in reviewer.messages[-1].content
    assert reviewer.output == CRITIQUE
    assert CRITIQUE in refiner.messages[-1].content
    assert refiner.candidate is not None and refiner.candidate.code == FIXED.strip()
    assert verify2.verdict is not None and verify2.verdict.passed
    # Hidden tests score the best and the first candidate, and never reach a prompt.
    assert score_best.verdict is not None and score_best.verdict.passed
    assert score_first.verdict is not None and not score_first.verdict.passed
    assert score_best.verdict.feedback == ""
    hidden_code = stored.record.spec.task.hidden_tests[0].code
    marker = "assert candidate(['x', 'yyy', 'zzzz', 'www', 'kkkk', 'abc']) == 'zzzz'"
    assert marker in hidden_code
    for step in steps:
        for message in step.messages:
            assert marker not in message.content
            assert "def check(" not in message.content
    assert solver.model == "story-script"
    assert stored.record.status == "finished"
    assert stored.record.outcome == outcome


async def test_best_candidate_kept_when_refiner_makes_it_worse(
    tmp_path: Path, settings: Settings
) -> None:
    half = BUGGY  # passes 2 of 3 visible examples
    worse = "def longest(strings):\n    return 42\n"
    script = write_script(
        tmp_path / "worse.yaml",
        {
            "replies": {
                "solver": [fenced(half)],
                "reviewer": ["Ties are broken wrongly.", "Still wrong."],
                "refiner": [fenced(worse), "I am not sure what to change."],
            }
        },
    )
    [outcome] = await corrigo.run(
        "humaneval:HumanEval/12",
        strategy="refine",
        model=f"scripted:{script}",
        settings=settings,
        max_rounds=3,
    )
    assert outcome.stop_reason == "budget_exhausted"
    assert outcome.rounds == 3
    assert outcome.best is not None and outcome.best.round == 1
    assert outcome.visible_score == 2 / 3
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    no_code = [
        s for s in stored.steps if s.role == "refiner" and s.candidate and not s.candidate.extracted
    ]
    assert len(no_code) == 1 and no_code[0].round == 3
    verdict_after = next(s for s in stored.steps if s.role == "verifier" and s.round == 3)
    assert verdict_after.verdict is not None
    assert "no Python code" in verdict_after.verdict.feedback


async def test_repeated_candidate_gets_a_fresh_sample_then_stops_with_no_progress(
    tmp_path: Path, settings: Settings
) -> None:
    script = write_script(
        tmp_path / "same.yaml",
        {
            "replies": {
                "solver": [fenced(BUGGY), fenced(BUGGY)],
                "reviewer": ["Ties are broken wrongly."],
                "refiner": [fenced(BUGGY)],
            }
        },
    )
    [outcome] = await corrigo.run(
        "humaneval:HumanEval/12",
        strategy="refine",
        model=f"scripted:{script}",
        settings=settings,
        max_rounds=5,
    )
    assert outcome.stop_reason == "no_progress"
    assert outcome.totals.model_calls == 4
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    nodes = [s.node for s in stored.steps if s.kind == "model"]
    assert nodes == ["solver", "review", "refine", "fresh"]
    fresh = next(s for s in stored.steps if s.node == "fresh")
    # The fresh sample is drawn at temperature and told which tests failed before.
    assert fresh.temperature is not None and fresh.temperature > 0
    assert "returned 'c', expected 'a'" in fresh.messages[-1].content
    assert BUGGY.strip() not in fresh.messages[-1].content


async def test_script_running_out_is_an_error_stop(tmp_path: Path, settings: Settings) -> None:
    script = write_script(tmp_path / "short.yaml", {"replies": {"solver": [fenced(BUGGY)]}})
    [outcome] = await corrigo.run(
        "humaneval:HumanEval/12", strategy="refine", model=f"scripted:{script}", settings=settings
    )
    assert outcome.stop_reason == "error"
    assert outcome.error is not None and "no reply #1 for role 'reviewer'" in outcome.error
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    assert stored.steps[-1].role == "scorer"
    assert any(s.error for s in stored.steps if s.role == "reviewer")
