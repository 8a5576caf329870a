"""Helpers for the cluster tests: the API's paths, waiting for a cluster to settle, and what
is left of a project in the cloud (which must be nothing after a delete or a rollback)."""

from __future__ import annotations

import signal
import time

import httpx

API = "/caas/v1"
BUSY = ("CREATING", "UPDATING", "DELETING")


def body(name: str, n: int = 0, **kw) -> dict:
    cluster = {"name": name, "image": "host", "node_count": n, "node_flavor": "m1.nano", **kw}
    return {"cluster": cluster}


def wait(c: httpx.Client, ref: str, timeout: float = 120) -> dict | None:
    """The cluster once it is no longer busy (None once it is gone): in no busy status and in no
    operation (a failed create's status is ERROR from the failure on, while its rollback runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get(f"{API}/clusters/{ref}")
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        v = r.json()["cluster"]
        if v["status"] not in BUSY and not v.get("operation"):
            return v
        time.sleep(0.1)
    raise AssertionError(f"cluster {ref} still busy after {timeout} s: {v['status']} {v['step']}")


def wait_for_step(c: httpx.Client, ref: str, step: str, timeout: float = 60) -> None:
    """Until the cluster's running operation has reached ``step`` (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while c.get(f"{API}/clusters/{ref}").json()["cluster"]["step"] != step:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def create(c: httpx.Client, name: str, n: int = 0, **kw) -> dict:
    r = c.post(f"{API}/clusters", json=body(name, n, **kw))
    assert r.status_code == 202, r.text
    return wait(c, r.json()["cluster"]["id"])


def delete(c: httpx.Client, ref: str) -> None:
    r = c.delete(f"{API}/clusters/{ref}")
    assert r.status_code in (202, 404), r.text
    assert wait(c, ref) is None


def error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    e = r.json()["error"]
    assert e["code"] == status and e["message"]
    return e


def leftovers(c: httpx.Client) -> dict:
    """What the project (the client's token) has in the cloud besides its defaults."""
    out = {
        "servers": [s["name"] for s in c.get("/compute/v2.1/servers").json()["servers"]],
        "ports": [p["id"] for p in c.get("/network/v2.0/ports", params={"project_id": project(c)}).json()["ports"]],
        "networks": [n["name"] for n in c.get("/network/v2.0/networks").json()["networks"]
                     if not n.get("router:external")],
        "routers": [r["name"] for r in c.get("/network/v2.0/routers").json()["routers"]],
        "floatingips": [f["floating_ip_address"] for f in c.get("/network/v2.0/floatingips").json()["floatingips"]],
        "security_groups": [g["name"] for g in c.get("/network/v2.0/security-groups").json()["security_groups"]
                            if g["name"] != "default"],
    }
    return {k: v for k, v in out.items() if v}


# Ports Neutron makes in no project: a router's gateway on the external network, a floating IP's.
UNOWNED_PORTS = ("network:router_gateway", "network:floatingip")


def everything(admin) -> set[tuple[str, str, str]]:
    """Every server and network resource of the cloud, any project's: (kind, id, project); the
    ports of no project (UNOWNED_PORTS) as their device's. Not the security groups named
    default, which Neutron makes in a project the first time the project asks for any."""
    out = {("server", s["id"], s["tenant_id"]) for s in admin.get(
        "/compute/v2.1/servers/detail", params={"all_tenants": "1"}).json()["servers"]}
    for kind, path in (("networks", "networks"), ("subnets", "subnets"), ("routers", "routers"),
                       ("ports", "ports"), ("floatingips", "floatingips"), ("security_groups", "security-groups")):
        out |= {(kind, x["id"], x.get("project_id") or x.get("tenant_id") or "")
                for x in admin.get(f"/network/v2.0/{path}").json()[kind]
                if x.get("device_owner") not in UNOWNED_PORTS
                and not (kind == "security_groups" and x["name"] == "default")}
    devices = {x[1]: x[2] for x in out}
    out |= {("ports", x["id"], devices.get(x["device_id"], ""))
            for x in admin.get("/network/v2.0/ports").json()["ports"] if x.get("device_owner") in UNOWNED_PORTS}
    return out


def project(c: httpx.Client) -> str:
    r = c.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": c.headers["X-Auth-Token"]})
    return r.json()["token"]["project"]["id"]


def set_quota(admin: httpx.Client, project_id: str, **limits) -> None:
    r = admin.put(f"/compute/v2.1/os-quota-sets/{project_id}", json={"quota_set": limits})
    assert r.status_code == 200, r.text


def crash(srv) -> None:
    """kill -9: caas stops where it is, as on a power cut."""
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)
    srv.log.close()
