"""Cluster operations as data (caas.clusters.operations) and the table of resource kinds
(caas.clusters.kinds): the steps of each operation in order, a profile's own steps placed
before ``ready`` in a create and an add only, and the teardown's order. The steps themselves
run against a real cloud in test_cluster_api.py and test_cluster_failures.py."""

from __future__ import annotations

import dataclasses

from caas.clusters import kinds, operations, profiles


def names(op: operations.Operation) -> list[str]:
    return [s.name for s in op.steps]


def test_each_operation_is_its_list_of_steps():
    assert names(operations.OPERATIONS["create"]) == ["network", "router", "security_group", "head", "floating_ip",
                                                      "nodes", "bootstrap", "ready"]
    assert names(operations.OPERATIONS["add"]) == ["nodes", "bootstrap", "ready"]
    assert names(operations.OPERATIONS["remove"]) == ["nodes", "bootstrap"]


def test_a_profile_adds_its_steps_before_ready_in_create_and_add():
    step = operations.Step("slurm", lambda engine, work, notes: None)
    p = dataclasses.replace(profiles.PROFILES["base"], steps=(step,))
    assert names(operations.for_profile(operations.OPERATIONS["create"], p))[-3:] == ["bootstrap", "slurm", "ready"]
    assert names(operations.for_profile(operations.OPERATIONS["add"], p)) == ["nodes", "bootstrap", "slurm", "ready"]
    assert names(operations.for_profile(operations.OPERATIONS["remove"], p)) == ["nodes", "bootstrap"]
    # the table itself is left as it was; the profiles caas has add nothing
    assert "slurm" not in names(operations.OPERATIONS["create"])
    for p in profiles.PROFILES.values():
        assert operations.for_profile(operations.OPERATIONS["create"], p) is operations.OPERATIONS["create"]


def test_the_teardown_removes_what_depends_on_a_resource_before_it():
    assert [k.name for k in kinds.KINDS] == ["server", "floating_ip", "port", "router_interface", "router",
                                             "security_group", "subnet", "network"]
    # only servers are waited for until the cloud says they are gone
    assert [k.name for k in kinds.KINDS if k.probe] == ["server"]
