"""YAML loading that remembers where every mapping key and list item came from.

Error messages must point at ``file:line``; PyYAML's plain loader forgets the marks once it
has built Python objects, so this module builds the objects from the node tree itself and keeps
each node's line on the containers it returns (the idea of tavern's loader).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from container_claims.errors import ScenarioError


class MarkedDict(dict[str, Any]):
    """A mapping that knows the 1-based line of itself and of each of its keys."""

    line: int
    key_lines: dict[str, int]


class MarkedList(list[Any]):
    """A list that knows the 1-based line of itself and of each item."""

    line: int
    item_lines: list[int]


def load_yaml(text: str, path: str) -> Any:
    """Parse one YAML document into dicts/lists that carry line numbers.

    Raises :class:`ScenarioError` (one line, with the position) for syntax errors and for
    duplicate keys, which plain YAML loaders silently accept.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _convert(loader, node, path)
    except yaml.MarkedYAMLError as exc:
        # "while scanning a quoted scalar" (context) points where the trouble starts; the
        # problem mark may lie past the end of the file.
        mark = exc.context_mark or exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        problem = "; ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ScenarioError(path, line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(path, None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: str) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves "<<" merge keys
        result = MarkedDict()
        result.line = line
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key_line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise ScenarioError(path, key_line, f"keys must be text, not {key!r}")
            if key in result:
                raise ScenarioError(
                    path, key_line, f"duplicate key {key!r} (first at line {result.key_lines[key]})"
                )
            result[key] = _convert(loader, value_node, path)
            result.key_lines[key] = key_line
        return result
    if isinstance(node, yaml.SequenceNode):
        items = MarkedList(_convert(loader, item, path) for item in node.value)
        items.line = line
        items.item_lines = [item.start_mark.line + 1 for item in node.value]
        return items
    return loader.construct_object(node, deep=True)


def line_of(document: Any, path: Sequence[str | int]) -> int | None:
    """The line of the deepest element of ``path`` (keys and indexes) found in ``document``."""
    line = getattr(document, "line", None)
    current = document
    for part in path:
        if isinstance(current, MarkedDict) and isinstance(part, str) and part in current:
            line = current.key_lines[part]
            current = current[part]
        elif isinstance(current, MarkedList) and isinstance(part, int) and part < len(current):
            line = current.item_lines[part]
            current = current[part]
        else:
            break
    return line
