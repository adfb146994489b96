"""Code extraction from every shape of reply, and program assembly."""

from __future__ import annotations

import pytest

from corrigo.agents.extract import assemble_program, extract_code
from corrigo.records import Task

F1 = "def f(x):\n    return x + 1"
F2 = "def f(x):\n    return x + 2"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (f"```python\n{F1}\n```", F1),
        (f"```py\n{F1}\n```", F1),
        (f"```\n{F1}\n```", F1),
        (F1, F1),
        (f"Sure, here you go:\n\n{F1}\n\nThis adds one to x.", F1),
        (f"First try:\n```python\n{F1}\n```\nBetter:\n```python\n{F2}\n```\nDone.", F2),
        (f"```python\n{F1}", F1),  # cut off by the token limit
        (f"```python\nimport math\n```\n```python\n{F2}\n```", "import math\n\n" + F2),
        (f"```bash\npip install x\n```\n```python\n{F1}\n```", F1),
    ],
)
def test_extracts_code(reply: str, expected: str) -> None:
    assert extract_code(reply, "f") == expected


@pytest.mark.parametrize("reply", ["", "I cannot help with that.", "```bash\nls\n```"])
def test_no_code_is_none(reply: str) -> None:
    assert extract_code(reply, "f") is None


def _task(preamble: str) -> Task:
    return Task(id="t", prompt="p", entry_point="f", preamble=preamble)


def test_assemble_full_function_after_preamble() -> None:
    preamble = 'import math\n\ndef f(x):\n    """Add one."""\n'
    program = assemble_program(_task(preamble), F1)
    namespace: dict[str, object] = {}
    exec(program, namespace)
    assert namespace["f"](1) == 2  # type: ignore[operator]


def test_assemble_body_only_completion() -> None:
    preamble = 'def f(x):\n    """Add one."""\n'
    program = assemble_program(_task(preamble), "    return x + 1\n")
    namespace: dict[str, object] = {}
    exec(program, namespace)
    assert namespace["f"](1) == 2  # type: ignore[operator]


def test_assemble_without_preamble_is_the_code() -> None:
    assert assemble_program(_task(""), F1) == F1


def test_example_usage_after_the_function_is_dropped() -> None:
    reply = (
        "```python\nimport math\n\nLIMIT = 10\n\n@staticmethod\ndef helper(x):\n    return x\n\n"
        "def f(x):\n    return helper(x) + 1\n\nprint(f(1))\nassert f(2) == 3\n"
        "result = f(3)\nfor i in range(3):\n    print(f(i))\n"
        "if __name__ == '__main__':\n    f(0)\n```"
    )
    assert extract_code(reply, "f") == (
        "import math\n\nLIMIT = 10\n\n@staticmethod\ndef helper(x):\n    return x\n\n"
        "def f(x):\n    return helper(x) + 1"
    )


def test_code_without_examples_is_left_as_written() -> None:
    code = "# adds one\ndef f(x):\n    # comment\n    return x + 1\n\n\nTABLE = [i * i for i in range(3)]"
    assert extract_code(f"```python\n{code}\n```", "f") == code


def test_a_pathological_reply_is_not_code_and_does_not_crash() -> None:
    reply = "```python\ndef f(x):\n    return " + "-" * 200_000 + "x\n```"
    extract_code(reply, "f")  # returns (whatever it finds) instead of raising MemoryError
    from corrigo.agents.test_designer import parse_tests

    assert parse_tests("assert f(" + "(" * 100_000 + ")", "f")[0] == []


def test_generated_tests_are_data_only() -> None:
    from corrigo.agents.test_designer import parse_tests

    reply = (
        "```python\n"
        "assert f(__import__('os').getuid()) == 0\n"
        "assert f([0] * 10**10) == 1\n"
        "assert f(x=open('/etc/passwd').read()) == ''\n"
        "assert f(1, key='a') == (lambda: 2)()\n"
        "f(eval('1'))\n"
        "assert f(-1, [1.5, 'a'], key={'k': (1, 2)}) == -2\n"
        "```"
    )
    tests, probes, dropped = parse_tests(reply, "f")
    # Only calls whose arguments and expected value are literals survive; the rest are
    # dropped and counted (the tests run on the sandbox's trusted side).
    assert probes == ["f(-1, [1.5, 'a'], key={'k': (1, 2)})"]
    assert [t.name for t in tests] == ["generated 1: f(-1, [1.5, 'a'], key={'k': (1, 2)})"]
    assert "_want = -2" in tests[0].code
    assert dropped == 4
