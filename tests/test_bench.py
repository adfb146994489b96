"""`corrigo bench`: the task × strategy × model grid, its report, bad input, and resuming
after the process is SIGKILLed. Scripted models make every number known in advance."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import corrigo
from corrigo.bench.report import summarize
from corrigo.cli.bench import _names
from corrigo.records import Outcome, Totals
from corrigo.storage.factory import open_store
from corrigo.tasks.humaneval import broken_solution, problem
from tests.helpers import corrigo as corrigo_cli
from tests.helpers import fenced, write_script


def _humaneval_scripts(tmp_path: Path) -> tuple[Path, Path]:
    """``canon`` solves HumanEval/0-3 at once; ``fix`` gets 0 and 1 wrong, then fixes them."""
    canon: dict[str, Any] = {}
    fix: dict[str, Any] = {}
    for i in range(4):
        p = problem(f"HumanEval/{i}")
        good = fenced(p["prompt"] + p["canonical_solution"])
        bad = fenced(p["prompt"] + broken_solution(p["task_id"]))
        canon[p["task_id"]] = {"solver": [good]}
        fix[p["task_id"]] = {
            "solver": [bad if i < 2 else good],
            "reviewer": ["The examples in the docstring fail; follow them."],
            "refiner": [good],
        }
    return (
        write_script(tmp_path / "canon.yaml", {"model": "canon", "tasks": canon}),
        write_script(tmp_path / "fix.yaml", {"model": "fix", "tasks": fix}),
    )


async def _cell_outcomes(home: Path, batch: str) -> list[Outcome]:
    async with open_store(f"sqlite:///{home}/corrigo.db") as store:
        runs = await store.list_runs(limit=1000, batch_id=batch)
    return [r.outcome for r in runs if r.outcome is not None]


async def test_bench_cli_report_numbers_files_and_redraw(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    canon, fix = _humaneval_scripts(tmp_path)
    models = [f"scripted:{canon}", f"scripted:{fix}"]
    done = corrigo_cli(
        "bench",
        "humaneval[:4]",
        "--strategies",
        "single,refine",
        "--models",
        ",".join(models),
        "--json",
        "--out",
        str(out),
        home=home,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["complete"] is True
    assert report["tasks"] == [f"HumanEval/{i}" for i in range(4)]
    cells = {(c["strategy"], Path(c["model"]).name): c for c in report["cells"]}
    assert list(cells) == [
        ("single", "canon.yaml"),
        ("single", "fix.yaml"),
        ("refine", "canon.yaml"),
        ("refine", "fix.yaml"),
    ]
    expected = {
        # (first round, final, incorrect→correct, correct→incorrect, model calls, vs single)
        ("single", "canon.yaml"): (4, 4, 0, 0, 4, None),
        ("single", "fix.yaml"): (2, 2, 0, 0, 4, None),
        ("refine", "canon.yaml"): (4, 4, 0, 0, 4, 0.0),
        # two tasks take solver + reviewer + refiner, two are right at once
        ("refine", "fix.yaml"): (2, 4, 2, 0, 2 * 3 + 2 * 1, 0.5),
    }
    for key, (first, final, fixed, broken, calls, vs_single) in expected.items():
        cell = cells[key]
        got = (
            cell["first_round_passed"],
            cell["final_passed"],
            cell["fixed"],
            cell["broken"],
            cell["model_calls"],
            cell["vs_single"],
        )
        assert got == (first, final, fixed, broken, calls, vs_single), key
        assert cell["tasks"] == 4 and cell["missing"] == [] and cell["errors"] == 0
        assert cell["lift"] == pytest.approx((final - first) / 4)
        assert cell["final_pass_rate"] == final / 4
        assert cell["generated_false_positive_rate"] is None  # no tests were generated
        outcomes = await _cell_outcomes(home, cell["batch_id"])
        assert len(outcomes) == 4
        tokens = sum(o.totals.tokens_in + o.totals.tokens_out for o in outcomes)
        assert tokens > 0 and cell["tokens"] == tokens
        assert cell["tokens_per_solved"] == tokens / final
        assert sorted(cell["runs"].values()) == sorted(o.run_id for o in outcomes)

    assert json.loads((out / "report.json").read_text()) == report
    markdown = (out / "report.md").read_text()
    assert f"# corrigo bench {report['bench']['id']}" in markdown
    assert (
        "| refine | scripted:fix.yaml | 4 | 50.0% 2/4 | 100.0% 4/4 | +50.0 pp | +50.0 pp |"
        in markdown
    )
    assert (out / "pass_vs_tokens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The report again, from the store alone: the same JSON; by default under CORRIGO_HOME.
    again = corrigo_cli("bench", "report", report["bench"]["id"][:12], "--json", home=home)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == report
    default_dir = home / "benches" / report["bench"]["id"]
    assert {p.name for p in default_dir.iterdir()} == {
        "report.md",
        "report.json",
        "pass_vs_tokens.png",
    }
    table = corrigo_cli("bench", "report", "last", home=home)
    assert table.returncode == 0, table.stderr
    for header in ("first", "final", "lift", "single", "i→c", "c→i", "calls", "solved", "FP"):
        assert header in table.stdout
    assert "50.0% 2/4" in table.stdout and "+50.0 pp" in table.stdout
    listed = corrigo_cli("bench", "list", "--json", home=home)
    assert [b["id"] for b in json.loads(listed.stdout)] == [report["bench"]["id"]]


def _flip_suite(tmp_path: Path) -> tuple[Path, Path]:
    """Three tasks with known fates under ``refine``: one right at once, one fixed
    (incorrect→correct), and one 'fixed' to pass a visible test while breaking the hidden
    one it passed before (correct→incorrect)."""
    lines = [
        {
            "id": "easy",
            "prompt": "Write inc(x).",
            "entry_point": "inc",
            "visible_tests": ["assert inc(1) == 2"],
            "hidden_tests": ["assert inc(5) == 6"],
        },
        {
            "id": "fixme",
            "prompt": "Write inc(x).",
            "entry_point": "inc",
            "visible_tests": ["assert inc(1) == 2"],
            "hidden_tests": ["assert inc(5) == 6"],
        },
        {
            "id": "trap",
            "prompt": "Write inc(x).",
            "entry_point": "inc",
            "visible_tests": ["assert inc(0) == 1"],
            "hidden_tests": ["assert inc(5) == 6"],
        },
    ]
    suite = tmp_path / "flips.jsonl"
    suite.write_text("".join(json.dumps(line) + "\n" for line in lines))
    right = fenced("def inc(x):\n    return x + 1")
    script = {
        "model": "flipper",
        "tasks": {
            "easy": {"solver": [right]},
            "fixme": {
                "solver": [fenced("def inc(x):\n    return x")],
                "reviewer": ["inc must add one."],
                "refiner": [right],
            },
            "trap": {
                "solver": [fenced("def inc(x):\n    return x + 1 if x else 0")],
                "reviewer": ["inc(0) must be 1."],
                "refiner": [fenced("def inc(x):\n    return 1 if x == 0 else x")],
            },
        },
    }
    return suite, write_script(tmp_path / "flipper.yaml", script)


async def test_run_bench_api_flips_progress_and_resume_of_a_complete_bench(
    tmp_path: Path, settings: corrigo.Settings
) -> None:
    suite, script = _flip_suite(tmp_path)
    events: list[Any] = []
    report = await corrigo.run_bench(
        suite=f"jsonl:{suite}",
        strategies=["refine"],
        models=[f"scripted:{script}"],
        settings=settings,
        concurrency=2,
        on_progress=events.append,
    )
    [cell] = report.cells
    assert (cell.tasks, cell.first_round_passed, cell.final_passed) == (3, 2, 2)
    assert (cell.fixed, cell.broken) == (1, 1)
    assert cell.model_calls == 1 + 3 + 3
    assert cell.lift == 0.0 and cell.vs_single is None
    assert [e.kind for e in events] == ["planned", "task", "task", "task", "done"]
    assert events[0].done == 0 and events[-1].done == events[-1].total == 3
    assert {e.outcome.task_id for e in events if e.kind == "task"} == {"easy", "fixme", "trap"}

    stored = await corrigo.bench_report(report.bench.id, settings=settings)
    assert stored.to_dict() == report.to_dict()
    paths = stored.write(tmp_path / "files")
    assert json.loads(paths["json"].read_text()) == report.to_dict()
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"
    assert (
        "| refine | scripted:flipper.yaml | 3 | 66.7% 2/3 | 66.7% 2/3 |"
        in paths["markdown"].read_text()
    )

    # Resuming a finished bench runs nothing and reports the same runs.
    events.clear()
    again = await corrigo.run_bench(resume="last", settings=settings, on_progress=events.append)
    assert [e.kind for e in events] == ["planned", "done"]
    assert again.to_dict() == report.to_dict()
    runs = await corrigo.list_runs(limit=100, settings=settings)
    assert len(runs) == 3


def _outcome(task: str, first: bool, final: bool, **more: Any) -> Outcome:
    return Outcome(
        run_id=f"run_{task}",
        task_id=task,
        stop_reason=more.pop("stop_reason", "verified"),
        first_round_hidden_passed=first,
        hidden_passed=final,
        **more,
    )


def test_summarize_counts_flips_generated_test_errors_and_tokens() -> None:
    outcomes = [
        _outcome("a", True, True, generated_passed=True, totals=Totals(tokens_in=10)),
        _outcome("b", False, True, generated_passed=False, totals=Totals(tokens_out=20)),
        _outcome("c", True, False, generated_passed=True, stop_reason="budget_exhausted"),
        _outcome("d", False, False, generated_passed=False, stop_reason="error"),
        _outcome("e", False, False),  # no generated tests: left out of their rates
    ]
    cell = summarize("refine", "m", "b/refine/m", outcomes, missing=["f"])
    assert (cell.first_round_passed, cell.final_passed, cell.fixed, cell.broken) == (2, 2, 1, 1)
    assert cell.first_round_pass_rate == cell.final_pass_rate == 0.4 and cell.lift == 0.0
    assert cell.tokens == 30 and cell.tokens_per_solved == 15.0
    assert cell.generated_tasks == 4
    # hidden fails with generated tests: c (generated passed), d (failed) → FP 1/2
    assert cell.generated_false_positive_rate == 0.5
    # hidden passes with generated tests: a (generated passed), b (failed) → FN 1/2
    assert cell.generated_false_negative_rate == 0.5
    assert cell.errors == 1 and cell.missing == ["f"]
    assert cell.stop_reasons == {"budget_exhausted": 1, "error": 1, "verified": 3}

    none = summarize("single", "m", "b/single/m", [_outcome("a", False, False)])
    assert none.tokens_per_solved == 0.0  # tokens / max(1, solved)
    assert none.generated_false_positive_rate is None
    assert none.generated_false_negative_rate is None
    empty = summarize("single", "m", "b/single/m", [])
    assert empty.final_pass_rate is None and empty.lift is None


def test_strategy_lists_keep_parameters_whole() -> None:
    assert _names(["refine,best_of_n(n=5,agree=3)", " single "]) == [
        "refine",
        "best_of_n(n=5,agree=3)",
        "single",
    ]


def _stored_rows(db: Path, table: str, columns: str = "*") -> list[tuple[Any, ...]]:
    """Rows of a store table, read-only (a missing file or table: nothing stored)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(f"select {columns} from {table}").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["humaneval[:1]", "-s", "telepathy", "-m", "{script}"], "unknown strategy 'telepathy'"),
        (["humaneval[:1]", "-s", "refine", "-m", "oracle:delphi"], "unknown model provider"),
        (["humaneval[:1]", "-m", "{script}"], "a bench needs at least one strategy"),
        (["humaneval[:1]", "-s", "refine,refine", "-m", "{script}"], "listed twice"),
        (["humaneval:HumanEval/999", "-s", "refine", "-m", "{script}"], "unknown task id"),
        (["nosuch:x", "-s", "refine", "-m", "{script}"], "unknown task source 'nosuch'"),
        (["humaneval[:1]", "-s", "refine", "-m", "{script}", "--param", "bogus=1"], "bogus"),
        (["--resume", "bench_nothing"], "no bench 'bench_nothing'"),
        (["report", "bench_nothing"], "no bench 'bench_nothing'"),
        (["humaneval[:1]", "-s", "refine", "-m", "{script}", "--resume", "last"], "--resume"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_stores_nothing(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    home = tmp_path / "home"
    script = write_script(tmp_path / "s.yaml", {"replies": {"solver": [fenced("def f(): pass")]}})
    done = corrigo_cli("bench", *[a.format(script=script) for a in args], home=home)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert needle in lines[0]
    db = home / "corrigo.db"
    assert _stored_rows(db, "corrigo_benches") == []
    assert _stored_rows(db, "corrigo_runs") == []


# -- resuming after SIGKILL -----------------------------------------------------------

SLOW_TASKS = 6


def _slow_bench(tmp_path: Path) -> tuple[Path, list[str]]:
    """A suite whose visible test sleeps a little in the sandbox, so the bench takes a
    few seconds, and two scripted models that always answer right at once."""
    suite = tmp_path / "slow.jsonl"
    suite.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"slow-{i}",
                    "prompt": "Write add(a, b).",
                    "entry_point": "add",
                    "visible_tests": ["import time\ntime.sleep(0.25)\nassert add(1, 2) == 3"],
                    "hidden_tests": ["assert add(2, 2) == 4"],
                }
            )
            + "\n"
            for i in range(SLOW_TASKS)
        )
    )
    models = []
    for name, body in (("a", "a + b"), ("b", "b + a")):
        code = fenced(f"def add(a, b):\n    return {body}")
        script = write_script(tmp_path / f"{name}.yaml", {"replies": {"solver": [code]}})
        models.append(f"scripted:{script}")
    return suite, models


def _runs(db: Path) -> dict[str, tuple[str, str, str, str]]:
    """run id → (batch id, task id, status, stored record)."""
    rows = _stored_rows(db, "corrigo_runs", "id, batch_id, task_id, status, record")
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def test_resume_after_sigkill_redoes_no_finished_task(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db = home / "corrigo.db"
    suite, models = _slow_bench(tmp_path)
    strategies = ["single", "refine"]
    total = len(strategies) * len(models) * SLOW_TASKS
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CORRIGO_"))}
    env.update({"CORRIGO_HOME": str(home), "COLUMNS": "200"})
    command = [sys.executable, "-m", "corrigo", "bench", f"jsonl:{suite}"]
    command += ["-s", ",".join(strategies), "-m", ",".join(models), "-j", "1"]
    log = (tmp_path / "first.log").open("w")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            statuses = [r[2] for r in _runs(db).values()]
            if statuses.count("finished") >= 4 and "running" in statuses:
                break  # killed mid-run: one run is left interrupted
            time.sleep(0.05)
        assert proc.poll() is None, (tmp_path / "first.log").read_text()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        log.close()
    assert proc.returncode == -signal.SIGKILL

    before = _runs(db)
    finished_before = {rid: r for rid, r in before.items() if r[2] == "finished"}
    assert 4 <= len(finished_before) < total

    done = corrigo_cli("bench", "--resume", "last", "--json", home=home)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    after = _runs(db)
    # Finished runs from before the kill are untouched.
    for rid, row in finished_before.items():
        assert after[rid] == row
    # Every (cell, task) has exactly one finished run; a task finished before the kill
    # was not run again (its cell has no other run for it).
    finished_after = Counter((b, t) for b, t, s, _ in after.values() if s == "finished")
    cells = {(s, m): f"{report['bench']['id']}/{s}/{m}" for s in strategies for m in models}
    assert set(finished_after) == {
        (batch, f"slow-{i}") for batch in cells.values() for i in range(SLOW_TASKS)
    }
    assert set(finished_after.values()) == {1}
    runs_per_task = Counter((b, t) for b, t, _, _ in after.values())
    for batch, task, _, _ in finished_before.values():
        assert runs_per_task[(batch, task)] == 1
    # The run the kill interrupted was continued, not started again: it is finished now,
    # and its task has no other run in its cell.
    interrupted = [rid for rid, row in before.items() if row[2] == "running"]
    assert interrupted, "the kill left no run mid-way"
    for rid in interrupted:
        batch, task, status, _ = after[rid]
        assert status == "finished" and runs_per_task[(batch, task)] == 1

    assert report["complete"] is True
    assert [(c["strategy"], c["model"]) for c in report["cells"]] == list(cells)
    for cell in report["cells"]:
        assert (cell["tasks"], cell["final_passed"], cell["missing"]) == (SLOW_TASKS, 6, [])
        finished_ids = {
            rid for rid, (b, _, s, _) in after.items() if b == cell["batch_id"] and s == "finished"
        }
        assert set(cell["runs"].values()) == finished_ids
