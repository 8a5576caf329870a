"""Clusters on the real OpenStack anchor (../shared/anchors/nova: Keystone 30, Nova 34 with the
fake driver, Neutron 29, Glance, Placement) through caas as its portal, as a user would.

Runs ``caas up --cloud nova-anchor`` as a process of its own (a temporary data dir, a free
port; OS_CLIENT_CONFIG_FILE the anchor's clouds.yaml, whose ``nova-anchor`` is the operator's
admin entry) and drives it with the ``caas`` command as a member of the anchor: the anchor's
admin makes (or renews) the user ``caas-bench`` with the role ``member`` on its own project
``caas-bench``; the commands get that user's clouds.yaml entry (OS_CLOUD) and CAAS_URL=<the
portal>. Clusters are made with ``--ready servers`` (no data plane runs on the anchor: a cluster
is ACTIVE once every server is ACTIVE with its addresses). In order:

1. the plan (``caas cluster create ... --dry-run``), which makes nothing;
2. a create that ends ACTIVE; its network tagged through the tags API;
3. a node add by range (``caas node add NAME -r node002..node003``);
4. the delete, leaving nothing: every resource list of the project (servers, ports, networks,
   subnets, routers, floating IPs, security groups and their rules) and the user's application
   credentials as before the create;
5. a create the portal is stopped in the middle of (SIGTERM once its network, router and
   security groups are made): started again on the same data dir, it resumes the work on the
   cluster's application credential: what the create had made is removed and the create made
   again from its start (README, "Restarts"), ACTIVE with exactly its own servers; its delete
   leaves nothing;
6. a create that fails mid-way (CAAS_CLUSTER_FAIL_AT=nodes@NAME in the portal's environment),
   rolled back to nothing (the same lists).

Before, the CLI (``caas cluster list``, ``os_cluster list``) finds the portal through the
anchor's catalog (a ``caas`` service and endpoint registered for the run, then removed); at
the end, nothing was made in the operator's (admin) project.

``--mode client`` does steps 1 to 4 and 6 with no server: each ``caas cluster``/``caas node``
command gets ``--os-cloud caas-bench`` and runs the cluster engine itself (its journal under
the run's directory, CAAS_CLUSTER_FAIL_AT in the commands' environment); it prints ``SKIP``
when this caas has no client-side mode.

Prints each check with its time; exits 0 when all holds, 1 otherwise, and 0 with
``SKIP: reason`` when the anchor is not up (start it with ``../shared/anchors/nova/start.sh
start``). The member user and its project stay for the next run (renewed each time).

    PYTHONPATH=src .venv/bin/python bench/anchor_clusters.py [--mode portal|client] [--cloud nova-anchor]
        [--network NET] [--external-network EXT]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

CLOUDS = Path(os.environ.get("ANCHOR_HOME", Path.home() / ".cache" / "caas-anchors")) / "nova" / "clouds.yaml"
MEMBER = "caas-bench"  # the anchor's user and project the clusters are made by and in


def skip(reason: str) -> None:
    print(f"SKIP: {reason}")
    sys.exit(0)


def reach(cloud: str):
    """The anchor's admin connection, or SKIP with the reason it is not up."""
    if not CLOUDS.exists():
        skip(f"no {CLOUDS}: the nova anchor was never started (../shared/anchors/nova/start.sh start)")
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(CLOUDS)
    import logging

    import openstack

    logging.getLogger("keystoneauth").setLevel(logging.ERROR)  # its discovery warning would add a line to SKIP

    try:
        conn = openstack.connect(cloud=cloud, api_timeout=20)
        conn.authorize()
        conn.network.get("/networks").raise_for_status()
        conn.compute.get("/flavors").raise_for_status()
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is a reason to skip
        from caas.portal import explain

        skip(f"the anchor's cloud {cloud!r} does not answer ({explain(exc)}); start it with "
             "../shared/anchors/nova/start.sh start")
    return conn


def member(admin, auth_url: str, region: str, password: str) -> dict:
    """The anchor's user MEMBER with the role member on the project MEMBER (made or renewed by
    the anchor's admin); its clouds.yaml entry."""
    ident = admin.identity
    project = ident.find_project(MEMBER, domain_id="default") or ident.create_project(name=MEMBER, domain_id="default")
    user = ident.find_user(MEMBER, domain_id="default")
    if user is None:
        user = ident.create_user(name=MEMBER, domain_id="default", password=password, default_project_id=project.id)
    else:
        ident.update_user(user, password=password)
    role = ident.find_role("member")
    ident.assign_project_role_to_user(project, user, role)
    return {"auth": {"auth_url": auth_url, "username": MEMBER, "password": password, "project_name": MEMBER,
                     "user_domain_name": "Default", "project_domain_name": "Default"},
            "region_name": region, "identity_api_version": 3, "_user_id": user.id}


def register(admin, url: str) -> tuple[str | None, str]:
    """The portal as the anchor's ``caas`` service (public endpoint ``url``), as its operator
    registers it; (the service's id if made here, the endpoint's id)."""
    ident = admin.identity
    service = next(iter(ident.services(type="caas")), None)
    made = None
    if service is None:
        service = ident.create_service(name="caas", type="caas", description="Cluster as a Service (bench)")
        made = service.id
    for old in ident.endpoints(service_id=service.id, interface="public"):
        ident.delete_endpoint(old)  # a previous run's port
    endpoint = ident.create_endpoint(service_id=service.id, interface="public", url=url,
                                     region_id=admin.config.region_name or "RegionOne")
    return made, endpoint.id


def unregister(admin, registered: tuple[str | None, str]) -> None:
    made, endpoint = registered
    admin.identity.delete_endpoint(endpoint, ignore_missing=True)
    if made:
        admin.identity.delete_service(made, ignore_missing=True)


def snapshot(conn, user_id: str) -> dict[str, set[str]]:
    """Every resource list of the member's project (ids) and its application credentials."""
    net, pid = conn.network, conn.current_project_id
    return {"servers": {s.id for s in conn.compute.servers()},
            "ports": {p.id for p in net.ports(project_id=pid)},
            "networks": {n.id for n in net.networks(project_id=pid)},
            "subnets": {s.id for s in net.subnets(project_id=pid)},
            "routers": {r.id for r in net.routers(project_id=pid)},
            "floating_ips": {f.id for f in net.ips(project_id=pid)},
            "security_groups": {g.id for g in net.security_groups(project_id=pid)},
            "security_group_rules": {r.id for r in net.security_group_rules(project_id=pid)},
            "application_credentials": {a.id for a in conn.identity.application_credentials(user=user_id)}}


def difference(before: dict, after: dict) -> dict:
    return {k: {"added": sorted(after[k] - before[k]), "gone": sorted(before[k] - after[k])}
            for k in before if after[k] != before[k]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def caas_command() -> list[str]:
    exe = shutil.which("caas", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "caas.cli.main"]


def os_command(name: str) -> str:
    """``os_cluster`` or ``os_node``, as installed beside this Python."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or name


class Portal:
    """``caas up --cloud NAME`` as a process, on a free port, its data dir under ``base``."""

    def __init__(self, cloud: str, base: Path, env: dict, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = base / "portal.log"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(caas_command() + ["up", "--cloud", cloud, "--data-dir", str(base / "data"),
                                                           "--port", str(self.port)],
                                         env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 120) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"caas up exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"caas up did not answer in {timeout:g} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode


def wait_settled(show, name: str, timeout: float = 300) -> dict | None:
    """The cluster once no work runs on it (None once it is gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = show(name)
        if v is None or (v["status"] in ("ACTIVE", "ERROR", "DEGRADED") and not v.get("step")):
            return v
        time.sleep(0.5)
    raise TimeoutError(f"cluster {name} still busy after {timeout:g} s")


class Run:
    """One run's user, commands and checks. ``caas`` runs a ``caas`` (or ``os_cluster``)
    command as the member user; in client mode each ``caas cluster``/``caas node`` command
    gets ``--os-cloud`` (the engine runs in the command, its journal under the run's dir)."""

    def __init__(self, args, admin, base: Path, mode: str, bad: str) -> None:
        import openstack.config
        import openstack.connection
        import yaml

        self.args, self.admin, self.base, self.mode = args, admin, base, mode
        auth_url = admin.config.config["auth"]["auth_url"]
        entry = member(admin, auth_url, admin.config.region_name or "RegionOne", secrets.token_urlsafe(16))
        self.user_id = entry.pop("_user_id")
        clouds = base / "clouds.yaml"
        clouds.write_text(yaml.safe_dump({"clouds": {MEMBER: entry}}))
        clouds.chmod(0o600)
        self.mine = openstack.connection.Connection(config=openstack.config.OpenStackConfig(
            config_files=[str(clouds)], load_envvars=False).get_one(cloud=MEMBER))
        self.clean = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CAAS_"))}
        self.clean["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
        self.env = {**self.clean, "OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLOUD": MEMBER,
                    "CAAS_CONFIG_DIR": str(base / "config")}
        if mode == "client":  # the engine runs in the command: its journal and its injected failure
            self.env.update(CAAS_CLIENT_HOME=str(base / "client"), CAAS_CLUSTER_FAIL_AT=f"nodes@{bad}")
        self.ok = True

    def cluster_options(self) -> list[str]:
        """The options of every create: the anchor's image and flavor, ready=servers, and the
        networks given (``--network``/``--external-network``), if any."""
        extra = [opt for flag, value in (("--network", self.args.network),
                                         ("--external-network", self.args.external_network)) if value
                 for opt in (flag, value)]
        return ["--image", self.args.image, "--flavor", self.args.flavor, "--ready", "servers", *extra]

    def check(self, what: str, holds: bool, detail: object = "") -> None:
        self.ok &= holds
        print(f"{'ok  ' if holds else 'FAIL'} {what}{': ' + str(detail) if detail != '' else ''}", flush=True)

    def caas(self, *argv: str, timeout: float = 600, env: dict | None = None):
        """(the finished command, its seconds)."""
        command = [os_command(argv[0]), *argv[1:]] if argv[0].startswith("os_") else caas_command() + list(argv)
        if self.mode == "client" and argv[0] in ("cluster", "node"):
            command += ["--os-cloud", MEMBER]
        start = time.monotonic()
        out = subprocess.run(command, env=env or self.env, capture_output=True, text=True, timeout=timeout)
        return out, time.monotonic() - start

    @staticmethod
    def said(out: subprocess.CompletedProcess) -> str:
        return " | ".join((out.stdout + out.stderr).strip().splitlines()[-4:])[:600]

    def show(self, name: str) -> dict | None:
        out, _ = self.caas("cluster", "show", name, "-f", "json")
        return json.loads(out.stdout) if out.returncode == 0 else None

    def snapshot(self) -> dict[str, set[str]]:
        return snapshot(self.mine, self.user_id)

    def clusters(self, good: str, bad: str, before: dict) -> None:
        """Plan, create, node add, delete and a failed create, each checked."""
        cluster = self.cluster_options()
        out, took = self.caas("cluster", "create", good, "-n", "1", *cluster, "--dry-run", "-f", "json")
        plan = json.loads(out.stdout) if out.returncode == 0 else {}
        self.check("plan (caas cluster create --dry-run)", out.returncode == 0 and not plan.get("shortfalls"),
                   f"{took:.1f} s; {len(plan.get('resources', []))} resources, cidr {plan.get('cidr')}, capacity "
                   f"{plan.get('capacity')!r}, quota "
                   f"{[(q['resource'], q['needed'], q['limit']) for q in plan.get('quota', [])]}" if plan else self.said(out))
        self.check("the plan made nothing", self.snapshot() == before)
        out, took = self.caas("cluster", "create", good, "-n", "1", *cluster)
        v = self.show(good)
        self.check("create --ready servers ends ACTIVE", out.returncode == 0 and v is not None and v["status"] == "ACTIVE",
                   f"{took:.1f} s; {v and v['status']} {v and v.get('status_reason')!r}"
                   + ("" if out.returncode == 0 else f"; {self.said(out)}"))
        if v:
            tagged = list(self.mine.network.networks(tags=f"caas-cluster-{v['id']}"))
            self.check("its network carries the cluster's tag (set through the tags API)", len(tagged) == 1)
            creds = {a.name for a in self.mine.identity.application_credentials(user=self.user_id)}
            self.check("an application credential of the member's, for the cluster", len(creds - {None}) >= 1,
                       sorted(creds))
        out, took = self.caas("node", "add", good, "-r", "node002..node003")
        nodes = sorted(n["name"] for n in (self.show(good) or {}).get("nodes", []) if n.get("role") == "compute")
        self.check("node add -r node002..node003", out.returncode == 0 and nodes == ["node001", "node002", "node003"],
                   f"{took:.1f} s; {nodes}" + ("" if out.returncode == 0 else f"; {self.said(out)}"))
        out, took = self.caas("cluster", "delete", good)
        self.check("delete", out.returncode == 0 and self.show(good) is None, f"{took:.1f} s" + (
            "" if out.returncode == 0 else f"; {self.said(out)}"))
        after = self.snapshot()
        self.check("delete left nothing (every resource list, application credentials included)", after == before,
                   difference(before, after))
        out, took = self.caas("cluster", "create", bad, "-n", "2", *cluster)
        v = self.show(bad)
        reason = (v or {}).get("status_reason") or self.said(out)
        self.check("a create failing at its nodes step rolls back", out.returncode == 1 and "rolled back" in reason,
                   f"{took:.1f} s; {reason[:300]!r}")
        after = self.snapshot()
        self.check("the rollback left nothing (every resource list, application credentials included)",
                   after == before, difference(before, after))
        if v is not None:
            self.caas("cluster", "delete", bad)

    def restart(self, portal: "Portal", again: str, before: dict, portal_env: dict) -> "Portal":
        """A create across a portal restart (SIGTERM at its head step); the portal now serving."""
        cluster = self.cluster_options()
        out, _ = self.caas("cluster", "create", again, "-n", "2", *cluster, "--no-wait")
        step = None
        while out.returncode == 0 and step in (None, "queued", "network", "router", "security_group"):
            step = (self.show(again) or {}).get("step") or "?"
            time.sleep(0.3)
        code = portal.stop()
        t1 = time.monotonic()
        portal = Portal(self.args.cloud, self.base, portal_env, port=portal.port)  # the same data dir and port
        portal.wait()
        v = wait_settled(self.show, again)
        reason = (v or {}).get("status_reason") or ""
        self.check("a portal stopped mid-create (SIGTERM) resumes the work once started again, on the cluster's "
                   "application credential: the create made again from its start ends ACTIVE",
                   out.returncode == 0 and code == 0 and v is not None and v["status"] == "ACTIVE",
                   f"stopped at step {step}; settled {time.monotonic() - t1:.1f} s after the restart: "
                   f"{v and v['status']} {reason[:160]!r}")
        servers = sorted(x.name for x in self.mine.compute.servers() if x.name.startswith(f"{again}-"))
        self.check("exactly its own servers (the first attempt's removed)",
                   servers == [f"{again}-head", f"{again}-node001", f"{again}-node002"], servers)
        out, took = self.caas("cluster", "delete", again)
        after = self.snapshot()
        self.check("its delete left nothing, the credential included",
                   out.returncode == 0 and after == before, f"{took:.1f} s; {difference(before, after)}")
        return portal


def portal_run(run: Run, suffix: str, bad: str) -> None:
    """Everything through ``caas up --cloud``: its catalog entry, the clusters, a restart."""
    t0 = time.monotonic()
    portal_env = {**run.clean, "OS_CLIENT_CONFIG_FILE": str(CLOUDS), "CAAS_CLUSTER_FAIL_AT": f"nodes@{bad}"}
    portal = Portal(run.args.cloud, run.base, portal_env)
    run.env["CAAS_URL"] = portal.url
    registered = None
    try:
        portal.wait()
        run.check("caas up --cloud " + run.args.cloud, True, f"serving on {portal.url} after "
                  f"{time.monotonic() - t0:.1f} s (user {MEMBER}, role member, project {MEMBER})")
        registered = register(run.admin, portal.url)
        for argv in (["cluster", "list"], ["os_cluster", "list"]):
            out, took = run.caas(*argv, env={k: v for k, v in run.env.items() if k != "CAAS_URL"})
            run.check(f"{'caas ' if argv[0] == 'cluster' else ''}{' '.join(argv)} finds the portal in the anchor's "
                      "catalog (service type caas, no CAAS_URL)", out.returncode == 0,
                      f"{took:.1f} s" + ("" if out.returncode == 0 else f"; {run.said(out)}"))
        unregister(run.admin, registered)
        registered = None
        before = run.snapshot()
        run.clusters(f"anchor-{suffix}", bad, before)
        portal = run.restart(portal, f"anchor-resume-{suffix}", before, portal_env)
    finally:
        if registered is not None:
            unregister(run.admin, registered)
        code = portal.stop()
        run.check("the portal stops on SIGTERM with 0", code == 0, code)


def client_side() -> bool:
    """Does this caas have the client-side mode (``caas cluster create --os-cloud``)?"""
    out = subprocess.run(caas_command() + ["cluster", "create", "--help"], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "200"})
    return "--os-cloud" in out.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cloud", default="nova-anchor", help="the operator's (admin) cloud of the anchor's clouds.yaml")
    ap.add_argument("--mode", choices=("portal", "client"), default="portal",
                    help="portal: through caas up --cloud; client: caas commands with --os-cloud, no server")
    ap.add_argument("--flavor", default="anchor.tiny")
    ap.add_argument("--image", default="anchor-img")
    ap.add_argument("--network", help="a network the cloud provides, for a project that may not make its own")
    ap.add_argument("--external-network", help="the external network of the router and the floating IP")
    args = ap.parse_args()
    admin = reach(args.cloud)
    if args.mode == "client" and not client_side():
        skip("--mode client: this caas has no client-side mode (caas cluster create --os-cloud)")
    suffix = uuid.uuid4().hex[:6]
    bad = f"anchor-fail-{suffix}"
    base = Path(tempfile.mkdtemp(prefix=f"caas-anchor-{args.mode}-"))
    t0 = time.monotonic()
    run = Run(args, admin, base, args.mode, bad)
    operators = snapshot(admin, admin.current_user_id)
    try:
        if args.mode == "portal":
            portal_run(run, suffix, bad)
        else:
            run.clusters(f"anchor-{suffix}", bad, run.snapshot())
        after = snapshot(admin, admin.current_user_id)
        run.check("nothing made or left in the operator's (admin) project", after == operators,
                  difference(operators, after))
    except Exception as exc:  # noqa: BLE001 - said, and the run fails
        run.check("run", False, f"{type(exc).__name__}: {' '.join(str(exc).split())[:600]}")
    finally:
        run.mine.close()
    print(f"{args.mode} mode: total {time.monotonic() - t0:.1f} s")
    print("all held" if run.ok else f"SOMETHING FAILED (files in {base})")
    if run.ok:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if run.ok else 1


if __name__ == "__main__":
    sys.exit(main())
