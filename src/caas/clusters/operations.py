"""Each cluster operation as data: the steps it runs, in order, and what it does before, after
and on failure. ``Engine.perform`` is the one runner.

Create: network, router, security_group, head, floating_ip, nodes, bootstrap, ready. Adding
nodes: nodes (the nodes that stay learn the new names meanwhile), bootstrap, ready. Removing
nodes: nodes (their servers and ports), bootstrap. A profile adds its own steps where its hooks
say (``cloudconfig.Hook``, ``for_profile``).

A step's ``run(engine, work, notes)`` does its work; ``notes`` is what its "done" event adds.
Its ``detail(engine, work)`` is said first, known before it runs. Step names are the cluster's
``step`` while it runs, its events' ``step``, and what CAAS_CLUSTER_FAIL_AT names.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

from caas.clusters import network_steps
from caas.clusters.models import ACTIVE, COMPUTE, HEAD_NAME, NODE_DOWN


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable  # (engine, work, notes: list[str]) -> None
    detail: Callable = lambda engine, work: ""


@dataclass(frozen=True)
class Operation:
    name: str
    steps: tuple[Step, ...]
    begin: Callable  # (engine, work) -> None, before the first step
    done: Callable  # (engine, work) -> None, after the last; raises Cancelled if a delete came meanwhile
    undo: Callable  # (engine, work, reason) -> None, the rollback once a step failed

    def with_steps(self, extra: tuple[Step, ...], before: str | None = "ready") -> Operation:
        """This operation with ``extra`` steps run just before step ``before`` (None: after
        its last step)."""
        i = len(self.steps) if before is None else next(i for i, s in enumerate(self.steps) if s.name == before)
        return dataclasses.replace(self, steps=self.steps[:i] + tuple(extra) + self.steps[i:])


def computes(engine, work) -> list:
    """The cluster's compute nodes, as recorded now."""
    return [n for n in engine.journal.nodes(work.id) if n.role == COMPUTE]


# ---- create ---------------------------------------------------------------------------------
def _create_begin(engine, work) -> None:
    c = work.cluster
    work.started, work.nodes = time.monotonic(), engine.journal.nodes(c.id)
    engine.journal.event(c.id, "create", f"creating cluster {c.name}: head + {len(work.nodes) - 1} node(s)")


def _create_done(engine, work) -> None:
    total = time.monotonic() - work.started
    engine.active(work)
    engine.journal.event(work.id, "create", f"cluster ACTIVE: head + {len(computes(engine, work))} node(s) in "
                                            f"{total:.2f} s", duration=total)


def _boot_computes(engine, work, notes: list[str]) -> None:
    nodes = computes(engine, work)
    if nodes:
        notes.append(engine.boot(work, nodes))


def _boot_head(engine, work, notes: list[str]) -> None:
    """The head's server, once every node's port is made: on a given network the cloud chooses
    the addresses, and the head's /etc/hosts names them all."""
    engine.ports(work, engine.journal.nodes(work.id))
    notes.append(engine.boot(work, engine.journal.nodes(work.id, [HEAD_NAME])))


def _bootstrap(push_to: Callable) -> Step:
    """The bootstrap step, pushing /etc/hosts to the nodes ``push_to(engine, work)`` names."""
    return Step("bootstrap", lambda e, w, notes: e.journal.event(w.id, "bootstrap", e.bootstrap(w, push_to(e, w))))


READY = Step("ready", lambda e, w, notes: e.journal.event(w.id, "ready", e.ready(w, w.nodes)))

CREATE = Operation(
    "create",
    (Step("network", network_steps.make_network),
     Step("router", network_steps.make_router),
     Step("security_group", lambda e, w, notes: network_steps.make_security_groups(e, w)),
     Step("head", _boot_head),
     Step("floating_ip", network_steps.make_floating_ip),
     Step("nodes", _boot_computes, lambda e, w: f"{len(computes(e, w))} server(s) ACTIVE"),
     _bootstrap(lambda e, w: []),
     READY),
    begin=_create_begin, done=_create_done, undo=lambda e, w, reason: e.failed_create(w, reason))


# ---- add nodes --------------------------------------------------------------------------------
def _add_begin(engine, work) -> None:
    work.nodes = engine.journal.nodes(work.id, work.names)


def _add_nodes(engine, work, notes: list[str]) -> None:
    """The new nodes' ports, then their servers; the nodes that stay learn the new names (and
    addresses, which the cloud chooses on a given network) while the servers boot."""
    others = [n.name for n in computes(engine, work) if n.name not in work.names]
    engine.ports(work, work.nodes)
    work.pushed = engine.pool.submit(engine.bootstrap, work, others)
    try:
        notes.append(engine.boot(work, work.nodes))
    finally:
        cf.wait([work.pushed])


def _add_done(engine, work) -> None:
    engine.active(work)
    engine.journal.event(work.id, "add", f"added {len(work.nodes)} node(s)")


ADD = Operation(
    "add",
    (Step("nodes", _add_nodes, lambda e, w: f"{len(w.nodes)} server(s) ACTIVE"),
     Step("bootstrap", lambda e, w, notes: e.journal.event(w.id, "bootstrap", w.pushed.result())),
     READY),
    begin=_add_begin, done=_add_done, undo=lambda e, w, reason: e.undo_add(w, w.names, reason))


# ---- remove nodes -----------------------------------------------------------------------------
def _remove(engine, work, notes: list[str]) -> None:
    engine.teardown(work, work.names)
    engine.journal.drop_nodes(work.id, work.names)


def _reachable(engine, work) -> list[str]:
    """The compute nodes that take the new /etc/hosts: not one that is down (its own stays)."""
    return [n.name for n in computes(engine, work) if n.status != NODE_DOWN]


REMOVE = Operation(
    "remove",
    (Step("nodes", _remove, lambda e, w: f"{len(w.names)} node(s) removed"),
     _bootstrap(_reachable)),
    begin=lambda e, w: None, done=lambda e, w: e.active(w),
    undo=lambda e, w, reason: e.journal.finish(w.id, status=ACTIVE, status_reason=f"removing nodes failed: {reason}"))

# Slurm's power saving removing idle nodes of an elastic cluster (``scaler``): a removal whose
# nodes Slurm already took out of service, so a profile's removal steps (a drain) do not apply.
SUSPEND = dataclasses.replace(REMOVE, name="suspend")

# A change of the profile's settings on the cluster as it is (an elastic cluster's): no step of
# its own; the profile's hooks do the work.
CONFIGURE = Operation("configure", (), begin=lambda e, w: None, done=lambda e, w: e.active(w),
                      undo=lambda e, w, reason: e.journal.finish(w.id, status=ACTIVE,
                                                                 status_reason=f"configuring failed: {reason}"))

OPERATIONS = {op.name: op for op in (CREATE, ADD, REMOVE, SUSPEND, CONFIGURE)}


def for_profile(operation: Operation, profile) -> Operation:
    """``operation`` with the steps of ``profile`` (a ``cloudconfig.Profile``, or None): each
    of its hooks for this operation placed where the hook says."""
    for hook in getattr(profile, "hooks", ()):
        if hook.operation == operation.name:
            operation = operation.with_steps((hook.step,), hook.before)
    return operation
