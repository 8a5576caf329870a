#!/usr/bin/env python3
"""Elastic Slurm clusters: the time from ``sbatch -N 8`` on an empty elastic cluster to the job's
completion (Slurm asks caas for the eight nodes by name, caas boots them, Slurm runs the job),
and from the end of the job to the cluster scaled down again (idle for --idle-time, then
suspended by Slurm and removed by caas). Prints figures; asserts nothing. Loopback and the
cluster's own namespaces only. Root (the netns driver).

    sudo .venv/bin/python bench/slurm.py [--rounds 3] [--nodes 8] [--idle-time 10]

A private ``caas up`` (netns driver, fresh data dir, CAAS_CPU_ALLOCATION_RATIO=64); as admin in
the admin project (quotas -1): ``POST /caas/v1/clusters`` with profile slurm, image host, flavor
m1.nano, node_count 0, min_nodes 0, max_nodes N, idle_time T; then, each round, as the
cluster's user on the head (over SSH with the generated key): ``sbatch --wait -N N --wrap 'srun
hostname'`` timed from the submission to the end of ``sbatch --wait`` (the job COMPLETED, its
output names N nodes), then GET the cluster every 0.2 s until it has no compute node left
and Slurm shows every node powered down (``to empty``, from the job's end: the idle time, the
removal, Slurm's SuspendTimeout of 30 s). Then the same job on the warm
cluster of the last round's nodes (before they go: a second job in the idle time) shows what
Slurm itself costs. The target (issue 19): the job completes in under 15 s from submission on
this 2-core machine; AWS ParallelCluster's dynamic nodes take minutes.

Whatever was made is deleted at the end (also after a failure or Ctrl-C), the server stopped and
``caas cleanup --all`` run, as bench/clusters.py does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _common import CaasServer, interrupt_on_sigterm  # noqa: E402
from clusters import BASE, FLAVOR, Clusters, Failed, machine, own_session, raise_quotas, stop  # noqa: E402
from compute import environment  # noqa: E402
from netns import Cloud  # noqa: E402

from caas.clusters.guest import Head  # noqa: E402

TARGET = 15.0
NAME = "bench-slurm"


def create(cloud: Cloud, clusters: Clusters, nodes: int, idle: int) -> tuple[dict, str]:
    clusters.live.append(NAME)
    out = cloud.call("POST", BASE, 202, json={"cluster": {
        "name": NAME, "image": "host", "profile": "slurm", "node_count": 0, "node_flavor": FLAVOR,
        "head_flavor": FLAVOR, "min_nodes": 0, "max_nodes": nodes, "idle_time": idle}})
    c = clusters.wait(NAME, "ACTIVE", lambda c: c is None or c["status"] in ("ACTIVE", "ERROR"))
    if c is None or c["status"] != "ACTIVE":
        raise Failed(f"cluster {NAME}: {(c or {}).get('status')}: {(c or {}).get('status_reason')}")
    return c, out["private_key"]


def job(head: Head, user: str, nodes: int, timeout: float) -> float:
    """``sbatch -N nodes`` as ``user``; the seconds from the submission to the job's end, as
    ``squeue`` polled every 0.2 s on the head sees it (``sbatch --wait`` polls with a growing
    interval, up to tens of seconds late). Failed unless the job ran on ``nodes`` nodes."""
    submit = (f"runuser -u {user} -- sh -c 'cd /home/{user} && sbatch --parsable -N {nodes} "
              "--wrap \"srun hostname\"'")
    t0 = time.perf_counter()
    status, out = head.run(submit, timeout=60)
    job_id = out.strip().splitlines()[-1] if out.strip() else ""
    if status != 0 or not job_id.isdigit():
        raise Failed(f"sbatch failed (exit {status}): {out.strip()[-300:]}")
    deadline = time.monotonic() + timeout
    while True:
        _, state = head.run(f"squeue -h -j {job_id} -o %T 2>/dev/null; true", timeout=30)
        if state.strip() in ("", "COMPLETED"):
            break
        if time.monotonic() > deadline:
            raise Failed(f"job {job_id} still {state.strip()} after {timeout:g} s")
        time.sleep(0.2)
    elapsed = time.perf_counter() - t0
    _, out = head.run(f"sort -u /home/{user}/slurm-{job_id}.out | wc -l", timeout=30)
    if out.strip() != str(nodes):
        raise Failed(f"job {job_id} did not run on {nodes} nodes: {out.strip()[-300:]}")
    return elapsed


def to_empty(clusters: Clusters, head: Head, timeout: float) -> float:
    """From now until caas has no node left and Slurm shows every node powered down (idle~:
    after its SuspendTimeout, when a new job may resume them again)."""
    t0 = time.perf_counter()
    clusters.wait(NAME, "scaled down to no node",
                  lambda c: c is not None and c["node_count"] == 0 and c["status"] == "ACTIVE", timeout)
    deadline = time.monotonic() + timeout
    while set(head.run("sinfo -h -N -o %T", timeout=30)[1].split()) != {"idle~"}:
        if time.monotonic() > deadline:
            raise Failed("Slurm does not show every node powered down")
        time.sleep(0.5)
    return time.perf_counter() - t0


def measure(srv: CaasServer, args: argparse.Namespace) -> dict[str, list[float]]:
    cloud = Cloud(srv)
    raise_quotas(cloud)  # m1.nano (1 vCPU, 128 MiB) is one of caas's first flavors
    clusters = Clusters(cloud, args.timeout, 0.2)
    got: dict[str, list[float]] = {"job": [], "empty": [], "warm": []}
    try:
        c, key = create(cloud, clusters, args.nodes, args.idle_time)
        user = c["users"][0]
        with Head(c["floating_ip"], key) as head:
            head.connect(time.monotonic() + 60)
            for n in range(args.rounds):
                got["job"].append(job(head, user, args.nodes, args.timeout))
                if n == args.rounds - 1:
                    got["warm"].append(job(head, user, args.nodes, args.timeout))
                got["empty"].append(to_empty(clusters, head, args.timeout))
                print(f"  round {n + 1}: sbatch -N {args.nodes} to done {got['job'][-1]:.2f} s, job end to no node "
                      f"{got['empty'][-1]:.2f} s", flush=True)
    finally:
        clusters.delete_all()
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=8, help="the job's nodes, and the cluster's max_nodes (default 8)")
    ap.add_argument("--idle-time", type=int, default=10, help="the cluster's idle_time in seconds (default 10)")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    if not (1 <= args.rounds <= 20 and 1 <= args.nodes <= 64 and 10 <= args.idle_time <= 3600):
        ap.error("--rounds 1..20, --nodes 1..64, --idle-time 10..3600")
    if not Path("/usr/sbin/slurmctld").exists():
        ap.error("the slurm profile on the host image needs Debian's slurmctld, slurmd and munge (scripts/run installs "
                 "them)")
    interrupt_on_sigterm()
    srv = CaasServer(prefix="caas-bench-slurm-")
    status = 0
    got: dict[str, list[float]] = {}
    try:
        with environment(CAAS_DRIVER="netns", CAAS_CPU_ALLOCATION_RATIO="64", CAAS_TOKEN_TTL="86400"), own_session():
            srv.start(" (driver netns)")
        print(machine("netns", None), flush=True)
        got = measure(srv, args)
    except KeyboardInterrupt:
        status = 130
    except (Failed, SystemExit, httpx.HTTPError) as exc:
        print(f"failed: {exc}", flush=True)
        status = 1
    finally:
        stop(srv, "netns")
    if got.get("job"):
        med = statistics.median(got["job"])
        print(f"\nelastic Slurm cluster (max_nodes {args.nodes}, idle_time {args.idle_time} s, flavor {FLAVOR}), "
              f"{len(got['job'])} round(s): median and max")
        print(f"  sbatch -N {args.nodes} on no node, to the job's end: {med:.2f} s, max {max(got['job']):.2f} s "
              f"(target < {TARGET:g} s: {'met' if med < TARGET else 'MISSED'})")
        if got["warm"]:
            print(f"  the same job on the {args.nodes} nodes up:         {got['warm'][0]:.2f} s")
        if got["empty"]:
            print(f"  the job's end to no node, powered down in Slurm (idle {args.idle_time} s, suspended, Slurm's "
                  "SuspendTimeout 30 s): "
                  f"{statistics.median(got['empty']):.2f} s, max {max(got['empty']):.2f} s")
    sys.exit(status)


if __name__ == "__main__":
    main()
