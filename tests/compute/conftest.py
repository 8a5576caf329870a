"""Helpers for the compute tests: microversion headers, a network and subnet for a project,
flavors, booting a server and waiting (bounded) for a status, hypervisor usage, private
``caas up`` servers with their own settings."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from caas.image.service import HOST_IMAGE_ID
from tests.conftest import CaasServer, client_for, fresh_database, issue_token, make_member

C = "/compute/v2.1"
N = "/network/v2.0"
IMAGE = HOST_IMAGE_ID  # the image every caas has from its first start
TINY = "1"  # DevStack's m1.tiny (1 vCPU, 512 MiB, 1 GB), created on a first start
NANO = "42"  # m1.nano (1 vCPU, 128 MiB, 1 GB)
FINAL = ("ACTIVE", "ERROR", "SHUTOFF")


def mv(version: str) -> dict:
    """The header that asks for a compute microversion."""
    return {"OpenStack-API-Version": f"compute {version}"}


def uniq(prefix: str = "s") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_of(r: httpx.Response, key: str) -> str:
    """The message of a Nova error ``{key: {"code", "message"}}``, after checking its shape."""
    body = r.json()
    assert list(body) == [key], body
    assert body[key]["code"] == r.status_code, body
    assert isinstance(body[key]["message"], str) and body[key]["message"], body
    return body[key]["message"]


def make_network(c: httpx.Client, cidr: str = "10.0.0.0/24", name: str | None = None) -> tuple[dict, dict]:
    """A network with one IPv4 subnet in the caller's project."""
    name = name or uniq("net")
    r = c.post(f"{N}/networks", json={"network": {"name": name}})
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    r = c.post(f"{N}/subnets", json={"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4,
                                                "name": name + "-subnet"}})
    assert r.status_code == 201, r.text
    return net, r.json()["subnet"]


def public_network_id(c: httpx.Client) -> str:
    return c.get(f"{N}/networks", params={"name": "public"}).json()["networks"][0]["id"]


def flavor_api_ready(c: httpx.Client) -> bool:
    """Whether POST /flavors exists yet (it is written in parallel with these tests)."""
    return c.get(f"{C}/flavors").status_code == 200


def make_flavor(admin: httpx.Client, name: str | None = None, vcpus: int = 1, ram: int = 512, disk: int = 1,
                extra_specs: dict | None = None, **attrs) -> dict:
    """A public flavor (admin); skips the test while the flavor API is not there yet."""
    if not flavor_api_ready(admin):
        pytest.skip("POST /compute/v2.1/flavors does not exist yet")
    body = {"name": name or uniq("flavor"), "vcpus": vcpus, "ram": ram, "disk": disk, **attrs}
    r = admin.post(f"{C}/flavors", json={"flavor": body})
    assert r.status_code == 200, r.text
    flavor = r.json()["flavor"]
    if extra_specs:
        r = admin.post(f"{C}/flavors/{flavor['id']}/os-extra_specs", json={"extra_specs": extra_specs})
        assert r.status_code == 200, r.text
    return flavor


def server_body(name: str | None = None, flavor: str = TINY, image: str = IMAGE, networks="none", **extra) -> dict:
    body = {"name": name or uniq(), "flavorRef": flavor, "imageRef": image, **extra}
    if networks is not None:
        body["networks"] = networks
    return body


def create(c: httpx.Client, status: int = 202, hints: dict | None = None, version: str = "2.60",
           **body) -> httpx.Response:
    """POST /servers with ``server_body(**body)`` at ``version``, asserting the status."""
    payload = {"server": server_body(**body)}
    if hints is not None:
        payload["os:scheduler_hints"] = hints
    r = c.post(f"{C}/servers", json=payload, headers=mv(version))
    assert r.status_code == status, r.text
    return r


def show(c: httpx.Client, server_id: str, version: str = "2.60") -> dict:
    r = c.get(f"{C}/servers/{server_id}", headers=mv(version))
    assert r.status_code == 200, r.text
    return r.json()["server"]


def wait_for(c: httpx.Client, server_id: str, statuses=FINAL, timeout: float = 30, version: str = "2.60") -> dict:
    """Poll until the server's status is one of ``statuses`` (and no task is running);
    fails with the last view after ``timeout`` seconds."""
    statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    deadline = time.monotonic() + timeout
    view = None
    while time.monotonic() < deadline:
        view = show(c, server_id, version)
        if view["status"] in statuses and view.get("OS-EXT-STS:task_state") is None:
            return view
        if view["status"] in FINAL and view.get("OS-EXT-STS:task_state") is None and view["status"] not in statuses:
            raise AssertionError(f"server {server_id} is {view['status']}, wanted {statuses}: "
                                 f"{json.dumps(view.get('fault'))}")
        time.sleep(0.05)
    raise AssertionError(f"server {server_id} not {statuses} after {timeout}s: {json.dumps(view)}")


def wait_gone(c: httpx.Client, server_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get(f"{C}/servers/{server_id}")
        if r.status_code == 404:
            return
        assert r.status_code == 200, r.text
        time.sleep(0.05)
    raise AssertionError(f"server {server_id} still exists after {timeout}s")


def boot(c: httpx.Client, wait: str | tuple | None = "ACTIVE", hints: dict | None = None, **body) -> dict:
    """Create one server and (by default) wait until ACTIVE; the latest view."""
    sid = create(c, hints=hints, **body).json()["server"]["id"]
    if wait is None:
        return show(c, sid)
    return wait_for(c, sid, wait)


def delete(c: httpx.Client, server_id: str) -> None:
    r = c.delete(f"{C}/servers/{server_id}")
    assert r.status_code in (204, 404), r.text
    wait_gone(c, server_id)


def delete_all(c: httpx.Client, **params) -> None:
    """Delete every server the client lists (with ``params``) and wait until they are gone."""
    ids = [s["id"] for s in c.get(f"{C}/servers", params=params).json()["servers"]]
    for sid in ids:
        assert c.delete(f"{C}/servers/{sid}").status_code in (204, 404)
    for sid in ids:
        wait_gone(c, sid)


def hypervisors(admin: httpx.Client) -> dict[str, dict]:
    """os-hypervisors/detail by host name."""
    r = admin.get(f"{C}/os-hypervisors/detail")
    assert r.status_code == 200, r.text
    return {h["hypervisor_hostname"]: h for h in r.json()["hypervisors"]}


def usage_is_zero(admin: httpx.Client) -> bool:
    return all(h["vcpus_used"] == 0 and h["memory_mb_used"] == 0 and h["local_gb_used"] == 0
               and h["running_vms"] == 0 for h in hypervisors(admin).values())


def wait_until(predicate, timeout: float = 15, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached after {timeout}s")


def set_quota(admin: httpx.Client, project_id: str, **limits) -> dict:
    r = admin.put(f"{C}/os-quota-sets/{project_id}", json={"quota_set": limits})
    assert r.status_code == 200, r.text
    return r.json()["quota_set"]


class Member:
    """A user with the member role on its own project, and a client for it."""

    def __init__(self, srv: CaasServer, admin: httpx.Client) -> None:
        info = make_member(srv, admin)
        self.__dict__.update(info)
        self.client = client_for(srv, info["token"])

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="module")
def member(server, admin):
    m = Member(server, admin)
    yield m
    m.close()


@pytest.fixture(scope="module")
def other(server, admin):
    """A member of another project."""
    m = Member(server, admin)
    yield m
    m.close()


# ---- private servers with their own settings ---------------------------------------------
class OwnServer:
    """A ``caas up`` with its own environment on a backend; ``finish()`` stops it and checks,
    as the shared fixture does, that it answered no 5xx and exited 0."""

    def __init__(self, tmp_path_factory, backend: str, env: dict, postgres_url: str | None = None) -> None:
        db_url = fresh_database(postgres_url) if backend == "postgresql" else None
        self.srv = CaasServer(tmp_path_factory.mktemp("caas") / "data", db_url, env=env).start()
        self.srv.backend = backend
        self.admin = client_for(self.srv, issue_token(self.srv))

    def finish(self) -> None:
        self.admin.close()
        errors = self.srv.server_errors()
        code = self.srv.stop()
        assert errors == 0, f"the server answered {errors} requests with a 5xx; see {self.srv.log_path}"
        assert code == 0, f"caas up exited with {code} on SIGTERM"


def own_server(request, tmp_path_factory, env: dict) -> OwnServer:
    """An OwnServer on the backend of ``request.param`` ("sqlite" or "postgresql")."""
    backend = request.param
    pg = request.getfixturevalue("postgres_server_url") if backend == "postgresql" else None
    return OwnServer(tmp_path_factory, backend, env, pg)
