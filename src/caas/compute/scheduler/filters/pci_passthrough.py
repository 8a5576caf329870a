"""Holds ``PciPassthroughFilter``: the host's free PCI devices cover every request."""

from __future__ import annotations

from itertools import combinations

from caas.compute.scheduler.state import HostState, PciRequest, RequestSpec


def _demands(requests: tuple[PciRequest, ...]) -> list[tuple[frozenset[tuple[str, str]], int]]:
    """Requests with the same acceptable pairs add up: merge them into one demand each."""
    merged: dict[frozenset[tuple[str, str]], int] = {}
    for request in requests:
        key = frozenset(request.specs)
        merged[key] = merged.get(key, 0) + request.count
    return list(merged.items())


class PciPassthroughFilter:
    """Passes when all of ``spec.pci_requests`` can be served together from
    ``host.pci_free``, each device used once.

    Exact, not greedy: by Hall's theorem for supply and demand, the demands fit iff for
    every subset of them the summed count is at most the free devices of the union of
    their acceptable pairs. Demands are merged per distinct set of pairs first, so the
    subsets are bounded by the number of declared aliases (usually one demand, one sum).
    """

    name = "PciPassthroughFilter"

    def applies(self, spec: RequestSpec) -> bool:
        return bool(spec.pci_requests)

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        if not spec.pci_requests:
            return True
        free = host.pci_free
        if not free:
            return False
        demands = _demands(spec.pci_requests)
        for size in range(1, len(demands) + 1):
            for subset in combinations(demands, size):
                pairs = frozenset().union(*(specs for specs, _ in subset))
                if sum(count for _, count in subset) > sum(free.get(pair, 0) for pair in pairs):
                    return False
        return True
