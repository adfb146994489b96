"""`corrigo show` and `corrigo replay` on a stored multi-round run."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.helpers import corrigo
from tests.test_story import CRITIQUE, story_script


def _story_run(tmp_path: Path, strategy: str = "refine") -> tuple[Path, str]:
    home = tmp_path / "home"
    script = story_script(tmp_path)
    done = corrigo(
        "run",
        "humaneval:HumanEval/12",
        "--strategy",
        strategy,
        "--model",
        f"scripted:{script}",
        "--json",
        home=home,
    )
    assert done.returncode == 0, done.stderr
    [outcome] = json.loads(done.stdout)
    assert outcome["rounds"] == 2
    script.unlink()  # replay must not need the script: it reads the store alone
    return home, outcome["run_id"]


def test_show_prints_rounds_diff_tests_and_critique(tmp_path: Path) -> None:
    home, run_id = _story_run(tmp_path)
    shown = corrigo("show", run_id[:12], home=home)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert f"run {run_id}" in out
    assert "round 1 · solver" in out and "round 2 · refiner" in out
    assert "-        if len(s) >= len(best):" in out
    assert "+        if len(s) > len(best):" in out
    assert "✗ example 2: longest(['a', 'b', 'c'])" in out
    assert "returned 'c', expected 'a'" in out
    assert CRITIQUE[:40] in out
    assert "hidden tests (score only): passed" in out
    assert "stop: verified" in out


def test_replay_matches_every_step_with_zero_model_calls(tmp_path: Path) -> None:
    home, run_id = _story_run(tmp_path)
    replayed = corrigo("replay", run_id, home=home)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "7 steps, every step matched" in replayed.stdout
    assert "model calls 0 (served 3 recorded replies)" in replayed.stdout
    as_json = json.loads(corrigo("replay", run_id, "--json", home=home).stdout)
    assert as_json["all_matched"] is True
    assert len(as_json["steps"]) == 7


def test_replay_reverify_runs_the_sandbox_again(tmp_path: Path) -> None:
    home, run_id = _story_run(tmp_path)
    replayed = corrigo("replay", run_id, "--reverify", home=home)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replay (reverify)" in replayed.stdout
    assert "every step matched" in replayed.stdout


def test_replay_reports_a_tampered_run(tmp_path: Path) -> None:
    home, run_id = _story_run(tmp_path)
    db = sqlite3.connect(home / "corrigo.db")
    (record,) = db.execute("select record from corrigo_runs where id = ?", (run_id,)).fetchone()
    data = json.loads(record)
    data["spec"]["task"]["prompt"] = data["spec"]["task"]["prompt"].replace(
        "longest", "longest!", 1
    )
    db.execute("update corrigo_runs set record = ? where id = ?", (json.dumps(data), run_id))
    db.commit()
    db.close()
    replayed = corrigo("replay", run_id, home=home)
    assert replayed.returncode == 1
    assert "MISMATCH differs in messages" in replayed.stdout
    assert "steps differ" in replayed.stdout


def test_show_unknown_run_is_one_line_exit_2(tmp_path: Path) -> None:
    home, _ = _story_run(tmp_path)
    shown = corrigo("show", "run_nope", home=home)
    assert shown.returncode == 2
    assert shown.stderr.strip() == "error: no run 'run_nope' in the store"


def test_show_and_replay_carry_the_failing_calls_trace(tmp_path: Path) -> None:
    """With trace=True the first failing visible test's call is traced: `show` prints it
    with the program's lines, and an exact replay (which recomputes every prompt from the
    stored results) still matches every step."""
    home, run_id = _story_run(tmp_path, "refine(trace=True)")
    out = corrigo("show", run_id, home=home).stdout
    assert "Trace of longest(['a', 'b', 'c'])" in out
    assert "line 22 `for s in strings:`: strings=['a', 'b', 'c'], best='b', s='b'" in out
    assert "then it returned 'c'" in out
    replayed = corrigo("replay", run_id, home=home)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "every step matched" in replayed.stdout
