"""Math answers read from replies and compared as mathematics; hostile answers never
reach SymPy's evaluation (a factorial or a power tower would keep it busy for hours)."""

from __future__ import annotations

import pytest

from corrigo.checks.answers import canonical, check_answer, extract_answer, same_answer


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("So the total is \\boxed{18}.", "18"),
        ("First \\boxed{12}, then corrected: \\boxed{18}", "18"),
        ("#### 1,000", "1,000"),
        ("#### Step 1: count\n9 * 2 = 18\nThe answer is 18.", "18"),
        ("**Final Answer:** 18", "18"),
        ("The answer is **18**.", "18"),
        ("The answer is 18 dollars.", "18"),
        ("The answer is \u22123.", "-3"),
        ("It costs $1,234.50.", "1234.50"),
        ("\\boxed{\\frac{3}{4}}", "\\frac{3}{4}"),
        ("x = 9^{9^{9^{9}}}", None),
        ("I do not know.", None),
    ],
)
def test_final_answers_are_read_from_replies(reply: str, answer: str | None) -> None:
    assert extract_answer(reply) == answer


@pytest.mark.parametrize(
    ("expected", "given"),
    [
        ("18", "18.0"),
        ("18", "\\boxed{18}"),
        ("18", "#### 18"),
        ("1000", "1,000"),
        ("0.75", "\\frac{3}{4}"),
        ("3/4", "0.75"),
        ("12.5", "$12.50"),
        ("18", "18 eggs"),
        ("18", "18 \\text{ dollars}"),
        ("18", "18%"),
        ("-3", "\u22123"),
        ("4391", "4391.000000000001"),
        ("27", "26.999999999999996"),
    ],
)
def test_equal_answers_compare_equal_and_vote_together(expected: str, given: str) -> None:
    assert same_answer(expected, given)
    assert canonical(expected) == canonical(given)


@pytest.mark.parametrize(
    ("expected", "given"),
    [("18", "19"), ("18", "1.8"), ("4:00", "5:00"), ("18", None), ("18", "  ")],
)
def test_different_answers_differ(expected: str, given: str | None) -> None:
    assert not same_answer(expected, given)
    if given and given.strip():
        assert canonical(expected) != canonical(given)


@pytest.mark.parametrize(
    "hostile",
    ["99999999!", "(10^{99})!", "\\binom{999999999}{99999999}", "9^{9^{9^{9}}}", "2^{999}"],
)
def test_hostile_answers_are_compared_as_text_not_evaluated(hostile: str) -> None:
    # Each would run for hours in SymPy; here it returns at once.
    assert not same_answer("18", hostile)
    assert canonical(hostile) == hostile
    assert extract_answer(f"The answer is {hostile}") in (None, "99999999")
    assert check_answer(hostile) is not None
    assert check_answer("18") is None and check_answer("\\frac{1}{2}") is None
