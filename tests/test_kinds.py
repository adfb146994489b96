"""Math and instructions tasks as stories, driven by scripted models through the real
sandbox and store; intrinsic self-correction as the control that sees no signal."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

import corrigo
from corrigo.config import Settings
from corrigo.records import Instruction, Outcome, Step, Task
from tests.helpers import corrigo as corrigo_cli
from tests.helpers import fenced, write_script

# The hidden answer is written as "4,391": the solver's 4391 is the same number, and the
# text "4,391" can be looked for in every stored message.
MATH = {
    "id": "shop/1",
    "kind": "math",
    "prompt": "A shop sold 4000 pens in May and 391 more in June. How many pens did it sell?",
    "answer": "4,391",
}
LOWERCASE = {
    "id": "note/1",
    "kind": "instructions",
    "prompt": "Write one sentence about rain. Your entire response should be in English, "
    "and in all lowercase letters. No capital letters are allowed.",
    "instructions": [{"id": "change_case:english_lowercase", "kwargs": {}}],
}
PROGRAM = fenced("may = 4000\njune = 391\nprint(may + june)")


def task_file(tmp_path: Path, *tasks: dict[str, Any]) -> str:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    return f"jsonl:{path}"


def script(tmp_path: Path, replies: dict[str, list[str]], name: str = "s.yaml") -> str:
    return f"scripted:{write_script(tmp_path / name, {'model': 'story', 'replies': replies})}"


async def run(
    tmp_path: Path, settings: Settings, task: dict[str, Any], strategy: str, **kw: Any
) -> tuple[Outcome, list[Step]]:
    replies = kw.pop("replies")
    [outcome] = await corrigo.run(
        task_file(tmp_path, task),
        strategy=strategy,
        model=script(tmp_path, replies),
        settings=settings,
        **kw,
    )
    stored = await corrigo.load_run(outcome.run_id, settings=settings)
    return outcome, stored.steps


def prompts(steps: list[Step]) -> str:
    return "\n".join(m.content for s in steps for m in s.messages)


async def test_a_wrong_math_answer_is_checked_by_a_program_and_corrected(
    tmp_path: Path, settings: Settings
) -> None:
    outcome, steps = await run(
        tmp_path,
        settings,
        MATH,
        "refine",
        replies={
            "solver": ["4000 + 391 = 4381, so the shop sold \\boxed{4381} pens."],
            # The first answer disagrees with the first program, so a second one is asked.
            "checker": [PROGRAM, fenced("print(4000 + 391)")],
            "reviewer": ["The addition is wrong: 4000 + 391 is not 4381."],
            "refiner": ["4000 + 391 = 4391. The shop sold \\boxed{4391} pens."],
        },
    )
    assert outcome.stop_reason == "verified"
    assert outcome.first_round_hidden_passed is False and outcome.hidden_passed is True
    assert outcome.best is not None and outcome.best.answer == "4391"
    assert [(s.role, s.node) for s in steps] == [
        ("solver", "solver"),
        ("checker", "check"),
        ("verifier", "check"),  # the program, run in the sandbox
        ("checker", "check"),  # a second, independent program
        ("verifier", "check"),
        ("verifier", "verify"),
        ("reviewer", "review"),
        ("refiner", "refine"),
        ("verifier", "verify"),
        ("scorer", "score"),
        ("scorer", "score"),
    ]
    program_run = steps[2]
    assert program_run.verdict is not None and program_run.verdict.evidence is not None
    assert program_run.verdict.evidence.stdout.strip() == "4391"
    first_check = steps[5].verdict
    assert first_check is not None and not first_check.passed
    # The refiner is told what the program printed, and shown the program.
    refiner = steps[7].messages[-1].content
    assert "printed 4391" in refiner and "print(may + june)" in refiner
    assert "not 4381" in refiner  # the reviewer's diagnosis
    # The programs were asked without any candidate in view.
    assert "4381" not in prompts([steps[1], steps[3]])
    # The task's answer, as stored, is in no message and no feedback.
    assert "4,391" not in prompts(steps)
    assert all("4,391" not in (s.verdict.feedback if s.verdict else "") for s in steps)


async def test_instructions_feedback_names_the_broken_instruction(
    tmp_path: Path, settings: Settings
) -> None:
    outcome, steps = await run(
        tmp_path,
        settings,
        LOWERCASE,
        "refine",
        replies={
            "solver": ["Rain taps on the Window all night."],
            "reviewer": ["'Rain' and 'Window' have capital letters."],
            "refiner": ["rain taps on the window all night."],
        },
    )
    assert outcome.stop_reason == "verified"
    assert outcome.first_round_hidden_passed is False and outcome.hidden_passed is True
    assert outcome.hidden_loose_passed is True
    verify = [s for s in steps if s.node == "verify"]
    assert verify[0].verdict is not None and not verify[0].verdict.passed
    [result] = verify[0].verdict.evidence.tests  # type: ignore[union-attr]
    assert result.name == "change_case:english_lowercase" and not result.passed
    refiner = next(s for s in steps if s.node == "refine").messages[-1].content
    assert "change_case:english_lowercase" in refiner
    assert "No capital letters are allowed" in refiner
    assert "Rain, Window" in refiner  # what the checker found
    # The reply under revision is the model's own earlier turn, not quoted between marks
    # (IFEval's own <<title>> marks would read like them).
    turns = next(s for s in steps if s.node == "refine").messages
    assert [m.role for m in turns] == ["system", "user", "assistant", "user"]
    assert turns[2].content == "Rain taps on the Window all night."
    assert "<<<" not in refiner and "Rain taps" not in refiner
    assert outcome.best is not None and outcome.best.code == "rain taps on the window all night."


INTRINSIC_REPLIES = {
    "solver": ["4000 + 391 = 4391. \\boxed{4391}", "Rain taps on the Window."],
    "reviewer": ["Maybe the sum is off by ten.", "Looks fine to me."] * 2,
    "refiner": [
        "Redoing it: 4000 + 391 = 4381. \\boxed{4381}",
        "Final: \\boxed{4381}",
        "Rain taps on the window.",
        "Rain taps on the window!",
    ],
}


async def test_intrinsic_sees_no_signal_and_returns_its_last_answer(
    tmp_path: Path, settings: Settings
) -> None:
    outcome, steps = await run(
        tmp_path, settings, MATH, "intrinsic", replies=INTRINSIC_REPLIES, max_rounds=3
    )
    # The literature's finding in miniature: right first, talked out of it.
    assert outcome.first_round_hidden_passed is True and outcome.hidden_passed is False
    assert outcome.best is not None and outcome.best.answer == "4381"
    assert [s.node for s in steps if s.kind == "model"] == [
        "solver",
        "self_review",
        "self_revise",
        "self_review",
        "self_revise",
    ]
    # Nothing checked it during the run: no program, no verification; only scoring.
    assert {s.node for s in steps if s.kind == "exec"} == {"score"}
    assert not any(s.role == "checker" for s in steps)
    # Each prompt holds the task, the model's own previous answer and its own review.
    text = prompts(steps)
    for signal in ("independent", "program", "printed", "tests", "4,391", "not followed"):
        assert signal not in text.lower(), signal
    second_review = [s for s in steps if s.node == "self_review"][1].messages[-1].content
    assert "Final" not in second_review and "4381" in second_review


async def test_single_does_not_check_math_answers(tmp_path: Path, settings: Settings) -> None:
    """A check would ask the model for programs and decide nothing: the baseline is one call."""
    outcome, steps = await run(
        tmp_path, settings, MATH, "single", replies={"solver": ["\\boxed{4391}"]}
    )
    assert [(s.kind, s.node) for s in steps] == [("model", "solver"), ("exec", "score")]
    assert outcome.totals.model_calls == 1 and outcome.hidden_passed is True


async def test_intrinsic_on_instructions_shows_no_checker_output(
    tmp_path: Path, settings: Settings
) -> None:
    replies = {**INTRINSIC_REPLIES, "solver": ["Rain taps on the Window."]}
    replies["refiner"] = ["Rain taps on the window.", "rain taps on the window."]
    outcome, steps = await run(
        tmp_path, settings, LOWERCASE, "intrinsic", replies=replies, max_rounds=3
    )
    assert outcome.first_round_hidden_passed is False and outcome.hidden_passed is True
    text = prompts(steps)
    assert "change_case" not in text and "not followed" not in text and "Found:" not in text


async def test_best_of_n_votes_on_math_answers_and_stops_when_they_agree(
    tmp_path: Path, settings: Settings
) -> None:
    # Both programs are wrong (they subtract); two samples agree on 4391 as 4391.0 and 4,391.
    outcome, steps = await run(
        tmp_path,
        settings,
        MATH,
        "best_of_n(n=8,agree=2)",
        max_rounds=3,
        replies={
            "solver": [
                "It sold \\boxed{4381}.",
                "It sold 4391.0 pens. \\boxed{4391.0}",
                "#### 4,391",
                "\\boxed{12}",
                "\\boxed{13}",
            ],
            "checker": [fenced("print(4000 - 391)"), fenced("print(4000 - 392)")],
        },
    )
    samples = [s for s in steps if s.node == "sample"]
    assert len(samples) == 5  # one greedy sample, then one wave of four
    assert outcome.stop_reason == "verified"
    assert outcome.best is not None and outcome.best.answer in ("4391.0", "4,391")
    assert outcome.hidden_passed is True and outcome.first_round_hidden_passed is False


def test_self_debug_refuses_other_kinds_in_one_line(tmp_path: Path) -> None:
    done = corrigo_cli(
        "run",
        task_file(tmp_path, MATH),
        "--strategy",
        "self_debug",
        "--model",
        script(tmp_path, {"solver": ["\\boxed{1}"]}),
        home=tmp_path / "home",
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: strategy 'self_debug' takes code tasks only; task 'shop/1' is a math task"
    )
    assert not (tmp_path / "home" / "corrigo.db").exists()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ({"id": "a", "kind": "poem", "prompt": "p"}, "unknown kind 'poem'"),
        ({"id": "a", "kind": "math", "prompt": "p"}, "a math task needs its final answer"),
        ({"id": "a", "kind": "math", "prompt": "p", "answer": "  "}, "needs its final answer"),
        (
            {"id": "a", "kind": "math", "prompt": "p", "answer": "1", "entry_point": "f"},
            "unknown field(s) ['entry_point'] for a math task",
        ),
        ({"id": "a", "kind": "instructions", "prompt": "p"}, "needs a list of 'instructions'"),
        (
            {"id": "a", "kind": "instructions", "prompt": "p", "instructions": [{"id": "x:y"}]},
            "unknown instruction id 'x:y'",
        ),
        (
            {
                "id": "a",
                "kind": "instructions",
                "prompt": "p",
                "instructions": [
                    {
                        "id": "length_constraints:number_words",
                        "kwargs": {"num_words": 5, "relation": "about"},
                    }
                ],
            },
            "refuses its kwargs",
        ),
        (
            {
                "id": "a",
                "kind": "instructions",
                "prompt": "p",
                "instructions": [
                    {
                        "id": "length_constraints:number_words",
                        "kwargs": {"num_words": -5, "relation": "at least"},
                    }
                ],
            },
            "refuses kwargs ['num_words'] as given (num_words=-5",
        ),
        (
            {"id": "a", "kind": "math", "prompt": "p", "answer": "99999999!"},
            "must be a number or a short expression",
        ),
        (
            {
                "id": "a",
                "kind": "instructions",
                "prompt": "p",
                "instructions": [{"id": "length_constraints:number_words", "kwargs": {}}],
            },
            "needs kwargs ['num_words', 'relation']",
        ),
    ],
)
def test_malformed_task_files_are_refused_up_front(
    tmp_path: Path, line: dict[str, Any], reason: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(MATH) + "\n" + json.dumps(line) + "\n")
    done = corrigo_cli(
        "run",
        f"jsonl:{path}",
        "--model",
        script(tmp_path, {"solver": ["\\boxed{1}"]}),
        home=tmp_path / "home",
    )
    assert done.returncode == 2, done.stderr
    [message] = done.stderr.strip().splitlines()
    assert message.startswith(f"error: {path}:2: "), message
    assert reason in message
    assert not (tmp_path / "home" / "corrigo.db").exists()


class _Listener:
    """A loopback server that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize("backend", ["process", "bwrap", "docker"])
async def test_a_hostile_check_program_is_contained_like_candidate_code(
    tmp_path: Path, settings: Settings, backend: str
) -> None:
    marker = tmp_path / "escaped"
    listener = _Listener()
    hostile = f"""
import os, socket
for attempt in (
    lambda: open({str(marker)!r}, "w").write("out"),
    lambda: socket.create_connection(("127.0.0.1", {listener.port}), timeout=1),
    lambda: os.listdir({str(tmp_path)!r}),
):
    try:
        attempt()
        print("escaped")
    except Exception as exc:
        print("refused", type(exc).__name__)
print(4391)
"""
    try:
        outcome, steps = await run(
            tmp_path,
            settings,
            MATH,
            "refine",
            sandbox=backend,
            replies={"solver": ["\\boxed{4391}"], "checker": [fenced(hostile)]},
        )
    finally:
        listener.close()
    program_run = next(s for s in steps if s.node == "check" and s.kind == "exec")
    evidence = program_run.verdict.evidence  # type: ignore[union-attr]
    assert evidence is not None and evidence.status == "passed", evidence
    assert "escaped" not in evidence.stdout, evidence.stdout
    assert evidence.stdout.count("refused") == 3
    assert not marker.exists()
    assert listener.accepted == 0
    assert outcome.visible_passed is True  # the printed value still checks the answer


SECRET = {**MATH, "id": "shop/2", "answer": "7919"}
EVERY_ROLE = {
    "solver": ["I think it is \\boxed{12}.", "Maybe \\boxed{13}."] * 6,
    "checker": [fenced("print(100)"), fenced("print(101)")],
    "reviewer": ["BEST: 1\nFAULT: the sum is off.", "Check the sum."] * 6,
    "refiner": ["Revised: \\boxed{14}.", "Revised again: \\boxed{15}."] * 6,
    "reflector": ["Add the two months carefully."] * 6,
}


@pytest.mark.parametrize(
    "strategy",
    ["single", "refine", "reflexion", "best_of_n", "multi_agent", "tree_search", "intrinsic"],
)
async def test_no_strategy_lets_the_hidden_answer_reach_a_prompt_or_a_lesson(
    tmp_path: Path, settings: Settings, strategy: str
) -> None:
    outcome, steps = await run(
        tmp_path,
        settings,
        SECRET,
        f"{strategy}(lessons=learn)",
        replies=EVERY_ROLE,
        max_rounds=3,
    )
    assert outcome.stop_reason != "error", outcome.error
    assert outcome.hidden_passed is False
    assert len([s for s in steps if s.kind == "model"]) >= 1
    for step in steps:
        for text in (
            *(m.content for m in step.messages),
            step.output or "",
            step.verdict.feedback if step.verdict else "",
        ):
            assert "7919" not in text, (step.key, text)
    async with corrigo.open_store(settings.resolved_store_url) as store:
        notes = await store.search_lessons("", limit=50)
    assert all("7919" not in n.text for n in notes)


@pytest.mark.parametrize(
    "strategy",
    ["single", "refine", "reflexion", "best_of_n", "multi_agent", "tree_search", "intrinsic"],
)
async def test_every_strategy_takes_instructions_tasks(
    tmp_path: Path, settings: Settings, strategy: str
) -> None:
    replies = {
        "solver": ["Rain falls On the town.", "Rain falls."] * 6,
        "reviewer": ["BEST: 1\nFAULT: capitals remain.", "Capitals remain."] * 6,
        "refiner": ["Rain Falls.", "rain falls on the town."] * 6,
        "reflector": ["Write in lowercase only."] * 6,
    }
    outcome, steps = await run(
        tmp_path, settings, LOWERCASE, f"{strategy}(lessons=learn)", replies=replies
    )
    assert outcome.stop_reason != "error", outcome.error
    assert outcome.first_round_hidden_passed is False
    assert outcome.hidden_loose_passed is not None
    grounded = strategy != "intrinsic"
    # Grounded strategies show the checker's verdict to the model; intrinsic never does.
    shown = any("english_lowercase" in m.content for s in steps for m in s.messages)
    assert shown == (grounded and strategy not in ("single", "best_of_n"))


async def test_a_fresh_math_start_is_independent_and_programs_get_their_imports(
    tmp_path: Path, settings: Settings
) -> None:
    """After a revision that changes nothing, the fresh sample is told nothing of the
    check (shown the program's value, a small model copies it); programs may use
    ``Fraction`` and ``math`` without importing them, as the prompt suggests."""
    outcome, steps = await run(
        tmp_path,
        settings,
        MATH,
        "refine",
        max_rounds=3,
        replies={
            "solver": ["\\boxed{4381}", "Afresh: 4000 + 391 = 4391. \\boxed{4391}"],
            "checker": [fenced("print(Fraction(8782, 2))"), fenced("print(math.floor(4391.5))")],
            "reviewer": ["Recheck the sum."],
            "refiner": ["I keep it: \\boxed{4381}"],
        },
    )
    runs = [s for s in steps if s.node == "check" and s.kind == "exec"]
    assert [s.verdict.evidence.stdout.strip() for s in runs] == ["4391", "4391"]  # type: ignore[union-attr]
    fresh = next(s for s in steps if s.node == "fresh")
    text = prompts([fresh])
    assert "4381" not in text and "program" not in text and "4391" not in text
    assert outcome.stop_reason == "verified" and outcome.hidden_passed is True


def test_the_run_summary_counts_flips_and_loose_passes(tmp_path: Path) -> None:
    replies = {"solver": ["Rain falls on the Town."], "reviewer": ["Capitals."]}
    replies["refiner"] = ["rain falls on the town."]
    done = corrigo_cli(
        "run",
        task_file(tmp_path, LOWERCASE),
        "--strategy",
        "refine",
        "--model",
        script(tmp_path, replies),
        home=tmp_path / "home",
    )
    assert done.returncode == 0, done.stderr
    assert "incorrect→correct 1, correct→incorrect 0" in done.stdout
    assert "loose pass 1/1" in done.stdout


async def test_samples_without_an_answer_never_agree(tmp_path: Path, settings: Settings) -> None:
    outcome, steps = await run(
        tmp_path,
        settings,
        MATH,
        "best_of_n(n=5,agree=2)",
        max_rounds=2,
        replies={
            "solver": ["I am not sure.", "Hard to say.", "No idea.", "Perhaps.", "Hmm."],
            "checker": [PROGRAM],
        },
    )
    assert len([s for s in steps if s.node == "sample"]) == 5  # no early stop on non-answers
    assert outcome.stop_reason != "verified"
    assert outcome.hidden_passed is False


async def test_float_noise_in_a_program_still_agrees(tmp_path: Path, settings: Settings) -> None:
    outcome, _ = await run(
        tmp_path,
        settings,
        MATH,
        "refine",
        replies={
            "solver": ["\\boxed{4391}"],
            "checker": [fenced("print(4391 * 1.0000000000000002)")],
        },
    )
    assert outcome.stop_reason == "verified" and outcome.totals.model_calls == 2


async def test_checker_programs_stay_within_the_call_budget(
    tmp_path: Path, settings: Settings
) -> None:
    from corrigo.records import Budgets

    outcome, steps = await run(
        tmp_path,
        settings,
        MATH,
        "refine",
        budgets=Budgets(max_model_calls=2),
        replies={
            "solver": ["\\boxed{4381}"],
            "checker": [PROGRAM, PROGRAM],
            "reviewer": ["Recheck."],
            "refiner": ["\\boxed{4391}"],
        },
    )
    assert outcome.totals.model_calls <= 2
    assert outcome.stop_reason == "budget_exhausted"
    assert [s.role for s in steps if s.kind == "model"] == ["solver", "checker"]


def test_an_instructions_reply_loses_the_quote_marks_the_prompt_put_around_replies() -> None:
    from corrigo.agents.kinds import read_reply

    task = Task(
        id="q",
        kind="instructions",
        prompt="Write two words.",
        instructions=[Instruction(id="change_case:english_lowercase", kwargs={})],
    )
    code, _, extracted, flag = read_reply(task, "<<<\n<<<\nhello world\n>>>\n")
    assert (code, extracted, flag) == ("hello world", True, None)
    # Marks inside the reply, or on a line with other text, are the reply's own.
    assert read_reply(task, "<<< hello\nworld >>>")[0] == "<<< hello\nworld >>>"
    assert read_reply(task, "a\n<<<\nb")[0] == "a\n<<<\nb"
    # Nothing but marks is no reply.
    assert read_reply(task, "<<<\n>>>")[2:] == (False, "no_reply")


def test_prompt_templates_hold_turns_and_must_end_with_the_user(tmp_path: Path) -> None:
    from corrigo.agents.base import render

    messages = render("self_revise", "instructions", prompt="Write.", code="Hi.", critique="Ok.")
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1].content == "Write." and messages[2].content == "Hi."
    assert "Ok." in messages[3].content


@pytest.mark.parametrize(
    ("instruction", "reply", "found"),
    [
        (
            Instruction(id="combination:repeat_prompt", kwargs={"prompt_to_repeat": "Say hi."}),
            "Hello there.",
            "must begin with exactly 'Say hi.'; it begins with 'Hello there.'",
        ),
        (Instruction(id="combination:two_responses", kwargs={}), "one answer", "1 part(s)"),
        (
            Instruction(
                id="keywords:letter_frequency",
                kwargs={"letter": "t", "let_frequency": 2, "let_relation": "less than"},
            ),
            "Tit for tat.",
            "the letter 't' appears 4 times",
        ),
        (Instruction(id="detectable_format:title", kwargs={}), "No title.", "<<title>>"),
        (Instruction(id="startend:quotation", kwargs={}), '"half', "ends with 'f'"),
        (
            Instruction(
                id="detectable_content:number_placeholders", kwargs={"num_placeholders": 2}
            ),
            "Dear [name],",
            "1 placeholders",
        ),
    ],
)
def test_a_broken_instruction_says_what_the_reply_has(
    instruction: Instruction, reply: str, found: str
) -> None:
    from corrigo.checks.instructions import check

    [result] = check(reply, [instruction], "Write.")
    assert not result.strict
    assert found in result.detail
