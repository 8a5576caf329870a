#!/usr/bin/env python3
"""netns driver benchmark: real containers on real bridges. Prints figures; asserts nothing.
Root only; loopback and the benchmark's own namespaces only.

    sudo .venv/bin/python bench/netns.py [--rounds 20] [--burst 50]

A private ``caas up --driver netns`` (fresh data dir, CAAS_CPU_ALLOCATION_RATIO=64 so that 50
one-vCPU servers fit two cores) gets, as admin: unlimited compute and network quotas, a tenant
network 10.99.0.0/22 behind a router on ``public``, a tcp 22 rule in the default group, a key
pair and the flavor bench.nano (1 vCPU, 64 MiB, 1 GB). Then:

  boot-and-delete  --rounds x: POST /servers (image host, the tenant network), GET every
                   10 ms until ACTIVE, then until the server's sshd answers (its SSH banner read through
                   the router's namespace, by a probe process that lives there), then DELETE
                   and GET until 404. Median and p95 of the whole cycle, and of its parts.
  N at once        --burst concurrent POSTs, then one GET /servers/detail every 50 ms; the
                   time until every server is ACTIVE and its sshd answers; then all deleted
                   at once, until none is listed.
  memory           MemAvailable (/proc/meminfo) before the burst and with the burst's servers
                   idle, per instance; and the PSS of each instance's processes (its cgroup).

With --nova, the Nova anchor (../shared/anchors/nova, its fake driver: it starts nothing) and
this caas are both measured by the anchor's boot_bench.py, the same client (20 rounds, burst 50,
servers without NICs, as boot_bench.py boots them), and the ratios are printed. Without it, the
issue's reference figures: Rally's boot-and-delete for a real Nova with KVM is 8.6 s; the real
Nova with its fake driver takes 1.0 s per boot-and-delete and 34 s for 50 at once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from _common import CaasServer, interrupt_on_sigterm, pct

# Between status GETs: short enough to time a boot to 10 ms, long enough not to load the server
# (client and server share two cores; Rally polls every second, boot_bench.py every 0.2 s).
POLL = 0.01

PROBE = r"""
import socket, sys
# One line per address on stdin; answers "ok ADDR" once ADDR:22 sends an SSH banner.
for line in sys.stdin:
    addr, deadline = line.strip(), None
    import time
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((addr, 22), timeout=0.5) as s:
                if s.recv(8).startswith(b"SSH-"):
                    print("ok", addr, flush=True)
                    break
        except OSError:
            time.sleep(0.005)
    else:
        print("timeout", addr, flush=True)
"""


class Probe:
    """Processes in a router's namespace that wait for sshd banners on tenant addresses."""

    def __init__(self, netns: str, count: int = 1) -> None:
        self.procs = [subprocess.Popen(["nsenter", f"--net=/run/netns/{netns}", sys.executable, "-c", PROBE],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
                      for _ in range(count)]
        self.free = list(self.procs)
        self.lock = threading.Lock()

    def wait_ssh(self, address: str) -> bool:
        with self.lock:
            proc = self.free.pop()
        try:
            proc.stdin.write(address + "\n")
            proc.stdin.flush()
            answer = proc.stdout.readline()
            if not answer.startswith("ok"):
                print(f"probe for {address}: {answer.strip() or 'exited with ' + str(proc.poll())}", flush=True)
            return answer.startswith("ok")
        finally:
            with self.lock:
                self.free.append(proc)

    def close(self) -> None:
        for p in self.procs:
            p.stdin.close()
            p.wait(5)


def wait_router(netns: str, timeout: float = 30) -> None:
    """The router's namespace is made by the reconciler, just after the API answered: wait
    until it has its interface on the tenant network."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["ip", "-n", netns, "-br", "addr"], capture_output=True, text=True)
        if out.returncode == 0 and "10.99.0.1/" in out.stdout:
            return
        time.sleep(0.05)
    raise SystemExit(f"the router namespace {netns} did not come up in {timeout}s")


def mem_available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    raise RuntimeError("no MemAvailable")


def pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def cgroup_pids(server_id: str) -> list[int]:
    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/pids")):
        for path in root.rglob(f"cs-{server_id}"):
            procs = path / "cgroup.procs"
            if procs.exists():
                return [int(p) for p in procs.read_text().split()]
    return []


class Cloud:
    def __init__(self, srv: CaasServer) -> None:
        self.srv = srv
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=60,
                                limits=httpx.Limits(max_connections=200))
        r = self.api.post("/identity/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": "admin", "domain": {"id": "default"}, "password": srv.admin_password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        r.raise_for_status()
        self.api.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
        self.project = r.json()["token"]["project"]["id"]

    def call(self, method: str, path: str, want: int, **kw) -> dict:
        r = self.api.request(method, path, **kw)
        if r.status_code != want:
            raise SystemExit(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else {}

    def setup(self) -> tuple[str, str, str]:
        """Quotas, network, router, rule, flavor, key; returns (network id, router id, image id)."""
        self.call("PUT", f"/compute/v2.1/os-quota-sets/{self.project}", 200,
                  json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
        self.call("PUT", f"/network/v2.0/quotas/{self.project}", 200,
                  json={"quota": {"port": -1, "network": -1, "subnet": -1, "router": -1, "floatingip": -1}})
        net = self.call("POST", "/network/v2.0/networks", 201, json={"network": {"name": "bench"}})["network"]["id"]
        sub = self.call("POST", "/network/v2.0/subnets", 201, json={"subnet": {
            "network_id": net, "ip_version": 4, "cidr": "10.99.0.0/22", "name": "bench"}})["subnet"]["id"]
        public = self.call("GET", "/network/v2.0/networks?name=public", 200)["networks"][0]["id"]
        router = self.call("POST", "/network/v2.0/routers", 201, json={"router": {
            "name": "bench", "external_gateway_info": {"network_id": public}}})["router"]["id"]
        self.call("PUT", f"/network/v2.0/routers/{router}/add_router_interface", 200, json={"subnet_id": sub})
        default = self.call("GET", "/network/v2.0/security-groups?name=default&project_id=" + self.project,
                            200)["security_groups"][0]["id"]
        self.call("POST", "/network/v2.0/security-group-rules", 201, json={"security_group_rule": {
            "security_group_id": default, "direction": "ingress", "protocol": "tcp",
            "port_range_min": 22, "port_range_max": 22}})
        self.call("POST", "/compute/v2.1/flavors", 200, json={"flavor": {
            "name": "bench.nano", "id": "bench-nano", "ram": 64, "vcpus": 1, "disk": 1}})
        keydir = Path(tempfile.mkdtemp(prefix="caas-bench-key-"))
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keydir / "id")], check=True)
        self.call("POST", "/compute/v2.1/os-keypairs", 200, json={"keypair": {
            "name": "bench", "public_key": (keydir / "id.pub").read_text()}})
        image = self.call("GET", "/image/v2/images?name=host", 200)["images"][0]["id"]
        return net, router, image

    def create(self, name: str, net: str, image: str) -> str:
        return self.call("POST", "/compute/v2.1/servers", 202, json={"server": {
            "name": name, "imageRef": image, "flavorRef": "bench-nano", "key_name": "bench",
            "networks": [{"uuid": net}]}})["server"]["id"]

    def wait_active(self, server_id: str, timeout: float = 120) -> str:
        """Polls until ACTIVE; returns the server's first fixed address."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.call("GET", f"/compute/v2.1/servers/{server_id}", 200)["server"]
            if s["status"] == "ACTIVE":
                return next(a["addr"] for addrs in s["addresses"].values() for a in addrs)
            if s["status"] == "ERROR":
                raise SystemExit(f"server {server_id} went to ERROR: {s.get('fault')}")
            time.sleep(POLL)
        raise SystemExit(f"server {server_id} not ACTIVE after {timeout}s")

    def delete(self, server_id: str, timeout: float = 60) -> None:
        self.call("DELETE", f"/compute/v2.1/servers/{server_id}", 204)
        deadline = time.monotonic() + timeout
        while self.api.get(f"/compute/v2.1/servers/{server_id}").status_code != 404:
            if time.monotonic() > deadline:
                raise SystemExit(f"server {server_id} not deleted after {timeout}s")
            time.sleep(POLL)


def boot_and_delete(cloud: Cloud, probe: Probe, net: str, image: str, rounds: int) -> None:
    cycles, actives, sshs, deletes = [], [], [], []
    for i in range(rounds):
        t0 = time.perf_counter()
        sid = cloud.create(f"bd-{i}", net, image)
        addr = cloud.wait_active(sid)
        t1 = time.perf_counter()
        if not probe.wait_ssh(addr):
            raise SystemExit(f"sshd of {sid} ({addr}) never answered")
        t2 = time.perf_counter()
        cloud.delete(sid)
        t3 = time.perf_counter()
        cycles.append(t3 - t0)
        actives.append(t1 - t0)
        sshs.append(t2 - t0)
        deletes.append(t3 - t2)
    for label, values in (("boot-and-delete (create -> ACTIVE -> SSH answers -> deleted)", cycles),
                          ("  create -> ACTIVE", actives), ("  create -> SSH answering", sshs),
                          ("  delete -> 404", deletes)):
        values = sorted(values)
        print(f"{label:<62} median {statistics.median(values) * 1000:7.0f} ms   p95 {pct(values, 0.95):7.0f} ms"
              f"   (n={len(values)})", flush=True)
    print("  target: median < 500 ms (real Nova + KVM, Rally: 8.6 s; real Nova fake driver: 1.0 s)")


def wait_all(cloud: Cloud, ids: list[str], timeout: float = 300) -> dict[str, str]:
    """One ``GET /servers/detail`` every 50 ms (not one poller per server: on two cores the
    pollers would slow the boots they time) until every server in ``ids`` is ACTIVE; returns
    their first fixed addresses."""
    wanted, deadline = set(ids), time.monotonic() + timeout
    while time.monotonic() < deadline:
        servers = {s["id"]: s for s in cloud.call("GET", "/compute/v2.1/servers/detail?limit=1000", 200)["servers"]}
        failed = [i for i in wanted if servers.get(i, {}).get("status") == "ERROR"]
        if failed:
            raise SystemExit(f"server {failed[0]} went to ERROR: {servers[failed[0]].get('fault')}")
        if all(servers.get(i, {}).get("status") == "ACTIVE" for i in wanted):
            return {i: next(a["addr"] for addrs in servers[i]["addresses"].values() for a in addrs) for i in ids}
        time.sleep(0.05)
    raise SystemExit(f"not all {len(ids)} servers ACTIVE after {timeout}s")


def wait_none(cloud: Cloud, ids: list[str], timeout: float = 300) -> None:
    wanted, deadline = set(ids), time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = {s["id"] for s in cloud.call("GET", "/compute/v2.1/servers?limit=1000", 200)["servers"]}
        if not wanted & listed:
            return
        time.sleep(0.05)
    raise SystemExit(f"servers still listed after {timeout}s")


def burst(cloud: Cloud, probe: Probe, net: str, image: str, n: int) -> None:
    before = mem_available_kib()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        ids = list(pool.map(lambda i: cloud.create(f"burst-{i}", net, image), range(n)))
        addrs = wait_all(cloud, ids)
        t_active = time.perf_counter() - t0
        answered = list(pool.map(probe.wait_ssh, addrs.values()))
    t_ssh = time.perf_counter() - t0
    print(f"{n} at once: all ACTIVE after {t_active:.2f} s, all answering SSH after {t_ssh:.2f} s "
          f"({sum(answered)}/{n} answered)   target < 10 s (real Nova fake driver: 34 s)", flush=True)
    time.sleep(3)  # idle
    after = mem_available_kib()
    pss = [pss_kib(cgroup_pids(i)) for i in ids]
    print(f"memory per idle instance: {(before - after) / n / 1024:.1f} MiB (MemAvailable, {n} instances); "
          f"PSS of its processes: median {statistics.median(pss) / 1024:.1f} MiB   target < 10 MB", flush=True)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(lambda i: cloud.call("DELETE", f"/compute/v2.1/servers/{i}", 204), ids))
    wait_none(cloud, ids)
    print(f"{n} deleted at once: {time.perf_counter() - t0:.2f} s", flush=True)


def side_by_side(srv: CaasServer) -> None:
    """boot_bench.py against this caas (real containers) and against the Nova anchor."""
    from compute import ANCHORS, NovaAnchor, boot_bench_lines, run_boot_bench

    caas_bb = run_boot_bench(srv.data_dir / "clouds.yaml", "caas", "bench.nano", "host", 20, 50)
    nova = NovaAnchor(ANCHORS)
    nova.start()
    try:
        nova_bb = run_boot_bench(nova.home / "clouds.yaml", "nova-anchor", "anchor.tiny", "anchor-img", 20, 50)
    finally:
        nova.stop()
    for line in boot_bench_lines("caas", caas_bb) + boot_bench_lines("nova", nova_bb):
        print(line)

    def ratio(*path: str) -> str:
        a, b = caas_bb, nova_bb
        for k in path:
            a, b = (a or {}).get(k), (b or {}).get(k)
        return f"x{a / b:.3f}" if a and b else "n/a"

    print(f"ratios caas(netns)/nova(fake driver), same client: boot-and-delete median "
          f"{ratio('serial', 'boot_and_delete', 'median_s')}, 50 at once all ACTIVE {ratio('burst', 'all_active_s')}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--nova", action="store_true", help="also measure the Nova anchor (minutes, ~2 GB)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/netns.py runs real containers: run it as root")
    interrupt_on_sigterm()
    os.environ.update(CAAS_DRIVER="netns", CAAS_CPU_ALLOCATION_RATIO="64")
    srv = CaasServer(prefix="caas-bench-netns-")
    srv.start(" (driver netns)")
    probe = None
    try:
        cloud = Cloud(srv)
        net, router, image = cloud.setup()
        netns = f"cs-r{router.replace('-', '')[:10]}"
        wait_router(netns)
        probe = Probe(netns, count=max(1, args.burst))
        boot_and_delete(cloud, probe, net, image, args.rounds)
        burst(cloud, probe, net, image, args.burst)
        if args.nova:
            side_by_side(srv)
    finally:
        if probe:
            probe.close()
        data_dir = srv.data_dir
        srv.proc and srv.proc.send_signal(15)
        srv.proc and srv.proc.wait(30)
        subprocess.run([str(Path(sys.executable).parent / "caas"), "cleanup", "--all", "--data-dir", str(data_dir)],
                       stdout=subprocess.DEVNULL)
        srv.stop()


if __name__ == "__main__":
    main()
