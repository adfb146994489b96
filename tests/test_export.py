"""`corrigo export`: stored trajectories as SFT and preference data in TRL's shapes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import corrigo as corrigo_api
from corrigo.export import training_rows
from corrigo.records import (
    Candidate,
    Message,
    Outcome,
    RunRecord,
    RunSpec,
    Step,
    Task,
    TestCase,
    Verdict,
)
from tests.helpers import corrigo, fenced, write_script

# What TRL's trainers read (https://huggingface.co/docs/trl/dataset_formats): the
# "prompt-completion" type (SFTTrainer) has exactly these columns, and the "preference"
# type with an explicit prompt (DPOTrainer, RewardTrainer…) these. In the standard format
# each is a string; in the conversational one a list of {"role", "content"} messages.
# Extra columns are allowed (trainers ignore or drop them): ours trace rows to runs.
TRL_PROMPT_COMPLETION = {"prompt", "completion"}
TRL_PREFERENCE = {"prompt", "chosen", "rejected"}
TRACE = {"run_id", "task_id", "kind", "strategy", "model", "round", "verified_by"}

RIGHT = "def inc(x):\n    return x + 1"
WRONG = "def inc(x):\n    return x"
TRAP_FIRST = "def inc(x):\n    return x + 1 if x else 0"
TRAP_REFINED = "def inc(x):\n    return 1 if x == 0 else x"  # passes visible, fails hidden
DEC_1 = "def dec(x):\n    return x + 1"
DEC_2 = "def dec(x):\n    return x * 2"
SQ = "def sq(x):\n    return x * x"

TASKS = [
    {
        "id": "fixme",
        "prompt": "Write inc(x) returning x plus one.",
        "entry_point": "inc",
        "visible_tests": ["assert inc(0) == 1"],
        "hidden_tests": ["assert inc(41) == 42, 'HIDDEN-fixme'\nassert inc(-7) == -6"],
    },
    {
        "id": "trap",
        "prompt": "Write inc(x) returning x plus one, for any integer x.",
        "entry_point": "inc",
        "visible_tests": ["assert inc(0) == 1"],
        "hidden_tests": ["assert inc(1234) == 1235, 'HIDDEN-trap'"],
    },
    {
        "id": "never",
        "prompt": "Write dec(x) returning x minus one.",
        "entry_point": "dec",
        "visible_tests": ["assert dec(3) == 2"],
        "hidden_tests": ["assert dec(100) == 99, 'HIDDEN-never'"],
    },
    {
        "id": "unscored",
        "prompt": "Write sq(x) returning x squared.",
        "entry_point": "sq",
        "visible_tests": ["assert sq(3) == 9"],
    },
]
SCRIPT = {
    "model": "export-story",
    "tasks": {
        "fixme": {
            "solver": [fenced(WRONG)],
            "reviewer": ["inc(0) returned 0: it must add one."],
            "refiner": [fenced(RIGHT)],
        },
        "trap": {
            "solver": [fenced(TRAP_FIRST)],
            "reviewer": ["inc(0) must be 1."],
            "refiner": [fenced(TRAP_REFINED)],
        },
        "never": {
            "solver": [fenced(DEC_1), fenced(DEC_1)],
            "reviewer": ["dec must subtract one.", "Still wrong.", "Still wrong."],
            "refiner": [fenced(DEC_2), fenced(DEC_2)],
        },
        "unscored": {"solver": [fenced(SQ)]},
    },
}


def _hidden_lines() -> list[str]:
    return [
        line.strip()
        for task in TASKS
        for test in task.get("hidden_tests", [])
        for line in str(test).splitlines()
        if line.strip()
    ]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _export(home: Path, out: Path, *args: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    done = corrigo("export", "--out", str(out), *args, home=home)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return _rows(out / "sft.jsonl"), _rows(out / "preference.jsonl")


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Four real scripted runs (refine, two rounds at most) in one store: `fixme` fails its
    visible test and is fixed, `trap` is "fixed" into an answer that fails the hidden
    test, `never` never passes, `unscored` passes a task without hidden tests."""
    tmp = tmp_path_factory.mktemp("export")
    home = tmp / "home"
    tasks = tmp / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    script = write_script(tmp / "script.yaml", SCRIPT)
    done = corrigo(
        "run",
        f"jsonl:{tasks}",
        "--strategy",
        "refine",
        "--model",
        f"scripted:{script}",
        "--max-rounds",
        "2",
        "--json",
        home=home,
    )
    assert done.returncode == 0, done.stderr
    outcomes = {o["task_id"]: o for o in json.loads(done.stdout)}
    assert outcomes["fixme"]["hidden_passed"] is True
    assert outcomes["fixme"]["first_round_passed"] is False
    assert outcomes["trap"]["visible_passed"] is True and outcomes["trap"]["hidden_passed"] is False
    assert outcomes["never"]["visible_passed"] is False
    assert outcomes["never"]["hidden_passed"] is False
    assert outcomes["unscored"]["hidden_passed"] is None
    assert outcomes["unscored"]["visible_passed"] is True
    return home, outcomes


def _steps(home: Path, run_id: str) -> list[dict[str, Any]]:
    settings = corrigo_api.Settings.from_env({"CORRIGO_HOME": str(home)})
    stored = asyncio.run(corrigo_api.load_run(run_id, settings=settings))
    return [s.model_dump(mode="json") for s in stored.steps]


def _failed_visible(home: Path, run_id: str) -> set[str]:
    """The code of every candidate of the run whose visible tests failed."""
    return {
        s["candidate"]["code"]
        for s in _steps(home, run_id)
        if s["kind"] == "exec" and s["role"] == "verifier" and not s["verdict"]["passed"]
    }


def test_conversational_rows_pair_the_fix_with_the_failure(
    stored: tuple[Path, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    home, outcomes = stored
    sft, preference = _export(home, tmp_path / "conv")
    fixme = outcomes["fixme"]["run_id"]
    # Only the run whose answer passed the hidden tests: not trap, never or unscored.
    assert [r["run_id"] for r in sft] == [fixme]
    assert [r["run_id"] for r in preference] == [fixme]
    [row] = sft
    assert set(row) == TRL_PROMPT_COMPLETION | TRACE
    solver_prompt = next(s for s in _steps(home, fixme) if s["role"] == "solver")["messages"]
    assert row["prompt"] == [{"role": m["role"], "content": m["content"]} for m in solver_prompt]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert "Write inc(x) returning x plus one." in row["prompt"][-1]["content"]
    assert row["completion"] == [{"role": "assistant", "content": f"```python\n{RIGHT}\n```"}]
    assert (row["task_id"], row["strategy"], row["round"]) == ("fixme", "refine", 2)
    assert row["model"].startswith("scripted:") and row["verified_by"] == "hidden_tests"

    [pair] = preference
    assert set(pair) == TRL_PREFERENCE | TRACE | {"chosen_round"}
    assert pair["prompt"] == row["prompt"]
    assert pair["chosen"] == row["completion"]
    assert pair["rejected"] == [{"role": "assistant", "content": f"```python\n{WRONG}\n```"}]
    assert (pair["round"], pair["chosen_round"]) == (1, 2)
    assert _failed_visible(home, fixme) == {WRONG}
    for message in (*pair["prompt"], *pair["chosen"], *pair["rejected"]):
        assert set(message) == {"role", "content"} and isinstance(message["content"], str)


def test_standard_rows_are_plain_text(
    stored: tuple[Path, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    home, _ = stored
    sft, preference = _export(home, tmp_path / "std", "--format", "standard")
    [row] = sft
    assert set(row) == TRL_PROMPT_COMPLETION | TRACE
    assert isinstance(row["prompt"], str) and "Write inc(x) returning x plus one." in row["prompt"]
    assert row["completion"] == f"```python\n{RIGHT}\n```"
    [pair] = preference
    assert set(pair) == TRL_PREFERENCE | TRACE | {"chosen_round"}
    assert (pair["prompt"], pair["chosen"]) == (row["prompt"], row["completion"])
    assert pair["rejected"] == f"```python\n{WRONG}\n```"


def test_chosen_only_hidden_passing_and_no_hidden_text_anywhere(
    stored: tuple[Path, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    home, outcomes = stored
    by_run = {o["run_id"]: o for o in outcomes.values()}
    outs = [tmp_path / "conv", tmp_path / "std", tmp_path / "all"]
    _export(home, outs[0])
    _export(home, outs[1], "--format", "standard")
    sft, preference = _export(home, outs[2], "--allow-unscored")
    # A task without hidden tests counts only when asked, trusting its visible tests, and
    # never gives a preference pair (only hidden-passing answers are ever chosen).
    assert sorted((r["task_id"], r["verified_by"]) for r in sft) == [
        ("fixme", "hidden_tests"),
        ("unscored", "visible_tests"),
    ]
    assert [r["task_id"] for r in preference] == ["fixme"]
    hidden = _hidden_lines()
    assert hidden and any("HIDDEN-fixme" in line for line in hidden)
    for out in outs:
        for name in ("sft.jsonl", "preference.jsonl"):
            text = (out / name).read_text()
            rows = _rows(out / name)
            everything = "\n".join(s for row in rows for s in _strings(row))
            for line in hidden:
                assert line not in text and line not in everything, (out / name, line)
            assert "HIDDEN-" not in everything
            assert "def check(" not in everything
        for pair in _rows(out / "preference.jsonl"):
            assert by_run[pair["run_id"]]["hidden_passed"] is True
            rejected = _strings(pair["rejected"])[-1]  # the content, in either format
            code = rejected.removeprefix("```python\n").removesuffix("\n```")
            assert code in _failed_visible(home, pair["run_id"])
        for row in _rows(out / "sft.jsonl"):
            outcome = by_run[row["run_id"]]
            assert outcome["hidden_passed"] is True or (
                outcome["hidden_passed"] is None and row["verified_by"] == "visible_tests"
            )


def test_files_load_as_datasets(
    stored: tuple[Path, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    home, _ = stored
    for style in ("conversational", "standard"):
        out = tmp_path / style
        _export(home, out, "--format", style)
        for name, keys in (("sft", TRL_PROMPT_COMPLETION), ("preference", TRL_PREFERENCE)):
            path = out / f"{name}.jsonl"
            try:
                import datasets  # type: ignore[import-not-found,unused-ignore]
            except ImportError:
                rows = _rows(path)  # `datasets` is not a dependency: plain JSON Lines then
                columns = set(rows[0])
                assert all(set(r) == columns for r in rows)
            else:
                loaded = datasets.load_dataset("json", data_files=str(path), split="train")
                columns = set(loaded.column_names)
                assert loaded.num_rows == len(_rows(path))
            assert keys <= columns and not (columns - keys - TRACE - {"chosen_round"})


def test_refuses_to_overwrite_without_force_and_filters(
    stored: tuple[Path, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    home, _ = stored
    out = tmp_path / "out"
    _export(home, out)
    before = (out / "sft.jsonl").read_bytes()
    again = corrigo("export", "--out", str(out), "--format", "standard", home=home)
    assert again.returncode == 2
    [line] = again.stderr.strip().splitlines()
    assert line.startswith("error: ") and "already exists" in line and "--force" in line
    assert (out / "sft.jsonl").read_bytes() == before
    forced = _export(home, out, "--format", "standard", "--force")
    assert isinstance(forced[0][0]["prompt"], str)
    assert sorted(p.name for p in out.iterdir()) == ["preference.jsonl", "sft.jsonl"]  # no temps

    sft, _ = _export(home, tmp_path / "fix", "--task", "fix*", "--strategy", "refine")
    assert [r["task_id"] for r in sft] == ["fixme"]
    empty = corrigo("export", "--out", str(tmp_path / "none"), "--task", "nope", home=home)
    assert empty.returncode == 0, empty.stderr
    assert "no finished runs match" in empty.stdout
    assert _rows(tmp_path / "none" / "sft.jsonl") == []
    bad = corrigo("export", "--out", str(tmp_path / "x"), "--format", "chatml", home=home)
    assert bad.returncode == 2 and "unknown export format 'chatml'" in bad.stderr
    late = corrigo("export", "--out", str(tmp_path / "y"), "--since", "tomorrow", home=home)
    assert late.returncode == 2 and "--since takes a date" in late.stderr


def _model_step(seq: int, code: str, round_: int, *, extracted: bool = True) -> Step:
    key = f"r{round_}.s{seq}"
    candidate = Candidate(code=code, round=round_, key=key, extracted=extracted)
    messages = [
        Message(role="system", content="Answer in code."),
        Message(role="user", content="P"),
    ]
    return Step(
        run_id="run_x",
        seq=seq,
        round=round_,
        role="solver" if seq == 1 else "refiner",
        node="solve",
        kind="model",
        messages=messages,
        candidate=candidate,
        key=key,
    )


def _verify_step(seq: int, of: Step, passed: bool) -> Step:
    assert of.candidate is not None
    return Step(
        run_id="run_x",
        seq=seq,
        round=of.round,
        role="verifier",
        node="verify",
        kind="exec",
        candidate=of.candidate,
        verdict=Verdict(passed=passed, score=float(passed), feedback=""),
        key=f"verify:{of.key}",
    )


def test_rejected_code_is_deduplicated_and_never_the_chosen_one() -> None:
    task = Task(
        id="t",
        prompt="P",
        entry_point="f",
        hidden_tests=[TestCase(name="h", code="assert f() == 1")],
    )
    a = _model_step(1, "def f():\n    return 0", 1)
    a_again = _model_step(3, "def f():\n    return 0\n", 2)  # the same code again
    no_code = _model_step(5, "", 3, extracted=False)
    b = _model_step(7, "def f():\n    return 2", 4)
    right = _model_step(9, "def f():\n    return 1", 5)
    steps = [
        a,
        _verify_step(2, a, False),
        a_again,
        _verify_step(4, a_again, False),
        no_code,
        _verify_step(6, no_code, False),
        b,
        _verify_step(8, b, False),
        right,
        _verify_step(10, right, True),
    ]
    assert right.candidate is not None
    outcome = Outcome(
        run_id="run_x",
        task_id="t",
        stop_reason="verified",
        best=right.candidate,
        hidden_passed=True,
    )
    spec = RunSpec(task=task, strategy="refine", roles={"solver": "scripted:s.yaml"})
    record = RunRecord(id="run_x", status="finished", spec=spec, outcome=outcome)
    sft, preference, skipped = training_rows(record, steps, format="standard")
    assert skipped is None and len(sft) == 1
    assert sft[0]["prompt"] == "Answer in code.\n\nP"
    assert [(p["rejected"], p["round"]) for p in preference] == [
        ("```python\ndef f():\n    return 0\n```", 1),
        ("```python\ndef f():\n    return 2\n```", 4),
    ]
    assert all(p["chosen"] == "```python\ndef f():\n    return 1\n```" for p in preference)

    failed = record.model_copy(
        update={"outcome": outcome.model_copy(update={"hidden_passed": False})}
    )
    assert training_rows(failed, steps) == ([], [], "answer failed hidden tests")
    unscored = record.model_copy(
        update={
            "spec": spec.model_copy(update={"task": task.model_copy(update={"hidden_tests": []})})
        }
    )
    assert training_rows(unscored, steps)[2] == "no hidden tests (see --allow-unscored)"
    visible_only = unscored.model_copy(
        update={
            "outcome": outcome.model_copy(update={"hidden_passed": None, "visible_passed": True})
        }
    )
    sft, preference, _ = training_rows(visible_only, steps, allow_unscored=True)
    assert [r["verified_by"] for r in sft] == ["visible_tests"] and preference == []
