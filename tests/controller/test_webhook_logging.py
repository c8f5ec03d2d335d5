"""A refusal is the user's mistake: kopf's ERROR line for it is dropped, the controller's own INFO line stays."""

import logging

from dask_kubeflow.controller.webhooks import MUTATE_ID, VALIDATE_ID, refusals_are_not_errors


def record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)


def test_kopfs_error_line_for_a_refusal_is_dropped():
    for handler in (VALIDATE_ID, MUTATE_ID):
        line = f"Webhook '{handler}' failed permanently: tier 'default' allows at most 2 workers"
        assert refusals_are_not_errors(record(line)) is False


def test_everything_else_kopf_logs_is_kept():
    kept = [
        "Handler 'reconcile' failed permanently: boom",
        "Webhook 'someone-elses' failed permanently: no",
        "Webhook 'validate-dask' failed temporarily: cannot count",
        "Request attempt #1/9 failed; will retry",
    ]
    for line in kept:
        assert refusals_are_not_errors(record(line)) is True


def test_the_filter_works_on_the_kopf_logger(caplog):
    logger = logging.getLogger("kopf.objects")
    logger.addFilter(refusals_are_not_errors)
    try:
        with caplog.at_level(logging.INFO, logger="kopf.objects"):
            logger.error("Webhook 'validate-dask' failed permanently: refused")
            logger.error("Handler 'x' failed permanently: real trouble")
    finally:
        logger.removeFilter(refusals_are_not_errors)
    assert [r.getMessage() for r in caplog.records] == ["Handler 'x' failed permanently: real trouble"]
