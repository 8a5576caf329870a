"""Node names and range expressions (caas.clusters.names): the seed document's syntaxes, lists
of ranges, gaps, the display form and its round trip, and refused input."""

from __future__ import annotations

import pytest

from caas.clusters.names import MAX_NAMES, compact, next_free, node_number, parse_names
from caas.errors import BadRequest


def nodes(*numbers: int, prefix: str = "node", width: int = 3) -> list[str]:
    return [f"{prefix}{n:0{width}d}" for n in numbers]


# ---- parse_names ---------------------------------------------------------------------------
def test_seed_dotted_range():
    assert parse_names("node001..node003") == nodes(1, 2, 3)


def test_seed_bracket_range_keeps_written_width():
    assert parse_names("node0[01-10]") == nodes(*range(1, 11))


@pytest.mark.parametrize("spec, expected", [
    ("node002", nodes(2)),
    ("node[001-003,007,010-012]", nodes(1, 2, 3, 7, 10, 11, 12)),
    ("node[1-3]", ["node1", "node2", "node3"]),
    ("node[8-11]", ["node8", "node9", "node10", "node11"]),
    ("node[01-02,5]", ["node01", "node02", "node5"]),
    ("node1..node10", [f"node{n}" for n in range(1, 11)]),
    ("node098..node0101", nodes(98, 99, 100, 101)),  # width from the first end
    ("node005..node005", nodes(5)),
    ("head", ["head"]),
    ("a", ["a"]),
    ("gpu-node[1-2]", ["gpu-node1", "gpu-node2"]),
    ("n" * 60 + "[001-002]", ["n" * 60 + "001", "n" * 60 + "002"]),
])
def test_single_items(spec, expected):
    assert parse_names(spec) == expected


def test_lists_of_ranges_in_written_order_without_duplicates():
    spec = " node010 , node001..node003,node0[02-05], gpu[1-2],node[001,020]  "
    assert parse_names(spec) == nodes(10, 1, 2, 3, 4, 5) + ["gpu1", "gpu2"] + nodes(20)


def test_limit_is_inclusive():
    assert len(parse_names(f"node[1-{MAX_NAMES}]")) == MAX_NAMES
    with pytest.raises(BadRequest, match="more than"):
        parse_names(f"node[1-{MAX_NAMES + 1}]")
    with pytest.raises(BadRequest, match="more than"):
        parse_names(f"node1..node{MAX_NAMES + 1}")
    # Counted before building, duplicates included: the work is bounded, not the result.
    with pytest.raises(BadRequest, match="more than"):
        parse_names(f"node[1-{MAX_NAMES}],node1")
    with pytest.raises(BadRequest, match="more than"):
        parse_names("node[1-999999999999999999]")


@pytest.mark.parametrize("spec", [
    "", "   ", ",", "node001,", ",node001", "node001,,node002",
    "node[5-1]", "node005..node001", "node001..", "..node003", "node001..x003", "node001..node003..node005",
    "node..node3", "node001..node", "head..tail",
    "../x", "../../etc/passwd", "node/1", "a;rm -rf /", "node001;reboot", "$(reboot)", "`id`", "node|x",
    "node&", "node>x", "node 001", "node\n001", "node\x00",
    "Node001", "NODE[1-2]", "1node", "-node", "node-", "_node", "nöde1",
    "node[1-2", "node1-2]", "node[[1-2]]", "node[]", "node[a-b]", "node[1--2]", "node[1-2-3]", "node[-2]",
    "node[1,]", "node[,1]", "node[1-2]x", "[1-3]", "node[1 - 3]", "node[1-2],[3]",
    "n" * 64, "n" * 61 + "[1-100]",
    "node[1-" + "9" * 5000 + "]",
])
def test_bad_expressions(spec):
    with pytest.raises(BadRequest):
        parse_names(spec)


def test_error_messages_say_what_is_wrong():
    with pytest.raises(BadRequest, match="ends before it starts"):
        parse_names("node[5-1]")
    with pytest.raises(BadRequest, match="same prefix"):
        parse_names("node001..gpu003")
    with pytest.raises(BadRequest, match="DNS label"):
        parse_names("a;rm -rf")
    with pytest.raises(BadRequest) as exc:
        parse_names("x" * 100_000)
    assert len(exc.value.message) < 300  # a huge input makes no huge message


def test_not_a_string():
    with pytest.raises(BadRequest):
        parse_names(None)  # type: ignore[arg-type]


# ---- node_number ---------------------------------------------------------------------------
def test_node_number():
    assert node_number("node007") == ("node", 7, 3)
    assert node_number("node0") == ("node", 0, 1)
    assert node_number("gpu-2-node10") == ("gpu-2-node", 10, 2)
    for bad in ("head", "Node1", "1", "node 1"):
        with pytest.raises(BadRequest):
            node_number(bad)


# ---- next_free -----------------------------------------------------------------------------
def test_next_free_fills_gaps_first():
    assert next_free(nodes(1, 3), 2) == nodes(2, 4)
    assert next_free(nodes(2, 3, 5), 3) == nodes(1, 4, 6)


def test_next_free_from_nothing_and_zero():
    assert next_free([], 3) == nodes(1, 2, 3)
    assert next_free(nodes(1), 0) == []


def test_next_free_ignores_other_names_and_counts_any_width():
    existing = ["head", "gpu001", "node1", "Bad Name", "node002x", "node003"]
    assert next_free(existing, 3) == nodes(2, 4, 5)


def test_next_free_prefix_and_width():
    assert next_free(["gpu01"], 2, prefix="gpu", width=2) == ["gpu02", "gpu03"]
    assert next_free(nodes(*range(1, 1000)), 1) == ["node1000"]


@pytest.mark.parametrize("kwargs", [
    {"count": -1}, {"count": MAX_NAMES + 1}, {"count": 1.5}, {"count": True}, {"count": "2"},
    {"count": 1, "prefix": ""}, {"count": 1, "prefix": "Node"}, {"count": 1, "prefix": "a;b"},
    {"count": 1, "width": 0}, {"count": 1, "prefix": "n" * 62, "width": 2},
])
def test_next_free_bad_input(kwargs):
    with pytest.raises(BadRequest):
        next_free([], **kwargs)


def test_next_free_limit():
    assert len(next_free([], MAX_NAMES)) == MAX_NAMES


# ---- compact -------------------------------------------------------------------------------
@pytest.mark.parametrize("names, expected", [
    (nodes(1, 2, 3, 5), "node[001-003,005]"),
    (nodes(5, 3, 1, 2), "node[001-003,005]"),
    (nodes(7), "node007"),
    (nodes(1, 2), "node[001-002]"),
    (nodes(1, 3, 5), "node[001,003,005]"),
    (["head"] + nodes(1, 2), "head,node[001-002]"),
    (["node1", "node2"] + nodes(1), "node[1-2],node001"),
    (["gpu1", "gpu2"] + nodes(4), "gpu[1-2],node004"),
    ([], ""),
])
def test_compact(names, expected):
    assert compact(names) == expected


@pytest.mark.parametrize("spec", [
    "node001..node003", "node0[01-10]", "node[001-003,007,010-012],gpu[1-4],head",
    "node[1-12],node[001-002]", "node099..node0105",
])
def test_round_trip(spec):
    names = parse_names(spec)
    shown = compact(names)
    assert sorted(parse_names(shown)) == sorted(names)
    assert compact(parse_names(shown)) == shown


def test_compact_refuses_bad_names():
    with pytest.raises(BadRequest):
        compact(["node001", "a;b"])
