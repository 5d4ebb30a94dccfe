"""Round-trip YAML for profiles: comments, key order and quoting survive a load and dump.

One configuration of ruamel.yaml for every reader and writer of profiles, so that an edit
made through the config store changes only the lines it must.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq


def new_yaml() -> YAML:
    """A round-trip YAML instance with the profile layout (2-space maps, indented lists)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load_document(text: str) -> Any:
    """Parse profile text into a round-trip document (raises ruamel's YAMLError)."""
    return new_yaml().load(text)


def dump_document(document: Any) -> str:
    """Serialize a round-trip document back to text."""
    stream = io.StringIO()
    new_yaml().dump(document, stream)
    return stream.getvalue()


def to_plain(node: Any) -> Any:
    """Copy a round-trip document into plain dicts, lists and scalars for validation."""
    if isinstance(node, CommentedMap | dict):
        return {str(key): to_plain(value) for key, value in node.items()}
    if isinstance(node, CommentedSeq | list):
        return [to_plain(item) for item in node]
    if isinstance(node, bool) or node is None:
        return node
    for plain in (int, float, str):
        if isinstance(node, plain):
            return plain(node)
    return node
