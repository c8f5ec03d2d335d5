"""Read the clusters table back out of the gateway's HTML (the way a reader of the page sees it)."""

from __future__ import annotations

from html.parser import HTMLParser


class ClustersTable(HTMLParser):
    """rows[name] = {cell class: text}, plus ``link`` for the dashboard href; order kept in ``names``."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.names: list[str] = []
        self._row: dict[str, str] | None = None
        self._cell: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-cluster" in attrs:
            self._row = {}
            self.rows[attrs["data-cluster"]] = self._row
            self.names.append(attrs["data-cluster"])
        elif self._row is not None and tag == "td":
            self._cell = next(c for c in (attrs.get("class") or "").split() if c != "num")
            self._row.setdefault(self._cell, "")
        elif self._row is not None and tag == "a" and "dashboard" in (attrs.get("class") or ""):
            self._row["link"] = attrs["href"]

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._row is not None and self._cell is not None:
            self._row[self._cell] = " ".join((self._row[self._cell] + " " + data).split())
