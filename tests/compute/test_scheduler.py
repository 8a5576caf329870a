"""The compute scheduler: each filter at its boundary, PCI alias parsing, server-group
policies, hints, weighing (spread/stack, soft policies, ties), fault text and ``fits``."""

from __future__ import annotations

import random

import pytest

from caas.compute.scheduler import (
    Decision,
    HostState,
    PciAlias,
    PciRequest,
    RequestSpec,
    Scheduler,
    default_scheduler,
    pci_requests,
)
from caas.compute.scheduler.filters import (
    AvailabilityZoneFilter,
    ComputeFilter,
    DifferentHostFilter,
    DiskFilter,
    PciPassthroughFilter,
    RamFilter,
    SameHostFilter,
    ServerGroupAffinityFilter,
    ServerGroupAntiAffinityFilter,
    VCPUFilter,
)
from caas.compute.scheduler.pci import check_pci_spec
from caas.compute.scheduler.weighers import CPUWeigher, DiskWeigher, RAMWeigher
from caas.errors import BadRequest

K20M = ("10de", "1028")
ALIASES = [PciAlias(name="K20m", vendor_id="10de", product_id="1028")]


def host(name: str, **kw) -> HostState:
    """A roomy host (16 vCPUs, 32 GB, 500 GB, ratios 1.0 unless given)."""
    values = dict(
        vcpus=16, memory_mb=32768, local_gb=500,
        cpu_allocation_ratio=1.0, ram_allocation_ratio=1.0, disk_allocation_ratio=1.0,
    )
    values.update(kw)
    return HostState(name=name, **values)


def spec(**kw) -> RequestSpec:
    values = dict(vcpus=1, memory_mb=512, disk_gb=1)
    values.update(kw)
    return RequestSpec(**values)


def names(decision: Decision) -> list[str]:
    return [h.name for h in decision.hosts]


# --- resource filters at the boundary -------------------------------------------------------

@pytest.mark.parametrize(
    ("flt", "fields", "request_field"),
    [
        (VCPUFilter(), ("vcpus", "vcpus_used", "cpu_allocation_ratio"), "vcpus"),
        (RamFilter(), ("memory_mb", "memory_mb_used", "ram_allocation_ratio"), "memory_mb"),
        (DiskFilter(), ("local_gb", "local_gb_used", "disk_allocation_ratio"), "disk_gb"),
    ],
    ids=["VCPUFilter", "RamFilter", "DiskFilter"],
)
@pytest.mark.parametrize(("total", "used", "ratio"), [(8, 5, 1.0), (4, 10, 4.0), (10, 4, 1.5)])
def test_resource_filter_boundary(flt, fields, request_field, total, used, ratio):
    total_f, used_f, ratio_f = fields
    h = host("h", **{total_f: total, used_f: used, ratio_f: ratio})
    room = int(total * ratio) - used  # 3, 6, 11
    assert flt.host_passes(h, spec(**{request_field: room}))  # exactly full passes
    assert not flt.host_passes(h, spec(**{request_field: room + 1}))  # one over fails


def test_resource_filters_reject_overcommitted_host_even_for_zero_request():
    # The ratio was lowered below current usage: usable capacity is negative.
    h = host("h", local_gb=100, local_gb_used=120)
    assert not DiskFilter().host_passes(h, spec(disk_gb=0))
    assert DiskFilter().host_passes(host("h", local_gb=100, local_gb_used=100), spec(disk_gb=0))


def test_ratio_changes_selection():
    hosts = [host("a", vcpus=4, vcpus_used=4, cpu_allocation_ratio=1.0),
             host("b", vcpus=4, vcpus_used=4, cpu_allocation_ratio=2.0)]
    decision = default_scheduler().select(hosts, spec(vcpus=4))
    assert names(decision) == ["b"]
    assert decision.filter_log[:2] == [("ComputeFilter", 2, 2), ("VCPUFilter", 2, 1)]


# --- compute, zone, forced host --------------------------------------------------------------

def test_compute_filter_needs_enabled_and_up():
    f = ComputeFilter()
    assert f.host_passes(host("h"), spec())
    assert not f.host_passes(host("h", enabled=False), spec())
    assert not f.host_passes(host("h", up=False), spec())


def test_availability_zone():
    hosts = [host("a", availability_zone="az1"), host("b", availability_zone="az2"), host("c")]
    s = default_scheduler()
    assert sorted(names(s.select(hosts, spec()))) == ["a", "b", "c"]
    assert names(s.select(hosts, spec(availability_zone="az2"))) == ["b"]
    assert names(s.select(hosts, spec(availability_zone="nova"))) == ["c"]
    decision = s.select(hosts, spec(availability_zone="az9"))
    assert decision.hosts == []
    assert "AvailabilityZoneFilter removed 3 of 3 hosts" in decision.fault
    assert not AvailabilityZoneFilter().host_passes(host("a", availability_zone="AZ1"), spec(availability_zone="az1"))


def test_force_host_only_that_host_whatever_its_zone():
    hosts = [host("a", availability_zone="az1"), host("b", availability_zone="az2")]
    s = default_scheduler()
    assert names(s.select(hosts, spec(force_host="b"))) == ["b"]
    assert names(s.select(hosts, spec(availability_zone="nova", force_host="a"))) == ["a"]
    assert s.select(hosts, spec(force_host="zz")).hosts == []


def test_forced_host_still_checked_for_capacity_and_service():
    hosts = [host("a", memory_mb=1024), host("b")]
    decision = default_scheduler().select(hosts, spec(force_host="a", memory_mb=2048))
    assert decision.hosts == []
    assert decision.fault.endswith("AvailabilityZoneFilter removed 1 of 2 hosts; RamFilter removed 1 of 1 host.")
    assert default_scheduler().select([host("a", up=False)], spec(force_host="a")).hosts == []


# --- PCI -------------------------------------------------------------------------------------

def test_pci_requests_parsing():
    assert pci_requests({}, ALIASES) == ()
    assert pci_requests({"pci_passthrough:alias": "  "}, ALIASES) == ()
    assert pci_requests({"hw:cpu_policy": "dedicated"}, ALIASES) == ()
    assert pci_requests({"pci_passthrough:alias": "K20m:1"}, ALIASES) == (PciRequest("K20m", 1, (K20M,)),)
    aliases = ALIASES + [PciAlias("K20m", "10DE", "1029"), PciAlias("nic", "8086", "10FB")]
    assert pci_requests({"pci_passthrough:alias": " K20m : 2 , nic:1"}, aliases) == (
        PciRequest("K20m", 2, (K20M, ("10de", "1029"))),
        PciRequest("nic", 1, (("8086", "10fb"),)),
    )


@pytest.mark.parametrize("value", ["K20m", "K20m:", ":1", "K20m:0", "K20m:-1", "K20m:x", "K20m:1.5",
                                   "K20m:1,", "K20m:+1", "K20m:1:2", ","])
def test_pci_requests_malformed(value):
    with pytest.raises(BadRequest, match="Invalid PCI alias definition"):
        pci_requests({"pci_passthrough:alias": value}, ALIASES)


def test_a_flavors_pci_spec_is_checked_as_novas_validator_checks_it():
    """Setting the spec, Nova's pattern is matched whole: blanks only around the commas, where a
    boot reads blanks around names and counts too (test_pci_requests_parsing); any name."""
    for good in ("K20m:1", "K20m:1, nic:2", "K20m:1 ,nic:2", "Undefined:3"):
        check_pci_spec(good)
    for bad in ("a: 1", "a:1 ", " K20m : 2 , nic:1", "K20m:0", "K20m:+1", "K20m:1,", "K20m"):
        with pytest.raises(BadRequest, match="Invalid PCI alias definition"):
            check_pci_spec(bad)


@pytest.mark.parametrize("name", ["GTX", "k20m"])  # names are case-sensitive
def test_pci_requests_unknown_alias(name):
    with pytest.raises(BadRequest, match=f"PCI alias {name} is not defined"):
        pci_requests({"pci_passthrough:alias": f"{name}:1"}, ALIASES)


def test_pci_seed_case():
    hosts = [host("plain"), host("one-gpu", pci_free={K20M: 1}), host("two-gpus", pci_free={K20M: 2}),
             host("other-gpu", pci_free={("10de", "1029"): 4})]
    s = default_scheduler()
    one = s.select(hosts, spec(pci_requests=pci_requests({"pci_passthrough:alias": "K20m:1"}, ALIASES)))
    assert sorted(names(one)) == ["one-gpu", "two-gpus"]
    two = s.select(hosts, spec(pci_requests=pci_requests({"pci_passthrough:alias": "K20m:2"}, ALIASES)))
    assert names(two) == ["two-gpus"]
    three = s.select(hosts, spec(pci_requests=pci_requests({"pci_passthrough:alias": "K20m:3"}, ALIASES)))
    assert three.hosts == []
    assert three.fault.endswith("PciPassthroughFilter removed 4 of 4 hosts.")
    # No PCI request: the filter is not even run.
    assert "PciPassthroughFilter" not in [name for name, _, _ in s.select(hosts, spec()).filter_log]


def test_pci_requests_are_satisfied_together():
    f = PciPassthroughFilter()
    two = host("h", pci_free={K20M: 2})
    # Two items for the same device add up.
    assert f.host_passes(two, spec(pci_requests=(PciRequest("K20m", 1, (K20M,)),) * 2))
    assert not f.host_passes(two, spec(pci_requests=(PciRequest("K20m", 1, (K20M,)),) * 3))
    # "any" accepts K20M or P2; "k20m" only K20M. A greedy pass giving "any" the K20M first
    # would fail; a device assignment exists (any -> P2, k20m -> K20M).
    p2 = ("10de", "1029")
    flexible, strict = PciRequest("any", 1, (K20M, p2)), PciRequest("k20m", 1, (K20M,))
    assert f.host_passes(host("h", pci_free={K20M: 1, p2: 1}), spec(pci_requests=(flexible, strict)))
    assert not f.host_passes(host("h", pci_free={K20M: 1, p2: 0}), spec(pci_requests=(flexible, strict)))
    assert not f.host_passes(host("h", pci_free={p2: 5}), spec(pci_requests=(flexible, strict)))
    assert f.host_passes(host("h"), spec())


# --- server groups ---------------------------------------------------------------------------

def test_affinity():
    f = ServerGroupAffinityFilter()
    assert f.host_passes(host("a"), spec(group_policy="affinity"))  # first member: anywhere
    placed = spec(group_policy="affinity", group_hosts={"b": 1})
    assert not f.host_passes(host("a"), placed)
    assert f.host_passes(host("b"), placed)
    assert f.host_passes(host("a"), spec(group_policy="anti-affinity", group_hosts={"b": 1}))
    decision = default_scheduler().select([host("a"), host("b"), host("c")], placed)
    assert names(decision) == ["b"]


def test_affinity_fault_when_group_host_is_full():
    hosts = [host("a", memory_mb=512, memory_mb_used=512), host("b")]
    decision = default_scheduler().select(hosts, spec(group_policy="affinity", group_hosts={"a": 1}))
    assert decision.fault.endswith(
        "RamFilter removed 1 of 2 hosts; ServerGroupAffinityFilter removed 1 of 1 host."
    )


def test_anti_affinity_with_max_server_per_host():
    f = ServerGroupAntiAffinityFilter()
    one = spec(group_policy="anti-affinity", group_hosts={"a": 1, "b": 2})
    assert not f.host_passes(host("a"), one)
    assert f.host_passes(host("c"), one)
    two = spec(group_policy="anti-affinity", group_hosts={"a": 1, "b": 2}, max_server_per_host=2)
    assert f.host_passes(host("a"), two)
    assert not f.host_passes(host("b"), two)
    assert f.host_passes(host("a"), spec(group_policy="soft-anti-affinity", group_hosts={"a": 5}))
    assert sorted(names(default_scheduler().select([host("a"), host("b"), host("c")], two))) == ["a", "c"]


def test_soft_affinity_ranks_but_never_excludes():
    # "full" is the fullest host, so spreading alone would put it last.
    hosts = [host("empty"), host("half", memory_mb_used=16384), host("full", memory_mb_used=30000, vcpus_used=12)]
    s = default_scheduler()
    assert names(s.select(hosts, spec()))[0] == "empty"
    soft = s.select(hosts, spec(group_policy="soft-affinity", group_hosts={"full": 2, "half": 1}))
    assert names(soft) == ["full", "half", "empty"]
    # Hard policy names are not weighers: the same placement with "affinity" filters instead.
    assert sorted(names(s.select(hosts, spec(group_policy="affinity", group_hosts={"full": 2, "half": 1})))) == [
        "full", "half"]


def test_soft_anti_affinity_ranks_but_never_excludes():
    hosts = [host("empty"), host("half", memory_mb_used=16384), host("full", memory_mb_used=30000, vcpus_used=12)]
    decision = default_scheduler().select(
        hosts, spec(group_policy="soft-anti-affinity", group_hosts={"empty": 3, "half": 1})
    )
    assert names(decision) == ["full", "half", "empty"]
    assert decision.fault is None


# --- hints -----------------------------------------------------------------------------------

def test_same_host_and_different_host():
    hosts = [host("a"), host("b"), host("c")]
    s = default_scheduler()
    assert sorted(names(s.select(hosts, spec(same_host=frozenset({"a", "c", "gone"}))))) == ["a", "c"]
    assert s.select(hosts, spec(same_host=frozenset())).hosts == []  # hinted instances nowhere
    assert SameHostFilter().host_passes(host("x"), spec())
    assert sorted(names(s.select(hosts, spec(different_host=frozenset({"a"}))))) == ["b", "c"]
    assert not DifferentHostFilter().host_passes(host("a"), spec(different_host=frozenset({"a"})))
    assert DifferentHostFilter().host_passes(host("a"), spec())


# --- weighing --------------------------------------------------------------------------------

def test_spread_and_stack():
    hosts = [host("mid", memory_mb_used=8000, vcpus_used=4, local_gb_used=100),
             host("empty"),
             host("busy", memory_mb_used=20000, vcpus_used=10, local_gb_used=300)]
    assert names(default_scheduler("spread").select(hosts, spec())) == ["empty", "mid", "busy"]
    assert names(default_scheduler("stack").select(hosts, spec())) == ["busy", "mid", "empty"]
    with pytest.raises(ValueError):
        Scheduler(strategy="random")


def test_weights_are_normalised_per_weigher():
    # RAM differs by 1 MB, CPU by 8 vCPUs: after min-max each counts 0..1, so they cancel
    # and the tie goes to the name; raw sums would let RAM's units win.
    hosts = [host("b", memory_mb_used=0, vcpus_used=8), host("a", memory_mb_used=1, vcpus_used=0)]
    s = Scheduler(weighers=[RAMWeigher(), CPUWeigher(), DiskWeigher()])
    assert names(s.select(hosts, spec())) == ["a", "b"]
    assert names(Scheduler(weighers=[RAMWeigher()]).select(hosts, spec())) == ["b", "a"]


def test_ties_are_broken_by_name_and_results_are_deterministic():
    hosts = [host(f"h{i:02d}") for i in range(20)]
    random.Random(7).shuffle(hosts)
    s = default_scheduler()
    first = names(s.select(hosts, spec()))
    assert first == sorted(first) and len(first) == 20
    random.Random(8).shuffle(hosts)
    assert names(s.select(hosts, spec())) == first
    assert names(default_scheduler("stack").select(hosts, spec())) == first


# --- faults, logs, fits, composition ---------------------------------------------------------

def test_fault_names_filters_and_counts():
    hosts = [host(f"small{i}", memory_mb=256) for i in range(3)] + [host("big1"), host("big2")]
    decision = default_scheduler().select(
        hosts, spec(pci_requests=pci_requests({"pci_passthrough:alias": "K20m:1"}, ALIASES))
    )
    assert decision.hosts == []
    assert decision.fault == (
        "No valid host was found. There are not enough hosts available. "
        "RamFilter removed 3 of 5 hosts; PciPassthroughFilter removed 2 of 2 hosts."
    )
    # Filters after the one that left nothing are not run.
    assert decision.filter_log == [
        ("ComputeFilter", 5, 5), ("VCPUFilter", 5, 5), ("RamFilter", 5, 2),
        ("DiskFilter", 2, 2), ("PciPassthroughFilter", 2, 0),
    ]


def test_no_hosts_at_all():
    decision = default_scheduler().select([], spec())
    assert decision == Decision(hosts=[], fault="No valid host was found. There are no compute hosts.", filter_log=[])


def test_success_has_no_fault_and_logs_applied_filters():
    decision = default_scheduler().select([host("a"), host("b", up=False)], spec(different_host=frozenset({"x"})))
    assert names(decision) == ["a"]
    assert decision.fault is None
    assert [name for name, _, _ in decision.filter_log] == [
        "ComputeFilter", "VCPUFilter", "RamFilter", "DiskFilter", "DifferentHostFilter"]


def test_fits_matches_select():
    s = default_scheduler()
    request = spec(memory_mb=1024, group_policy="anti-affinity", group_hosts={"taken": 1})
    assert s.fits(host("ok"), request)
    assert not s.fits(host("small", memory_mb=1000), request)
    assert not s.fits(host("taken"), request)
    assert not s.fits(host("off", enabled=False), request)
    hosts = [host("ok"), host("small", memory_mb=1000), host("taken"), host("ok2")]
    assert sorted(names(s.select(hosts, request))) == sorted(h.name for h in hosts if s.fits(h, request))


def test_filter_names_and_custom_filters():
    assert default_scheduler().filter_names == [
        "ComputeFilter", "AvailabilityZoneFilter", "VCPUFilter", "RamFilter", "DiskFilter",
        "PciPassthroughFilter", "ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter",
        "SameHostFilter", "DifferentHostFilter",
    ]

    class EvenOnly:  # no ``applies``: the scheduler runs it for every spec
        name = "EvenOnly"

        def host_passes(self, h: HostState, s: RequestSpec) -> bool:
            return int(h.name[1:]) % 2 == 0

    s = Scheduler(filters=[EvenOnly()], weighers=[])
    hosts = [host(f"h{i}", memory_mb=0) for i in range(5)]  # no RamFilter here: no memory is fine
    decision = s.select(hosts, spec())
    assert names(decision) == ["h0", "h2", "h4"]
    assert decision.filter_log == [("EvenOnly", 5, 3)]
    assert s.filter_names == ["EvenOnly"]
    assert not s.fits(host("h1"), spec())
    assert names(Scheduler(filters=[]).select(hosts, spec(memory_mb=10**9))) == [f"h{i}" for i in range(5)]
