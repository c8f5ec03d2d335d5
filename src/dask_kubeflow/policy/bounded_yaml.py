"""The one YAML reader of policies (``policy check``, ``render`` and the controller): bounded in bytes,
nesting and expanded size, so no policy text can take more than a little memory or a traceback.

- size: at most ``MAX_BYTES`` (a ConfigMap holds at most 1 MiB anyway);
- encoding: UTF-8 (a leading BOM is accepted); a bad byte is reported with its offset and line;
- nesting: at most ``MAX_DEPTH`` levels of mappings and lists (a policy needs about 6);
- expanded size: at most ``MAX_NODES`` values, counting every ``*alias`` as the whole subtree it
  stands for. A "billion laughs" document of a few hundred bytes stands for billions of values:
  PyYAML builds it cheaply as shared objects, but everything that walks it afterwards (validation,
  ``str()``, copies) expands it. It is refused while it is being read, before anything walks it.

Every refusal is a ``PolicyError`` naming the source, where in it, and what to do.
"""

from __future__ import annotations

from typing import Any

import yaml

from .problems import PolicyError, PolicyProblem

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "load_yaml"]

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 50_000


class _Limit(yaml.YAMLError):
    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.problem, self.problem_mark = message, mark


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer counts depth and expanded values (aliases by their subtree's size)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0
        self._weights: dict[int, int] = {}

    def _grow(self, amount: int, mark: Any) -> None:
        self._expanded += amount
        if self._expanded > MAX_NODES:
            raise _Limit(
                f"the document stands for more than {MAX_NODES:,} values (aliases count as everything they "
                f"repeat); a policy needs a few hundred. Write the values out instead of nesting *aliases", mark)

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: D401 (PyYAML's hook)
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self._grow(self._weights.get(id(node), 1), event.start_mark)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Limit(f"nested more than {MAX_DEPTH} levels deep; a policy needs about 6. Check the "
                         f"brackets and indentation", event.start_mark)
        start = self._expanded
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._grow(1, event.start_mark)
        self._weights[id(node)] = self._expanded - start
        return node


def _decode(data: bytes | str, source: str) -> str:
    if isinstance(data, str):
        size = len(data.encode("utf-8", "surrogatepass"))
        text = data
    else:
        size = len(data)
        text = ""
    if size > MAX_BYTES:
        raise PolicyError([PolicyProblem(source, "", (
            f"the file is {size:,} bytes; a policy may be at most {MAX_BYTES:,} bytes (they are a few KB). "
            f"Is this the right file?"))])
    if isinstance(data, str):
        return text
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise PolicyError([PolicyProblem(source, f"byte {err.start} (line {line})", (
            f"not UTF-8 (byte 0x{data[err.start]:02x}); save the file as UTF-8"))]) from None


def load_yaml(data: bytes | str, source: str) -> Any:
    """One YAML document, bounded as the module says; raises PolicyError."""
    text = _decode(data, source)
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # the reader refuses control characters here already
        return loader.get_single_data()
    except yaml.reader.ReaderError as err:
        line = text[: err.position].count("\n") + 1
        raise PolicyError([PolicyProblem(source, f"character {err.position} (line {line})", (
            f"not valid YAML: character #x{err.character:04x} is not allowed in YAML; "
            f"remove it (or write it as an escape like \\x00 inside double quotes)"))]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        prefix = "too large to be a policy" if isinstance(err, _Limit) else "not valid YAML"
        raise PolicyError([PolicyProblem(source, where, f"{prefix}: {problem}")]) from None
    except (ValueError, RecursionError, MemoryError) as err:  # e.g. an integer of 5,000 digits
        raise PolicyError([PolicyProblem(source, "", f"a value cannot be read: {err}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
