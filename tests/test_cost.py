"""Cost: the price table, ``--max-cost``, budgets reserved call by call (a parallel wave
is cut at the budget, not after it), and cost in summaries and bench reports. Scripted
models are priced by a user price file, so every dollar is known in advance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import corrigo
from corrigo.bench.report import summarize
from corrigo.config import Settings
from corrigo.errors import ConfigError
from corrigo.graphs.ledger import Ledger
from corrigo.models import get_model
from corrigo.models.pricing import Price, dollars, load_prices, parse_prices
from corrigo.records import Budgets, Outcome, Sampling, Spend, Step, Totals
from corrigo.serve.schemas import BudgetsIn, budgets_within
from corrigo.tasks.humaneval import broken_solution, problem
from tests.helpers import corrigo as corrigo_cli
from tests.helpers import fenced, write_script
from tests.test_story import BUGGY, CRITIQUE, FIXED

TASK = "humaneval:HumanEval/12"
# A dollar per thousand tokens: large enough that every call's cost is easy to read.
PRICY = '"scripted:*" = { input = 1000, output = 1000 }\n'


def _script(tmp_path: Path, replies: dict[str, Any], name: str = "s.yaml") -> str:
    path = write_script(tmp_path / name, {"model": "story", "replies": replies})
    return f"scripted:{path}"


def _wrong(n: int) -> list[str]:
    """``n`` different answers that all fail the visible tests: nothing stops sampling."""
    return [fenced(f"def longest(strings):\n    return {i}\n") for i in range(n)]


def _priced(settings: Settings, text: str = PRICY) -> Settings:
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / "prices.toml").write_text(text)
    return settings


# --- the price table ----------------------------------------------------------------------


def test_a_spec_is_priced_by_its_entry_then_the_longest_matching_pattern() -> None:
    table = parse_prices(
        '"openai:gpt-4o-mini" = { input = 0.15, output = 0.6 }\n'
        '"openai:gpt-4o-mini-*" = { input = 0.2, output = 0.8 }\n'
        '"openai:*" = { input = 5, output = 15 }\n'
        '"local:*" = { input = 0, output = 0 }\n',
        "test",
    )
    assert table.lookup("openai:gpt-4o-mini") == Price(0.15, 0.6)
    assert table.lookup("openai:gpt-4o-mini-2024-07-18") == Price(0.2, 0.8)
    assert table.lookup("openai:gpt-5") == Price(5, 15)
    assert table.lookup("local:qwen2.5-coder-1.5b") == Price(0, 0)
    assert table.lookup("ollama:llama3") is None  # not in this table: unknown, not free
    assert Price(0.15, 0.6).cost(1_000_000, 500_000) == pytest.approx(0.45)


def test_the_shipped_table_prices_known_models_and_leaves_others_unknown(
    settings: Settings,
) -> None:
    table = load_prices(settings)
    assert table.lookup("openai:gpt-4o-mini") == Price(0.15, 0.60)
    for free in ("local:qwen2.5-coder-1.5b", "ollama:llama3", "scripted:/x.yaml"):
        assert table.lookup(free) == Price(0, 0)
    assert table.lookup("openai:some-model-nobody-priced") is None


def test_a_user_price_file_overrides_and_extends_the_shipped_one(
    tmp_path: Path, settings: Settings
) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(
        '"local:*" = { input = 0.02, output = 0.04 }\n'
        '"openai:my-vllm-model" = { input = 0, output = 0 }\n'
    )
    table = load_prices(settings.with_overrides(prices=mine))
    assert table.lookup("local:qwen2.5-coder-1.5b") == Price(0.02, 0.04)
    assert table.lookup("openai:my-vllm-model") == Price(0, 0)
    assert table.lookup("openai:gpt-4o-mini") == Price(0.15, 0.60)  # still shipped
    # The data directory's prices.toml is used when CORRIGO_PRICES is not set; a model
    # built from a spec carries its price.
    script = _script(tmp_path, {"solver": ["x"]})
    priced = _priced(settings)
    assert get_model(script, priced).price == Price(1000, 1000)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('"openai:x" = { input = 1 ', "not valid TOML"),
        ('"openai:x" = 3\n', "must be { input = DOLLARS, output = DOLLARS }"),
        ('"openai:x" = { input = 1, output = -2 }\n', "numbers of 0 or more"),
        ('"openai:x" = { input = 1, output = "2" }\n', "numbers of 0 or more"),
        ('"openai:x" = { input = 1, output = 2, cached = 0.5 }\n', "must be { input"),
        ('"gpt-4o" = { input = 1, output = 2 }\n', "is not a model spec"),
    ],
)
def test_a_bad_price_file_is_a_config_error(
    tmp_path: Path, settings: Settings, text: str, says: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=r"price file .*bad\.toml") as caught:
        load_prices(settings.with_overrides(prices=bad))
    assert says in str(caught.value) and "\n" not in str(caught.value)
    missing = settings.with_overrides(prices=tmp_path / "nowhere.toml")
    with pytest.raises(ConfigError, match="cannot read price file"):
        load_prices(missing)


def test_records_stored_before_costs_still_load() -> None:
    totals = {"model_calls": 2, "tokens_in": 10, "tokens_out": 5}
    old: dict[str, Any] = {"run_id": "run_1", "task_id": "t", "stop_reason": "budget_exhausted"}
    outcome = Outcome.model_validate({**old, "totals": totals})
    assert outcome.totals.cost is None and outcome.budget is None
    step_fields = {"run_id": "r", "seq": 1, "round": 1, "role": "solver", "node": "solver"}
    step = Step.model_validate({**step_fields, "kind": "model"})
    assert step.cost is None


# --- the ledger -----------------------------------------------------------------------


def test_the_ledger_holds_calls_in_flight_and_settles_them_to_what_they_spent() -> None:
    ledger = Ledger(Budgets(max_model_calls=10, max_tokens=1000, max_cost=1.0))
    worst = Spend(calls=1, tokens_in=100, tokens_out=300, cost=0.4)
    assert ledger.reserve(worst) is None and ledger.reserve(worst) is None
    assert ledger.reserve(worst) == "tokens"  # 1200 tokens would not fit while two run
    ledger.settle(worst, Spend(calls=1, tokens_in=100, tokens_out=20, cost=0.1))
    assert ledger.used == Spend(calls=2, tokens_in=200, tokens_out=320, cost=0.5)
    assert ledger.reserve(worst.model_copy(update={"cost": 0.6})) == "cost"
    assert ledger.reserve(Spend(calls=1, unpriced=1)) == "cost"  # no price: unbounded
    # Resuming a run: the ledger opens with what its stored model steps spent.
    steps = [
        Step(run_id="r", seq=i, round=1, role="solver", node="solver", kind="model", cost=0.25)
        for i in (1, 2)
    ]
    assert Ledger.opening(Budgets(), steps).spent == Spend(calls=2, cost=0.5)


# --- budgets in runs ------------------------------------------------------------------------


async def test_a_parallel_wave_stops_at_the_budget_not_after_it(
    tmp_path: Path, settings: Settings
) -> None:
    """best_of_n(n=8) over two rounds: one greedy sample, then a wave of seven at once.
    Each budget leaves room for exactly three calls; before calls reserved their budget,
    the whole wave went out (8 calls) whatever the token or cost budget said."""
    settings = _priced(settings)
    model = _script(tmp_path, {"solver": _wrong(8)})
    common: dict[str, Any] = {
        "strategy": "best_of_n(n=8)",
        "model": model,
        "settings": settings,
        "max_rounds": 2,
        "sampling": {"solver": Sampling(max_tokens=100)},  # the reply cap each call reserves
    }
    [by_calls] = await corrigo.run(TASK, budgets=Budgets(max_model_calls=3), **common)
    stored = await corrigo.load_run(by_calls.run_id, settings=settings)
    calls = [s for s in stored.steps if s.kind == "model"]
    assert len(calls) == 3 and by_calls.totals.model_calls == 3
    assert (by_calls.stop_reason, by_calls.budget) == ("budget_exhausted", "model_calls")

    # The worst case a sample reserves: its prompt (estimated high) and a 100-token reply.
    from corrigo.graphs.ledger import prompt_tokens

    first = calls[0]
    worst = prompt_tokens(first.messages) + 100
    spent = first.usage.tokens_in + first.usage.tokens_out
    assert spent < worst
    room = spent + 2 * worst + worst // 2  # the first call, then two of the wave
    cases: list[tuple[Budgets, str]] = [
        (Budgets(max_tokens=room), "tokens"),
        (Budgets(max_cost=room / 1000), "cost"),  # a dollar per thousand tokens
    ]
    for budgets, name in cases:
        [outcome] = await corrigo.run(TASK, budgets=budgets, **common)
        stored = await corrigo.load_run(outcome.run_id, settings=settings)
        calls = [s for s in stored.steps if s.kind == "model"]
        tokens = sum(s.usage.tokens_in + s.usage.tokens_out for s in calls)
        assert len(calls) == 3, name
        assert (outcome.stop_reason, outcome.budget) == ("budget_exhausted", name)
        assert stored.record.outcome is not None and stored.record.outcome.budget == name
        assert tokens <= room and outcome.totals.tokens_in + outcome.totals.tokens_out == tokens
        assert outcome.totals.cost == pytest.approx(sum(s.cost or 0 for s in calls))
        assert outcome.totals.cost == pytest.approx(tokens / 1000)


async def test_free_models_cost_zero_and_an_unbounded_run_names_its_rounds(
    tmp_path: Path, settings: Settings
) -> None:
    replies = {
        "solver": [fenced(BUGGY)],
        "reviewer": [CRITIQUE] * 2,
        "refiner": [fenced(BUGGY)] * 2,
    }
    model = _script(tmp_path, replies)
    [outcome] = await corrigo.run(
        TASK, strategy="refine(fresh=False)", model=model, settings=settings, max_rounds=2
    )
    assert outcome.totals.cost == 0.0  # scripts are free unless priced
    assert (outcome.stop_reason, outcome.budget) == ("budget_exhausted", "rounds")


def test_max_cost_stops_a_run_and_the_summary_names_the_budget(tmp_path: Path) -> None:
    """Only output is priced (a dollar per thousand): each call reserves $1.024 for a
    reply of up to 1024 tokens. The solver fits $1.03; the reviewer then does not."""
    home = tmp_path / "home"
    prices = tmp_path / "prices.toml"
    prices.write_text('"scripted:*" = { input = 0, output = 1000 }\n')
    model = _script(
        tmp_path, {"solver": [fenced(BUGGY)], "reviewer": [CRITIQUE], "refiner": [fenced(FIXED)]}
    )
    env = {"CORRIGO_PRICES": str(prices)}
    args = ("run", TASK, "-s", "refine", "-m", model, "--max-cost", "1.03")
    done = corrigo_cli(*args, home=home, env=env)
    assert done.returncode == 0, done.stderr
    listed = corrigo_cli("runs", "--json", home=home, env=env)
    [record] = json.loads(listed.stdout)
    shown = corrigo_cli("show", record["id"], "--json", home=home, env=env)
    [solver] = [s for s in json.loads(shown.stdout)["steps"] if s["kind"] == "model"]
    cost = solver["usage"]["tokens_out"] / 1000
    assert solver["role"] == "solver" and solver["cost"] == pytest.approx(cost)
    outcome = record["outcome"]
    assert (outcome["stop_reason"], outcome["budget"]) == ("budget_exhausted", "cost")
    assert outcome["totals"]["model_calls"] == 1
    assert outcome["totals"]["cost"] == pytest.approx(cost)
    assert record["spec"]["budgets"]["max_cost"] == 1.03
    # The summary table and line, and ``corrigo show``, name the budget and the cost.
    assert "budget_exhausted (cost)" in done.stdout
    assert f"cost {dollars(cost)} (– per solved)" in done.stdout
    shown = corrigo_cli("show", record["id"], home=home, env=env)
    assert "stop: budget_exhausted (cost)" in shown.stdout
    assert f"cost {dollars(cost)}" in shown.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--max-cost", "-1"), "--max-cost takes dollars, 0 or more"),
        (("--max-cost", "nan"), "--max-cost takes dollars, 0 or more"),
        (("--max-cost", "1", "-m", "openai:nobody-priced-this"), "openai:nobody-priced-this"),
    ],
)
def test_bad_max_cost_is_one_line_exit_2(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}  # never reached: refused before
    done = corrigo_cli("run", TASK, *args, home=tmp_path / "home", env=env)
    assert done.returncode == 2, done.stdout
    assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "home" / "corrigo.db").exists()  # nothing was stored


def test_a_bad_price_file_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "prices.toml"
    bad.write_text('"openai:x" = { input = "cheap", output = 1 }\n')
    model = _script(tmp_path, {"solver": [fenced(FIXED)]})
    done = corrigo_cli(
        "run", TASK, "-m", model, home=tmp_path / "home", env={"CORRIGO_PRICES": str(bad)}
    )
    assert done.returncode == 2
    assert "prices.toml" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_api_takes_a_cost_budget_within_the_caps() -> None:
    caps = Budgets(max_rounds=10, max_model_calls=200, max_tokens=2_000_000)
    assert budgets_within(BudgetsIn(max_cost=0.5), caps).max_cost == 0.5
    assert budgets_within(BudgetsIn(), caps).max_cost is None
    capped = caps.model_copy(update={"max_cost": 1.0})
    assert budgets_within(BudgetsIn(), capped).max_cost == 1.0
    from corrigo.serve.schemas import ApiError

    with pytest.raises(ApiError, match=r"cap of 1\.0"):
        budgets_within(BudgetsIn(max_cost=2.0), capped)


# --- bench reports ----------------------------------------------------------------------


async def test_bench_reports_cost_and_cost_per_solved_task(
    tmp_path: Path, settings: Settings
) -> None:
    settings = _priced(settings)
    good: dict[str, Any] = {}
    bad: dict[str, Any] = {}
    for i in range(2):
        p = problem(f"HumanEval/{i}")
        good[p["task_id"]] = {"solver": [fenced(p["prompt"] + p["canonical_solution"])]}
        bad[p["task_id"]] = {"solver": [fenced(p["prompt"] + broken_solution(p["task_id"]))]}
    models = [
        f"scripted:{write_script(tmp_path / f'{name}.yaml', {'model': name, 'tasks': tasks})}"
        for name, tasks in (("good", good), ("bad", bad))
    ]
    report = await corrigo.run_bench(
        suite="humaneval[:2]", strategies=["single"], models=models, settings=settings
    )
    solved, unsolved = report.cells
    assert (solved.final_passed, unsolved.final_passed) == (2, 0)
    assert solved.cost is not None and solved.cost > 0
    assert solved.cost_per_solved == pytest.approx(solved.cost / 2)
    assert unsolved.cost is not None and unsolved.cost_per_solved is None
    markdown = report.to_markdown()
    header = next(line for line in markdown.splitlines() if line.startswith("| strategy"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith("| single")
    ]
    at = columns.index("$/solved")
    assert [row[at] for row in rows] == [dollars(solved.cost / 2), "–"]
    assert rows[0][columns.index("cost")] == dollars(solved.cost)
    data = json.loads(report.to_json())
    assert data["cells"][0]["cost_per_solved"] == pytest.approx(solved.cost / 2)


def test_a_cell_with_an_unpriced_run_reports_its_cost_as_unknown() -> None:
    def outcome(task: str, cost: float | None, passed: bool) -> Outcome:
        return Outcome(
            run_id=f"run_{task}",
            task_id=task,
            stop_reason="verified" if passed else "budget_exhausted",
            budget=None if passed else "cost",
            hidden_passed=passed,
            totals=Totals(model_calls=1, cost=cost),
        )

    known = summarize("single", "m", "b", [outcome("a", 0.25, True), outcome("b", 0.5, False)])
    assert known.cost == 0.75 and known.cost_per_solved == 0.75
    assert known.budgets == {"cost": 1}
    unknown = summarize("single", "m", "b", [outcome("a", None, True), outcome("b", 0.5, True)])
    assert unknown.cost is None and unknown.cost_per_solved is None
