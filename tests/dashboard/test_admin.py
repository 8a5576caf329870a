"""The dashboard's admin section against a real caas: hypervisors, projects, users, role
assignments, quotas. A member (of another project) gets 403 on every admin page and post and
changes nothing; each form is tested for success (checked through the API), missing and wrong
fields, oversized bodies, no CSRF token, unknown ids, and names rendered escaped."""

from __future__ import annotations

import uuid

import httpx
import pytest

from caas.config import Settings
from caas.dashboard.admin import usage
from tests.conftest import client_for, issue_token, make_member
from tests.dashboard.common import Browser, flash, submit, text

pytestmark = pytest.mark.inprocess  # pages and sessions: the app in process, no caas up

EVIL = "x;$(id)'\"<b>"
ID3 = "/identity/v3"
D = "/dashboard"


@pytest.fixture(scope="module")
def admin_api(sqlite_server):
    with client_for(sqlite_server, issue_token(sqlite_server)) as c:
        yield c


@pytest.fixture(scope="module")
def member(sqlite_server, admin_api):
    return make_member(sqlite_server, admin_api)


@pytest.fixture(scope="module")
def member_api(sqlite_server, member):
    with client_for(sqlite_server, member["token"]) as c:
        yield c


@pytest.fixture(scope="module")
def ab(sqlite_server):
    with Browser(sqlite_server) as b:
        b.login()
        yield b


@pytest.fixture(scope="module")
def mb(sqlite_server, member):
    with Browser(sqlite_server) as b:
        b.login(member["name"], member["password"], member["name"])
        yield b



def listed(api: httpx.Client, collection: str, **filters) -> list[dict]:
    r = api.get(f"{ID3}/{collection}", params=filters)
    assert r.status_code == 200, r.text
    return r.json()[collection]


def role_id(api: httpx.Client, name: str) -> str:
    return listed(api, "roles", name=name)[0]["id"]


def new_project(api: httpx.Client, name: str | None = None) -> dict:
    r = api.post(f"{ID3}/projects", json={"project": {"name": name or f"p-{uuid.uuid4().hex[:8]}"}})
    assert r.status_code == 201, r.text
    return r.json()["project"]


def new_user(api: httpx.Client, name: str | None = None) -> dict:
    r = api.post(f"{ID3}/users", json={"user": {"name": name or f"u-{uuid.uuid4().hex[:8]}", "password": "Pw_12345"}})
    assert r.status_code == 201, r.text
    return r.json()["user"]


def assignments(api: httpx.Client, **filters) -> set[tuple]:
    found = api.get(f"{ID3}/role_assignments", params=filters).json()["role_assignments"]
    # a system assignment's scope is {"system": {"all": true}}: no id
    return {(a["user"]["id"], next(iter(a["scope"])), next(iter(a["scope"].values())).get("id", "all"), a["role"]["id"])
            for a in found}


COMPUTE = "/compute/v2.1/os-quota-sets/{p}"
NETWORK = "/network/v2.0/quotas/{p}"


def quotas(api: httpx.Client, admin_project: str, project: str) -> dict:
    return {"compute": api.get(COMPUTE.format(p=project)).json()["quota_set"],
            "network": api.get(NETWORK.format(p=project)).json()["quota"],
            "volume": api.get(f"/volume/v3/{admin_project}/os-quota-sets/{project}").json()["quota_set"]}


@pytest.fixture(scope="module")
def admin_project(admin_api) -> str:
    return admin_api.get(f"{ID3}/auth/tokens", headers={"X-Subject-Token": admin_api.headers["X-Auth-Token"]}
                         ).json()["token"]["project"]["id"]


def state(api: httpx.Client, admin_project: str, project: str) -> dict:
    """Everything the admin posts could change."""
    return {"projects": sorted((p["id"], p["name"], p["enabled"], p["description"]) for p in listed(api, "projects")),
            "users": sorted((u["id"], u["name"], u["enabled"], u.get("email")) for u in listed(api, "users")),
            "assignments": assignments(api), "quotas": quotas(api, admin_project, project)}


# ---- who may ---------------------------------------------------------------------------------
PAGES = ["/admin/hypervisors", "/admin/projects", "/admin/users", "/admin/role-assignments", "/admin/quotas"]
POSTS = ["/admin/projects", "/admin/projects/{project}/enabled", "/admin/projects/{project}/delete", "/admin/users",
         "/admin/users/{user}/enabled", "/admin/users/{user}/delete", "/admin/role-assignments",
         "/admin/role-assignments/revoke", "/admin/quotas"]


def attack_form(member: dict, admin_role: str) -> dict:
    """What a member would post to make itself powerful, or to break things."""
    return {"name": "by-member", "password": "Pw_12345", "enabled": "false", "user_id": member["user_id"],
            "project_id": member["project_id"], "role_id": admin_role, "scope": "project",
            "target_id": member["project_id"], "compute_instances": "999", "compute_cores": "999",
            "compute_ram": "999", "network_floatingip": "999", "network_network": "999", "network_port": "999",
            "network_router": "999", "network_security_group": "999", "volume_volumes": "999",
            "volume_gigabytes": "999"}


def test_member_gets_403_on_every_admin_page_and_post(mb, member, admin_api, admin_project):
    before = state(admin_api, admin_project, member["project_id"])
    page = mb.get(D + "/project/networks")
    assert "/admin/" not in page.text  # no admin navigation either
    for path in PAGES:
        r = mb.get(D + path, status=403)
        assert "This page is for administrators." in text(r)
    form = attack_form(member, role_id(admin_api, "admin"))
    for path in POSTS:
        r = mb.post(D + path.format(project=member["project_id"], user=member["user_id"]), form, status=403)
        assert "This page is for administrators." in text(r)
    assert state(admin_api, admin_project, member["project_id"]) == before
    assert (member["user_id"], "project", member["project_id"], role_id(admin_api, "admin")) not in \
        assignments(admin_api)


def test_posts_without_csrf_or_oversized_are_refused(ab, member, admin_api, admin_project):
    before = state(admin_api, admin_project, member["project_id"])
    ab.get(D + "/admin/projects")
    form = attack_form(member, role_id(admin_api, "admin"))
    for path in POSTS:
        path = D + path.format(project=member["project_id"], user=member["user_id"])
        assert "CSRF" in text(ab.post(path, form, status=403, csrf=False))
        ab.post(path, {**form, "csrf_token": "x" * 64}, status=403, csrf=False)
        assert "64 KiB" in text(ab.post(path, {**form, "description": "d" * 70_000}, status=413))
    assert state(admin_api, admin_project, member["project_id"]) == before


def test_admin_pages_need_a_session(sqlite_server):
    with httpx.Client(base_url=sqlite_server.url, transport=sqlite_server.transport) as c:
        for path in PAGES:
            r = c.get(D + path)
            assert r.status_code == 303 and r.headers["location"].startswith(D + "/login")


# ---- hypervisors -----------------------------------------------------------------------------
def test_hypervisors(ab, admin_api):
    """vCPUs against the capacity the scheduler counts (the physical ones times the allocation
    ratio, 4 by default, as the server that inherits this environment has it), RAM and disk at
    their ratio of 1, with nothing more said."""
    ratio = Settings().cpu_allocation_ratio
    assert ratio == 4.0 and Settings().ram_allocation_ratio == Settings().disk_allocation_ratio == 1.0
    [h] = admin_api.get("/compute/v2.1/os-hypervisors/detail").json()["hypervisors"]
    page = ab.get(D + "/admin/hypervisors")
    shown = text(page)
    assert f"{h['hypervisor_hostname']}" in shown
    assert "vCPUs used / capacity RAM used / capacity (MiB) Disk used / capacity (GB)" in shown
    assert f"{h['vcpus_used']} / {h['vcpus'] * 4} {h['vcpus']} physical × ratio 4 {h['memory_mb_used']} / " \
           f"{h['memory_mb']} {h['local_gb_used']} / {h['local_gb']} {h['running_vms']}" in shown
    assert "up" in shown and "enabled" in shown


@pytest.mark.parametrize("vcpus, ratio, capacity", [(2, 4.0, 8), (3, 1.5, 4), (10, 0.3, 3), (0, 16.0, 0)])
def test_hypervisor_capacity_is_the_schedulers(vcpus, ratio, capacity):
    """What VCPUFilter lets a host hold (``used + wanted <= vcpus * ratio``, in whole vCPUs)."""
    settings = Settings(cpu_allocation_ratio=ratio)
    cpu, ram, disk = usage({"vcpus": vcpus, "vcpus_used": 7, "memory_mb": 512, "memory_mb_used": 0,
                            "local_gb": 10, "local_gb_used": 1}, settings)
    assert cpu == {"label": "vCPUs", "used": 7, "total": vcpus, "ratio": ratio, "capacity": capacity}
    assert (ram["capacity"], disk["capacity"], disk["used"]) == (512, 10, 1)


# ---- projects --------------------------------------------------------------------------------
def test_create_project(ab, admin_api):
    assert submit(ab, "/admin/projects", "/admin/projects", {"name": EVIL, "description": EVIL + " d"}) == \
        f"Done: Project {EVIL} created."
    [p] = listed(admin_api, "projects", name=EVIL)
    assert p["description"] == EVIL + " d" and p["enabled"] is True
    page = ab.get(D + "/admin/projects")
    assert "<b>" not in page.text and f"{EVIL} {p['id']} Default" in text(page)


@pytest.mark.parametrize("form, message", [
    ({"description": "d"}, "Error: Name is required."),
    ({"name": "p" * 65}, "Error: Name is at most 64 characters."),
    ({"name": "ok", "description": "d" * 256}, "Error: Description is at most 255 characters."),
])
def test_create_project_refusals(ab, admin_api, form, message):
    before = listed(admin_api, "projects")
    assert submit(ab, "/admin/projects", "/admin/projects", form) == message
    assert listed(admin_api, "projects") == before


def test_create_project_refused_by_the_api(ab, admin_api, member):
    before = listed(admin_api, "projects")
    message = submit(ab, "/admin/projects", "/admin/projects", {"name": member["name"]})
    assert message.startswith("Error: ") and member["name"] in message
    assert listed(admin_api, "projects") == before


def test_enable_disable_and_delete_project(ab, admin_api):
    p = new_project(admin_api)
    path = f"/admin/projects/{p['id']}"
    assert submit(ab, "/admin/projects", path + "/enabled", {"enabled": "false"}) == \
        f"Done: Project {p['name']} disabled."
    assert admin_api.get(f"{ID3}/projects/{p['id']}").json()["project"]["enabled"] is False
    assert submit(ab, "/admin/projects", path + "/enabled", {"enabled": "true"}) == \
        f"Done: Project {p['name']} enabled."
    assert admin_api.get(f"{ID3}/projects/{p['id']}").json()["project"]["enabled"] is True
    assert submit(ab, "/admin/projects", path + "/enabled", {"enabled": "maybe"}) == \
        "Error: Enabled must be one of: true, false."
    assert submit(ab, "/admin/projects", path + "/enabled", {}) == "Error: Enabled must be one of: true, false."
    page = ab.get(D + "/admin/projects")
    assert f'action="/dashboard{path}/delete"' in page.text
    assert f'data-confirm="Delete project {p["name"]}?' in page.text
    assert submit(ab, "/admin/projects", path + "/delete", {}) == "Done: Project deleted."
    assert admin_api.get(f"{ID3}/projects/{p['id']}").status_code == 404


def test_project_unknown_and_own(ab, admin_api, admin_project):
    unknown = uuid.uuid4().hex
    assert submit(ab, "/admin/projects", f"/admin/projects/{unknown}/delete", {}, status=404) == \
        f"Error: Could not find project: {unknown}."
    assert submit(ab, "/admin/projects", f"/admin/projects/{unknown}/enabled", {"enabled": "true"}, status=404) == \
        f"Error: Could not find project: {unknown}."
    for path, form in (("delete", {}), ("enabled", {"enabled": "false"})):
        message = submit(ab, "/admin/projects", f"/admin/projects/{admin_project}/{path}", form)
        assert message.startswith("Error: This is the project of your own session")
    assert admin_api.get(f"{ID3}/projects/{admin_project}").json()["project"]["enabled"] is True


# ---- users -----------------------------------------------------------------------------------
def test_create_user_with_a_role(ab, admin_api, sqlite_server):
    p = new_project(admin_api)
    member_role = role_id(admin_api, "member")
    message = submit(ab, "/admin/users", "/admin/users", {"name": EVIL, "password": "Pw_12345", "email": "a@b.example",
                                                          "project_id": p["id"], "role_id": member_role})
    assert message == f"Done: User {EVIL} created, with the role on the project."
    [u] = listed(admin_api, "users", name=EVIL)
    assert (u["email"], u["default_project_id"], u["enabled"]) == ("a@b.example", p["id"], True)
    assert assignments(admin_api, **{"user.id": u["id"]}) == {(u["id"], "project", p["id"], member_role)}
    issue_token(sqlite_server, EVIL, "Pw_12345", p["name"])  # the password works
    page = ab.get(D + "/admin/users")
    assert "<b>" not in page.text and f"{EVIL} {u['id']} ● enabled a@b.example {p['name']}" in text(page)


def test_create_user_without_a_role(ab, admin_api):
    name = f"plain-{uuid.uuid4().hex[:6]}"
    assert submit(ab, "/admin/users", "/admin/users", {"name": name, "password": "Pw_12345"}) == \
        f"Done: User {name} created."
    [u] = listed(admin_api, "users", name=name)
    assert "default_project_id" not in u and "email" not in u
    assert assignments(admin_api, **{"user.id": u["id"]}) == set()


@pytest.mark.parametrize("form, message", [
    ({"password": "Pw_12345"}, "Error: Name is required."),
    ({"name": "nopw"}, "Error: Password is required."),
    ({"name": "n" * 256, "password": "p"}, "Error: Name is at most 255 characters."),
    ({"name": "longpw", "password": "p" * 256}, "Error: Password is at most 255 characters."),
    ({"name": "halfrole", "password": "p", "project_id": "x"}, "Error: Choose both a project and a role, or neither."),
    ({"name": "halfrole", "password": "p", "role_id": "x"}, "Error: Choose both a project and a role, or neither."),
])
def test_create_user_refusals(ab, admin_api, form, message):
    before = listed(admin_api, "users")
    assert submit(ab, "/admin/users", "/admin/users", form) == message
    assert listed(admin_api, "users") == before


def test_create_user_unknown_project_or_role(ab, admin_api):
    before = listed(admin_api, "users")
    unknown = uuid.uuid4().hex
    assert submit(ab, "/admin/users", "/admin/users", {"name": "lost", "password": "p", "project_id": unknown,
                                                      "role_id": role_id(admin_api, "member")}, status=404) == \
        f"Error: Could not find project: {unknown}."
    assert listed(admin_api, "users") == before
    p = new_project(admin_api)
    message = submit(ab, "/admin/users", "/admin/users", {"name": "norole", "password": "p", "project_id": p["id"],
                                                         "role_id": unknown})
    assert message == f"Error: User norole was created, but the role was not granted: Could not find role: {unknown}."
    [u] = listed(admin_api, "users", name="norole")
    assert assignments(admin_api, **{"user.id": u["id"]}) == set()


def test_enable_disable_and_delete_user(ab, admin_api, sqlite_server):
    u = new_user(admin_api)
    path = f"/admin/users/{u['id']}"
    assert submit(ab, "/admin/users", path + "/enabled", {"enabled": "false"}) == f"Done: User {u['name']} disabled."
    assert admin_api.get(f"{ID3}/users/{u['id']}").json()["user"]["enabled"] is False
    with client_for(sqlite_server) as c:
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": u["name"], "domain": {"id": "default"}, "password": "Pw_12345"}}}}}
        assert c.post(f"{ID3}/auth/tokens", json=body).status_code == 401
    assert submit(ab, "/admin/users", path + "/enabled", {"enabled": "true"}) == f"Done: User {u['name']} enabled."
    assert admin_api.get(f"{ID3}/users/{u['id']}").json()["user"]["enabled"] is True
    assert submit(ab, "/admin/users", path + "/enabled", {"enabled": "1"}) == \
        "Error: Enabled must be one of: true, false."
    assert submit(ab, "/admin/users", path + "/delete", {}) == "Done: User deleted."
    assert admin_api.get(f"{ID3}/users/{u['id']}").status_code == 404
    assert submit(ab, "/admin/users", path + "/delete", {}, status=404) == f"Error: Could not find user: {u['id']}."


def test_own_user_cannot_be_disabled_or_deleted(ab, admin_api):
    me = listed(admin_api, "users", name="admin")[0]
    for path, form in (("delete", {}), ("enabled", {"enabled": "false"})):
        assert submit(ab, "/admin/users", f"/admin/users/{me['id']}/{path}", form).startswith(
            "Error: This is the user of your own session")
    assert admin_api.get(f"{ID3}/users/{me['id']}").json()["user"]["enabled"] is True


# ---- role assignments ------------------------------------------------------------------------
def test_grant_and_revoke(ab, admin_api):
    u, p = new_user(admin_api, EVIL + "-u"), new_project(admin_api, EVIL + "-p")
    reader = role_id(admin_api, "reader")
    page = ab.get(D + "/admin/role-assignments")
    assert f'<option value="{u["id"]}">' in page.text and f'<option value="{p["id"]}">' in page.text
    assert submit(ab, "/admin/role-assignments", "/admin/role-assignments",
                  {"user_id": u["id"], "project_id": p["id"], "role_id": reader}) == "Done: Role granted."
    assert assignments(admin_api, **{"user.id": u["id"]}) == {(u["id"], "project", p["id"], reader)}
    page = ab.get(D + "/admin/role-assignments")
    assert "<b>" not in page.text and f"{EVIL}-u project {EVIL}-p reader" in text(page)
    assert submit(ab, "/admin/role-assignments", "/admin/role-assignments/revoke",
                  {"scope": "project", "target_id": p["id"], "user_id": u["id"], "role_id": reader}) == \
        "Done: Role revoked."
    assert assignments(admin_api, **{"user.id": u["id"]}) == set()
    message = submit(ab, "/admin/role-assignments", "/admin/role-assignments/revoke",
                     {"scope": "project", "target_id": p["id"], "user_id": u["id"], "role_id": reader}, status=404)
    assert message.startswith("Error: ") and "Done" not in message


def test_domain_assignments_are_listed_and_revocable(ab, admin_api):
    u = new_user(admin_api)
    member_role = role_id(admin_api, "member")
    assert admin_api.put(f"{ID3}/domains/default/users/{u['id']}/roles/{member_role}").status_code == 204
    assert f"{u['name']} domain Default member" in text(ab.get(D + "/admin/role-assignments"))
    assert submit(ab, "/admin/role-assignments", "/admin/role-assignments/revoke",
                  {"scope": "domain", "target_id": "default", "user_id": u["id"], "role_id": member_role}) == \
        "Done: Role revoked."
    assert assignments(admin_api, **{"user.id": u["id"]}) == set()


def test_grant_and_revoke_refusals(ab, admin_api):
    u, p = new_user(admin_api), new_project(admin_api)
    reader, unknown = role_id(admin_api, "reader"), uuid.uuid4().hex
    grant = {"user_id": u["id"], "project_id": p["id"], "role_id": reader}
    page = "/admin/role-assignments"
    for field, label in (("user_id", "User"), ("project_id", "Project"), ("role_id", "Role")):
        assert submit(ab, page, page, {**grant, field: ""}) == f"Error: {label} is required."
        assert submit(ab, page, page, {**grant, field: "i" * 65}) == f"Error: {label} is at most 64 characters."
    for field, noun in (("role_id", "role"), ("user_id", "user"), ("project_id", "project")):
        assert submit(ab, page, page, {**grant, field: unknown}, status=404) == \
            f"Error: Could not find {noun}: {unknown}."
    revoke = {"scope": "project", "target_id": p["id"], "user_id": u["id"], "role_id": reader}
    assert submit(ab, page, page + "/revoke", {**revoke, "scope": "system"}) == \
        "Error: Scope must be one of: project, domain."
    assert submit(ab, page, page + "/revoke", {**revoke, "target_id": ""}) == "Error: Project is required."
    assert assignments(admin_api, **{"user.id": u["id"]}) == set()


# ---- quotas ----------------------------------------------------------------------------------
def quota_form(values: dict, project_id: str) -> dict:
    return {"project_id": project_id, **{f"{service}_{k}": str(v) for service, limits in values.items()
                                         for k, v in limits.items()}}


EDITED = {"compute": ("instances", "cores", "ram"),
          "network": ("floatingip", "network", "port", "router", "security_group"),
          "volume": ("volumes", "gigabytes")}


def edited(q: dict) -> dict:
    return {service: {k: q[service][k] for k in keys} for service, keys in EDITED.items()}


def test_quotas_page_shows_the_chosen_project(ab, admin_api, admin_project, member):
    page = ab.get(D + "/admin/quotas", project=member["project_id"])
    q = quotas(admin_api, admin_project, member["project_id"])
    for service, keys in EDITED.items():
        for k in keys:
            assert f'name="{service}_{k}" type="number" min="-1" step="1" required inputmode="numeric" ' \
                   f'value="{q[service][k]}"' in page.text
    assert f'<option value="{member["project_id"]}" selected>' in page.text
    first = sorted(listed(admin_api, "projects"), key=lambda p: p["name"].lower())[0]
    assert f'<option value="{first["id"]}" selected>' in ab.get(D + "/admin/quotas").text


def test_quotas_page_unknown_project(ab):
    unknown = uuid.uuid4().hex
    page = ab.get(D + "/admin/quotas", status=404, project=unknown)
    assert f"Could not find project: {unknown}." in text(page)


def test_update_quotas(ab, admin_api, admin_project):
    p = new_project(admin_api)
    values = edited(quotas(admin_api, admin_project, p["id"]))
    values["compute"]["instances"] = 5
    values["network"]["router"] = -1
    page = f"/admin/quotas?project={p['id']}"
    assert submit(ab, page, "/admin/quotas", quota_form(values, p["id"])) == \
        "Done: Saved the compute and network quotas."
    assert edited(quotas(admin_api, admin_project, p["id"])) == values
    assert submit(ab, page, "/admin/quotas", quota_form(values, p["id"])) == "Done: Nothing changed."
    values["volume"]["gigabytes"] = 7
    assert submit(ab, page, "/admin/quotas", quota_form(values, p["id"])) == "Done: Saved the volume quotas."
    assert edited(quotas(admin_api, admin_project, p["id"])) == values
    shown = ab.get(D + page).text
    assert 'name="compute_instances" type="number" min="-1" step="1" required inputmode="numeric" value="5"' in shown


@pytest.mark.parametrize("field, value, message", [
    ("compute_instances", "abc", "Instances must be a whole number from -1 to 2147483647, not 'abc'."),
    ("compute_ram", "1.5", "RAM (MiB) must be a whole number from -1 to 2147483647, not '1.5'."),
    ("network_port", "-2", "Ports must be a whole number from -1 to 2147483647, not '-2'."),
    ("volume_gigabytes", str(2**31),
     "Volume storage (GiB) must be a whole number from -1 to 2147483647, not '2147483648'."),
    ("network_router", "", "Routers is required."),
])
def test_update_quotas_refusals(ab, admin_api, admin_project, member, field, value, message):
    before = quotas(admin_api, admin_project, member["project_id"])
    values = edited(before)
    values["compute"]["instances"] = 3  # a change that must not be made either
    form = {**quota_form(values, member["project_id"]), field: value}
    page = f"/admin/quotas?project={member['project_id']}"
    ab.get(D + page)
    r = ab.post(D + "/admin/quotas", form)
    assert r.headers["location"] == D + page
    assert flash(ab.follow(r)) == f"Error: {message}"
    assert quotas(admin_api, admin_project, member["project_id"]) == before


def test_update_quotas_unknown_project(ab, admin_api, admin_project):
    unknown = uuid.uuid4().hex
    values = edited(quotas(admin_api, admin_project, admin_project))
    ab.get(D + "/admin/quotas")
    page = ab.post(D + "/admin/quotas", quota_form(values, unknown), status=404)
    assert f"Could not find project: {unknown}." in text(page)
    assert ab.post(D + "/admin/quotas", {**quota_form(values, ""), "csrf_token": ab.csrf}).status_code == 303


def test_a_refused_quota_shows_the_api_reason(ab, admin_api, admin_project, member, member_api):
    r = member_api.post(f"/volume/v3/{member['project_id']}/volumes", json={"volume": {"size": 1, "name": "held"}})
    assert r.status_code == 202, r.text
    before = quotas(admin_api, admin_project, member["project_id"])
    values = edited(before)
    values["compute"]["cores"] = before["compute"]["cores"] + 1
    values["volume"]["volumes"] = 0
    page = f"/admin/quotas?project={member['project_id']}"
    message = submit(ab, page, "/admin/quotas", quota_form(values, member["project_id"]))
    assert message == ("Error: The volume quotas were not saved: Quota volumes limit must be equal or greater than "
                       "existing resources. Current usage is 1 and the requested limit is 0. "
                       "(the compute quotas were saved)")
    after = quotas(admin_api, admin_project, member["project_id"])
    assert after["compute"]["cores"] == before["compute"]["cores"] + 1 and after["volume"] == before["volume"]


def test_hypervisors_unknown_marker(ab):
    assert "marker [no-such-host] not found" in text(ab.get(D + "/admin/hypervisors", status=400,
                                                             marker="no-such-host"))
