#!/usr/bin/env python3
"""Network v2.0 port benchmark: create 1,000 ports and list them, against a private caas.

Prints figures; asserts nothing. Loopback (127.0.0.1) only.

    .venv/bin/python bench/network.py                  # private caas on SQLite (fresh data dir)
    .venv/bin/python bench/network.py --ports 2000 --concurrency 8
    .venv/bin/python bench/network.py --database-url postgresql+psycopg://postgres@/bench?host=/tmp/pg

A private caas is started as ``caas up --data-dir <tmp> --port <free>`` with
CAAS_PASSWORD_HASH_ROUNDS=4 and stopped with SIGTERM at the end. As admin, the benchmark raises
the admin project's port quota, makes a network with a /20 subnet (4,093 usable addresses), then
measures:

  create sequential   --ports POST /network/v2.0/ports, one after the other over one keep-alive
                      connection (each port gets an address and the default security group)
  list                GET /network/v2.0/ports with --ports ports, median of --list-repeats
  create concurrent   another --ports ports from --concurrency clients (one connection each)
  list (2x)           the same list with twice as many ports, for scale

with p50/p95/p99 latency and the server's CPU time per request (from /proc). Targets it compares
against: 1,000 ports created in under 5 s, a list of 1,000 ports in under 200 ms.

The client is a lean one (pre-built HTTP/1.1 requests over raw keep-alive sockets), because
client and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time

from _common import (CaasServer, Conn, build_request, concurrent_requests, cpu_seconds, interrupt_on_sigterm,
                     issue_token, pct)

CREATE_TARGET_S = 5.0     # 1,000 ports
LIST_TARGET_MS = 200.0    # list of 1,000 ports
PREFIX = "/network/v2.0"


def connect(port: int) -> Conn:
    """A keep-alive connection with room for large lists (long timeout, 256 KiB reads)."""
    return Conn(port, timeout=120.0, recv_size=262144)


def expect(status: int, want: int, data: bytes, what: str) -> dict:
    """The JSON body of an answer that must have status ``want``; exits otherwise."""
    if status != want:
        raise SystemExit(f"{what}: expected {want}, got {status}: {data[:400]!r}")
    return json.loads(data) if data else {}


def server_errors(port: int) -> int:
    """How many 5xx answers the server has counted (from its /metrics)."""
    with connect(port) as c:
        text = c.call("GET", "/metrics")[2].decode()
    return sum(int(n) for code, n in re.findall(r'code="(\d+)"\} (\d+)', text) if code.startswith("5"))


# ---- measurements ------------------------------------------------------------------------------
def create_ports(port: int, token: str, network_id: str, n: int, conc: int) -> tuple[float, list[float], dict, int]:
    """``n`` port creates from ``conc`` clients (one keep-alive connection each).
    Returns (wall seconds, latencies (in order for one client), {status: count} of failures, reconnects)."""
    raw = build_request("POST", f"{PREFIX}/ports", port, token, {"port": {"network_id": network_id}})
    return concurrent_requests(lambda: connect(port), n, conc, lambda i: raw, 201)


def list_ports(c: Conn, token: str, repeats: int) -> tuple[list[float], int, int]:
    """Times of ``repeats`` lists (after one warm-up), the number of ports and the body size."""
    raw = build_request("GET", f"{PREFIX}/ports", c.port, token)
    status, _, data = c.request(raw)
    body = expect(status, 200, data, "list ports")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        status, _, data = c.request(raw)
        times.append(time.perf_counter() - t0)
        if status != 200:
            raise SystemExit(f"list ports: {status}: {data[:300]!r}")
    return times, len(body["ports"]), len(data)


def verdict(value: float, target: float) -> str:
    """OK when ``value`` is under ``target``, else MISSED."""
    return "OK" if value < target else "MISSED"


def create_line(clients: str, n: int, wall: float, sorted_lat: list[float], cpu: float, errs: dict,
                reconnects: int) -> str:
    """The figure line of a create phase: ``n`` ports from ``clients`` in ``wall`` seconds,
    ``cpu`` server CPU seconds."""
    return (f"create {n} ports, {clients}: {wall:.2f} s  {n / wall:.0f}/s  "
            f"p50={pct(sorted_lat, .5):.1f}ms p95={pct(sorted_lat, .95):.1f}ms p99={pct(sorted_lat, .99):.1f}ms  "
            f"srv_cpu={cpu / n * 1000:.2f}ms/req errors={errs or 0}"
            f"{f' reconnects={reconnects}' if reconnects else ''}")


def create_target(n: int, wall: float) -> str:
    """The target line of a create phase (1,000 ports in CREATE_TARGET_S, pro rata)."""
    limit = CREATE_TARGET_S * n / 1000
    return f"    target: {n} ports in < {limit:g} s -> {verdict(wall, limit)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ports", type=int, default=1000, help="ports per create phase (default 1000)")
    ap.add_argument("--concurrency", type=int, default=4, help="clients of the concurrent phase (default 4)")
    ap.add_argument("--list-repeats", type=int, default=10, help="lists to take the median of (default 10)")
    ap.add_argument("--database-url", help="run caas on this database instead of SQLite (must be empty)")
    args = ap.parse_args()
    if 2 * args.ports + 10 > 4093:
        ap.error("--ports must stay under 2,040 so both phases fit the /20 subnet")

    srv = CaasServer("caas-bench-net-", args.database_url)
    interrupt_on_sigterm()
    figures: list[str] = []
    try:
        srv.start(f"; database {args.database_url}" if args.database_url else " (SQLite)")
        c = connect(srv.port)
        token, token_doc = issue_token(c, srv.admin_password)
        project_id = token_doc["project"]["id"]

        st, _, d = c.call("PUT", f"{PREFIX}/quotas/{project_id}", token,
                          {"quota": {"port": 4 * args.ports + 100}})
        quota = expect(st, 200, d, "raise the port quota")["quota"]["port"]
        st, _, d = c.call("POST", f"{PREFIX}/networks", token, {"network": {"name": "bench"}})
        net = expect(st, 201, d, "create network")["network"]
        st, _, d = c.call("POST", f"{PREFIX}/subnets", token, {"subnet": {
            "network_id": net["id"], "cidr": "10.100.0.0/20", "name": "bench-20"}})
        expect(st, 201, d, "create subnet")
        # Warm-up on a network of its own (imports, caches, the default security group), then gone.
        st, _, d = c.call("POST", f"{PREFIX}/networks", token, {"network": {"name": "warm-up"}})
        warm = expect(st, 201, d, "create warm-up network")["network"]
        st, _, d = c.call("POST", f"{PREFIX}/subnets", token, {"subnet": {
            "network_id": warm["id"], "cidr": "10.200.0.0/24"}})
        expect(st, 201, d, "create warm-up subnet")
        for _ in range(20):
            st, _, d = c.call("POST", f"{PREFIX}/ports", token, {"port": {"network_id": warm["id"]}})
            pid = expect(st, 201, d, "warm-up port")["port"]["id"]
            c.call("DELETE", f"{PREFIX}/ports/{pid}", token)
            c.call("GET", f"{PREFIX}/ports", token)
        c.close()
        print(f"admin project {project_id}: port quota {quota}; network {net['id']} with a /20 subnet; "
              f"{os.cpu_count()} CPUs shared by client and server\n", flush=True)

        n = args.ports
        cpu0 = cpu_seconds([srv.pid])
        wall, lat, errs, rc = create_ports(srv.port, token, net["id"], n, 1)
        cpu = cpu_seconds([srv.pid]) - cpu0
        k = max(1, min(100, n // 10))
        trend = (f"    p50 of the first {k} creates {statistics.median(lat[:k]) * 1000:.1f} ms, "
                 f"of the last {k} {statistics.median(lat[-k:]) * 1000:.1f} ms")
        lat.sort()
        line = create_line("sequential (1 keep-alive connection)", n, wall, lat, cpu, errs, rc)
        print(line + "\n" + trend, flush=True)
        figures.append(f"{line}\n{trend}\n{create_target(n, wall)}")

        c = connect(srv.port)
        cpu0 = cpu_seconds([srv.pid])
        times, count, size = list_ports(c, token, args.list_repeats)
        cpu = cpu_seconds([srv.pid]) - cpu0
        med = statistics.median(times) * 1000
        line = (f"list {count} ports (GET {PREFIX}/ports, {size / 1024:.0f} KiB): median {med:.1f} ms of "
                f"{args.list_repeats}  min {min(times) * 1000:.1f} ms  max {max(times) * 1000:.1f} ms  "
                f"srv_cpu={cpu / (args.list_repeats + 1) * 1000:.1f}ms/req")
        print(line, flush=True)
        figures.append(f"{line}\n    target: a list of 1,000 ports in < {LIST_TARGET_MS:g} ms -> "
                       f"{verdict(med, LIST_TARGET_MS)}{'' if count == 1000 else f' (listed {count}, not 1,000)'}")

        cpu0 = cpu_seconds([srv.pid])
        wall, lat, errs, rc = create_ports(srv.port, token, net["id"], n, args.concurrency)
        cpu = cpu_seconds([srv.pid]) - cpu0
        lat.sort()
        line = create_line(f"{args.concurrency} concurrent clients", n, wall, lat, cpu, errs, rc)
        print(line, flush=True)
        figures.append(f"{line}\n{create_target(n, wall)}")

        times, count, size = list_ports(c, token, args.list_repeats)
        med = statistics.median(times) * 1000
        line = (f"list {count} ports ({size / 1024:.0f} KiB): median {med:.1f} ms of {args.list_repeats}  "
                f"min {min(times) * 1000:.1f} ms  max {max(times) * 1000:.1f} ms  (for scale; no target)")
        print(line, flush=True)
        figures.append(line)
        c.close()

        errors = server_errors(srv.port)
        print("\n==== figures " + "=" * 70)
        for f in figures:
            print(f)
        print(f"server 5xx answers during the run: {errors}")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        srv.stop()
        print("caas stopped", flush=True)


if __name__ == "__main__":
    main()
