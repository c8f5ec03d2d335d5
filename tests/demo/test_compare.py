"""Who won, and the one line that says why."""

from dask_kubeflow.demo.compare import Row, speed_up, verdict, winner
from dask_kubeflow.demo.report import timings_table
from dask_kubeflow.demo.workloads import SKETCH, TERMS
from rich.console import Console


def rows(workload, serial, threads, processes):
    return [Row(workload, "serial", 1, 1, serial, 100), Row(workload, "dask threads", 1, 2, threads, 100),
            Row(workload, "distributed", 2, 1, processes, 100)]


def test_processes_win_the_gil_bound_workload_and_the_line_says_why():
    table = rows(TERMS, 10.0, 11.0, 5.4)
    assert winner(table, TERMS).family == "processes"
    assert round(speed_up(table, table[2]), 2) == 1.85
    line = verdict(table, TERMS)
    assert line.startswith("terms: processes win (best threads 0.91×, best processes 1.85×)")
    assert "holds the GIL" in line


def test_threads_win_the_gil_releasing_workload():
    line = verdict(rows(SKETCH, 4.0, 2.1, 2.6), SKETCH)
    assert line.startswith("sketch: threads win") and "release the GIL" in line


def test_an_unexpected_or_serial_winner_is_said_plainly():
    assert "threads won this time, not processes" in verdict(rows(TERMS, 10.0, 6.0, 7.0), TERMS)
    assert "serial won" in verdict(rows(TERMS, 0.1, 0.3, 0.9), TERMS)


def test_the_table_marks_one_winner_per_workload():
    console = Console(width=100, record=True)
    console.print(timings_table(rows(TERMS, 10.0, 11.0, 5.4) + rows(SKETCH, 4.0, 2.1, 2.6)))
    text = console.export_text()
    assert text.count("★") == 3  # two rows and the caption
    assert "1.85×" in text and "1.90×" in text
