"""Cluster operations as data (caas.clusters.operations) and the table of resource kinds
(caas.clusters.kinds): the steps of each operation in order, a profile's own steps placed
where its hooks say, and the teardown's order. The steps themselves
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


def test_a_profile_places_its_steps_where_its_hooks_say():
    step = operations.Step("check", lambda engine, work, notes: None)
    first = operations.Step("first", lambda engine, work, notes: None)
    p = dataclasses.replace(profiles.PROFILES["base"], hooks=(
        profiles.Hook("create", step), profiles.Hook("create", first, before="network"),
        profiles.Hook("add", step, before=None)))
    assert names(operations.for_profile(operations.OPERATIONS["create"], p)) == [
        "first", "network", "router", "security_group", "head", "floating_ip", "nodes", "bootstrap", "check", "ready"]
    assert names(operations.for_profile(operations.OPERATIONS["add"], p)) == ["nodes", "bootstrap", "ready", "check"]
    assert names(operations.for_profile(operations.OPERATIONS["remove"], p)) == ["nodes", "bootstrap"]
    # the table itself is left as it was; base and none add nothing
    assert "check" not in names(operations.OPERATIONS["create"])
    for name in ("base", "none"):
        assert operations.for_profile(operations.OPERATIONS["create"], profiles.PROFILES[name]) \
            is operations.OPERATIONS["create"]


def test_the_slurm_profile_is_data_the_engine_runs():
    slurm = profiles.PROFILES["slurm"]
    assert names(operations.for_profile(operations.OPERATIONS["create"], slurm)) == [
        "network", "router", "security_group", "home", "head", "floating_ip", "nodes", "bootstrap", "ready", "slurm"]
    assert names(operations.for_profile(operations.OPERATIONS["add"], slurm)) == [
        "nodes", "bootstrap", "slurm_config", "ready", "slurm"]
    assert names(operations.for_profile(operations.OPERATIONS["remove"], slurm)) == [
        "drain", "nodes", "bootstrap", "slurm_config"]


def test_the_teardown_removes_what_depends_on_a_resource_before_it():
    assert [k.name for k in kinds.KINDS] == ["server", "share", "floating_ip", "port", "router_interface", "router",
                                             "security_group", "subnet", "network"]
    # servers and shares are waited for until the cloud says they are gone
    assert [k.name for k in kinds.KINDS if k.probe] == ["server", "share"]
