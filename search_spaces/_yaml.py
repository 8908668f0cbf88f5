"""Strict, safe YAML: `yaml.safe_load` semantics, plus duplicate keys rejected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from search_spaces._errors import ConfigError

__all__ = ["load_yaml_file", "parse_yaml"]


class _StrictSafeLoader(yaml.SafeLoader):
    """SafeLoader (no Python tags) that refuses duplicate mapping keys instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; SafeLoader reports it itself below
                break
            if duplicate:
                line = key_node.start_mark.line + 1
                raise ConfigError(
                    f"duplicate key {key!r} at line {line}; each key may appear once.", field=str(key)
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> Any:
    """Parses YAML text safely.

    Raises:
        ConfigError: Invalid YAML (with line and column), a Python tag, a
            duplicate key or nesting too deep for the parser.
    """
    try:
        loader = _StrictSafeLoader(text)  # a SafeLoader: no Python tags, no constructors run
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        where = (
            f" at line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}"
            if exc.problem_mark
            else ""
        )
        raise ConfigError(f"invalid YAML{where}: {exc.problem}.") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}.") from exc
    except RecursionError as exc:
        raise ConfigError("the document nests too deeply to read.") from exc


def load_yaml_file(path: str | Path) -> Any:
    """Reads and parses a YAML file safely.

    Raises:
        ConfigError: The file can't be read or isn't valid YAML.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read {path}: {reason}.") from exc
    return parse_yaml(text)
