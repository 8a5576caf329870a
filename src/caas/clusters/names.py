"""Node names and name-range expressions (pure, no I/O).

A node name is a DNS label: lowercase letters, digits and hyphens, starting with a letter,
not ending with a hyphen, at most 63 characters. Numbered names are PREFIX + zero-padded
NUMBER (``node001``). This module holds:

- ``parse_names``: a range expression (``node001..node003``, ``node0[01-10]``,
  ``node[001-003,007],node020``) to the list of names it denotes;
- ``next_free``: the lowest-numbered names not yet taken;
- ``compact``: a list of names back to the shortest bracket expression, for display;
- ``node_number``: a numbered name split into prefix, number and width.

Every function refuses bad input with ``BadRequest`` and never produces more than
``MAX_NAMES`` names, counted before any name is built, so no expression makes unbounded work.
"""

from __future__ import annotations

import re
from typing import Iterable

from caas.errors import BadRequest

MAX_NAMES = 10_000
MAX_LENGTH = 63

_LABEL = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMBERED = re.compile(r"([a-z](?:[a-z0-9-]*[a-z-])?)([0-9]+)")
_PREFIX = re.compile(r"[a-z][a-z0-9-]*")
_BRACKET = re.compile(r"([a-z][a-z0-9-]*)\[([0-9,\-]+)\]")
_NUMBER_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?")
_RULES = ("a name is a DNS label: lowercase letters, digits and hyphens, starting with a letter, "
          f"at most {MAX_LENGTH} characters")


def is_valid_name(name: str) -> bool:
    return isinstance(name, str) and _LABEL.fullmatch(name) is not None


def check_name(name: str) -> str:
    """``name`` itself when it is a valid node name, else BadRequest."""
    if not is_valid_name(name):
        raise BadRequest(f"invalid node name {_show(name)}: {_RULES}")
    return name


def node_number(name: str) -> tuple[str, int, int]:
    """``node007`` -> ``("node", 7, 3)``: the prefix, the number and the number's written width
    (its digits, leading zeros included). BadRequest if ``name`` is not a valid numbered name."""
    check_name(name)
    m = _NUMBERED.fullmatch(name)
    if m is None:
        raise BadRequest(f"node name {_show(name)} does not end in a number")
    return m.group(1), int(m.group(2)), len(m.group(2))


def _format(prefix: str, number: int, width: int) -> str:
    return f"{prefix}{number:0{width}d}"


def _show(text: object) -> str:
    """``text`` quoted for a message, cut short so a huge input makes no huge message."""
    text = str(text)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _check_count(total: int, spec: str) -> None:
    if total > MAX_NAMES:
        raise BadRequest(f"{_show(spec)} names more than {MAX_NAMES} nodes")


def _split_items(spec: str) -> list[str]:
    """Split at the commas outside brackets; brackets may not nest or stay open."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(spec):
        if ch == "[":
            depth += 1
            if depth > 1:
                raise BadRequest(f"nested brackets in {_show(spec)}")
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise BadRequest(f"unbalanced ']' in {_show(spec)}")
        elif ch == "," and depth == 0:
            items.append(spec[start:i])
            start = i + 1
    if depth:
        raise BadRequest(f"unclosed '[' in {_show(spec)}")
    items.append(spec[start:])
    return [item.strip() for item in items]


def _dotted(item: str) -> tuple[str, int, int, int]:
    """``node001..node003`` -> (prefix, start, end, width)."""
    first, _, last = item.partition("..")
    if not first or not last:
        raise BadRequest(f"range {_show(item)} needs a name at both ends (node001..node003)")
    prefix, start, width = node_number(first.strip())
    last_prefix, end, _ = node_number(last.strip())
    if last_prefix != prefix:
        raise BadRequest(f"range {_show(item)}: both ends need the same prefix ({prefix!r} vs {last_prefix!r})")
    if start > end:
        raise BadRequest(f"range {_show(item)} ends before it starts")
    return prefix, start, end, width


def _bracket(item: str) -> tuple[str, list[tuple[int, int, int]]]:
    """``node[001-003,007]`` -> (prefix, [(start, end, width), ...])."""
    m = _BRACKET.fullmatch(item)
    if m is None:
        raise BadRequest(f"invalid range {_show(item)}: expected PREFIX[N-M,...] such as node[001-003,007]")
    prefix, inner = m.groups()
    ranges = []
    for part in inner.split(","):
        r = _NUMBER_RANGE.fullmatch(part)
        if r is None or len(part) > 2 * MAX_LENGTH:
            raise BadRequest(f"invalid range {_show(part)} in {_show(item)}: expected N or N-M")
        start = int(r.group(1))
        end = int(r.group(2)) if r.group(2) is not None else start
        if start > end:
            raise BadRequest(f"range {_show(part)} in {_show(item)} ends before it starts")
        ranges.append((start, end, len(r.group(1))))
    return prefix, ranges


def parse_names(spec: str) -> list[str]:
    """The names a range expression denotes, in the order written, without duplicates.

    ``spec`` is a comma-separated list of items, whitespace around items ignored; an item is
    a name (``node002``), a dotted range (``node001..node003``: same prefix at both ends, the
    width of the first end) or a bracket range (``node[001-003,007]``; each number keeps the
    width it is written with, so ``node0[01-10]`` is node001..node010). Anything else, an
    empty expression or more than ``MAX_NAMES`` names, is BadRequest."""
    if not isinstance(spec, str) or not spec.strip():
        raise BadRequest("empty node name expression")
    runs: list[tuple[str, int, int, int] | str] = []
    total = 0
    for item in _split_items(spec):
        if not item:
            raise BadRequest(f"empty item in {_show(spec)}")
        if ".." in item:
            run = _dotted(item)
            runs.append(run)
            total += run[2] - run[1] + 1
        elif "[" in item:
            prefix, ranges = _bracket(item)
            for start, end, width in ranges:
                runs.append((prefix, start, end, width))
                total += end - start + 1
        else:
            runs.append(check_name(item))
            total += 1
        _check_count(total, spec)
    names: dict[str, None] = {}
    for run in runs:
        if isinstance(run, str):
            names[run] = None
            continue
        prefix, start, end, width = run
        # The longest name of a run is its last; checking it checks the run.
        check_name(_format(prefix, end, width))
        for n in range(start, end + 1):
            names[_format(prefix, n, width)] = None
    return list(names)


def next_free(existing: Iterable[str], count: int, prefix: str = "node", width: int = 3) -> list[str]:
    """The ``count`` lowest-numbered names PREFIX + NUMBER (from 1, zero-padded to ``width``)
    whose number no existing name with that prefix uses, whatever its width: gaps are filled
    first. Existing names of another shape are ignored."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_NAMES:
        raise BadRequest(f"node count must be an integer from 0 to {MAX_NAMES}")
    if not isinstance(prefix, str) or _PREFIX.fullmatch(prefix) is None:
        raise BadRequest(f"invalid node name prefix {_show(prefix)}: lowercase letters, digits and hyphens, "
                         "starting with a letter")
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_LENGTH - len(prefix):
        raise BadRequest(f"invalid number width {width!r}")
    taken = set()
    for name in existing:
        m = _NUMBERED.fullmatch(name) if is_valid_name(name) else None
        if m is not None and m.group(1) == prefix:
            taken.add(int(m.group(2)))
    names, n = [], 0
    while len(names) < count:
        n += 1
        if n not in taken:
            names.append(_format(prefix, n, width))
    if names:
        check_name(names[-1])
    return names


def first(count: int, prefix: str = "node", width: int = 3) -> list[str]:
    """The first ``count`` node names (node001 ...): an elastic cluster's nodes up to its
    max_nodes, a new cluster's nodes."""
    return next_free([], count, prefix, width)


def compact(names: Iterable[str]) -> str:
    """The inverse of ``parse_names`` for display: ``node[001-003,005]``. Numbered names are
    grouped by prefix and written width, numbers sorted and consecutive ones joined; a group
    of one is the plain name; names without a number are listed as they are. Groups come in
    name order; ``parse_names(compact(x))`` gives the set of ``x``, sorted that way."""
    groups: dict[tuple[str, int], set[int]] = {}
    plain: set[str] = set()
    for name in names:
        check_name(name)
        m = _NUMBERED.fullmatch(name)
        if m is None:
            plain.add(name)
        else:
            groups.setdefault((m.group(1), len(m.group(2))), set()).add(int(m.group(2)))
    items: list[tuple[tuple[str, int], str]] = [((name, 0), name) for name in plain]
    for (prefix, width), numbers in groups.items():
        ordered = sorted(numbers)
        if len(ordered) == 1:
            items.append(((prefix, width), _format(prefix, ordered[0], width)))
            continue
        parts, start = [], ordered[0]
        for prev, cur in zip(ordered, ordered[1:] + [None]):
            if cur is not None and cur == prev + 1:
                continue
            parts.append(f"{start:0{width}d}" if start == prev else f"{start:0{width}d}-{prev:0{width}d}")
            start = cur
        items.append(((prefix, width), f"{prefix}[{','.join(parts)}]"))
    return ",".join(text for _, text in sorted(items))
