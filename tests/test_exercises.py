"""Exercises: the feedback of a check (not attempted, failed with the first case, error, passed), tiered hints
shown only on request, check_against on generated cases, and saving a passing function for the capstone."""

from __future__ import annotations

import re

import pytest

from labkit.errors import ContractError, ExerciseFailed
from labkit.course import cases, hints, saved
from labkit.course.exercises import STRICT_ENV, Exercises, Status


@pytest.fixture(autouse=True)
def lenient(monkeypatch, tmp_path):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    monkeypatch.setenv(saved.MINE_ENV, str(tmp_path / "mine"))


def double(x):
    return 2 * x


def wrong_double(x):
    return 2 * x if x < 3 else 0


def stub(x):
    raise NotImplementedError("your code here")


def crashes(x):
    return {}[x]


def test_check_reports_the_first_failing_case_with_expected_and_got():
    ex = Exercises("nb", total=2)
    result = ex.check("double", wrong_double, [(1, 2), (3, 6), (4, 8)], hints=["a", "b", "c"])
    assert (result.status, result.call, result.expected, result.got) == (Status.FAILED, "wrong_double(3)", 6, 0)
    assert ex.passed == set() and result.done == 0
    ok = ex.check("double", double, [(1, 2), (3, 6)])
    assert ok.passed and ok.done == 1 and ex.progress == "1 of 2 exercises done in nb"


def test_a_stub_is_not_attempted_and_a_crash_is_an_error():
    ex = Exercises("nb", total=1)
    assert ex.check("s", stub, [(1, 2)]).status is Status.NOT_ATTEMPTED
    error = ex.check("c", crashes, [(1, 2)])
    assert error.status is Status.ERROR and error.got == "KeyError: 1" and error.call == "crashes(1)"


def test_hint_is_a_one_tier_list_and_hints_default_to_the_catalogue():
    ex = Exercises("00-welcome", total=1)
    assert ex.check("x", wrong_double, [(3, 6)], hint="one").hints == ("one",)
    assert ex.check("sha256_hex", wrong_double, [(3, 6)]).hints == hints.tiers("sha256_hex")
    assert len(hints.tiers("sha256_hex")) == 3
    assert ex.check("nothing known", wrong_double, [(3, 6)]).hints == ()


def test_hints_are_folded_one_per_tier_and_hidden_once_passed():
    ex = Exercises("nb", total=1)
    failed = ex.check("double", wrong_double, [(3, 6)], hints=["nudge <b>", "method", "near"])
    page = failed._repr_html_()
    assert page.count("<details") == 3 and "open" not in page
    assert re.findall(r"<summary>(.*?)</summary>", page) == ["Hint 1 of 3", "Hint 2 of 3", "Hint 3 of 3"]
    assert "nudge &lt;b&gt;" in page  # the learner's and our text is escaped
    assert "hint 1 of 3: nudge <b>" in repr(failed)
    passed = ex.check("double", double, [(3, 6)], hints=["nudge", "method", "near"])
    assert "<details" not in passed._repr_html_() and "nudge" not in repr(passed)


def test_not_attempted_offers_the_hints_folded_but_the_text_report_does_not_print_them():
    result = Exercises("nb", total=1).check("s", stub, [(1, 2)], hints=["nudge"])
    assert "<summary>Hint 1 of 1</summary>" in result._repr_html_()
    assert "nudge" not in repr(result)


def test_strict_mode_raises_on_a_wrong_answer_only(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    ex = Exercises("nb", total=1)
    assert ex.check("s", stub, [(1, 2)]).status is Status.NOT_ATTEMPTED
    with pytest.raises(ExerciseFailed, match="expected 6"):
        ex.check("double", wrong_double, [(3, 6)])
    with pytest.raises(ExerciseFailed, match="KeyError"):
        ex.check_against("c", crashes, double, [1], keep=False)


def test_check_against_shows_the_first_case_where_the_learner_and_labkit_disagree():
    ex = Exercises("nb", total=1)
    result = ex.check_against("double", wrong_double, double, [(1,), (2,), 5, (7,)], keep=False)
    assert (result.status, result.call, result.expected, result.got) == (Status.FAILED, "wrong_double(5)", 10, 0)
    passed = ex.check_against("double", double, double, range(50), keep=False)
    assert passed.passed and passed.cases == 50 and "(50 cases)" in repr(passed)


def test_check_against_expects_the_same_exception_class_where_the_reference_raises():
    def refuses(x):
        if x < 0:
            raise ContractError("negative")
        return x

    def lets_through(x):
        return x

    def refuses_wrongly(x):
        if x < 0:
            raise ValueError("no")  # ContractError is a ValueError, not the other way round
        return x

    ex = Exercises("nb", total=1)
    assert ex.check_against("r", refuses, refuses, [1, -1], keep=False).passed
    failed = ex.check_against("r", lets_through, refuses, [1, -1], keep=False)
    assert failed.status is Status.FAILED and repr(failed.expected) == "raises ContractError: negative" and failed.got == -1
    assert ex.check_against("r", refuses_wrongly, refuses, [1, -1], keep=False).status is Status.FAILED
    assert ex.check_against("r", stub, refuses, [1], keep=False).status is Status.NOT_ATTEMPTED


def test_check_against_with_call_runs_an_operation_on_a_copy():
    state = {"nfts": {}}
    case = (state, {"action": "transfer_nft"}, None)
    result = Exercises("nb", total=1).check_against(
        "transfer_nft", cases.transfer_nft_reference, cases.transfer_nft_reference, [case], call=cases.state_after,
        keep=False)
    assert result.passed and state == {"nfts": {}}


def test_a_passing_function_is_kept_and_a_failing_one_is_not(tmp_path):
    ex = Exercises("nb", total=1)
    assert ex.check_against("double", wrong_double, double, [3]).status is Status.FAILED
    assert saved.load("double") is None
    result = ex.check_against("double", double, double, [1, 2, 3])
    assert result.saved == str(tmp_path / "mine" / "double.py")
    assert saved.load("double")(21) == 42
    assert ex.check("other", double, [(1, 2)]).saved == ""  # check() keeps nothing


def test_keep_false_saves_nothing():
    Exercises("nb", total=1).check_against("double", double, double, [1], keep=False)
    assert saved.names() == []


def test_a_case_with_a_label_is_shown_by_its_label_and_unpacks_like_its_arguments():
    labelled = [cases.Case((1,), "one"), cases.Case((5,), "case 1 of 2: five, in words")]
    result = Exercises("nb", total=1).check_against("double", wrong_double, double, labelled, keep=False)
    assert result.call == "wrong_double: case 1 of 2: five, in words" and (result.expected, result.got) == (10, 0)
    assert double(*labelled[1]) == 10 and len(labelled[1]) == 1


def test_long_arguments_are_shown_up_to_300_characters():
    text = "x" * 250
    result = Exercises("nb", total=1).check_against("len", lambda s: 0, len, [text], keep=False)
    assert repr(text) in result.call


def test_a_written_function_that_calls_an_unfinished_stub_says_which():
    def uses_stub(x):
        return stub(x) + 1

    result = Exercises("nb", total=1).check_against("uses", uses_stub, double, [1], keep=False)
    assert result.status is Status.NOT_ATTEMPTED and result.call == "stub()"
    assert "it calls stub(), which still raises NotImplementedError" in repr(result)
    own = Exercises("nb", total=1).check("s", stub, [(1, 2)])
    assert own.call == "" and "replace `raise NotImplementedError`" in repr(own)


def test_the_status_is_an_enum_whose_word_the_report_uses():
    ex = Exercises("00-welcome", total=2)
    passed = ex.check("double", double, [(2, 4)])
    failed = ex.check("twice", wrong_double, [(5, 10)])
    assert (passed.status, failed.status) == (Status.PASSED, Status.FAILED) and passed.passed and not failed.passed
    assert "✅ double: passed" in repr(passed) and 'data-status="failed"' in failed._repr_html_()
    assert passed.status.value == "passed" and failed.status.value == "failed"


def test_a_notebooks_exercise_count_comes_from_the_registry():
    from labkit.course.registry import in_notebook

    assert Exercises("03-proof-of-work").total == len(in_notebook("03-proof-of-work")) == 4
    assert Exercises("99-not-a-notebook").total == 0 and Exercises("nb", total=2).total == 2
