"""Positions of keys and values in a round-trip-parsed plan."""

from __future__ import annotations

from typing import Any


def dotted(path: tuple[str | int, ...]) -> str:
    """Given ('jobs', 'photos', 'exclude', 2), return 'jobs.photos.exclude[2]'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


class Locator:
    """Finds the 1-based line and column of a path in a ruamel round-trip document."""

    def __init__(self, root: Any) -> None:
        self.root = root

    def locate(self, path: tuple[str | int, ...], *, at_key: bool = False) -> tuple[int, int]:
        """Return the position of the deepest node `path` reaches: the value of a scalar (or the key when
        `at_key`), the key of a mapping or list, or the parent when the key is missing."""
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        node = self.root
        line, column = 0, 0
        for index, part in enumerate(path):
            last = index == len(path) - 1
            if isinstance(node, CommentedMap) and part not in node:
                # keys that YAML read as numbers or booleans are named by their text in paths
                part = next((key for key in node if str(key) == str(part)), part)
            if isinstance(node, CommentedMap) and part in node:
                child = node[part]
                scalar = not isinstance(child, CommentedMap | CommentedSeq)
                position = node.lc.value(part) if scalar and not (last and at_key) else node.lc.key(part)
                if position is not None and position[0] is not None:
                    line, column = position
                node = child
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line, column = node.lc.item(part)
                node = node[part]
            else:
                break
        return line + 1, column + 1


_STANDARD_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


def find_tag(root: Any, path: tuple[str | int, ...] = ()) -> tuple[tuple[str | int, ...], str] | None:
    """Return the path and tag of the first explicitly tagged node (`!!python/…`, `!foo`), if any.

    Plans hold plain values only; the safe loader refuses unknown tags, and the round-trip loader
    keeps them, so they are looked for here."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar

    tag = getattr(getattr(root, "tag", None), "value", None)
    if isinstance(root, TaggedScalar | CommentedMap | CommentedSeq) and tag and tag not in _STANDARD_TAGS:
        return path, str(tag).replace("tag:yaml.org,2002:", "!!")
    if isinstance(root, CommentedMap):
        for key, value in root.items():
            found = find_tag(value, (*path, key))
            if found:
                return found
    elif isinstance(root, CommentedSeq):
        for index, value in enumerate(root):
            found = find_tag(value, (*path, index))
            if found:
                return found
    return None
