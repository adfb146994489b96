"""The ``refine`` strategy: solve → verify → (review → refine → verify)* → score.

The loop stops when the visible tests pass (``verified``), when a budget runs out
(``budget_exhausted``), when the refiner repeats an earlier candidate (``no_progress``)
or when a model call fails (``error``). It keeps the best candidate by visible score
(an earlier one wins ties), and only then scores it — and the first round's candidate,
for flip counts — on the hidden tests. Every node stores its step before returning.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from langgraph.graph import END, START, StateGraph

from corrigo.agents.base import ask, with_candidate
from corrigo.agents.extract import extract_code
from corrigo.agents.refiner import refiner_messages
from corrigo.agents.reviewer import reviewer_messages
from corrigo.agents.solver import solver_messages
from corrigo.agents.verifier import verify
from corrigo.graphs.state import LoopState
from corrigo.models import ChatModel
from corrigo.records import Budgets, Limits, Message, Review, Step, Verdict
from corrigo.sandbox.base import Sandbox
from corrigo.storage.base import TrajectoryStore


def _over_budget(state: LoopState, budgets: Budgets, calls_needed: int) -> bool:
    return (
        state["calls"] + calls_needed > budgets.max_model_calls
        or state["tokens_in"] + state["tokens_out"] >= budgets.max_tokens
        or time.time() - state["started"] >= budgets.max_seconds
    )


def build_refine(
    roles: Mapping[str, ChatModel],
    sandbox: Sandbox,
    store: TrajectoryStore,
    budgets: Budgets,
    *,
    limits: Limits | None = None,
    max_rounds: int | None = None,
) -> StateGraph:
    """A graph for the ``refine`` strategy; compile it with the checkpointer you want."""
    limits = limits or Limits()
    rounds = max_rounds or budgets.max_rounds

    async def model_step(
        state: LoopState, role: str, node: str, messages: list[Message], round_: int
    ) -> tuple[str | None, Step, dict[str, Any]]:
        task = state["task"]
        result = await ask(
            roles[role],
            messages,
            run_id=state["run_id"],
            seq=state["seq"] + 1,
            round=round_,
            role=role,
            node=node,
            task_id=task.id,
        )
        update: dict[str, Any] = {
            "seq": state["seq"] + 1,
            "calls": state["calls"] + 1,
            "tokens_in": state["tokens_in"] + result.step.usage.tokens_in,
            "tokens_out": state["tokens_out"] + result.step.usage.tokens_out,
        }
        if result.error is not None:
            await store.append_step(result.step)
            update.update(stop_reason="error", error=f"{role}: {result.error}")
        return result.text, result.step, update

    async def propose(
        state: LoopState, role: str, messages: list[Message], round_: int
    ) -> dict[str, Any]:
        text, step, update = await model_step(state, role, role, messages, round_)
        if text is None:
            return update
        step, candidate = with_candidate(step, extract_code(text, state["task"].entry_point))
        await store.append_step(step)
        update.update(candidate=candidate, round=round_)
        if candidate.extracted and candidate.code in state["codes"]:
            update["stop_reason"] = "no_progress"
        update["codes"] = [*state["codes"], candidate.code]
        return update

    async def solve(state: LoopState) -> dict[str, Any]:
        if _over_budget(state, budgets, 1):
            return {"stop_reason": "budget_exhausted"}
        return await propose(state, "solver", solver_messages(state["task"]), 1)

    async def check(state: LoopState) -> dict[str, Any]:
        candidate = state["candidate"]
        assert candidate is not None
        started = time.perf_counter()
        verdict = await verify(sandbox, state["task"], candidate, limits)
        spent = time.perf_counter() - started
        seq = state["seq"] + 1
        await store.append_step(
            Step(
                run_id=state["run_id"],
                seq=seq,
                round=state["round"],
                role="verifier",
                node="verify",
                kind="exec",
                candidate=candidate,
                verdict=verdict,
            )
        )
        update: dict[str, Any] = {
            "seq": seq,
            "verdict": verdict,
            "sandbox_seconds": state["sandbox_seconds"] + spent,
        }
        best_verdict = state["best_verdict"]
        if best_verdict is None or verdict.score > best_verdict.score:
            update.update(best=candidate, best_verdict=verdict)
        if state["round"] == 1:
            update.update(first=candidate, first_verdict=verdict)
        if verdict.passed:
            update["stop_reason"] = "verified"
        elif state["round"] >= rounds or _over_budget(state, budgets, 2):
            update["stop_reason"] = "budget_exhausted"
        return update

    async def review(state: LoopState) -> dict[str, Any]:
        candidate, verdict = state["candidate"], state["verdict"]
        assert candidate is not None and verdict is not None
        messages = reviewer_messages(state["task"], candidate, verdict)
        text, step, update = await model_step(state, "reviewer", "review", messages, state["round"])
        if text is not None:
            await store.append_step(step)
            update["review"] = Review(critique=text, verdict=verdict)
        return update

    async def refine(state: LoopState) -> dict[str, Any]:
        candidate, critique = state["candidate"], state["review"]
        assert candidate is not None and critique is not None
        messages = refiner_messages(state["task"], candidate, critique)
        return await propose(state, "refiner", messages, state["round"] + 1)

    async def score(state: LoopState) -> dict[str, Any]:
        task, seq = state["task"], state["seq"]
        update: dict[str, Any] = {}
        scored: dict[str, Verdict] = {}
        for key, candidate in (("hidden", state["best"]), ("first_hidden", state["first"])):
            if candidate is None or not task.hidden_tests:
                continue
            cached = scored.get(candidate.code)
            if cached is None:
                cached = await verify(sandbox, task, candidate, limits, hidden=True)
                scored[candidate.code] = cached
                seq += 1
                await store.append_step(
                    Step(
                        run_id=state["run_id"],
                        seq=seq,
                        round=candidate.round,
                        role="scorer",
                        node="score",
                        kind="exec",
                        candidate=candidate,
                        verdict=cached,
                    )
                )
            update[key] = cached
        update["seq"] = seq
        if state.get("stop_reason") is None:
            update["stop_reason"] = "budget_exhausted"
        return update

    def after_propose(state: LoopState) -> str:
        if state.get("stop_reason") or state.get("candidate") is None:
            return "score"
        return "verify"

    def after_verify(state: LoopState) -> str:
        return "score" if state.get("stop_reason") else "review"

    def after_review(state: LoopState) -> str:
        return "score" if state.get("stop_reason") else "refine"

    graph = StateGraph(LoopState)
    graph.add_node("solve", solve)
    graph.add_node("verify", check)
    graph.add_node("review", review)
    graph.add_node("refine", refine)
    graph.add_node("score", score)
    graph.add_edge(START, "solve")
    graph.add_conditional_edges("solve", after_propose, ["verify", "score"])
    graph.add_conditional_edges("verify", after_verify, ["review", "score"])
    graph.add_conditional_edges("review", after_review, ["refine", "score"])
    graph.add_conditional_edges("refine", after_propose, ["verify", "score"])
    graph.add_edge("score", END)
    return graph


def recursion_limit(max_rounds: int) -> int:
    return 4 * max_rounds + 10
