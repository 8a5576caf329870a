"""Parsing of the flavor extra spec ``pci_passthrough:alias`` into ``PciRequest``s.

Holds ``check_pci_spec(value)`` (Nova's validator of the spec, when a flavor's specs are set),
``parse_pci_spec(value)`` (the items, as a boot reads them) and ``pci_requests(extra_specs,
aliases)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from caas.compute.scheduler.state import PciAlias, PciRequest
from caas.errors import BadRequest
from caas.numbers import INT32_MAX, decimal

EXTRA_SPEC = "pci_passthrough:alias"
# Nova's validator of the spec (nova/api/validation/extra_specs/pci_passthrough.py), matched
# whole: no blank around a COUNT, only around the commas
SPEC_FORMAT = re.compile(r"[^:]+:\d+(?:\s*,\s*[^:]+:\d+)*")


def check_pci_spec(value: str) -> None:
    """Nova's validator of a flavor's ``pci_passthrough:alias`` (its pattern, matched whole: no
    blank around a COUNT, only around the commas), then ``parse_pci_spec``'s checks; BadRequest
    when it fails. Whether the names are configured is not its concern: Nova stores any
    well-formed alias and refuses it when a server asks for it."""
    if SPEC_FORMAT.fullmatch(str(value)) is None:
        raise _malformed(value)
    parse_pci_spec(value)


def parse_pci_spec(value: str | None) -> tuple[tuple[str, int], ...]:
    """The (NAME, COUNT) items of a ``pci_passthrough:alias`` value ("NAME:COUNT[, NAME:COUNT
    ...]"), in order, blanks around names and counts ignored as a boot in Nova ignores them
    (``int()`` of each COUNT); () when it is absent or blank. Raises ``BadRequest`` for a
    malformed value (COUNT is required and must be a positive integer, in ASCII digits)."""
    if value is None or not str(value).strip():
        return ()
    items = []
    for item in str(value).split(","):
        name, sep, count_text = item.partition(":")
        name, count = name.strip(), decimal(count_text.strip(), 1, INT32_MAX)
        if not sep or not name or count is None:
            raise _malformed(value)
        items.append((name, count))
    return tuple(items)


def _malformed(value: str) -> BadRequest:
    return BadRequest(f"Invalid PCI alias definition {value!r} in {EXTRA_SPEC}: expected "
                      "comma-separated NAME:COUNT items with COUNT a positive integer")


def pci_requests(extra_specs: Mapping[str, str], aliases: Sequence[PciAlias]) -> tuple[PciRequest, ...]:
    """Parse ``extra_specs["pci_passthrough:alias"]`` (see ``parse_pci_spec``) against the
    configured ``aliases``.

    Returns one ``PciRequest`` per item, in order; () when the spec is absent or empty.
    Alias names match exactly (case-sensitive, as Nova); an alias declared several times
    accepts any of its (vendor_id, product_id) pairs, lower-cased. Raises ``BadRequest``
    for a malformed value or, in Nova's words, for an alias that is not declared.
    """
    items = parse_pci_spec((extra_specs or {}).get(EXTRA_SPEC))
    specs_by_name: dict[str, list[tuple[str, str]]] = {}
    for alias in aliases:
        pair = (alias.vendor_id.lower(), alias.product_id.lower())
        pairs = specs_by_name.setdefault(alias.name, [])
        if pair not in pairs:
            pairs.append(pair)
    requests = []
    for name, count in items:
        if name not in specs_by_name:
            raise BadRequest(f"PCI alias {name} is not defined")
        requests.append(PciRequest(alias=name, count=count, specs=tuple(specs_by_name[name])))
    return tuple(requests)


def parse_aliases(text: str) -> tuple[PciAlias, ...]:
    """Nova's ``[pci] alias`` list from JSON (``CAAS_PCI_ALIASES``): [{"name", "vendor_id",
    "product_id"}, ...]; ValueError naming what is wrong."""
    import json

    try:
        raw = json.loads(text or "[]")
    except ValueError as exc:
        raise ValueError(f"CAAS_PCI_ALIASES is not valid JSON: {exc}") from None
    if isinstance(raw, dict):
        raw = [raw]
    out = []
    for item in raw if isinstance(raw, list) else [None]:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) and item.get(k)
                                                 for k in ("name", "vendor_id", "product_id")):
            raise ValueError(f"every PCI alias needs string name, vendor_id and product_id: {item!r}")
        out.append(PciAlias(name=item["name"], vendor_id=item["vendor_id"].lower(),
                            product_id=item["product_id"].lower()))
    return tuple(out)
