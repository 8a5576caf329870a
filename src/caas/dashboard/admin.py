"""The admin section (every page and post here needs the admin role):

- ``/admin/hypervisors``: each hypervisor's state and usage (vCPUs, RAM, disk against their
  capacity after the allocation ratios, running VMs).
- ``/admin/projects``: all projects; create, enable or disable, delete.
- ``/admin/users``: all users; create (optionally with a role on a project), enable or
  disable, delete.
- ``/admin/role-assignments``: who has which role where; grant a role on a project, revoke.
- ``/admin/quotas``: one project's compute, network and volume quotas, and their change.

The dashboard refuses to disable or delete the user and project of the admin's own session
(that would end it); everything else is the Identity, Compute, Network and Volume APIs' to allow.
Every post is a ``forms.action``: a refusal goes back to the page with the reason, a 404 (an
unknown id) is the error page.
"""

from __future__ import annotations

import math

from starlette.responses import Response

from caas.dashboard.client import ApiError
from caas.dashboard.forms import (FIELD_MAX, ID_MAX, PAGE_SIZE, Invalid, action, choice, ident, integer, marker,
                                  paging, part, text)
from caas.dashboard.pages import Pages, View

pages = Pages()
ID3 = "/identity/v3"
NAME_MAX = 64  # Keystone's limit for a project name
PASSWORD_MAX = FIELD_MAX
QUOTA_MAX = 2**31 - 1
STATES = {"true": True, "false": False}


def by_name(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda i: (i.get("name") or "").lower())


async def all_of(view: View, collection: str) -> list[dict]:
    """An Identity list (Keystone does not page), sorted by name."""
    return by_name((await view.api.get(f"{ID3}/{collection}"))[collection])


async def set_enabled(view: View, collection: str, key: str, own_id: str | None, label: str) -> str:
    """PATCH ``enabled`` from the form's ``enabled`` (true or false) on ``view.params['id']``."""
    enabled = STATES[choice(view, "enabled", "Enabled", tuple(STATES))]
    if not enabled:
        not_own(view, own_id, label)
    body = (await view.api.patch(f"{ID3}/{collection}/{part(view.params['id'])}", {key: {"enabled": enabled}},
                                 "application/json"))[key]
    return f"{label.capitalize()} {body['name']} {'enabled' if enabled else 'disabled'}."


def not_own(view: View, own_id: str | None, label: str) -> None:
    if view.params["id"] == own_id:
        raise Invalid(f"This is the {label} of your own session; use another admin session to change that.")


# ---- hypervisors -----------------------------------------------------------------------------
# (label, unit, total's key, used's key, the setting of its allocation ratio)
RESOURCES = (("vCPUs", "", "vcpus", "vcpus_used", "cpu_allocation_ratio"),
             ("RAM", " (MiB)", "memory_mb", "memory_mb_used", "ram_allocation_ratio"),
             ("Disk", " (GB)", "local_gb", "local_gb_used", "disk_allocation_ratio"))


def usage(hypervisor: dict, settings) -> list[dict]:
    """A hypervisor's vCPUs, RAM and disk as the scheduler counts them: ``capacity`` is the
    physical ``total`` times the allocation ratio (rounded down: the filters compare whole
    units with that product), ``used`` what its servers claim, which may pass ``total``.
    The ratios are this caas's settings, with which it registers every host; the compute API
    does not publish them (Nova's are in Placement)."""
    out = []
    for label, _, total_key, used_key, setting in RESOURCES:
        total, ratio = hypervisor.get(total_key) or 0, float(getattr(settings, setting))
        out.append({"label": label, "used": hypervisor.get(used_key) or 0, "total": total, "ratio": ratio,
                    "capacity": math.floor(total * ratio)})
    return out


@pages.page("/admin/hypervisors", admin=True)
async def hypervisors(view: View) -> Response:
    items = (await view.api.get("/compute/v2.1/os-hypervisors/detail", limit=PAGE_SIZE,
                                marker=marker(view)))["hypervisors"]
    settings = view.request.app.state.cloud.settings  # the same process (see ``usage``)
    return view.render("admin_hypervisors.html", title="Hypervisors", hypervisors=items, resources=RESOURCES,
                       usage={h["id"]: usage(h, settings) for h in items},
                       **paging(view, items, len(items) == PAGE_SIZE))


# ---- projects --------------------------------------------------------------------------------
@pages.page("/admin/projects", admin=True)
async def projects(view: View) -> Response:
    items, domains = await view.api.gather(all_of(view, "projects"), all_of(view, "domains"))
    return view.render("admin_projects.html", title="Projects", projects=items,
                       domain_name={d["id"]: d["name"] for d in domains})


@action(pages, "/admin/projects", "/admin/projects", admin=True)
async def create_project(view: View) -> str:
    name = text(view, "name", "Name", max_len=NAME_MAX)
    description = text(view, "description", "Description", required=False)
    await view.api.post(f"{ID3}/projects", {"project": {"name": name, "description": description}})
    return f"Project {name} created."


@action(pages, "/admin/projects/{id}/enabled", "/admin/projects", admin=True)
async def enable_project(view: View) -> str:
    return await set_enabled(view, "projects", "project", view.session.project_id, "project")


@action(pages, "/admin/projects/{id}/delete", "/admin/projects", admin=True)
async def delete_project(view: View) -> str:
    not_own(view, view.session.project_id, "project")
    await view.api.delete(f"{ID3}/projects/{part(view.params['id'])}")
    return "Project deleted."


# ---- users -----------------------------------------------------------------------------------
@pages.page("/admin/users", admin=True)
async def users(view: View) -> Response:
    items, projects_, roles = await view.api.gather(all_of(view, "users"), all_of(view, "projects"),
                                                    all_of(view, "roles"))
    return view.render("admin_users.html", title="Users", users=items, projects=projects_, roles=roles,
                       project_name={p["id"]: p["name"] for p in projects_})


@action(pages, "/admin/users", "/admin/users", admin=True)
async def create_user(view: View) -> str:
    """A user; with a project and a role, the user's default project and a grant of the role
    on it (a refused grant leaves the user, and says so)."""
    name = text(view, "name", "Name")
    password = text(view, "password", "Password", max_len=PASSWORD_MAX)
    email = text(view, "email", "Email", required=False)
    project_id = text(view, "project_id", "Project", required=False, max_len=ID_MAX)
    role_id = text(view, "role_id", "Role", required=False, max_len=ID_MAX)
    if bool(project_id) != bool(role_id):
        raise Invalid("Choose both a project and a role, or neither.")
    user: dict = {"name": name, "password": password}
    if email:
        user["email"] = email
    if project_id:
        user["default_project_id"] = project_id
    created = (await view.api.post(f"{ID3}/users", {"user": user}))["user"]
    if project_id:
        try:
            await grant(view, project_id, created["id"], role_id)
        except ApiError as exc:
            raise Invalid(f"User {name} was created, but the role was not granted: {exc.message}") from None
        return f"User {name} created, with the role on the project."
    return f"User {name} created."


@action(pages, "/admin/users/{id}/enabled", "/admin/users", admin=True)
async def enable_user(view: View) -> str:
    return await set_enabled(view, "users", "user", view.session.ctx.user.id, "user")


@action(pages, "/admin/users/{id}/delete", "/admin/users", admin=True)
async def delete_user(view: View) -> str:
    not_own(view, view.session.ctx.user.id, "user")
    await view.api.delete(f"{ID3}/users/{part(view.params['id'])}")
    return "User deleted."


# ---- role assignments ------------------------------------------------------------------------
SCOPES = ("project", "domain")


def grant_path(scope: str, target_id: str, user_id: str, role_id: str) -> str:
    return f"{ID3}/{scope}s/{part(target_id)}/users/{part(user_id)}/roles/{part(role_id)}"


async def grant(view: View, project_id: str, user_id: str, role_id: str) -> None:
    await view.api.put(grant_path("project", project_id, user_id, role_id))


@pages.page("/admin/role-assignments", admin=True)
async def role_assignments(view: View) -> Response:
    found, users_, projects_, roles = await view.api.gather(
        view.api.get(f"{ID3}/role_assignments", include_names="true"), all_of(view, "users"),
        all_of(view, "projects"), all_of(view, "roles"))
    rows = []
    for a in found["role_assignments"]:
        if "user" not in a or "system" in a["scope"]:
            continue  # the page lists users' roles on projects and domains (not groups', not the system's)
        scope = "project" if "project" in a["scope"] else "domain"
        rows.append({"user": a["user"], "role": a["role"], "scope": scope, "target": a["scope"][scope]})
    rows.sort(key=lambda r: ((r["user"].get("name") or "").lower(), r["scope"], r["target"].get("name") or "",
                             r["role"].get("name") or ""))
    return view.render("admin_role_assignments.html", title="Role assignments", rows=rows, users=users_,
                       projects=projects_, roles=roles)


@action(pages, "/admin/role-assignments", "/admin/role-assignments", admin=True)
async def grant_role(view: View) -> str:
    user_id, project_id, role_id = (ident(view, "user_id", "User"), ident(view, "project_id", "Project"),
                                    ident(view, "role_id", "Role"))
    await grant(view, project_id, user_id, role_id)
    return "Role granted."


@action(pages, "/admin/role-assignments/revoke", "/admin/role-assignments", admin=True)
async def revoke_role(view: View) -> str:
    scope = choice(view, "scope", "Scope", SCOPES)
    target_id, user_id, role_id = (ident(view, "target_id", scope.capitalize()), ident(view, "user_id", "User"),
                                   ident(view, "role_id", "Role"))
    await view.api.delete(grant_path(scope, target_id, user_id, role_id))
    return "Role revoked."


# ---- quotas ----------------------------------------------------------------------------------
class Service:
    """One service's quota set: where it lives, the body's key, the limits the page edits."""

    def __init__(self, name: str, key: str, path: str, limits: tuple[tuple[str, str], ...]) -> None:
        self.name, self.key, self.path, self.limits = name, key, path, limits

    def url(self, view: View, project_id: str) -> str:
        return self.path.format(admin=part(view.session.project_id), project=part(project_id))

    def field(self, resource: str) -> str:
        return f"{self.name}_{resource}"

    async def current(self, view: View, project_id: str) -> dict:
        return (await view.api.get(self.url(view, project_id)))[self.key]


QUOTAS = (
    Service("compute", "quota_set", "/compute/v2.1/os-quota-sets/{project}",
            (("instances", "Instances"), ("cores", "vCPUs"), ("ram", "RAM (MiB)"))),
    Service("network", "quota", "/network/v2.0/quotas/{project}",
            (("floatingip", "Floating IPs"), ("network", "Networks"), ("port", "Ports"), ("router", "Routers"),
             ("security_group", "Security groups"))),
    Service("volume", "quota_set", "/volume/v3/{admin}/os-quota-sets/{project}",
            (("volumes", "Volumes"), ("gigabytes", "Volume storage (GiB)"))),
)


def quotas_page(project_id: str) -> str:
    return f"/admin/quotas?project={part(project_id)}"


@pages.page("/admin/quotas", admin=True)
async def quotas(view: View) -> Response:
    """The chosen project's quotas (by default the first project by name); an unknown project
    is the Identity API's 404."""
    projects_ = await all_of(view, "projects")
    wanted = view.query.get("project", "")[:ID_MAX] or (projects_[0]["id"] if projects_ else "")
    if wanted not in {p["id"] for p in projects_}:
        await view.api.get(f"{ID3}/projects/{part(wanted)}")  # its refusal is the page
    current = await view.api.gather(*(s.current(view, wanted) for s in QUOTAS))
    sections = [{"service": s, "values": values} for s, values in zip(QUOTAS, current)]
    return view.render("admin_quotas.html", title="Quotas", projects=projects_, project_id=wanted,
                       project_name=next((p["name"] for p in projects_ if p["id"] == wanted), wanted),
                       sections=sections)


@action(pages, "/admin/quotas", lambda view: quotas_page(view.field("project_id")[:ID_MAX]), admin=True)
async def update_quotas(view: View) -> str:
    """Each service whose limits the form changed gets one PUT of the changed limits; the
    others are not called. A refusal names what was saved before it."""
    project_id = ident(view, "project_id", "Project")
    wanted = {s.name: {r: integer(view, s.field(r), label, -1, QUOTA_MAX) for r, label in s.limits} for s in QUOTAS}
    await view.api.get(f"{ID3}/projects/{part(project_id)}")  # an unknown project is refused by name
    current = await view.api.gather(*(s.current(view, project_id) for s in QUOTAS))
    saved = []
    for service, now in zip(QUOTAS, current):
        changes = {r: v for r, v in wanted[service.name].items() if now.get(r) != v}
        if not changes:
            continue
        try:
            await view.api.put(service.url(view, project_id), {service.key: changes})
        except ApiError as exc:
            if exc.status == 401:
                raise
            done = f" (the {' and '.join(saved)} quotas were saved)" if saved else ""
            raise Invalid(f"The {service.name} quotas were not saved: {exc.message}{done}") from None
        saved.append(service.name)
    if not saved:
        return "Nothing changed."
    return f"Saved the {' and '.join(saved)} quotas."
