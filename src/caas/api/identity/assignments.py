"""Identity v3's routes for who holds which role where: groups and their members, grants (users
and groups, on projects, domains and the system; OS-INHERIT's inherited ones), implied roles,
``/v3/role_assignments`` and ``/v3/auth/system``, as one table (``ROUTES``). Their services are
the cloud's ``groups``, ``assignments``, ``roles`` and ``role_assignments``."""

from __future__ import annotations

import functools

from starlette.responses import Response

from caas.api.framework import Call, Endpoint, empty, json_response, wrapped
from caas.api.identity import schemas as S
from caas.api.identity import views as V
from caas.identity.assignments import Grant
from caas.identity.role_assignments import Query

TRUE = {"true", "1", "yes", "on", "t", "y"}


def group_view(call: Call, g) -> dict:
    return {"id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description,
            "links": V.links(call, f"groups/{g.id}")}


# ---- groups and membership -------------------------------------------------------------------
def list_groups(call: Call) -> Response:
    f = {k: call.query.get(k) for k in ("name", "domain_id") if call.query.get(k)}
    found = call.services.groups.list_groups(call.auth(), f)
    return V.collection(call, "groups", [group_view(call, g) for g in found])


def create_group(call: Call) -> Response:
    body = call.parse(wrapped("group", S.GroupCreate)).group
    g = call.services.groups.create_group(call.auth(), body.name, body.domain_id, body.description)
    return json_response({"group": group_view(call, g)}, status=201)


def get_group(call: Call) -> Response:
    g = call.services.groups.get_group(call.auth(), call.params["group_id"])
    return json_response({"group": group_view(call, g)})


def update_group(call: Call) -> Response:
    body = call.parse(wrapped("group", S.GroupUpdate)).group
    g = call.services.groups.update_group(call.auth(), call.params["group_id"], body.model_dump(exclude_unset=True))
    return json_response({"group": group_view(call, g)})


def delete_group(call: Call) -> Response:
    call.services.groups.delete_group(call.auth(), call.params["group_id"])
    return empty()


def group_users(call: Call) -> Response:
    found = call.services.groups.list_users(call.auth(), call.params["group_id"])
    return V.collection(call, "users", [V.user(call, u) for u in found])


def membership(call: Call, verb: str) -> Response:
    """PUT (``add``), HEAD/GET (``check``) or DELETE (``remove``) of a user in a group."""
    getattr(call.services.groups, f"{verb}_user")(call.auth(), call.params["group_id"], call.params["user_id"])
    return empty()


def user_groups(call: Call) -> Response:
    found = call.services.groups.groups_of_user(call.auth(), call.params["user_id"])
    # Keystone's expiring memberships (federation) never expire here
    return V.collection(call, "groups", [{**group_view(call, g), "membership_expires_at": None} for g in found])


# ---- grants ------------------------------------------------------------------------------------
def _grant(call: Call, actor: str, target: str, inherited: bool) -> Grant:
    p = call.params
    return Grant(actor, p["actor_id"], target, p.get("target_id", "system"), p.get("role_id"), inherited)


def grant(call: Call, verb: str, actor: str, target: str, inherited: bool = False) -> Response:
    """``verb`` (create, check, revoke) one grant named by the path."""
    getattr(call.services.assignments, verb)(call.auth(), _grant(call, actor, target, inherited))
    return empty()


def list_grants(call: Call, actor: str, target: str, inherited: bool = False) -> Response:
    roles = call.services.assignments.list(call.auth(), _grant(call, actor, target, inherited))
    return V.collection(call, "roles", [V.role(call, r) for r in roles])


def grant_rows(base: str, actor: str, target: str, inherited: bool = False, suffix: str = "") -> list[Endpoint]:
    """The five routes of one kind of grant: PUT/HEAD/GET/DELETE of one role, GET of the list."""
    bind = functools.partial
    kind = dict(actor=actor, target=target, inherited=inherited)
    one = f"{base}/{{role_id}}{suffix}"
    return [Endpoint("PUT", one, bind(grant, verb="create", **kind)),
            Endpoint("HEAD", one, bind(grant, verb="check", **kind)),
            Endpoint("GET", one, bind(grant, verb="check", **kind)),
            Endpoint("DELETE", one, bind(grant, verb="revoke", **kind)),
            Endpoint("GET", base + suffix, bind(list_grants, **kind))]


def _all_grant_rows() -> list[Endpoint]:
    rows = []
    for actor in ("user", "group"):
        for target in ("project", "domain"):
            path = f"/{target}s/{{target_id}}/{actor}s/{{actor_id}}/roles"
            rows += grant_rows("/v3" + path, actor, target)
            rows += grant_rows("/v3/OS-INHERIT" + path, actor, target, True, "/inherited_to_projects")
        rows += grant_rows(f"/v3/system/{actor}s/{{actor_id}}/roles", actor, "system")
    return rows


# ---- implied roles -----------------------------------------------------------------------------
def _role_ref(call: Call, r) -> dict:
    return {"id": r.id, "name": r.name, "links": V.links(call, f"roles/{r.id}")}


def _inference(call: Call, inf, single: bool) -> dict:
    implies = [_role_ref(call, r) for r in inf.implies]
    return {"prior_role": _role_ref(call, inf.prior), "implies": implies[0] if single else implies}


def put_implied(call: Call) -> Response:
    inf = call.services.roles.create_implied(call.auth(), call.params["prior_id"], call.params["implied_id"])
    return json_response({"role_inference": _inference(call, inf, True),
                          "links": V.links(call, f"roles/{inf.prior.id}/implies/{inf.implies[0].id}")}, status=201)


def get_implied(call: Call) -> Response:
    inf = call.services.roles.get_implied(call.auth(), call.params["prior_id"], call.params["implied_id"])
    return json_response({"role_inference": _inference(call, inf, True),
                          "links": V.links(call, f"roles/{inf.prior.id}/implies/{inf.implies[0].id}")})


def check_implied(call: Call) -> Response:
    call.services.roles.get_implied(call.auth(), call.params["prior_id"], call.params["implied_id"], "check")
    return empty()


def delete_implied(call: Call) -> Response:
    call.services.roles.delete_implied(call.auth(), call.params["prior_id"], call.params["implied_id"])
    return empty()


def list_implied(call: Call) -> Response:
    inf = call.services.roles.list_implied(call.auth(), call.params["prior_id"])
    return json_response({"role_inference": _inference(call, inf, False),
                          "links": V.links(call, f"roles/{inf.prior.id}/implies")})


def role_inferences(call: Call) -> Response:
    found = call.services.roles.list_inferences(call.auth())
    return json_response({"role_inferences": [_inference(call, i, False) for i in found]})  # no links, as Keystone


# ---- role assignments --------------------------------------------------------------------------
def _flag(call: Call, name: str) -> bool:
    """A query flag as Keystone reads it: present and empty, or a true word."""
    value = call.query.get(name)
    return value is not None and (value == "" or value.strip().lower() in TRUE)


def _query(call: Call) -> Query:
    q = call.query
    inherited = None
    if "scope.OS-INHERIT:inherited_to" in q:
        inherited = q["scope.OS-INHERIT:inherited_to"] == "projects"
    return Query(user_id=q.get("user.id") or None, group_id=q.get("group.id") or None,
                 role_id=q.get("role.id") or None, project_id=q.get("scope.project.id") or None,
                 domain_id=q.get("scope.domain.id") or None, system=q.get("scope.system") == "all",
                 inherited=inherited, effective=_flag(call, "effective"),
                 include_subtree=_flag(call, "include_subtree"))


def role_assignments(call: Call) -> Response:
    service = call.services.role_assignments
    refs = service.list(call.auth(), _query(call))
    names = service.names(refs) if _flag(call, "include_names") else None
    return V.collection(call, "role_assignments", [assignment_view(call, r, names) for r in refs])


def _named(ref_id: str, names: dict | None) -> dict:
    out: dict = {"id": ref_id}
    if names is not None and ref_id in names:
        name, domain = names[ref_id]
        out["name"] = name
        if domain is not None:
            out["domain"] = domain
    return out


def assignment_view(call: Call, r, names: dict | None) -> dict:
    """One role assignment as Keystone formats it (``links.assignment`` names where it came
    from: the group, the inherited domain or project above, the prior role)."""
    ind = r.indirect
    link = {"project": f"/projects/{r.target_id}", "domain": f"/domains/{r.target_id}", "system": "/system"}[r.target]
    inherited = r.inherited
    if "domain_id" in ind:
        inherited, link = True, f"/domains/{ind['domain_id']}"
    elif "project_id" in ind:  # inherited from a project above this one
        inherited, link = True, f"/projects/{ind['project_id']}"
    scope = {"system": {"all": True}} if r.target == "system" else {r.target: _named(r.target_id, names)}
    links: dict = {}
    link += f"/groups/{ind['group_id']}" if "group_id" in ind else f"/{r.actor}s/{r.actor_id}"
    if "group_id" in ind:
        links["membership"] = f"{V.v3(call)}/groups/{ind['group_id']}/users/{r.actor_id}"
    link += f"/roles/{ind.get('role_id', r.role_id)}"
    if inherited:
        scope["OS-INHERIT:inherited_to"] = "projects"
        link = f"/OS-INHERIT{link}/inherited_to_projects"
    links["assignment"] = V.v3(call) + link
    if "role_id" in ind:
        links["prior_role"] = f"{V.v3(call)}/prior_role/{r.role_id}/implies/{ind['role_id']}"
    return {"role": _named(r.role_id, names), r.actor: _named(r.actor_id, names), "scope": scope, "links": links}


def auth_system(call: Call) -> Response:
    system = [{"all": True}] if call.services.tokens.auth_system(call.auth()) else []
    return json_response({"system": system, "links": V.links(call, "auth/system")})


ROUTES = [
    Endpoint("GET", "/v3/groups", list_groups),
    Endpoint("POST", "/v3/groups", create_group),
    Endpoint("GET", "/v3/groups/{group_id}", get_group),
    Endpoint("PATCH", "/v3/groups/{group_id}", update_group),
    Endpoint("DELETE", "/v3/groups/{group_id}", delete_group),
    Endpoint("GET", "/v3/groups/{group_id}/users", group_users),
    Endpoint("PUT", "/v3/groups/{group_id}/users/{user_id}", functools.partial(membership, verb="add")),
    Endpoint("HEAD", "/v3/groups/{group_id}/users/{user_id}", functools.partial(membership, verb="check")),
    Endpoint("GET", "/v3/groups/{group_id}/users/{user_id}", functools.partial(membership, verb="check")),
    Endpoint("DELETE", "/v3/groups/{group_id}/users/{user_id}", functools.partial(membership, verb="remove")),
    Endpoint("GET", "/v3/users/{user_id}/groups", user_groups),
    *_all_grant_rows(),
    Endpoint("GET", "/v3/roles/{prior_id}/implies", list_implied),
    Endpoint("PUT", "/v3/roles/{prior_id}/implies/{implied_id}", put_implied),
    Endpoint("GET", "/v3/roles/{prior_id}/implies/{implied_id}", get_implied),
    Endpoint("HEAD", "/v3/roles/{prior_id}/implies/{implied_id}", check_implied),
    Endpoint("DELETE", "/v3/roles/{prior_id}/implies/{implied_id}", delete_implied),
    Endpoint("GET", "/v3/role_inferences", role_inferences),
    Endpoint("GET", "/v3/role_assignments", role_assignments),
    Endpoint("GET", "/v3/auth/system", auth_system),
]
