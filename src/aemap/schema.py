"""JSON-schema validation with messages that name the offending key by its
dotted path (``prepared.mnist.splitt``), for config.yaml and the registry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """A configuration document does not match its schema."""


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML config file as a dict; a syntax error names the file, line and column."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file: {err}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{where}: YAML syntax error: {problem}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a config file holds a mapping of keys, not {type(doc).__name__}")
    return doc


def load_schema(path: str | os.PathLike[str]) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def schema_errors(doc: Any, schema: dict[str, Any], limit: int = 10) -> list[str]:
    """One line per violation, ``dotted.path: message``, deepest first within a path."""
    validator = jsonschema.Draft202012Validator(schema)
    lines = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        # For oneOf/anyOf failures the most specific sub-error says what is wrong.
        best = jsonschema.exceptions.best_match([err])
        path = ".".join(str(p) for p in best.absolute_path) or "(top level)"
        lines.append(f"{path}: {best.message}")
    return lines[:limit]


def check(doc: Any, schema: dict[str, Any], origin: str) -> None:
    """Raise :class:`ConfigError` listing every violation of ``schema`` in ``doc``."""
    errors = schema_errors(doc, schema)
    if errors:
        raise ConfigError(f"{origin}: invalid configuration:\n  " + "\n  ".join(errors))
