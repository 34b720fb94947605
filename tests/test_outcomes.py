"""A verdict has a kind, written to judge.json and read back; the old words are read once."""

from __future__ import annotations

import json

import pytest

from pgcourse.grading.gradebook import read_flags
from pgcourse.grading.outcomes import Kind, Verdict


@pytest.mark.parametrize("kind", list(Kind))
def test_a_verdict_survives_judge_json(kind):
    verdict = Verdict(kind, "test_log_prob on the judge's input 2: wrong values")
    assert Verdict.from_json(json.loads(json.dumps(verdict.to_json()))) == verdict


def test_the_flags_of_an_older_judge_json_are_read_by_their_words(tmp_path):
    path = tmp_path / "judge.json"
    old = {
        "test_a": "tampering suspected: log_prob on the judge's input 1: wrong values",
        "test_b": "not checked: the submission's time limit (--timeout) ran out first",
        "test_c": "not confirmed: training took 70 s; the budget is 60 s",
    }
    path.write_text(json.dumps({"flagged": old}))
    assert read_flags(path) == {
        "test_a": Verdict(Kind.TAMPERING, "log_prob on the judge's input 1: wrong values"),
        "test_b": Verdict(
            Kind.NOT_CHECKED, "the submission's time limit (--timeout) ran out first"
        ),
        "test_c": Verdict(Kind.UNCONFIRMED, "training took 70 s; the budget is 60 s"),
    }
    path.write_text(json.dumps({"tampering_suspected": ["test_a"]}))  # the oldest form
    assert read_flags(path) == {"test_a": Verdict(Kind.TAMPERING)}
    assert {str(flag) for flag in read_flags(path).values()} == {"tampering suspected"}
