"""What the demo prints: the top terms, what was read, and the timings table. Pure (rich renderables)."""

from __future__ import annotations

from rich.table import Table

from .compare import Row, speed_up, winner
from .nlp import Summary
from .sketch import SketchSummary


def terms_table(summary: Summary) -> Table:
    table = Table(title="Top terms and bigrams", title_justify="left")
    for column in ("#", "term", "count", "bigram", "count"):
        table.add_column(column, justify="right" if column in ("#", "count") else "left")
    for rank, ((term, tc), (bigram, bc)) in enumerate(zip(summary.top_terms, summary.top_bigrams), 1):
        table.add_row(str(rank), term, f"{tc:,}", bigram, f"{bc:,}")
    return table


def read_line(summary: Summary) -> str:
    """What was read: sizes, the scripts the tokens are written in, undecodable bytes."""
    scripts = ", ".join(f"{name} {share:.0%}" for name, share in summary.scripts[:4] if share >= 0.005)
    line = (f"{summary.documents:,} documents, {summary.tokens:,} tokens, vocabulary {summary.vocabulary:,} terms, "
            f"{summary.bigram_types:,} distinct bigrams")
    if scripts:
        line += f"; scripts: {scripts}"
    if summary.replaced:
        line += f"; {summary.replaced:,} undecodable byte(s) read as \ufffd (the files are not all UTF-8)"
    return line


def sketch_line(summary: SketchSummary) -> str:
    return (f"MinHash: {summary.documents:,} documents, {summary.permutations} hashes each, "
            f"{summary.near_duplicate_pairs:,} likely near-duplicate pair(s)")


def timings_table(rows: list[Row], title: str = "Same work, same data") -> Table:
    """One row per run; layout is worker processes × threads each; ★ marks each workload's fastest."""
    table = Table(title=title, title_justify="left", caption="layout: worker processes × threads each; ★ fastest",
                  caption_justify="left")
    for column in ("workload", "run", "layout", "seconds", "docs/s", "× serial", ""):
        table.add_column(column, justify="left" if column in ("workload", "run", "") else "right")
    for row in rows:
        ratio = speed_up(rows, row)
        best = winner(rows, row.workload) is row and len([r for r in rows if r.workload is row.workload]) > 1
        documents = row.documents
        table.add_row(row.workload.key, row.run, row.shape, f"{row.seconds:.2f}",
                      f"{documents / row.seconds:,.0f}" if documents and row.seconds > 0 else "—",
                      f"{ratio:.2f}×" if ratio else "—", "★" if best else "")
    return table
