"""What grading found about one test cell: a kind and a detail, never a string read by prefix.

The judge's verdicts and the flags of a record are both :class:`Verdict`\\ s. The gradebook,
``judge.json``, ``grades.csv``, the wide table and the feedback read the kind; the words a
person reads (``str(verdict)``) are made from it in one place, :data:`LABELS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # the judge's check failed, and nbgrader gave no points either
    TAMPERING = "tampering"  # nbgrader gave points that the judge's check denies
    NOT_CHECKED = "not_checked"  # the judge or nbgrader could not check it (time, a crash)
    UNCONFIRMED = "unconfirmed"  # a training run outlived the wall clock's safety limit


LABELS = {
    Kind.PASSED: "passed",
    Kind.FAILED: "failed",
    Kind.TAMPERING: "tampering suspected",
    Kind.NOT_CHECKED: "not checked",
    Kind.UNCONFIRMED: "not confirmed",
}


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))  # a bool or a stray word fails here

    @property
    def passed(self) -> bool:
        return self.kind is Kind.PASSED

    def __str__(self) -> str:
        return f"{LABELS[self.kind]}: {self.detail}" if self.detail else LABELS[self.kind]

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "detail": self.detail}

    @classmethod
    def from_json(cls, value: Any) -> Verdict:
        """A verdict as ``judge.json`` holds it; the flags of files written before verdicts had
        a kind were their words, which are read here, once (unknown words: not checked)."""
        if isinstance(value, dict):
            return cls(Kind(value["kind"]), value.get("detail", ""))
        for kind, label in LABELS.items():
            if str(value).startswith(f"{label}: "):
                return cls(kind, str(value).removeprefix(f"{label}: "))
        return cls(Kind.NOT_CHECKED, str(value))
