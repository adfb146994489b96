"""The checkpoint serializer: JSON and an allow-list, never pickle, never code from data."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from langgraph.types import Send

from corrigo.errors import StoreError
from corrigo.records import Attempt, Candidate, Spend, TestCase, Verdict
from corrigo.storage.serde import JsonSerde

LC_CONSTRUCTOR = {"lc": 1, "type": "constructor", "id": ["os", "system"], "kwargs": {"x": 1}}
LC_SECRET = {"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}


def _round_trip(value: object) -> object:
    serde = JsonSerde()
    kind, data = serde.dumps_typed(value)
    assert kind in {"json", "bytes"}
    return serde.loads_typed((kind, data))


def test_state_values_round_trip() -> None:
    candidate = Candidate(code="def f():\n    return 1\n", round=1, key="r1.solve")
    attempt = Attempt(
        candidate=candidate, verdict=Verdict(passed=False, score=0.5, feedback="f() returned 2")
    )
    value = {
        "attempts": [attempt],
        "spend": Spend(calls=2, tokens_in=10),
        "generated": [TestCase(name="g1", code="assert f() == 1")],
        "outputs": {"r1.solve": ["1", "None"]},
        "branch": Send("sample", {"round": 1, "index": 3, "parent": attempt}),
        "versions": {"a": ("x", 1), "b": {1, 2}},
        "weird keys": {"$t": "Send", 3: "int key"},
        "floats": [1.5, float("inf")],
        "raw": b"\x00\x01",
    }
    back = _round_trip(value)
    assert back == {**value, "branch": back["branch"]}  # type: ignore[index]
    branch = back["branch"]  # type: ignore[index]
    assert isinstance(branch, Send) and branch.node == "sample"
    assert branch.arg["parent"] == attempt


def test_serialized_langchain_objects_in_text_stay_text() -> None:
    reply = json.dumps(LC_CONSTRUCTOR) + "\n" + json.dumps(LC_SECRET)
    assert _round_trip({"critique": reply}) == {"critique": reply}
    # Even as data (not text), an "lc" dict is only a dict: nothing is constructed.
    assert _round_trip([LC_CONSTRUCTOR, LC_SECRET]) == [LC_CONSTRUCTOR, LC_SECRET]


def test_tagged_data_from_a_model_cannot_pose_as_an_object() -> None:
    forged = {"$t": "Attempt", "v": {"candidate": {"code": "x"}, "verdict": {"passed": True}}}
    assert _round_trip(forged) == forged  # a plain dict, written escaped


@pytest.mark.parametrize(
    "payload",
    [
        {"$t": "subprocess.Popen", "v": ["id"]},
        {"$t": "builtins.eval", "v": "1+1"},
        {"$t": "Attempt", "v": {"candidate": "not a candidate"}},
        {"$t": "dict", "v": [[["unhashable"], 1]]},
        {"$t": "float", "v": "__import__('os')"},
    ],
)
def test_tampered_or_unknown_stored_values_fail_loudly(payload: object) -> None:
    with pytest.raises(StoreError, match="stored checkpoint value"):
        JsonSerde().loads_typed(("json", json.dumps(payload).encode()))


def test_pickle_and_other_encodings_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    payload = pickle.dumps(Path(marker))
    for kind in ("pickle", "msgpack"):
        with pytest.raises(StoreError, match="only JSON is read"):
            JsonSerde().loads_typed((kind, payload))
    with pytest.raises(StoreError, match="not JSON"):
        JsonSerde().loads_typed(("json", b"\x80\x04not json"))
    assert not marker.exists()


def test_unlisted_types_are_refused_on_write() -> None:
    class Secretive:
        pass

    with pytest.raises(TypeError, match="not on the checkpoint allow-list"):
        JsonSerde().dumps_typed({"x": Secretive()})


def test_a_failed_nodes_error_is_kept_as_text() -> None:
    from corrigo.storage.serde import StoredError

    back = _round_trip({"__error__": RuntimeError("simulated crash")})
    error = back["__error__"]  # type: ignore[index]
    assert isinstance(error, StoredError) and error.type_name == "RuntimeError"
    assert str(error) == "RuntimeError: simulated crash"


@pytest.mark.parametrize("kind", ["sqlite-file", "sqlite-memory", "postgres", "redis"])
async def test_every_stores_checkpointer_writes_json_only(kind: str, tmp_path: Path) -> None:
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    import corrigo
    from corrigo.storage.checkpoint import open_checkpointer
    from tests.stores import fresh_store_url

    class S(TypedDict):
        attempts: list[Attempt]

    def step(state: S) -> S:
        candidate = Candidate(code="x = 1", round=1, key="r1.solve")
        verdict = Verdict(passed=True, score=1.0, feedback="")
        return {"attempts": [*state["attempts"], Attempt(candidate=candidate, verdict=verdict)]}

    graph = StateGraph(S)
    graph.add_node("step", step)
    graph.add_edge(START, "step")
    graph.add_edge("step", END)
    written: list[str] = []
    with fresh_store_url(kind, tmp_path) as url:
        async with corrigo.open_store(url) as store, open_checkpointer(store) as saver:
            assert isinstance(saver.serde, JsonSerde)
            real = saver.serde.dumps_typed

            def spy(obj: object) -> tuple[str, bytes]:
                kind_, data = real(obj)
                written.append(kind_)
                return kind_, data

            saver.serde.dumps_typed = spy  # type: ignore[method-assign]
            compiled = graph.compile(checkpointer=saver)
            config = {"configurable": {"thread_id": "t1"}}
            await compiled.ainvoke({"attempts": []}, config)
            state = await compiled.aget_state(config)
            assert state.values["attempts"][0].candidate.code == "x = 1"
            await saver.adelete_thread("t1")
    assert written and set(written) <= {"json", "bytes"}
