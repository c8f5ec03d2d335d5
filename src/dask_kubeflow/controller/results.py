"""What a reconcile reports: the changes it made, or a temporary/permanent error (kopf's names).

``reconcile`` returns :class:`Changes` when the namespace matches the policy, and raises
:class:`TemporaryError` (retry with backoff: the API did not answer, 5xx, 409, 429) or
:class:`PermanentError` (retrying the same inputs cannot help: a user's object is in the way, the
quota is too small, the name is invalid) otherwise. Both errors carry the changes made before the
failure, so status, Events and logs tell the whole story. ``Controller.process`` returns a
:class:`Result` for the work queue, as controller-runtime's ``Result{Requeue, RequeueAfter}``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Changes", "Result", "ReconcileError", "TemporaryError", "PermanentError"]


@dataclass(frozen=True)
class Changes:
    """Objects written during one reconcile, as ``Kind/name``."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    pruned: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.pruned)

    def summary(self) -> str:
        """``created A, B; removed C`` (empty when nothing changed)."""
        parts = [f"{verb} {', '.join(items)}" for verb, items in
                 (("created", self.created), ("updated", self.updated), ("removed", self.pruned)) if items]
        return "; ".join(parts)


class ReconcileError(Exception):
    """A reconcile that did not bring the namespace to the policy; ``changes`` were made anyway."""

    def __init__(self, message: str, changes: Changes = Changes()) -> None:
        super().__init__(message)
        self.message, self.changes = message, changes


class TemporaryError(ReconcileError):
    """Worth retrying as it is: the namespace is queued again with backoff."""


class PermanentError(ReconcileError):
    """Retrying the same inputs cannot help: reported, and retried only when something changes."""


@dataclass(frozen=True)
class Result:
    """What the work queue does with a namespace after ``process``: ``requeue`` — again with the
    namespace's backoff; ``requeue_after`` — again after that many seconds; neither — done until
    an event or a resync."""

    requeue: bool = False
    requeue_after: float | None = None


DONE = Result()
RETRY = Result(requeue=True)
