"""Math and instructions runs as people see them: `corrigo run`'s table, `corrigo show`,
exact and re-verified replay, `corrigo export`, the bench report and the web viewer.

One store holds three scripted stories (the patterns of tests/test_kinds.py): a math
refine run (a wrong sum, checked by an independent program, corrected), an instructions
refine run (capitals and a comma, named by the checkers, fixed) and an intrinsic math
run (right first, talked out of it). The hidden answer is written "4,391" so that it can
be looked for: it may appear in a human view of the outcome, never in a step or prompt.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from corrigo.export import training_rows
from corrigo.records import (
    Candidate,
    ExecResult,
    Message,
    Outcome,
    RunRecord,
    RunSpec,
    Step,
    Task,
    TestResult,
    Verdict,
)
from tests.helpers import corrigo, fenced, write_script
from tests.serve_helpers import demo_files, serve

HIDDEN = "4,391"
MATH = {
    "id": "shop/1",
    "kind": "math",
    "prompt": "A shop sold 4000 pens in May and 391 more in June. How many pens did it sell?",
    "answer": HIDDEN,
}
NOTE = {
    "id": "note/1",
    "kind": "instructions",
    "prompt": "Write one sentence about rain, in all lowercase letters, without any commas.",
    "instructions": [
        {"id": "change_case:english_lowercase", "kwargs": {}},
        {"id": "punctuation:no_comma", "kwargs": {}},
    ],
}
# Breaks both instructions only in its first line: strict fail, loose pass (IFEval's loose
# mode also tries the reply without its first line).
NOTE2 = {**NOTE, "id": "note/2"}
PROGRAM = fenced("may = 4000\njune = 391\nprint(may + june)")
WRONG = "4000 + 391 = 4381, so the shop sold \\boxed{4381} pens."
RIGHT = "4000 + 391 = 4391. The shop sold \\boxed{4391} pens."
RUDE = "Rain taps on the Window, all night."
POLITE = "rain taps on the window all night."
PREAMBLE = "Sure, Here Is My Sentence:\nrain falls on the roof all day."
STORY: dict[str, Any] = {
    "model": "views",
    "tasks": {
        "shop/1": {
            "solver": [WRONG],
            # Two programs: a candidate that disagrees with the first gets a second one.
            "checker": [PROGRAM, fenced("print(4000 + 391)")],
            "reviewer": ["The addition is wrong: 4000 + 391 is not 4381."],
            "refiner": [RIGHT],
        },
        "note/1": {
            "solver": [RUDE],
            "reviewer": ["'Rain' and 'Window' have capitals, and there is a comma."],
            "refiner": [POLITE],
        },
        "note/2": {
            "solver": [PREAMBLE],
            "reviewer": ["The first line has capitals and a comma."],
            "refiner": ["rain falls on the roof all day."],
        },
    },
}
INTRINSIC: dict[str, Any] = {
    "model": "views",
    "replies": {
        "solver": ["4000 + 391 = 4391. \\boxed{4391}"],
        "reviewer": ["Maybe the sum is off by ten.", "Looks fine to me."],
        "refiner": ["Redoing it: 4000 + 391 = 4381. \\boxed{4381}", "Final: \\boxed{4381}"],
    },
}


def _tasks(path: Path, *tasks: dict[str, Any]) -> str:
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    return f"jsonl:{path}"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The three runs, made by the real CLI; their ids and `corrigo run`'s output."""
    tmp = tmp_path_factory.mktemp("kinds-views")
    home = tmp / "home"
    story = write_script(tmp / "story.yaml", STORY)
    both = corrigo(
        "run",
        _tasks(tmp / "both.jsonl", MATH, NOTE),
        "--strategy",
        "refine",
        "--model",
        f"scripted:{story}",
        home=home,
    )
    assert both.returncode == 0, both.stderr
    alone = corrigo(
        "run",
        _tasks(tmp / "math.jsonl", MATH),
        "--strategy",
        "intrinsic",
        "--max-rounds",
        "3",
        "--model",
        f"scripted:{write_script(tmp / 'intrinsic.yaml', INTRINSIC)}",
        home=home,
    )
    assert alone.returncode == 0, alone.stderr
    listed = corrigo("runs", "--json", home=home)
    runs = {(r["spec"]["task"]["id"], r["spec"]["strategy"]): r for r in json.loads(listed.stdout)}
    found = {
        "math": runs["shop/1", "refine"],
        "notes": runs["note/1", "refine"],
        "intrinsic": runs["shop/1", "intrinsic"],
    }
    return {
        **{which: r["id"] for which, r in found.items()},
        "stops": {which: r["outcome"]["stop_reason"] for which, r in found.items()},
        "tmp": tmp,
        "home": home,
        "story": story,
        "run_out": both.stdout,
        "intrinsic_out": alone.stdout,
    }


def _show(store: dict[str, Any], which: str) -> str:
    shown = corrigo("show", store[which], home=store["home"])
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def _header(table: str) -> str:
    return next(line for line in table.splitlines() if "first round" in line)


# --- corrigo run: the summary table ---------------------------------------------------------


def test_run_table_adds_loose_only_when_an_instructions_task_ran(store: dict[str, Any]) -> None:
    both = store["run_out"]
    assert "loose" in _header(both)
    row = next(line for line in both.splitlines() if "note/1" in line and "│" in line)
    cells = [c.strip() for c in row.split("│")[1:-1]]
    header = [c.strip() for c in _header(both).split("┃")[1:-1]]
    assert cells[header.index("loose")] == "pass"
    math_row = next(line for line in both.splitlines() if "shop/1" in line and "│" in line)
    assert [c.strip() for c in math_row.split("│")[1:-1]][header.index("loose")] == "-"
    assert "hidden pass 2/2 (first round 0/2), loose pass 1/1, visible pass 2/2" in both
    assert "incorrect→correct 2, correct→incorrect 0" in both
    # A math-only run has no loose column, and its flip (right → wrong) is counted.
    alone = store["intrinsic_out"]
    assert "loose" not in _header(alone) and "loose pass" not in alone
    assert "incorrect→correct 0, correct→incorrect 1" in alone


# --- corrigo show ---------------------------------------------------------------------------


def test_show_math_prints_solutions_the_program_and_each_check(store: dict[str, Any]) -> None:
    out = _show(store, "math")
    assert f"run {store['math']} · task shop/1 · strategy refine · math task" in out
    assert WRONG in out and "final answer: 4381" in out
    assert "independent program (check.program), asked without any candidate in view:" in out
    assert "print(may + june)" in out
    assert "check.run ran in the sandbox: passed" in out
    assert "printed: 4391" in out
    assert "check: disagrees: program printed 4391, answer 4381" in out
    assert "revises r1.solve" in out and RIGHT in out and "final answer: 4391" in out
    assert "check: agrees with the independent program (4391)" in out
    assert "The addition is wrong" in out  # the critique
    assert "hidden answer (score only): pass · final answer 4391 (r2.refine)" in out
    assert "hidden answer (score only): fail · final answer 4381 (r1.solve)" in out
    # Nothing shaped for code: no "visible tests", no program run shown as a test.
    assert "visible tests" not in out and "✓ exec" not in out and "```" not in out
    # The hidden answer only in the outcome, after the run, labelled as such.
    outcome = out[out.index("stop: verified") :]
    assert "final answer: 4391 (r2.refine)" in outcome
    assert f"hidden answer (score only, never in a prompt): {HIDDEN} → pass" in outcome
    assert out.count(HIDDEN) == 1


def test_show_instructions_lists_each_instruction_strict_and_loose(store: dict[str, Any]) -> None:
    out = _show(store, "notes")
    assert "· instructions task" in out
    assert RUDE in out
    assert "instructions: not all followed (strict 0/2 · loose fail)" in out
    assert (
        "✗ change_case:english_lowercase — not followed: Your entire response should be in "
        "English, and in all lowercase letters." in out
    )
    assert "(words with capitals: Rain, Window)" in out
    assert "✗ punctuation:no_comma — not followed:" in out and "(the reply has 1 commas)" in out
    assert f"-{RUDE}" in out and f"+{POLITE}" in out  # the revision as a text diff
    assert "instructions: all followed (strict 2/2 · loose pass)" in out
    assert "  ✓ change_case:english_lowercase\n" in out
    assert "hidden check (score only): strict pass · loose pass" in out
    assert "hidden check (score only): strict fail · loose fail" in out
    assert out.rstrip().endswith("instructions (hidden check): strict pass · loose pass")
    assert "visible tests" not in out


def test_show_intrinsic_renders_self_review_like_a_critique(store: dict[str, Any]) -> None:
    out = _show(store, "intrinsic")
    assert "reviewer (self_review)" in out and "self-review (no outside signal)" in out
    assert "Maybe the sum is off by ten." in out
    assert "refiner (self_revise)" in out and "revises r1.solve" in out
    assert "revises r2.self_revise" in out and "Final: \\boxed{4381}" in out
    assert "check:" not in out and "independent program" not in out  # nothing checked it
    assert "hidden answer (score only): pass · final answer 4391 (r1.solve)" in out
    assert f"hidden answer (score only, never in a prompt): {HIDDEN} → fail" in out


# --- corrigo replay -------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["math", "notes", "intrinsic"])
@pytest.mark.parametrize("reverify", [False, True])
def test_replay_matches_every_step(store: dict[str, Any], which: str, reverify: bool) -> None:
    args = ["replay", store[which], "--json"] + (["--reverify"] if reverify else [])
    done = corrigo(*args, home=store["home"])
    report = json.loads(done.stdout)
    mismatched = [s for s in report["steps"] if not s["matched"]]
    assert done.returncode == 0 and report["all_matched"], mismatched
    assert report["model_calls"] == 0
    assert report["stop_reason"] == store["stops"][which]
    if which == "math":  # the programs and the checks were replayed too
        assert {"check", "verify"} <= {s["node"] for s in report["steps"]}
    text = corrigo("replay", store[which], home=store["home"]).stdout
    assert "every step matched" in text
    if which == "intrinsic":  # columns as wide as the longest node
        assert "  #2   reviewer  self_review match" in text


# --- corrigo export -------------------------------------------------------------------------


def _export(store: dict[str, Any], name: str, *args: str) -> tuple[list[Any], list[Any]]:
    out = store["tmp"] / name
    done = corrigo("export", "--out", str(out), *args, home=store["home"])
    assert done.returncode == 0, done.stderr
    return tuple(  # type: ignore[return-value]
        [json.loads(line) for line in (out / f).read_text().splitlines()]
        for f in ("sft.jsonl", "preference.jsonl")
    )


def test_export_rows_follow_the_kind_and_never_carry_the_hidden_answer(
    store: dict[str, Any],
) -> None:
    sft, preference = _export(store, "conversational")
    by_task = {r["task_id"]: r for r in sft}
    assert set(by_task) == {"shop/1", "note/1"}  # the intrinsic run ended wrong
    math, note = by_task["shop/1"], by_task["note/1"]
    assert (math["kind"], math["verified_by"], math["run_id"]) == (
        "math",
        "hidden_answer",
        store["math"],
    )
    assert math["completion"] == [{"role": "assistant", "content": RIGHT}]  # no code fence
    assert (note["kind"], note["verified_by"]) == ("instructions", "instructions")
    assert note["completion"] == [{"role": "assistant", "content": POLITE}]
    assert math["prompt"][-1]["role"] == "user" and MATH["prompt"] in math["prompt"][-1]["content"]
    pairs = {
        (p["task_id"], p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in preference
    }
    assert pairs == {("shop/1", RIGHT, WRONG), ("note/1", POLITE, RUDE)}
    assert all(p["kind"] in ("math", "instructions") for p in preference)
    # The hidden answer is in no prompt (the solver never saw it), in no row at all.
    for row in sft + preference:
        prompt = json.dumps(row["prompt"])
        assert HIDDEN not in prompt and "4391" not in prompt and "4381" not in prompt
        assert HIDDEN not in json.dumps(row)
    std_sft, std_pref = _export(store, "standard", "--format", "standard", "--task", "shop/1")
    [row] = std_sft
    assert row["completion"] == RIGHT and isinstance(row["prompt"], str)
    assert MATH["prompt"] in row["prompt"] and HIDDEN not in row["prompt"]
    assert [(p["chosen"], p["rejected"]) for p in std_pref] == [(RIGHT, WRONG)]


def _step(seq: int, text: str, answer: str, *, passed: bool) -> list[Step]:
    candidate = Candidate(code=text, answer=answer, round=seq, key=f"r{seq}.sample")
    made = Step(
        run_id="run_m",
        seq=2 * seq,
        round=seq,
        role="solver",
        node="sample",
        kind="model",
        messages=[Message(role="user", content="How many pens?")],
        output=text,
        candidate=candidate,
        key=candidate.key,
    )
    test = TestResult(name="independent program agrees", passed=passed)
    verdict = Verdict(
        passed=passed,
        score=float(passed),
        feedback="",
        evidence=ExecResult(status="passed", tests=[test], stdout="3609\n"),
    )
    checked = Step(
        run_id="run_m",
        seq=2 * seq + 1,
        round=seq,
        role="verifier",
        node="verify",
        kind="exec",
        candidate=candidate,
        verdict=verdict,
        key=f"verify:{candidate.key}",
    )
    return [made, checked]


def test_a_right_math_answer_a_wrong_program_disputed_is_never_rejected() -> None:
    """best_of_n with a wrong program: every sample "fails" its check. Solutions whose
    final answer is the chosen (hidden-verified) one are right, not counter-examples."""
    steps = [
        *_step(1, "It sold \\boxed{4381}.", "4381", passed=False),
        *_step(2, "It sold 4391.0 pens. \\boxed{4391.0}", "4391.0", passed=False),
        *_step(3, "#### 4,391", "4,391", passed=False),
        *_step(4, "\\boxed{12}", "12", passed=False),
    ]
    best = steps[2].candidate
    assert best is not None
    task = Task(id="shop/1", kind="math", prompt="How many pens?", answer=HIDDEN)
    outcome = Outcome(
        run_id="run_m", task_id="shop/1", stop_reason="verified", best=best, hidden_passed=True
    )
    spec = RunSpec(task=task, strategy="best_of_n", roles={"solver": "scripted:s.yaml"})
    record = RunRecord(id="run_m", status="finished", spec=spec, outcome=outcome)
    sft, preference, skipped = training_rows(record, steps, format="standard")
    assert skipped is None
    assert [r["completion"] for r in sft] == ["It sold 4391.0 pens. \\boxed{4391.0}"]
    assert [p["rejected"] for p in preference] == ["It sold \\boxed{4381}.", "\\boxed{12}"]
    assert {p["kind"] for p in sft + preference} == {"math"}
    wrong = record.model_copy(
        update={"outcome": outcome.model_copy(update={"hidden_passed": False})}
    )
    assert training_rows(wrong, steps) == ([], [], "final answer is not the task's answer")


# --- the bench report -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench(store: dict[str, Any]) -> dict[str, Any]:
    out = store["tmp"] / "bench"
    done = corrigo(
        "bench",
        _tasks(store["tmp"] / "suite.jsonl", MATH, NOTE, NOTE2),
        "-s",
        "single,refine",
        "-m",
        f"scripted:{store['story']}",
        "--max-rounds",
        "2",
        "--json",
        "--out",
        str(out),
        home=store["home"],
    )
    assert done.returncode == 0, done.stderr
    return {"report": json.loads(done.stdout), "markdown": (out / "report.md").read_text()}


def test_bench_reports_loose_next_to_strict_and_flips_for_every_kind(
    bench: dict[str, Any],
) -> None:
    report = bench["report"]
    assert report["kinds"] == {"instructions": 2, "math": 1}
    cells = {c["strategy"]: c for c in report["cells"]}
    single, refine = cells["single"], cells["refine"]
    # single: the sum is wrong, note/1 breaks both instructions, note/2 only in its first
    # line (strict fail, loose pass).
    assert (single["first_round_passed"], single["final_passed"]) == (0, 0)
    assert (single["loose_passed"], single["loose_tasks"], single["loose"]) == (1, 2, 0.5)
    assert (single["fixed"], single["broken"]) == (0, 0)
    # refine fixes all three: a math flip and two instructions flips.
    assert (refine["first_round_passed"], refine["final_passed"]) == (0, 3)
    assert (refine["fixed"], refine["broken"]) == (3, 0)
    assert (refine["loose_passed"], refine["loose_tasks"], refine["loose"]) == (2, 2, 1.0)
    md = bench["markdown"]
    header = next(line for line in md.splitlines() if line.startswith("| strategy"))
    assert "| first | final | loose | lift |" in header
    assert re.search(
        r"\| single \| scripted:story\.yaml \| 3 \| 0\.0% 0/3 \| 0\.0% 0/3 \| 50\.0% 1/2 \|", md
    )
    assert re.search(
        r"\| refine \| scripted:story\.yaml \| 3 \| 0\.0% 0/3 \| 100\.0% 3/3 \| 100\.0% 2/2 \|", md
    )
    assert ", 3 tasks (2 instructions, 1 math)" in md
    assert "loose: final replies passing in IFEval's loose mode" in md


def test_a_code_bench_report_has_no_loose_column() -> None:
    from corrigo.bench.render import COLUMNS, kinds_note, table
    from corrigo.bench.report import BenchReport, summarize
    from corrigo.records import BenchSpec

    cell = summarize(
        "single",
        "m",
        "b/single/m",
        [Outcome(run_id="r", task_id="t", stop_reason="verified", hidden_passed=True)],
        kinds={"t": "code"},
    )
    assert (cell.loose, cell.loose_tasks) == (None, 0)
    report = BenchReport(
        bench=BenchSpec(suite="s", strategies=["single"], models=["m"]),
        task_ids=["t"],
        cells=[cell],
        kinds={"code": 1},
    )
    columns, rows = table(report)
    assert columns == COLUMNS and len(rows[0]) == len(COLUMNS)
    assert kinds_note(report) == ""
    # An instructions run that ended in an error (no loose score) counts as a loose fail.
    errored = summarize(
        "single",
        "m",
        "b",
        [Outcome(run_id="r", task_id="t", stop_reason="error")],
        kinds={"t": "instructions"},
    )
    assert (errored.loose, errored.loose_passed, errored.loose_tasks) == (0.0, 0, 1)


# --- the web viewer -------------------------------------------------------------------------


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


def test_viewer_shows_the_answer_and_its_check(
    store: dict[str, Any], bench: dict[str, Any]
) -> None:
    files = demo_files(store["tmp"] / "demo")
    with (
        serve(
            store["tmp"] / "serve", files, store_url=f"sqlite:///{store['home']}/corrigo.db"
        ) as server,
        server.client() as http,
    ):
        math = http.get(f"/runs/{store['math']}")
        notes = http.get(f"/runs/{store['notes']}")
        intrinsic = http.get(f"/runs/{store['intrinsic']}")
        live = http.get(f"/runs/{store['math']}/live")
        bench_page = http.get(f"/benches/{bench['report']['bench']['id']}")
    for page in (math, notes, intrinsic, live, bench_page):
        assert page.status_code == 200, page.text[:2000]

    html = math.text
    steps_part, outcome_part = html[html.index('id="rounds"') :], html[: html.index('id="rounds"')]
    text = _text(steps_part)
    assert "solution" in text and "final answer: 4381" in text and "final answer: 4391" in text
    assert "independent program" in text and "print(may + june)" in text
    assert "ran in the sandbox: passed" in text and "printed: 4391" in text
    assert "check: disagrees: program printed 4391, answer 4381" in text
    assert "check: agrees with the independent program (4391)" in text
    assert "candidate code" not in text  # the program run is not shown as a candidate
    assert 'class="diff"' not in steps_part  # a math solution is shown whole, not as a diff
    assert "Scoring against the hidden answer" in text and "hidden answer: pass" in text
    # The hidden answer: in the outcome, labelled; in no step, no prompt.
    assert HIDDEN not in steps_part
    assert "hidden answer (score only, never in a prompt): 4,391" in _text(outcome_part)
    assert HIDDEN in _text(live.text)

    text = _text(notes.text)
    assert RUDE in text and POLITE in text
    assert "not every instruction followed · strict 0/2 · loose fail" in text
    assert "every instruction followed · strict 2/2 · loose pass" in text
    assert "✗ change_case:english_lowercase not followed:" in text
    assert "(words with capitals: Rain, Window)" in text
    assert "✗ punctuation:no_comma not followed:" in text
    assert "changes against r1.solve" in text  # the reply's diff, folded away
    assert "the returned reply, on every instruction: strict pass · loose pass" in text
    assert "task prompt and its 2 instructions" in text

    text = _text(intrinsic.text)
    assert "Maybe the sum is off by ten." in text and "check:" not in text
    assert "final answer: 4381" in text

    headers = re.findall(r"<th>([^<]*)</th>", bench_page.text)
    assert headers[headers.index("final") + 1] == "loose"
    assert "3 tasks (2 instructions, 1 math)" in _text(bench_page.text)
