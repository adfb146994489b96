"""`corrigo runs` filters and `corrigo runs prune`, on runs stored through the store API."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import corrigo
from corrigo.cli.runs import parse_when
from corrigo.errors import UsageError
from corrigo.liveness import current_owner
from corrigo.records import Outcome, RunSpec, Task, utcnow
from tests.helpers import corrigo as cli

DEAD_OWNER = f"{socket.gethostname()}/999999/1"  # this host, a pid that does not exist


@dataclass
class Stored:
    home: Path
    ids: dict[str, str]  # name → run id
    cut: datetime  # after a and b, before c, d and e


def _spec(task_id: str, strategy: str, solver: str, batch: str) -> RunSpec:
    task = Task(id=task_id, prompt=f"Write f for {task_id}.", entry_point="f")
    roles = {"solver": solver, "reviewer": "scripted:review.yaml"}
    return RunSpec(task=task, strategy=strategy, roles=roles, batch_id=batch)


async def _store_runs(home: Path) -> Stored:
    settings = corrigo.Settings.from_env({"CORRIGO_HOME": str(home)})
    ids: dict[str, str] = {}
    async with corrigo.open_store(settings.resolved_store_url) as store:

        async def add(name: str, spec: RunSpec, owner: str | None, finish: bool) -> None:
            record = await store.create_run(spec, owner=owner)
            if finish:
                outcome = Outcome(run_id=record.id, task_id=spec.task.id, stop_reason="verified")
                await store.finish_run(record.id, outcome)
            ids[name] = record.id
            await asyncio.sleep(0.01)

        await add("a", _spec("HumanEval/1", "refine", "scripted:a.yaml", "b1"), None, True)
        await add("b", _spec("HumanEval/12", "best_of_n", "openai:gpt-4o-mini", "b1"), None, True)
        cut = utcnow()
        await asyncio.sleep(0.01)
        # c is owned by this (live) test process: still running; d's process is gone.
        await add("c", _spec("mbpp/3", "refine", "local:qwen", "b2"), current_owner(), False)
        await add("d", _spec("mbpp/4", "single", "local:qwen", "b2"), DEAD_OWNER, False)
        await add("e", _spec("mbpp/5", "single", "openai:gpt-4o-mini", "b2"), None, True)
    return Stored(home, ids, cut)


@pytest.fixture
def stored(tmp_path: Path) -> Stored:
    return asyncio.run(_store_runs(tmp_path / "home"))


def _listed(stored: Stored, *args: str) -> list[str]:
    """The names of the runs `corrigo runs --json ARGS` lists, in its order."""
    done = cli("runs", "--json", *args, home=stored.home)
    assert done.returncode == 0, done.stderr
    names = {v: k for k, v in stored.ids.items()}
    return [names[r["id"]] for r in json.loads(done.stdout)]


def test_filters_select_stored_runs(stored: Stored) -> None:
    cut = stored.cut.isoformat()
    assert _listed(stored) == ["e", "d", "c", "b", "a"]
    assert _listed(stored, "--status", "finished", "-n", "2") == ["e", "b"]
    assert _listed(stored, "--status", "interrupted") == ["d"]
    assert _listed(stored, "--task", "HumanEval/1*") == ["b", "a"]
    assert _listed(stored, "--task", "HumanEval/1", "--strategy", "refine") == ["a"]
    assert _listed(stored, "--model", "scripted:review.yaml", "--batch", "b2") == ["e", "d", "c"]
    assert _listed(stored, "--model", "openai:gpt-4o-mini") == ["e", "b"]
    assert _listed(stored, "--since", cut) == ["e", "d", "c"]
    assert _listed(stored, "--until", cut, "--since", "1h") == ["b", "a"]
    assert _listed(stored, "--until", "1h") == []
    assert _listed(stored, "--since", "2000-01-01", "--status", "running") == ["c"]


def test_table_shows_interrupted_runs_and_how_to_resume(stored: Stored) -> None:
    done = cli("runs", home=stored.home)
    assert done.returncode == 0, done.stderr
    lines = {line for line in done.stdout.splitlines() if stored.ids["d"] in line}
    assert len(lines) == 1 and "interrupted" in lines.pop()
    running = [line for line in done.stdout.splitlines() if stored.ids["c"] in line]
    assert "running" in running[0] and "interrupted" not in running[0]
    assert "1 interrupted" in done.stdout and "corrigo resume --all" in done.stdout
    finished = cli("runs", "--status", "finished", "-n", "3", home=stored.home)
    assert finished.returncode == 0, finished.stderr
    assert "interrupted" not in finished.stdout
    assert all(stored.ids[n] in finished.stdout for n in "eba")
    nothing = cli("runs", "--task", "nope", home=stored.home)
    assert nothing.returncode == 0 and "no stored runs match" in nothing.stdout


def test_help_lists_filters_and_prune(tmp_path: Path) -> None:
    done = cli("runs", "--help", home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    for word in ("--status", "--task", "--since", "--until", "--json", "prune"):
        assert word in done.stdout
    empty = cli("runs", home=tmp_path / "home")
    assert empty.returncode == 0 and "no runs stored yet" in empty.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["runs", "--since", "yesterday"], "--since takes a date"),
        (["runs", "--until", "7x"], "--until takes a date"),
        (["runs", "--since", "2025-13-01"], "not '2025-13-01'"),
        (["runs", "--since", "999999999999d"], "--since takes a date"),
        (["runs", "--since", "1h", "--until", "2h"], "--since must be earlier than --until"),
        (["runs", "--status", "done"], "--status takes queued, running, finished, interrupted"),
        (["runs", "prune"], "--older-than"),
        (["runs", "prune", "--older-than", "soon"], "--older-than takes a date"),
        (["runs", "prune", "--keep", "-1"], "--keep takes a count"),
    ],
)
def test_bad_values_are_one_line_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    done = cli(*args, home=tmp_path / "home")
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and needle in lines[0]
    assert "Traceback" not in done.stdout + done.stderr


def test_parse_when_reads_ages_dates_and_datetimes() -> None:
    now = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_when("7d", "--since", now) == now - timedelta(days=7)
    assert parse_when("12h", "--since", now) == now - timedelta(hours=12)
    assert parse_when("30m", "--since", now) == now - timedelta(minutes=30)
    assert parse_when(" 2w ", "--since", now) == now - timedelta(weeks=2)
    assert parse_when("2025-01-31T14:00+02:00", "--until") == datetime(
        2025, 1, 31, 12, 0, tzinfo=UTC
    )
    assert parse_when("2025-01-31T14:00Z", "--until") == datetime(2025, 1, 31, 14, 0, tzinfo=UTC)
    # Without a zone a date or datetime is local time (as `date` prints it).
    local = datetime(2025, 1, 31).astimezone()
    assert parse_when("2025-01-31", "--since") == local.astimezone(UTC)
    assert parse_when("2025-01-31", "--since").tzinfo == UTC
    for bad in ("", "d7", "7 days", "-3d", "2025/01/31"):
        with pytest.raises(UsageError, match="--since takes a date"):
            parse_when(bad, "--since", now)


def _left(stored: Stored, status: str | None = None) -> list[str]:
    """The names of the runs still stored (read through the API: quicker than the CLI)."""
    settings = corrigo.Settings.from_env({"CORRIGO_HOME": str(stored.home)})
    query = corrigo.RunQuery(status=status)  # type: ignore[arg-type]
    names = {v: k for k, v in stored.ids.items()}
    return [names[r.id] for r in asyncio.run(corrigo.list_runs(query=query, settings=settings))]


def test_prune_deletes_only_finished_runs_before_the_cutoff(stored: Stored) -> None:
    cut = stored.cut.isoformat()
    dry = cli("runs", "prune", "--older-than", cut, "--dry-run", home=stored.home)
    assert dry.returncode == 0, dry.stderr
    assert "would delete 2 finished runs" in dry.stdout and "nothing was deleted" in dry.stdout
    assert stored.ids["a"] in dry.stdout and stored.ids["b"] in dry.stdout
    assert all(stored.ids[n] not in dry.stdout for n in "cde")
    assert _left(stored) == ["e", "d", "c", "b", "a"]  # the dry run deleted nothing

    recent = cli("runs", "prune", "--older-than", "30d", home=stored.home)
    assert recent.returncode == 0, recent.stderr
    assert "deleted 0 finished runs" in recent.stdout

    pruned = cli("runs", "prune", "--older-than", cut, home=stored.home)
    assert pruned.returncode == 0, pruned.stderr
    assert "deleted 2 finished runs" in pruned.stdout
    assert _left(stored) == ["e", "d", "c"]

    # --keep counts finished runs only; running and interrupted ones are never touched.
    assert "deleted 0 finished runs" in cli("runs", "prune", "--keep", "1", home=stored.home).stdout
    keep_none = cli("runs", "prune", "--keep", "0", "--dry-run", home=stored.home)
    assert (
        "would delete 1 finished run " in keep_none.stdout and stored.ids["e"] in keep_none.stdout
    )
    assert "deleted 1 finished run " in cli("runs", "prune", "--keep", "0", home=stored.home).stdout
    assert _left(stored) == ["d", "c"]
    assert _left(stored, "interrupted") == ["d"]
    assert _left(stored, "running") == ["c"]


def test_a_run_with_a_dead_owner_is_interrupted_in_the_api_too(stored: Stored) -> None:
    settings = corrigo.Settings.from_env({"CORRIGO_HOME": str(stored.home)})
    query = corrigo.RunQuery(status="interrupted")
    found = asyncio.run(corrigo.list_runs(query=query, settings=settings))
    assert [(r.id, r.owner) for r in found] == [(stored.ids["d"], DEAD_OWNER)]
    # The test process, owner of c, is alive: c stays running.
    running = asyncio.run(
        corrigo.list_runs(query=corrigo.RunQuery(status="running"), settings=settings)
    )
    assert [r.id for r in running] == [stored.ids["c"]]


_LISTING = """
import sys
from corrigo.cli import main

try:
    main(["runs", "--json"])
finally:
    heavy = ("sqlalchemy", "alembic", "corrigo.cli.bench", "corrigo.cli.run", "corrigo.cli.serve")
    print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)
"""


def test_listing_a_sqlite_store_loads_no_sqlalchemy_and_no_other_command(stored: Stored) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRIGO_")}
    done = subprocess.run(
        [sys.executable, "-c", _LISTING],
        capture_output=True,
        text=True,
        env={**env, "CORRIGO_HOME": str(stored.home)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 5
    assert done.stderr.strip().splitlines()[-1] == "[]"


_ATTACHED = """
import importlib, sys, typer.main
from corrigo.cli.app import app

importlib.import_module("corrigo.cli." + sys.argv[1])
group = typer.main.get_group(app)
# Groups with no command yet (models, lessons... before their module) are not attached.
print(" ".join(name for name, c in group.commands.items() if getattr(c, "commands", True)))
"""


def test_each_command_is_attached_by_the_module_commands_names() -> None:
    """`corrigo NAME` imports COMMANDS[NAME] alone: that module must attach NAME, and
    every command some module attaches must be in COMMANDS."""
    from corrigo.cli.app import COMMANDS

    started = {
        module: subprocess.Popen(
            [sys.executable, "-c", _ATTACHED, module], stdout=subprocess.PIPE, text=True
        )
        for module in sorted(set(COMMANDS.values()))
    }
    attached = {module: set(p.communicate(timeout=300)[0].split()) for module, p in started.items()}
    for name, module in COMMANDS.items():
        assert name in attached[module], (name, module, attached[module])
    assert set().union(*attached.values()) == set(COMMANDS)
