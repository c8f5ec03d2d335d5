"""What is wrong with a policy: one problem per field, and the error listing them all (pure)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PolicyError", "PolicyProblem"]


@dataclass(frozen=True)
class PolicyProblem:
    source: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.path}: {self.message}" if self.path else f"{self.source}: {self.message}"


class PolicyError(ValueError):
    """A policy file that cannot be used. Lists every problem; nothing of the file is loaded."""

    def __init__(self, problems: list[PolicyProblem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the policy is invalid ({len(problems)} problem(s)); nothing was loaded:\n{lines}")
