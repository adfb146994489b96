"""Forking a stored run at a step: the steps before it are the parent's, reused without a
model call or a sandbox run; the fork goes on from there with another model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import corrigo
from corrigo.config import Settings
from corrigo.errors import RunNotFound, UsageError
from corrigo.liveness import current_owner
from corrigo.records import ForkPoint, RunSpec, Step
from tests.helpers import corrigo as cli
from tests.helpers import fenced, write_script
from tests.serve_helpers import FIXED as SERVE_FIXED
from tests.stores import BACKENDS, fresh_store_url
from tests.test_story import BUGGY, FIXED

WRONG_CRITIQUE = "The function should sort the strings first."
RIGHT_CRITIQUE = "The comparison uses >= so a later string of equal length wins; use >."


def parent_script(tmp_path: Path) -> Path:
    """Model A: a bug, a critique that misses it, and revisions that keep it."""
    return write_script(
        tmp_path / "a.yaml",
        {
            "model": "model-a",
            "replies": {
                "solver": [fenced(BUGGY)],
                "reviewer": [WRONG_CRITIQUE, WRONG_CRITIQUE],
                "refiner": [fenced(BUGGY), fenced(BUGGY)],
            },
        },
    )


def fork_script(tmp_path: Path) -> Path:
    """Model B has only a refiner's reply: asking it for anything else fails the step."""
    return write_script(
        tmp_path / "b.yaml",
        {"model": "model-b", "replies": {"refiner": [fenced(FIXED)]}},
    )


def same_step(step: Step) -> dict[str, Any]:
    """A step as the fork must have copied it: all but its run and the time it was stored."""
    return step.model_dump(exclude={"run_id", "created_at"})


@pytest.mark.parametrize("kind", BACKENDS)
async def test_fork_at_first_review_takes_the_past_and_asks_only_after_it(
    kind: str, tmp_path: Path
) -> None:
    with fresh_store_url(kind, tmp_path) as url:
        settings = Settings(home=tmp_path / "home", store_url=url)
        [parent] = await corrigo.run(
            "humaneval:HumanEval/12",
            strategy="refine",
            model=f"scripted:{parent_script(tmp_path)}",
            max_rounds=2,
            settings=settings,
        )
        assert parent.hidden_passed is False
        before = await corrigo.load_run(parent.run_id, settings=settings)
        review = next(s for s in before.steps if s.role == "reviewer")
        assert [s.role for s in before.steps[: review.seq]] == ["solver", "verifier", "reviewer"]

        outcome = await corrigo.fork(
            parent.run_id,
            at=review.seq,
            model=f"scripted:{fork_script(tmp_path)}",
            settings=settings,
        )

        assert outcome.run_id != parent.run_id
        assert outcome.stop_reason == "verified"
        assert outcome.hidden_passed is True
        forked = await corrigo.load_run(outcome.run_id, settings=settings)
        spec = forked.record.spec
        assert spec.forked_from == ForkPoint(run_id=parent.run_id, step=review.seq)
        assert spec.batch_id == f"fork_{parent.run_id}"
        assert set(spec.roles.values()) == {f"scripted:{tmp_path / 'b.yaml'}"}
        # The steps up to the review are the parent's, identical and in the same order.
        kept = forked.steps[: review.seq]
        assert [same_step(s) for s in kept] == [same_step(s) for s in before.steps[: review.seq]]
        assert kept[1].verdict == before.steps[1].verdict  # the sandbox was not asked again
        # After it, model B is asked (its only reply is a refiner's: the fix).
        after = forked.steps[review.seq :]
        assert [(s.role, s.model) for s in after if s.kind == "model"] == [("refiner", "model-b")]
        assert all(s.error is None for s in forked.steps)
        assert after[0].candidate is not None and after[0].candidate.code == FIXED.strip()
        # The parent is untouched.
        again = await corrigo.load_run(parent.run_id, settings=settings)
        assert again.steps == before.steps
        assert again.record.outcome == before.record.outcome
        # Exact replay of the fork: every step matches, nothing asked.
        report = await corrigo.replay_run(forked)
        assert report.all_matched, report.steps
        assert report.model_calls == 0
        # The fork is listed under its parent's fork batch.
        family = await corrigo.list_runs(batch_id=f"fork_{parent.run_id}", settings=settings)
        assert [r.id for r in family] == [outcome.run_id]


async def test_fork_with_another_strategy_and_more_rounds(
    tmp_path: Path, settings: Settings
) -> None:
    [parent] = await corrigo.run(
        "humaneval:HumanEval/12",
        strategy="refine",
        model=f"scripted:{parent_script(tmp_path)}",
        max_rounds=2,
        settings=settings,
    )
    outcome = await corrigo.fork(
        parent.run_id,
        at=3,
        strategy="self_debug",
        roles={"refiner": f"scripted:{fork_script(tmp_path)}"},
        max_rounds=4,
        settings=settings,
    )
    forked = await corrigo.load_run(outcome.run_id, settings=settings)
    assert forked.record.spec.strategy == "self_debug"
    assert forked.record.spec.params["max_rounds"] == 4
    assert forked.record.spec.roles["solver"] == f"scripted:{tmp_path / 'a.yaml'}"


async def test_fork_refuses_bad_input_before_storing(tmp_path: Path, settings: Settings) -> None:
    [parent] = await corrigo.run(
        "humaneval:HumanEval/12",
        strategy="refine",
        model=f"scripted:{parent_script(tmp_path)}",
        max_rounds=2,
        settings=settings,
    )
    stored = await corrigo.load_run(parent.run_id, settings=settings)
    last = len(stored.steps)
    with pytest.raises(RunNotFound):
        await corrigo.fork("run_doesnotexist", at=1, settings=settings)
    with pytest.raises(UsageError, match=f"step {last + 1} is out of range"):
        await corrigo.fork(parent.run_id, at=last + 1, settings=settings)
    with pytest.raises(UsageError, match="step 0 is out of range"):
        await corrigo.fork(parent.run_id, at=0, settings=settings)
    with pytest.raises(corrigo.CorrigoError, match=r"unknown strategy|strategy"):
        await corrigo.fork(parent.run_id, at=1, strategy="nope", settings=settings)
    # A run still running (owned by this live process) is refused.
    async with corrigo.open_store(settings.resolved_store_url) as store:
        running = await store.create_run(
            RunSpec(task=stored.record.spec.task, strategy="refine"), owner=current_owner()
        )
    with pytest.raises(UsageError, match="running"):
        await corrigo.fork(running.id, at=1, settings=settings)
    runs = await corrigo.list_runs(settings=settings)
    assert len(runs) == 2  # nothing was stored by the refused forks


def test_fork_cli_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = parent_script(tmp_path)
    ran = cli(
        "run", "humaneval:HumanEval/12", "-s", "refine", "-m", f"scripted:{script}",
        "--max-rounds", "2", "--json", home=home,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    cases = [
        (["fork", "run_doesnotexist", "--at", "1"], "no run"),
        (["fork", "last", "--at", "999"], "out of range"),
        (["fork", "last", "--at", "1", "--role", "nope"], "ROLE=SPEC"),
    ]
    for args, words in cases:
        result = cli(*args, home=home)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr
    ok = cli("fork", "last", "--at", "3", "-m", f"scripted:{fork_script(tmp_path)}", home=home)
    assert ok.returncode == 0, ok.stderr
    assert "fork run_" in ok.stdout
    fork_id = ok.stdout.split()[1]
    shown = cli("show", fork_id, home=home)
    assert shown.returncode == 0, shown.stderr
    assert "forked from run_" in shown.stdout and "at step 3: steps 1–3" in shown.stdout
    parent_id = ok.stdout.split()[3]
    parent = cli("show", parent_id, home=home)
    assert f"fork {fork_id} at step 3 · refine · verified" in parent.stdout
    listed = cli("runs", home=home)
    assert f"fork of {parent_id} @3" in listed.stdout


def test_fork_over_http(tmp_path: Path) -> None:
    from tests.serve_helpers import OTHER_TOKEN, demo_files, serve

    files = demo_files(tmp_path / "files")
    fixer = write_script(
        tmp_path / "fixer.yaml",
        {"model": "fixer-script", "tasks": {"fix": {"refiner": [fenced(SERVE_FIXED)]}}},
    )
    models = f"script=scripted:{files.script};fixer=scripted:{fixer}"
    with (
        serve(tmp_path / "srv", files, env={"CORRIGO_SERVE_MODELS": models}) as srv,
        srv.client() as http,
    ):
        submitted = http.post("/v1/runs", json={"tasks": "demo:fix", "strategy": "refine"})
        assert submitted.status_code == 202, submitted.text
        [parent] = submitted.json()["run_ids"]
        srv.wait(parent)
        steps = http.get(f"/v1/runs/{parent}/steps").json()["steps"]
        review = next(s["seq"] for s in steps if s["role"] == "reviewer")

        bad = [
            ("/v1/runs/run_doesnotexist/fork", {"at": 1}, 404),
            (f"/v1/runs/{parent}/fork", {"at": 999}, 422),
            (f"/v1/runs/{parent}/fork", {"at": 0}, 422),
            (f"/v1/runs/{parent}/fork", {"at": 1, "model": "openai:gpt-4o"}, 422),
            (f"/v1/runs/{parent}/fork", {"at": 1, "strategy": "nope"}, 422),
            (f"/v1/runs/{parent}/fork", {"at": 1, "max_rounds": 10_000}, 422),
        ]
        for path, body, status in bad:
            response = http.post(path, json=body)
            assert response.status_code == status, (body, response.text)
            assert response.json()["error"]
        forked = http.post(f"/v1/runs/{parent}/fork", json={"at": review, "model": "fixer"})
        assert forked.status_code == 202, forked.text
        [child] = forked.json()["run_ids"]
        record = srv.wait(child)
        assert record["spec"]["forked_from"] == {
            "run_id": parent,
            "step": review,
            "schema_version": 1,
        }
        assert record["outcome"]["stop_reason"] == "verified"
        child_steps = http.get(f"/v1/runs/{child}/steps").json()["steps"]
        strip = {"run_id", "created_at"}
        assert [{k: v for k, v in s.items() if k not in strip} for s in child_steps[:review]] == [
            {k: v for k, v in s.items() if k not in strip} for s in steps[:review]
        ]
        asked = [(s["role"], s["model"]) for s in child_steps[review:] if s["kind"] == "model"]
        assert asked == [("refiner", "fixer-script")]
        replayed = http.post(f"/v1/runs/{child}/replay").json()
        assert replayed["all_matched"] is True and replayed["model_calls"] == 0
        # The viewer shows the family: the fork's parent, the parent's forks.
        page = http.get(f"/runs/{child}")
        assert page.status_code == 200, page.text[:300]
        assert f'href="/runs/{parent}"' in page.text and f"at step {review}" in page.text
        parent_page = http.get(f"/runs/{parent}").text
        assert f'href="/runs/{child}"' in parent_page
        listing = http.get("/").text
        assert f'fork of <a href="/runs/{parent}">{parent}</a> @{review}' in listing
        # A fork is the caller's: another token may not cancel it.
        with srv.client(token=OTHER_TOKEN) as other:
            assert other.post(f"/v1/runs/{child}/cancel").status_code == 403
