"""One progress display: plain periodic lines in a pipe, a bar on a terminal."""

import io
import re
import threading

from rich.console import Console

from dask_kubeflow.demo.progress import ProgressDisplay


def pipe() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, force_jupyter=False, width=120), out


def test_in_a_pipe_it_prints_start_periodic_and_end_lines():
    console, out = pipe()
    display = ProgressDisplay(console, interval=0.01)
    assert not display.bar
    ticked = threading.Event()
    original = console.print

    def spy(*args, **kwargs):
        original(*args, **kwargs)
        if "2/4 shards" in out.getvalue():
            ticked.set()

    console.print = spy
    with display.phase("terms: distributed, 2×1", 4) as advance:
        workers = [threading.Thread(target=advance, args=(1,)) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert ticked.wait(30)  # a periodic line went out while the phase ran
        advance(2)
    lines = out.getvalue().splitlines()
    assert lines[0] == "terms: distributed, 2×1: started, 4 shards (0 s)"
    assert re.fullmatch(r"terms: distributed, 2×1: done, 4/4 shards \(\d+ s\)", lines[-1])
    assert all("\x1b" not in line for line in lines)  # no escape codes in a log


def test_on_a_terminal_it_is_a_bar_and_leaves_nothing_behind():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    display = ProgressDisplay(console)
    assert display.bar
    with display.phase("serial", 3) as advance:
        advance(3)
    assert "started" not in out.getvalue()


def test_jupyter_gets_plain_lines():
    out = io.StringIO()
    assert not ProgressDisplay(Console(file=out, force_jupyter=True)).bar
