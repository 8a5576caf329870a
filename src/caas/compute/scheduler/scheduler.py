"""The filter scheduler: filter the hosts, weigh the survivors, best first.

Holds ``Decision`` (the outcome of one ``select``) and ``Scheduler``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from caas.compute.scheduler.filters import HostFilter, default_filters
from caas.compute.scheduler.state import HostState, RequestSpec
from caas.compute.scheduler.weighers import HostWeigher, default_weighers

STRATEGIES = ("spread", "stack")
NO_HOSTS = "No valid host was found. There are no compute hosts."
NOT_ENOUGH = "No valid host was found. There are not enough hosts available."


@dataclass
class Decision:
    """``hosts``: every host that passed, best first (empty when none). ``fault``: None when
    ``hosts`` is non-empty, else a Nova-style explanation naming each filter that removed
    hosts. ``filter_log``: (filter name, hosts in, hosts out) for each filter applied, in
    order; filters that do not concern the spec are skipped and not logged, and filtering
    stops at the first filter that leaves no host."""

    hosts: list[HostState]
    fault: str | None
    filter_log: list[tuple[str, int, int]]


def _applies(component: object, spec: RequestSpec) -> bool:
    applies = getattr(component, "applies", None)
    return True if applies is None else bool(applies(spec))


def _fault(filter_log: list[tuple[str, int, int]]) -> str:
    removed = [
        f"{name} removed {before - after} of {before} host{'s' if before != 1 else ''}"
        for name, before, after in filter_log
        if after < before
    ]
    return NOT_ENOUGH + (" " + "; ".join(removed) + "." if removed else "")


class Scheduler:
    """Nova's filter scheduler over host snapshots; pure, no I/O, safe to share.

    ``filters``/``weighers`` None means all of them (``default_filters()``,
    ``default_weighers()``); pass a list (possibly empty) to choose. ``strategy`` "spread"
    prefers the emptiest hosts, "stack" the fullest (it flips the resource weighers' sign).
    """

    def __init__(
        self,
        filters: list[HostFilter] | None = None,
        weighers: list[HostWeigher] | None = None,
        strategy: str = "spread",
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown scheduling strategy {strategy!r}; expected one of {STRATEGIES}")
        self.filters = default_filters() if filters is None else list(filters)
        self.weighers = default_weighers() if weighers is None else list(weighers)
        self.strategy = strategy

    @property
    def filter_names(self) -> list[str]:
        return [f.name for f in self.filters]

    def fits(self, host: HostState, spec: RequestSpec) -> bool:
        """True when every filter passes ``host`` for ``spec`` (the re-check of a claim)."""
        return all(f.host_passes(host, spec) for f in self.filters)

    def select(self, hosts: Sequence[HostState], spec: RequestSpec) -> Decision:
        """Every host passing all filters, ranked by weight, best first.

        Each applicable weigher's raw weights are min-max normalised over the candidates to
        0..1 (all equal: 0), multiplied by its multiplier and summed; ties go to the host
        name ascending, so equal inputs give equal outputs.
        """
        if not hosts:
            return Decision(hosts=[], fault=NO_HOSTS, filter_log=[])
        candidates = list(hosts)
        filter_log: list[tuple[str, int, int]] = []
        for f in self.filters:
            if not _applies(f, spec):
                continue
            passes = f.host_passes
            before = len(candidates)
            candidates = [h for h in candidates if passes(h, spec)]
            filter_log.append((f.name, before, len(candidates)))
            if not candidates:
                return Decision(hosts=[], fault=_fault(filter_log), filter_log=filter_log)
        return Decision(hosts=self._rank(candidates, spec), fault=None, filter_log=filter_log)

    def _rank(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        n = len(hosts)
        totals = [0.0] * n
        if n > 1:
            for w in self.weighers:
                if not _applies(w, spec):
                    continue
                multiplier = w.multiplier(self.strategy)
                if not multiplier:
                    continue
                weigh = w.weigh
                raw = [weigh(h, spec) for h in hosts]
                lo, hi = min(raw), max(raw)
                if hi > lo:
                    scale = multiplier / (hi - lo)
                    totals = [t + (r - lo) * scale for t, r in zip(totals, raw)]
        # Two stable sorts on indices, no per-host tuples: by name, then by weight.
        names = [h.name for h in hosts]
        order = sorted(range(n), key=names.__getitem__)
        negated = [-t for t in totals]
        order.sort(key=negated.__getitem__)
        return [hosts[i] for i in order]


def default_scheduler(strategy: str = "spread") -> Scheduler:
    """A scheduler with every filter and every weigher."""
    return Scheduler(strategy=strategy)
