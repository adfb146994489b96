"""Each strategy as a story, driven by scripted models through the real sandbox and store;
then the rules every strategy keeps (monotone best, hidden tests never in a prompt)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import corrigo
from corrigo.config import Settings
from corrigo.graphs.registry import get_strategy, strategy_names
from corrigo.records import Outcome, Step
from tests.helpers import corrigo as corrigo_cli
from tests.helpers import fenced, write_script
from tests.test_story import BUGGY, CRITIQUE, FIXED

TASK = "humaneval:HumanEval/12"
# Passes all three visible examples but returns the last of equally long strings when
# they differ in length from the first: wrong on ['aa', 'b', 'cc'].
VARIANT = """
def longest(strings):
    if not strings:
        return None
    if all(len(s) == len(strings[0]) for s in strings):
        return strings[0]
    return max(reversed(strings), key=len)
"""
FIXED2 = """
def longest(strings):
    best = None
    for s in strings:
        if best is None or len(s) > len(best):
            best = s
    return best
"""
CRASH = """
def longest(strings):
    best = strings[0]
    for s in strings:
        if len(s) > len(best):
            best = s
    return best
"""
WORSE = "def longest(strings):\n    return 42\n"


def script(tmp_path: Path, replies: dict[str, list[str]], name: str = "s.yaml") -> str:
    return f"scripted:{write_script(tmp_path / name, {'model': 'story', 'replies': replies})}"


async def run(
    tmp_path: Path, settings: Settings, strategy: str, replies: dict[str, list[str]], **kw: Any
) -> tuple[Outcome, list[Step]]:
    [outcome] = await corrigo.run(
        TASK, strategy=strategy, model=script(tmp_path, replies), settings=settings, **kw
    )
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    return outcome, stored.steps


def model_nodes(steps: list[Step]) -> list[str]:
    return [s.node for s in steps if s.kind == "model"]


async def test_single_never_retries(tmp_path: Path, settings: Settings) -> None:
    outcome, steps = await run(
        tmp_path, settings, "single", {"solver": [fenced(BUGGY)], "reviewer": [CRITIQUE]}
    )
    assert model_nodes(steps) == ["solver"]
    assert outcome.totals.model_calls == 1
    assert outcome.visible_passed is False and outcome.hidden_passed is False
    assert outcome.stop_reason == "budget_exhausted"
    assert outcome.strategy == "single"


async def test_self_debug_feeds_back_the_failing_call_values_and_traceback(
    tmp_path: Path, settings: Settings
) -> None:
    outcome, steps = await run(
        tmp_path,
        settings,
        "self_debug",
        {"solver": [fenced(CRASH)], "refiner": [fenced(BUGGY), fenced(FIXED)]},
    )
    assert model_nodes(steps) == ["solver", "debug", "debug"]
    assert outcome.stop_reason == "verified" and outcome.hidden_passed is True
    first, second = [s for s in steps if s.node == "debug"]
    # The crash: the failing call, the exception, and the candidate's line that raised it.
    prompt = first.messages[-1].content
    assert "longest([])" in prompt and "IndexError" in prompt
    assert "best = strings[0]" in prompt.split("It was run against tests")[1]
    # The wrong value: the call, what it returned, what was expected.
    assert "longest(['a', 'b', 'c']) returned 'c', expected 'a'" in second.messages[-1].content
    assert not any(s.role == "reviewer" for s in steps)


async def test_reflexion_puts_its_reflection_in_the_next_prompt(
    tmp_path: Path, settings: Settings
) -> None:
    reflection = "I replaced the first string on ties; keep the first by comparing with >."
    outcome, steps = await run(
        tmp_path,
        settings,
        "reflexion",
        {"solver": [fenced(BUGGY), fenced(FIXED)], "reflector": [reflection]},
    )
    assert model_nodes(steps) == ["solver", "reflect", "retry"]
    assert outcome.stop_reason == "verified" and outcome.hidden_passed is True
    retry = next(s for s in steps if s.node == "retry")
    assert reflection in retry.messages[-1].content
    assert BUGGY.strip() in retry.messages[-1].content
    async with corrigo.open_store(settings.resolved_store_url) as store:
        [note] = await store.search_lessons(scope_key="HumanEval")
    reflect_step = next(s for s in steps if s.node == "reflect")
    assert note.text == reflection
    assert (note.run_id, note.step_seq) == (outcome.run_id, reflect_step.seq)
    # Stored for the family, with the task's words, so similar tasks can recall it.
    assert note.scope == "family" and "longest" in note.topic


async def test_best_of_n_stops_at_the_first_passing_sample_without_inputs_to_compare(
    tmp_path: Path, settings: Settings
) -> None:
    outcome, steps = await run(
        tmp_path, settings, "best_of_n", {"solver": [fenced(FIXED), fenced(BUGGY)]}
    )
    assert model_nodes(steps) == ["sample"]
    assert outcome.stop_reason == "verified" and outcome.totals.model_calls == 1
    assert steps[0].temperature == 0.0


async def test_best_of_n_samples_until_enough_agree_and_picks_the_majority(
    tmp_path: Path, settings: Settings
) -> None:
    designer = "```python\nlongest(['aa', 'b', 'cc'])\nlongest(['x', 'yy'])\n```"
    outcome, steps = await run(
        tmp_path,
        settings,
        "best_of_n(n=7, tests=always)",
        {
            "test_designer": [designer],
            "solver": [fenced(VARIANT), fenced(FIXED), fenced(FIXED2), fenced(BUGGY)]
            + [fenced(WORSE)] * 3,
        },
    )
    # Wave 1: the greedy sample passes the visible tests but nothing agrees with it yet;
    # wave 2 (three samples in parallel) brings two that agree; wave 3 is never drawn.
    assert model_nodes(steps) == ["design_tests", "sample", "sample", "sample", "sample"]
    assert outcome.stop_reason == "verified"
    assert outcome.best is not None and outcome.best.code.strip() in (
        FIXED.strip(),
        FIXED2.strip(),
    )
    assert outcome.hidden_passed is True and outcome.first_round_hidden_passed is False
    temperatures = sorted(s.temperature or 0.0 for s in steps if s.node == "sample")
    assert temperatures == [0.0, 0.8, 0.8, 0.8]
    probes = [s for s in steps if s.node == "probe"]
    assert probes and all(s.kind == "exec" for s in probes)


async def test_multi_agent_refines_the_candidate_the_reviewer_picks(
    tmp_path: Path, settings: Settings
) -> None:
    fault = "Ties keep the last string; compare with > so the first stays."
    outcome, steps = await run(
        tmp_path,
        settings,
        "multi_agent",
        {
            "solver": [fenced(CRASH), fenced(BUGGY), fenced(WORSE)],
            "reviewer": [f"BEST: 2\nFAULT: {fault}"],
            "refiner": [fenced(FIXED)],
        },
    )
    assert model_nodes(steps) == ["sample", "sample", "sample", "rank", "refine"]
    assert outcome.stop_reason == "verified" and outcome.hidden_passed is True
    rank = next(s for s in steps if s.node == "rank")
    assert "Candidate 3" in rank.messages[-1].content
    refine = next(s for s in steps if s.node == "refine")
    assert BUGGY.strip() in refine.messages[-1].content and fault in refine.messages[-1].content
    assert refine.candidate is not None and refine.candidate.parent is not None


async def test_tree_search_expands_the_best_failing_candidates(
    tmp_path: Path, settings: Settings
) -> None:
    outcome, steps = await run(
        tmp_path,
        settings,
        "tree_search(beam=1, children=2)",
        {"solver": [fenced(CRASH)], "refiner": [fenced(BUGGY), fenced(WORSE), fenced(FIXED)] * 2},
        max_rounds=4,
    )
    expansions = [s for s in steps if s.node == "expand"]
    assert outcome.stop_reason == "verified" and outcome.hidden_passed is True
    # Round 2 expands the crashing solution twice; round 3 expands the best child (BUGGY,
    # 2 of 3 visible tests), not the worse one.
    assert [s.round for s in expansions] == [2, 2, 3, 3]
    parents = {s.round: s.candidate.parent for s in expansions if s.candidate}
    buggy_key = next(
        s.candidate.key for s in expansions if s.candidate and s.candidate.code == BUGGY.strip()
    )
    assert parents[3] == buggy_key


# ----------------------------------------------------------------- shared rules

ALL_ROLES = {
    "solver": [fenced(BUGGY)] + [fenced(WORSE)] * 8,
    "reviewer": ["BEST: 1\nFAULT: ties."] * 8,
    "refiner": [fenced(WORSE), "no code here"] * 8,
    "reflector": ["Keep the first on ties."] * 8,
    "test_designer": ["```python\nassert longest(['aa', 'b']) == 'aa'\n```"] * 2,
}


# Every strategy that returns its best candidate (intrinsic returns its last one, having
# nothing to choose by: tests/test_kinds.py checks that).
KEEPS_BEST = [n for n in strategy_names() if get_strategy(n).params.get("keep", "best") == "best"]


@pytest.mark.parametrize("strategy", KEEPS_BEST)
async def test_no_strategy_returns_a_candidate_worse_than_its_best(
    tmp_path: Path, settings: Settings, strategy: str
) -> None:
    outcome, steps = await run(tmp_path, settings, strategy, ALL_ROLES, max_rounds=3)
    verified = [s for s in steps if s.node == "verify" and s.verdict is not None]
    assert verified
    best_seen = max(s.verdict.score for s in verified)  # type: ignore[union-attr]
    assert outcome.visible_score == best_seen
    assert outcome.best is not None and outcome.best.code == BUGGY.strip()
    assert outcome.stop_reason in ("budget_exhausted", "no_progress")
    # Hidden tests never reach a prompt.
    task = corrigo.load_tasks(TASK)[0]
    hidden_lines = [
        line.strip()
        for test in task.hidden_tests
        for line in test.code.splitlines()
        if "assert" in line
    ]
    assert hidden_lines
    for step in steps:
        for message in step.messages:
            assert "def check(" not in message.content
            for line in hidden_lines:
                assert line not in message.content


@pytest.mark.parametrize("strategy", strategy_names())
def test_cli_runs_every_strategy(tmp_path: Path, strategy: str) -> None:
    path = write_script(tmp_path / "all.yaml", {"replies": ALL_ROLES})
    done = corrigo_cli(
        "run",
        "humaneval[12:14]",
        "--strategy",
        strategy,
        "--model",
        f"scripted:{path}",
        "--max-rounds",
        "2",
        "--json",
        home=tmp_path / "home",
    )
    assert done.returncode == 0, done.stderr
    outcomes = json.loads(done.stdout)
    assert [o["strategy"] for o in outcomes] == [strategy, strategy]
    assert all(o["stop_reason"] != "error" for o in outcomes), outcomes


def test_unknown_strategy_parameter_is_a_usage_error(tmp_path: Path) -> None:
    path = write_script(tmp_path / "all.yaml", {"replies": ALL_ROLES})
    done = corrigo_cli(
        "run",
        TASK,
        "--strategy",
        "best_of_n(m=3)",
        "--model",
        f"scripted:{path}",
        home=tmp_path / "home",
    )
    assert done.returncode == 2
    assert "has no parameter(s) ['m']" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("strategy", strategy_names())
async def test_every_strategy_replays_exactly_from_its_records(
    tmp_path: Path, settings: Settings, strategy: str
) -> None:
    replies = {**ALL_ROLES, "test_designer": ["```python\nlongest(['aa', 'b'])\n```"] * 2}
    outcome, steps = await run(
        tmp_path, settings, f"{strategy}(tests=always)", replies, max_rounds=3
    )
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    report = await corrigo.replay_run(stored)
    assert report.all_matched, [m for m in report.steps if not m.matched]
    assert report.replies_served == sum(1 for s in steps if s.kind == "model")
    assert report.stop_reason == outcome.stop_reason


async def test_generated_tests_gate_a_task_without_visible_tests(
    tmp_path: Path, settings: Settings
) -> None:
    tasks = tmp_path / "t.jsonl"
    tasks.write_text(
        json.dumps(
            {
                "id": "add",
                "prompt": "Write add(a, b) returning the sum of a and b.",
                "entry_point": "add",
                "hidden_tests": ["assert add(10**12, 1) == 10**12 + 1"],
            }
        )
        + "\n"
    )
    good = "def add(a, b):\n    return a + b\n"
    designer = "```python\nassert add(1, 2) == 3\nassert add(2, 2) == 5\nassert add(1,\n```"
    [outcome] = await corrigo.run(
        f"jsonl:{tasks}",
        strategy="self_debug",
        model=script(
            tmp_path,
            {
                "test_designer": [designer],
                "solver": [fenced(good), fenced(good)],
                "refiner": [fenced(good)],
            },
        ),
        settings=settings,
        max_rounds=4,
    )
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    # The line that does not compile is dropped and counted, and never reaches the sandbox.
    assert (outcome.generated_tests, outcome.generated_dropped) == (2, 1)
    verify = next(s for s in stored.steps if s.node == "verify")
    assert verify.verdict is not None and verify.verdict.evidence is not None
    names = [t.name for t in verify.verdict.evidence.tests]
    assert names == [
        "program loads and defines add",
        "generated 1: add(1, 2)",
        "generated 2: add(2, 2)",
    ]
    # Without visible tests the generated ones are the gate; the wrong one (2 + 2 == 5)
    # keeps the run from stopping as verified, but the correct answer is kept.
    assert "may be wrong" in verify.verdict.feedback
    assert outcome.stop_reason == "no_progress"
    assert outcome.hidden_passed is True and outcome.generated_passed is False


@pytest.mark.parametrize(("expected", "wins"), [(False, "2 * x"), (True, "return x\n")])
async def test_best_of_n_majority_outvotes_a_wrong_generated_test(
    tmp_path: Path, settings: Settings, expected: bool, wins: str
) -> None:
    tasks = tmp_path / "t.jsonl"
    tasks.write_text(
        json.dumps(
            {
                "id": "double",
                "prompt": "Write double(x) returning twice x.",
                "entry_point": "double",
                "hidden_tests": ["assert double(21) == 42"],
            }
        )
        + "\n"
    )
    right, same, wrong = (
        "def double(x):\n    return 2 * x\n",
        "def double(x):\n    return x + x\n",
        "def double(x):\n    return x\n",
    )
    # The test designer gets it wrong: it expects the input back.
    designer = "```python\nassert double(2) == 2\nassert double(3) == 3\n```"
    [outcome] = await corrigo.run(
        f"jsonl:{tasks}",
        strategy=f"best_of_n(n=7, expected={expected})",
        model=script(
            tmp_path,
            {
                "test_designer": [designer],
                "solver": [fenced(c) for c in (right, wrong, same, same)],
            },
        ),
        settings=settings,
    )
    assert outcome.best is not None and wins in outcome.best.code + "\n"
    assert outcome.hidden_passed is (not expected)
    # Whether used or not, the generated tests are measured on the answer.
    assert outcome.generated_passed is expected
    assert outcome.first_round_hidden_passed is True


async def test_progress_streams_each_node_and_stored_step(
    tmp_path: Path, settings: Settings
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    [outcome] = await corrigo.run(
        TASK,
        strategy="refine",
        model=script(
            tmp_path,
            {"solver": [fenced(BUGGY)], "reviewer": [CRITIQUE], "refiner": [fenced(FIXED)]},
        ),
        settings=settings,
        on_event=lambda task_id, event: events.append((task_id, event)),
    )
    assert outcome.stop_reason == "verified"
    assert {task_id for task_id, _ in events} == {"HumanEval/12"}
    nodes = [(e["node"], e["round"]) for _, e in events if e["event"] == "node"]
    assert nodes == [
        ("design_tests", 0),
        ("solve", 1),
        ("verify", 1),
        ("review", 1),
        ("refine", 2),
        ("verify", 2),
        ("score", 2),
    ]
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    keys = [e["key"] for _, e in events if e["event"] == "step"]
    assert keys == [s.key for s in stored.steps]


def test_the_default_strategy_is_best_of_n(tmp_path: Path) -> None:
    path = write_script(tmp_path / "all.yaml", {"replies": ALL_ROLES})
    done = corrigo_cli("run", TASK, "--model", f"scripted:{path}", "--json", home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    [outcome] = json.loads(done.stdout)
    assert outcome["strategy"] == "best_of_n"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("best_of_n(n=0)", "n=0 must be a whole number of at least 1"),
        ("tree_search(children=0)", "children=0 must be a whole number of at least 1"),
        ("best_of_n(temperature=3)", "temperature=3 must be a number from 0 to 2"),
        ("refine(tests=sometimes)", "tests='sometimes' must be auto, always or never"),
    ],
)
def test_bad_strategy_parameter_values_are_usage_errors(
    tmp_path: Path, spec: str, message: str
) -> None:
    path = write_script(tmp_path / "all.yaml", {"replies": ALL_ROLES})
    done = corrigo_cli(
        "run", TASK, "--strategy", spec, "--model", f"scripted:{path}", home=tmp_path / "home"
    )
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "home" / "corrigo.db").exists()


async def test_exact_replay_recomputes_feedback_from_the_recorded_results(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, _ = await run(
        tmp_path,
        settings,
        "self_debug",
        {"solver": [fenced(CRASH)], "refiner": [fenced(BUGGY), fenced(FIXED)]},
    )
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    assert (await corrigo.replay_run(stored)).all_matched
    import corrigo.agents.verifier as verifier

    original = verifier.feedback_text
    monkeypatch.setattr(verifier, "feedback_text", lambda *a, **k: "CHANGED " + original(*a, **k))
    report = await corrigo.replay_run(stored)
    differs = {(m.node, m.reason) for m in report.steps if not m.matched}
    assert ("verify", "differs in verdict") in differs
    assert ("debug", "differs in messages") in differs
