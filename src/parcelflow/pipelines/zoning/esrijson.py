"""Esri JSON query answers read with their rings as arrays, not as nested lists.

Parsing an ArcGIS page with :func:`json.loads` spends most of its time making a
Python list for every position and a float object for every coordinate, only
for the geometry code to flatten them again. Here each ``"rings": [...]``
block is cut out of the body (found by its key, ended before the next brace or
quote) and replaced by its number; the small remainder (attributes) is parsed
with :func:`json.loads`; the blocks are joined and read with array calls:
bracket depth by cumulative sum, numbers by one ``numpy`` conversion of the
split text.

Anything unexpected (a ``null`` or ``NaN`` inside a ring, positions of mixed
dimension, a placeholder that does not land in a geometry) makes
:func:`read_answers` return ``None``, and the caller parses the page the plain
way: the fast path never decides what a feature means, only how fast its
numbers are read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["RingBlocks", "read_answers"]

_KEY = re.compile(rb'"rings"\s*:\s*\[')
_OPEN, _CLOSE, _COMMA = ord("["), ord("]"), ord(",")
_BLANKS = b"[] \t\r\n"
# What a rings block may hold: numbers, commas, brackets, blanks.
_RING_CHARS = b"0123456789.,eE+-[] \t\r\n"
_COMMAS = re.compile(rb",{2,}")


@dataclass(frozen=True, slots=True)
class RingBlocks:
    """Every ring of a page, flattened.

    Attributes:
        coords: x, y of every position, ring after ring.
        ring_lengths: positions per ring.
        ring_block: the block (feature geometry) each ring belongs to.
        blocks: number of blocks.
    """

    coords: npt.NDArray[np.float64]
    ring_lengths: npt.NDArray[np.int64]
    ring_block: npt.NDArray[np.int64]
    blocks: int


def _block_end(body: bytes, start: int) -> int:
    """Index just past the rings block opening at ``start`` (-1 when it is not one).

    A block holds no brace and no quote, so it ends before the first of either
    (the geometry's closing brace, or its next key), at the last ``]``.
    """
    stops = [i for i in (body.find(b"}", start), body.find(b'"', start)) if i >= 0]
    end = body.rfind(b"]", start, min(stops)) + 1 if stops else 0
    return end if end > start else -1


def _cut(body: bytes, blocks: list[bytes]) -> bytes | None:
    """``body`` with every rings block replaced by its number (``None``: an odd block)."""
    pieces: list[bytes] = []
    done = 0
    for match in _KEY.finditer(body):
        start = match.end() - 1
        if start < done:
            continue
        end = _block_end(body, start)
        block = body[start:end] if end > 0 else b""
        if not block or block.translate(None, _RING_CHARS):
            return None  # a null or NaN in a ring: let plain parsing say what it is
        pieces += [body[done:start], b"%d" % len(blocks)]
        blocks.append(block)
        done = end
    pieces.append(body[done:])
    return b"".join(pieces)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where blocks (depth 1), rings (depth 2) and positions (depth 3) open."""

    blocks: npt.NDArray[np.intp]
    rings: npt.NDArray[np.intp]
    positions: npt.NDArray[np.intp]
    commas_per_position: npt.NDArray[np.intp]


def _layout(text: bytes) -> _Layout | None:
    chars = np.frombuffer(text, dtype=np.uint8)
    # Only brackets and commas matter: a fifth of the text, so work on them alone.
    where = np.flatnonzero((chars == _OPEN) | (chars == _CLOSE) | (chars == _COMMA))
    marks = chars[where]
    opens = marks == _OPEN
    depth = np.cumsum(opens.astype(np.int8) - (marks == _CLOSE), dtype=np.int32)
    if len(depth) and (depth.min() < 0 or depth.max() > 3 or depth[-1] != 0):
        return None
    opened = where[opens]
    level = depth[opens]
    positions = opened[level == 3]
    commas = where[(marks == _COMMA) & (depth == 3)]
    owner = np.searchsorted(positions, commas, side="right") - 1
    per_position = np.bincount(owner, minlength=len(positions)) if len(positions) else owner
    return _Layout(opened[level == 1], opened[level == 2], positions, per_position)


def _dimension(layout: _Layout) -> int | None:
    """Numbers per position, when every position has the same count (2, 3 or 4)."""
    if len(layout.positions) == 0:
        return 2
    first = int(layout.commas_per_position[0]) + 1
    uniform = bool((layout.commas_per_position == first - 1).all())
    return first if uniform and 2 <= first <= 4 else None


def _numbers(text: bytes) -> npt.NDArray[np.float64] | None:
    # Empty blocks and rings leave runs of commas; an empty position would too,
    # but then the count of numbers cannot match the count of positions.
    flat = text.translate(None, _BLANKS)
    if b",," in flat:
        flat = _COMMAS.sub(b",", flat)
    flat = flat.strip(b",")
    if not flat:
        return np.empty(0)
    try:
        return np.array(flat.split(b","), dtype=np.float64)
    except ValueError:
        return None


def _rings(joined: bytes, count: int) -> RingBlocks | None:
    layout = _layout(joined)
    if layout is None or len(layout.blocks) != count:
        return None
    values = _numbers(joined)
    dimension = _dimension(layout)
    if values is None or dimension is None or len(values) != len(layout.positions) * dimension:
        return None
    ring_of_position = np.searchsorted(layout.rings, layout.positions, side="right") - 1
    lengths = np.bincount(ring_of_position, minlength=len(layout.rings)).astype(np.int64)
    ring_block = np.searchsorted(layout.blocks, layout.rings, side="right") - 1
    coords = np.ascontiguousarray(values.reshape(-1, dimension)[:, :2])
    return RingBlocks(coords, lengths, ring_block.astype(np.int64), count)


def _placeholders(features: list[Any], first: int, last: int) -> bool:
    """Does every block cut from this answer land in exactly one feature's geometry?"""
    geometries = [f.get("geometry") for f in features if isinstance(f, dict)]
    rings = [g["rings"] for g in geometries if isinstance(g, dict) and "rings" in g]
    # A rings block the expression could not take (a null in it) stays a list.
    if not all(isinstance(r, int) and not isinstance(r, bool) for r in rings):
        return False
    return sorted(rings) == list(range(first, last))


def read_answers(bodies: Sequence[bytes]) -> tuple[list[Any], Any, RingBlocks] | None:
    """Read the answers of a page: features (rings replaced by block numbers) and rings.

    Returns:
        ``(features, first_answer, rings)`` where each feature's
        ``geometry["rings"]`` is the number of its block in ``rings``, and
        ``first_answer`` is the first answer without its features (for its
        ``spatialReference``); ``None`` when the fast reading does not apply.
    """
    blocks: list[bytes] = []
    features: list[Any] = []
    first: Any = None
    for body in bodies:
        start = len(blocks)
        skeleton = _cut(body, blocks)
        if skeleton is None:
            return None
        try:
            doc = json.loads(skeleton)
        except ValueError:
            return None
        answer = doc.get("features") if isinstance(doc, dict) else None
        if not isinstance(answer, list) or not _placeholders(answer, start, len(blocks)):
            return None
        features.extend(answer)
        first = first if first is not None else {k: v for k, v in doc.items() if k != "features"}
    rings = _rings(b",".join(blocks), len(blocks))
    return None if rings is None else (features, first, rings)
