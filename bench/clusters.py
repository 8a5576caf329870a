#!/usr/bin/env python3
"""Cluster as a Service benchmark: the time from POST /caas/v1/clusters to ACTIVE, the delete,
and adding nodes to a running cluster. Prints figures; asserts nothing. Loopback only.

    sudo .venv/bin/python bench/clusters.py                  # --driver netns (the default as root)
    .venv/bin/python bench/clusters.py --driver fake         # 1+500 on the fake driver
    sudo .venv/bin/python bench/clusters.py --driver both --rounds 3

Each driver gets its own private ``caas up`` (fresh data dir, bcrypt cost 4), one after the
other, never two at once:

  netns   CAAS_DRIVER=netns, CAAS_CPU_ALLOCATION_RATIO=64 (so that 51 one-vCPU servers fit a
          small machine); root only, and only one netns caas may run on a machine. Clusters
          1+3, 1+10 and 1+50 (head + nodes), then 10 nodes added to a running 1+3. The guest
          checks are on: ACTIVE means caas reached the head over SSH and every node answers.
  fake    CAAS_DRIVER=fake with 8 fake hosts (64 vCPUs, 256 GiB, 4 TiB each), no boot delay, no
          failures. A 1+500 cluster, then 10 nodes added to a running 1+500. The guest checks
          are off (no SSH): ACTIVE servers count as ready.

As admin, in the admin project: the compute quota (instances, cores, ram) and the network quota
(ports and the rest) are set to -1. Every cluster has image ``host``, profile ``base`` and
flavor m1.nano (1 vCPU, 128 MiB) for the head and the nodes. A round of a size is: POST the
cluster, GET it every 0.1 s (--poll), or every 1 ms per node when that is longer (0.5 s for
1+500: a big cluster's GET costs the server enough to slow what it times), until ACTIVE (ERROR
stops the benchmark with the cluster's status_reason), then DELETE it and GET until 404. The add is timed on a cluster of its own,
created first: POST /nodes {"count": 10}, GET until ACTIVE again (a non-empty status_reason means
the add failed: the benchmark stops), then the delete (of the grown cluster). --rounds repeats
each; the median and the max are printed, against the targets: 1+10 < 5 s and 1+50 < 15 s
(netns), 1+500 < 60 s (fake), add 10 < 3 s (both). The per-step durations come from
GET /clusters/{name}/events, of the last round of each.

Every wait is bounded (--timeout per cluster and operation). Whatever was created is deleted
at the end, also after a failure or Ctrl-C (SIGTERM too); then the server stops (with netns,
``caas cleanup --all`` follows, as in bench/netns.py).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from _common import CaasServer, interrupt_on_sigterm
from compute import environment, hosts_yaml
from netns import Cloud

BASE = "/caas/v1/clusters"
STEPS = ("network", "router", "security_group", "head", "floating_ip", "nodes", "bootstrap", "ready")
FLAVOR = "m1.nano"
ADD = 10             # nodes added to a running cluster
ADD_TARGET = 3.0     # seconds, both drivers
# Between GETs of a cluster: 0.1 s (the engine itself looks every 0.2 s), or 1 ms per node when that
# is longer: a GET of a 1+500 cluster (94 kB) takes ~20 ms of the server's time, which it shares
# with the engine's threads (one process, the GIL); at 0.1 s it slowed the create by a fifth and
# doubled the add. So polling costs the server about 2-4% whatever the size.
POLL = 0.1
POLL_PER_NODE = 0.001
PROGRESS = 10.0      # a progress line every so many seconds of a wait
CLEANUP_TIMEOUT = 120.0  # seconds at least for each delete of the cleanup

DRIVERS = {
    "netns": {"sizes": [3, 10, 50], "add_to": 3, "targets": {10: 5.0, 50: 15.0},
              "env": {"CAAS_DRIVER": "netns", "CAAS_CPU_ALLOCATION_RATIO": "64"}},
    "fake": {"sizes": [500], "add_to": 500, "targets": {500: 60.0},
             "env": {"CAAS_DRIVER": "fake", "CAAS_FAKE_BOOT_DELAY": "0", "CAAS_FAKE_FAILURE_RATE": "0",
                     "CAAS_FAKE_HOSTS": hosts_yaml(8, vcpus=64, memory_mb=262144, local_gb=4096)}},
}
COMMON_ENV = {"CAAS_TOKEN_TTL": "86400"}  # one admin token for the whole run


class Failed(Exception):
    """A cluster went to ERROR, an add failed, or a wait ran out: the benchmark stops."""


@dataclass
class Row:
    driver: str
    label: str
    times: list[float] = field(default_factory=list)    # to ACTIVE (or ACTIVE again, for the add)
    deletes: list[float] = field(default_factory=list)
    target: float | None = None
    steps: dict[str, float] = field(default_factory=dict)  # of the last round
    delete_of: str = ""                                    # what the delete column deleted, when not the size


class Clusters:
    """The cluster API as the admin project, and the names of the clusters that may still exist."""

    def __init__(self, cloud: Cloud, timeout: float, poll: float) -> None:
        self.cloud = cloud
        self.timeout = timeout
        self.poll = poll
        self.live: list[str] = []

    def show(self, name: str) -> dict | None:
        r = self.cloud.api.get(f"{BASE}/{name}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise Failed(f"GET {BASE}/{name}: {r.status_code} {r.text[:300]}")
        return r.json()["cluster"]

    def wait(self, name: str, what: str, done, timeout: float | None = None) -> dict | None:
        """GET the cluster every ``poll`` s until ``done(cluster or None)``; Failed after the
        timeout (``timeout``, else the benchmark's)."""
        timeout = timeout or self.timeout
        t0 = time.monotonic()
        deadline, report = t0 + timeout, t0 + PROGRESS
        while True:
            c = self.show(name)
            if done(c):
                return c
            now = time.monotonic()
            if now > deadline:
                raise Failed(f"cluster {name}: not {what} after {timeout:g} s ({progress(c)})")
            if now > report:
                print(f"    {name}: {progress(c)} after {now - t0:.0f} s", flush=True)
                report += PROGRESS
            time.sleep(max(self.poll, POLL_PER_NODE * len(c["nodes"])) if c else self.poll)

    def create(self, name: str, nodes: int) -> float:
        """POST the cluster; the seconds until it is ACTIVE."""
        self.live.append(name)
        t0 = time.perf_counter()
        self.cloud.call("POST", BASE, 202, json={"cluster": {
            "name": name, "image": "host", "profile": "base", "node_count": nodes,
            "node_flavor": FLAVOR, "head_flavor": FLAVOR}})
        c = self.wait(name, "ACTIVE", lambda c: c is None or c["status"] in ("ACTIVE", "ERROR"))
        elapsed = time.perf_counter() - t0
        if c is None or c["status"] != "ACTIVE":
            raise Failed(f"cluster {name} went to {c['status'] if c else 'nowhere (404)'}: "
                         f"{(c or {}).get('status_reason')}")
        return elapsed

    def add(self, name: str, count: int) -> float:
        """POST /nodes; the seconds until the cluster is ACTIVE again."""
        t0 = time.perf_counter()
        self.cloud.call("POST", f"{BASE}/{name}/nodes", 202, json={"nodes": {"count": count}})
        c = self.wait(name, "ACTIVE again", lambda c: c is None or c["status"] != "UPDATING")
        elapsed = time.perf_counter() - t0
        if c is None or c["status"] != "ACTIVE" or c["status_reason"]:
            raise Failed(f"adding {count} nodes to {name} failed: {c['status'] if c else '404'}: "
                         f"{(c or {}).get('status_reason')}")
        return elapsed

    def delete(self, name: str, timeout: float | None = None) -> float:
        """DELETE the cluster; the seconds until GET answers 404."""
        t0 = time.perf_counter()
        r = self.cloud.api.delete(f"{BASE}/{name}")
        if r.status_code not in (202, 404):
            raise Failed(f"DELETE {BASE}/{name}: {r.status_code} {r.text[:300]}")
        self.wait(name, "deleted", lambda c: c is None, timeout)
        self.live.remove(name)
        return time.perf_counter() - t0

    def events(self, name: str, since: int = 0) -> list[dict]:
        return self.cloud.call("GET", f"{BASE}/{name}/events?since={since}", 200)["events"]

    def steps(self, name: str, since: int = 0) -> dict[str, float]:
        """The durations of the steps done (and of the whole create, as "total") after ``since``."""
        out = {}
        for e in self.events(name, since):
            if e["duration"] is not None and e["level"] != "error" and (e["step"] in STEPS or e["step"] == "create"):
                out["total" if e["step"] == "create" else e["step"]] = e["duration"]
        return out

    def last_seq(self, name: str) -> int:
        return max((e["seq"] for e in self.events(name)), default=0)

    def delete_all(self) -> None:
        """Delete whatever is left (after a failure or Ctrl-C); reports what would not go."""
        for name in list(self.live):
            try:
                print(f"cleaning up: deleting cluster {name}", flush=True)
                self.delete(name, max(self.timeout, CLEANUP_TIMEOUT))
            except (Failed, SystemExit, httpx.HTTPError) as exc:
                print(f"cleaning up: cluster {name} not deleted: {exc}", flush=True)


def progress(c: dict | None) -> str:
    if c is None:
        return "gone (404)"
    return (f"{c['status']}, step {c['step']}, {c['nodes_ready']}/{c['node_count']} nodes ready"
            + (f", {c['status_reason']}" if c["status_reason"] else ""))


def raise_quotas(cloud: Cloud) -> None:
    cloud.call("PUT", f"/compute/v2.1/os-quota-sets/{cloud.project}", 200,
               json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
    cloud.call("PUT", f"/network/v2.0/quotas/{cloud.project}", 200, json={"quota": {
        r: -1 for r in ("port", "network", "subnet", "router", "floatingip", "security_group", "security_group_rule")}})


def machine(driver: str, database_url: str | None) -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    database = f"{database_url.split(':', 1)[0]} (--database-url)" if database_url else "SQLite (in the data dir)"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: nproc {len(os.sched_getaffinity(0))} ({os.cpu_count()} CPUs), {mem_gib:.1f} GiB RAM, "
            f"Linux {platform.release()}, Python {platform.python_version()}, load average {load}; "
            f"driver {driver}; database {database}")


def stop(srv: CaasServer, driver: str) -> None:
    """Stop the server; after the netns driver, remove its kernel objects as bench/netns.py does."""
    if driver == "netns" and srv.proc is not None:
        srv.proc.terminate()
        try:
            srv.proc.wait(60)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            srv.proc.wait()
        subprocess.run([str(Path(sys.executable).parent / "caas"), "cleanup", "--all", "--data-dir", str(srv.data_dir)],
                       stdout=subprocess.DEVNULL)
    srv.stop()


@contextlib.contextmanager
def own_session():
    """While CaasServer.start runs, its Popen puts the server in a session of its own: a Ctrl-C
    in the terminal then reaches only this script, which deletes its clusters through the
    server before it stops it (SIGTERM). In the terminal's process group, caas would stop on the
    same Ctrl-C, with the clusters' work half done."""
    popen = subprocess.Popen
    subprocess.Popen = functools.partial(popen, start_new_session=True)
    try:
        yield
    finally:
        subprocess.Popen = popen


def server_log_tail(srv: CaasServer, lines: int = 30) -> str:
    try:
        return "\n".join((Path(srv.tmp.name) / "caas.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def measure(srv: CaasServer, driver: str, args: argparse.Namespace, rows: list[Row]) -> None:
    """Every size, then the add, on the running ``srv``; appends to ``rows`` as it goes and
    deletes whatever is left at the end, also on failure or Ctrl-C."""
    spec = DRIVERS[driver]
    sizes = args.sizes or spec["sizes"]
    add_to = min(args.sizes) if args.sizes else spec["add_to"]
    cloud = Cloud(srv)
    raise_quotas(cloud)
    clusters = Clusters(cloud, args.timeout, args.poll)
    try:
        for n in sizes:
            row = Row(driver, f"1+{n}", target=spec["targets"].get(n))
            for r in range(1, args.rounds + 1):
                name = f"c{n}-r{r}"
                row.times.append(clusters.create(name, n))
                row.steps = clusters.steps(name)
                row.deletes.append(clusters.delete(name))
                print(f"  {driver} 1+{n} round {r}: ACTIVE after {row.times[-1]:.2f} s, deleted in "
                      f"{row.deletes[-1]:.2f} s", flush=True)
            rows.append(row)
        row = Row(driver, f"add {ADD} to 1+{add_to}", target=ADD_TARGET, delete_of=f"1+{add_to + ADD}")
        for r in range(1, args.rounds + 1):
            name = f"a{add_to}-r{r}"
            base = clusters.create(name, add_to)
            since = clusters.last_seq(name)
            row.times.append(clusters.add(name, ADD))
            row.steps = clusters.steps(name, since)
            row.deletes.append(clusters.delete(name))
            print(f"  {driver} add {ADD} to 1+{add_to} round {r}: 1+{add_to} ACTIVE after {base:.2f} s, "
                  f"{ADD} added in {row.times[-1]:.2f} s, 1+{add_to + ADD} deleted in {row.deletes[-1]:.2f} s",
                  flush=True)
        rows.append(row)
    finally:
        clusters.delete_all()


def run_driver(driver: str, args: argparse.Namespace, rows: list[Row]) -> None:
    """A private caas with ``driver``, measured, then stopped (also on failure or Ctrl-C)."""
    srv = CaasServer(prefix=f"caas-bench-clusters-{driver}-", database_url=args.database_url)
    try:
        with environment(**COMMON_ENV, **DRIVERS[driver]["env"]), own_session():
            srv.start(f" (driver {driver})")
        print(machine(driver, args.database_url), flush=True)
        try:
            measure(srv, driver, args, rows)
        except (Failed, SystemExit, httpx.HTTPError) as exc:  # SystemExit: Cloud.call's unexpected answer
            print(f"{driver}: {exc}\nthe server's last log lines:\n{server_log_tail(srv)}", flush=True)
            raise Failed(str(exc)) from None
    finally:
        stop(srv, driver)


def seconds(values: list[float]) -> str:
    if not values:
        return f"{'-':>9} {'-':>9}"
    return f"{statistics.median(values):7.2f} s {max(values):7.2f} s"


def table(rows: list[Row], rounds: int, poll: float) -> None:
    print(f"\nclusters (head + nodes, flavor {FLAVOR}), {rounds} round(s) each: median and max "
          f"(polled every max({poll:g} s, {POLL_PER_NODE * 1000:g} ms per node))")
    print(f"{'driver':<7} {'size':<16} {'to ACTIVE':>9} {'max':>9}  {'delete':>9} {'max':>9}  target")
    for r in rows:
        if r.target is None:
            verdict = "-"
        else:
            met = statistics.median(r.times) < r.target
            verdict = f"< {r.target:g} s: {'met' if met else 'MISSED'}"
        of = f"  (delete of {r.delete_of})" if r.delete_of else ""
        print(f"{r.driver:<7} {r.label:<16} {seconds(r.times)}  {seconds(r.deletes)}  {verdict}{of}")
    print("\nper-step durations (s) of the last round, from GET /caas/v1/clusters/{name}/events")
    columns = [(c, max(6, len(c))) for c in STEPS + ("total",)]
    print(f"{'driver':<7} {'size':<16} " + " ".join(f"{c:>{w}}" for c, w in columns))
    for r in rows:
        print(f"{r.driver:<7} {r.label:<16} " + " ".join(
            f"{r.steps[c]:{w}.3f}" if c in r.steps else f"{'-':>{w}}" for c, w in columns))
    print("  total: the engine's whole create (the rest of the time to ACTIVE is queueing and polling)")


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("sizes are node counts separated by commas: 3,10") from None
    if not sizes or not all(1 <= n <= 1000 - ADD for n in sizes):
        raise argparse.ArgumentTypeError(f"sizes are node counts from 1 to {1000 - ADD}")
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--driver", choices=("netns", "fake", "both"), default="netns" if os.geteuid() == 0 else "fake",
                    help="netns: 1+3, 1+10, 1+50 and add 10 to 1+3 (root); fake: 1+500 and add 10 to it; both: "
                         "one after the other (default: netns as root, else fake)")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of each size and of the add (default 1)")
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="seconds each create, add or delete may take before the benchmark stops (default 600)")
    ap.add_argument("--poll", type=float, default=POLL,
                    help=f"seconds between the GETs of a cluster while it is created, grown or deleted, at least "
                         f"(default {POLL:g}; {POLL_PER_NODE * 1000:g} ms per node when longer)")
    ap.add_argument("--database-url", help="run caas on this (empty) database instead of SQLite")
    ap.add_argument("--nova", action="store_true",
                    help="also boot as many servers at once on the Nova anchor (its fake driver) as the clusters "
                         "1+10 and 1+50 have, with its boot_bench.py, and print the ratios (minutes, ~2 GB)")
    ap.add_argument("--sizes", type=parse_sizes, help=argparse.SUPPRESS)  # e.g. 3,10: the add goes to the smallest
    args = ap.parse_args()
    if not 1 <= args.rounds <= 100 or args.timeout <= 0 or not 0 < args.poll <= 10:
        ap.error("--rounds is 1..100, --timeout positive and --poll in (0, 10]")
    drivers = ["netns", "fake"] if args.driver == "both" else [args.driver]
    if "netns" in drivers and os.geteuid() != 0:
        ap.error("the netns driver runs real containers: run it as root (or use --driver fake)")
    if args.database_url and len(drivers) > 1:
        ap.error("--database-url with --driver both: the two servers would share one database")
    interrupt_on_sigterm()
    rows: list[Row] = []
    status = 0
    try:
        for driver in drivers:
            run_driver(driver, args, rows)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        status = 130
    except Failed:
        status = 1
    if rows:
        table(rows, args.rounds, args.poll)
    if args.nova and status == 0:
        nova_side_by_side(rows)
    sys.exit(status)


def nova_side_by_side(rows: list[Row]) -> None:
    """The servers of a 1+10 and a 1+50 cluster booted at once on the Nova anchor (fake driver:
    it starts nothing, and makes no network, router or floating IP), against caas's whole
    clusters measured above."""
    from compute import ANCHORS, NovaAnchor, run_boot_bench

    nova = NovaAnchor(ANCHORS)
    nova.start()
    try:
        burst = {n: run_boot_bench(nova.home / "clouds.yaml", "nova-anchor", "anchor.tiny", "anchor-img", 1, n + 1)
                 for n in (10, 50)}
    finally:
        nova.stop()
    print("\nside by side: caas's whole cluster (network, router, groups, floating IP, real containers, SSH "
          "checks) against Nova (fake driver) booting only the same number of servers at once")
    for n, res in burst.items():
        nova_s = res.get("burst", {}).get("all_active_s")
        mine = [r for r in rows if r.label == f"1+{n}"]
        caas_s = statistics.median(mine[0].times) if mine and mine[0].times else None
        ratio = f"x{caas_s / nova_s:.2f}" if caas_s and nova_s else "-"
        print(f"  1+{n}: caas {caas_s if caas_s is None else round(caas_s, 2)} s to ACTIVE; Nova {nova_s} s for "
              f"{n + 1} servers ACTIVE; ratio caas/Nova {ratio}")


if __name__ == "__main__":
    main()
