"""connect()'s word on the namespace's budget (docs/hibernation.md, "Budgets").

One read of the controller's usage record (a LIST of ConfigMap ``dask-kubeflow-usage`` by name, sent
alongside the first reads of connect(), so a connect costs no extra round trip): a spent or nearly
spent budget is one line on stderr with the figures and whom to ask; asking to wait for more workers
than a spent budget lets start fails at once (``BudgetSpentError``) instead of at the timeout. The
record is advice: when it is missing, forbidden, malformed or slow, connect() says nothing and goes on
(``cluster_api.usage_record`` logs why at debug).
"""

from __future__ import annotations

import concurrent.futures
import logging
import sys

from ..kube.usage_record import BudgetNotice, budget_notice
from .cluster_api import api_timeout, submit, usage_record
from .errors import BudgetSpentError

__all__ = ["BudgetCheck", "ANNOUNCE_WAIT"]

ANNOUNCE_WAIT = 1.0
"""Seconds connect() may wait, after it found the scheduler, for a record read still under way."""

log = logging.getLogger("dask_kubeflow")


class BudgetCheck:
    """The usage record read started at once; ``announce`` and ``enforce`` use its answer."""

    def __init__(self, name: str, namespace: str) -> None:
        self.name, self.namespace = name, namespace
        self._read = submit(usage_record(namespace))
        self._said = False

    def notice(self, wait: float) -> BudgetNotice | None:
        """The budget notice, waiting up to ``wait`` seconds for the read; None when there is nothing to say."""
        try:
            return budget_notice(self._read.result(timeout=max(wait, 0.0)))
        except concurrent.futures.TimeoutError:
            log.debug("namespace %s: usage record not read within %.1f s; saying nothing", self.namespace, wait)
        except Exception as err:  # usage_record never raises; the bounded wrapper's timeout might
            log.debug("namespace %s: usage record not read (%s)", self.namespace, err)
        return None

    def announce(self, wait: float = ANNOUNCE_WAIT) -> None:
        """Say once, on stderr, that the budget is spent or nearly spent."""
        notice = self.notice(wait)
        if notice is not None and not self._said:
            self._said = True
            print(f"dask-kubeflow: {notice.message}", file=sys.stderr)

    def enforce(self, wanted_workers: int, timeout: float) -> None:
        """Raise ``BudgetSpentError`` when the spent budget holds the autoscaler below ``wanted_workers``."""
        notice = self.notice(min(timeout, api_timeout()))
        if notice is not None and notice.blocks(wanted_workers):
            raise BudgetSpentError(self.name, self.namespace, wanted_workers, notice.message, notice.fix)
