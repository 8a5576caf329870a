"""The cluster layer against the real OpenStack anchor (../shared/anchors/nova: Keystone 30,
Nova 34 with the fake driver, Neutron 29, Glance, Placement).

Runs caas's cluster service in this process (a SQLite journal in a temporary directory), its
cloud being the clouds.yaml cloud ``nova-anchor`` (CAAS_CLUSTER_CLOUD), as the anchor's admin
in its own project (the cluster layer reaches the cloud only through openstacksdk; caas's
own identity is not involved here). Its clusters are made with ``ready=servers`` (no data
plane runs on the anchor: a cluster is ACTIVE once every server is ACTIVE with its addresses).
In order:

1. the plan (dry run), with how the capacity was checked;
2. a create (ready=servers) that ends ACTIVE; 3. a node add by range (node002..node003);
4. the delete, leaving nothing: every resource list of the project (servers, ports, networks,
   subnets, routers, floating IPs, security groups and their rules) as before the create;
5. a create that fails mid-way (CAAS_CLUSTER_FAIL_AT=nodes@...), rolled back to nothing.

Every refusal is printed in the cloud's own words. Exits 0 when all holds, 1 otherwise, and 0
with ``SKIP: reason`` when the anchor is not up (start it with
``../shared/anchors/nova/start.sh start``).

    PYTHONPATH=src .venv/bin/python bench/anchor_clusters.py [--cloud nova-anchor] [--network NET]
        [--external-network EXT]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

CLOUDS = Path(os.environ.get("ANCHOR_HOME", Path.home() / ".cache" / "caas-anchors")) / "nova" / "clouds.yaml"


def skip(reason: str) -> None:
    print(f"SKIP: {reason}")
    sys.exit(0)


def reach(cloud: str):
    """The anchor's admin connection, or SKIP with the reason it is not up."""
    if not CLOUDS.exists():
        skip(f"no {CLOUDS}: the nova anchor was never started (../shared/anchors/nova/start.sh start)")
    os.environ.setdefault("OS_CLIENT_CONFIG_FILE", str(CLOUDS))
    import openstack

    try:
        conn = openstack.connect(cloud=cloud, api_timeout=20)
        conn.authorize()
        conn.network.get("/networks").raise_for_status()
        conn.compute.get("/flavors").raise_for_status()
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is a reason to skip
        skip(f"the anchor's cloud {cloud!r} does not answer ({type(exc).__name__}: {str(exc)[:200]})")
    return conn


def snapshot(conn) -> dict[str, set[str]]:
    """Every resource list of the project (ids), to compare before and after."""
    net = conn.network
    return {"servers": {s.id for s in conn.compute.servers(all_projects=False)},
            "ports": {p.id for p in net.ports(project_id=conn.current_project_id)},
            "networks": {n.id for n in net.networks(project_id=conn.current_project_id)},
            "subnets": {s.id for s in net.subnets(project_id=conn.current_project_id)},
            "routers": {r.id for r in net.routers(project_id=conn.current_project_id)},
            "floating_ips": {f.id for f in net.ips(project_id=conn.current_project_id)},
            "security_groups": {g.id for g in net.security_groups(project_id=conn.current_project_id)},
            "security_group_rules": {r.id for r in net.security_group_rules(project_id=conn.current_project_id)}}


def difference(before: dict, after: dict) -> dict:
    return {k: {"added": sorted(after[k] - before[k]), "gone": sorted(before[k] - after[k])}
            for k in before if after[k] != before[k]}


def context(conn):
    """The anchor's admin, as the cluster service's caller (its project: the anchor's)."""
    from caas.context import AuthContext, Ref
    from caas.identity.tokens import TokenData

    now = time.time()
    token = TokenData(user_id=conn.current_user_id, methods=("password",), issued_at=now, expires_at=now + 3600,
                      audit_ids=("bench",), project_id=conn.current_project_id)
    return AuthContext(token_id="bench", token=token, user=Ref(conn.current_user_id, "admin"),
                       user_domain=Ref("default", "Default"), project=Ref(conn.current_project_id, "admin"),
                       project_domain=Ref("default", "Default"), roles=(Ref("admin", "admin"), Ref("member", "member")))


def wait(svc, ctx, name: str, timeout: float = 300) -> dict | None:
    """The cluster once its work is over (None once it is gone)."""
    from caas.errors import NotFound

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = svc.show(ctx, name)
        except NotFound:
            return None
        if v["status"] in ("ACTIVE", "ERROR", "DEGRADED") and not v.get("step"):
            return v
        time.sleep(0.5)
    raise TimeoutError(f"cluster {name} still busy after {timeout:g} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cloud", default="nova-anchor")
    ap.add_argument("--flavor", default="anchor.tiny")
    ap.add_argument("--image", default="anchor-img")
    ap.add_argument("--network", help="a network the cloud provides, for a project that may not make its own")
    ap.add_argument("--external-network", help="the external network of the router and the floating IP")
    args = ap.parse_args()
    conn = reach(args.cloud)
    suffix = uuid.uuid4().hex[:6]
    good, bad = f"anchor-{suffix}", f"anchor-fail-{suffix}"
    os.environ.update(CAAS_CLUSTER_CLOUD=args.cloud, CAAS_CLUSTER_FAIL_AT=f"nodes@{bad}")

    from caas.clusters.service import ClusterService, Request
    from caas.config import Settings
    from caas.db import Database
    from caas.db.migrate import upgrade
    from caas.errors import CaasError

    tmp = Path(tempfile.mkdtemp(prefix="caas-anchor-clusters-"))
    settings = Settings().with_(data_dir=tmp)
    upgrade(settings.db_url)
    svc = ClusterService(Database(settings.db_url), settings)
    ctx = context(conn)
    ok = True

    def check(what: str, holds: bool, detail: object = "") -> None:
        nonlocal ok
        ok &= holds
        print(f"{'ok  ' if holds else 'FAIL'} {what}{': ' + str(detail) if detail != '' else ''}")

    def request(name: str, nodes: int) -> Request:
        return Request(name=name, image=args.image, profile="base", profile_version=None, node_count=nodes,
                       node_flavor=args.flavor, head_flavor=None, key_name=None, keep_on_failure=False,
                       ready="servers", network=args.network, external_network=args.external_network)

    try:
        before = snapshot(conn)
        plan = svc.plan(ctx, request(good, 1))
        check("plan", not plan["shortfalls"], f"{len(plan['resources'])} resources, cidr {plan['cidr']}, "
              f"quota {[(q['resource'], q['needed'], q['in_use'], q['limit']) for q in plan['quota']]}, "
              f"capacity {plan['capacity']!r}")
        check("the plan made nothing", snapshot(conn) == before)
        t0 = time.monotonic()
        svc.create(ctx, request(good, 1))
        v = wait(svc, ctx, good)
        check("create (ready=servers) ends ACTIVE", v is not None and v["status"] == "ACTIVE",
              f"{v and v['status']} {v and v['status_reason']!r} in {time.monotonic() - t0:.1f} s, "
              f"floating IP {v and v['floating_ip']}")
        tagged = list(conn.network.networks(tags=f"caas-cluster-{v['id']}")) if v else []
        check("its network carries the cluster's tag (set through the tags API)", len(tagged) == 1)
        t0 = time.monotonic()
        svc.add_nodes(ctx, good, None, "node002..node003", None)
        v = wait(svc, ctx, good)
        computes = sorted(n["name"] for n in (v or {}).get("nodes", []) if n["role"] == "compute")
        check("node add by range node002..node003", v is not None and v["status"] == "ACTIVE"
              and computes == ["node001", "node002", "node003"],
              f"{computes}, {v and v['status_reason']!r} in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        svc.delete(ctx, good)
        check("delete", wait(svc, ctx, good) is None, f"gone in {time.monotonic() - t0:.1f} s")
        after = snapshot(conn)
        check("delete left nothing (every resource list as before)", after == before, difference(before, after))
        t0 = time.monotonic()
        svc.create(ctx, request(bad, 2))
        v = wait(svc, ctx, bad)
        check("a create failing at its nodes step rolls back", v is not None and v["status"] == "ERROR"
              and "rolled back, nothing is left" in v["status_reason"],
              f"{v and v['status_reason']!r} in {time.monotonic() - t0:.1f} s")
        after = snapshot(conn)
        check("the rollback left nothing (every resource list as before)", after == before, difference(before, after))
        svc.delete(ctx, bad)
        wait(svc, ctx, bad)
    except CaasError as exc:  # a refusal: the cloud's (or caas's) own words
        check("refused", False, f"{type(exc).__name__}: {exc}")
    finally:
        svc.shutdown()
    print("all held" if ok else "SOMETHING FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
