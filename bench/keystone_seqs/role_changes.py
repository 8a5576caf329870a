"""What happens to existing tokens when the roles behind them change. A token's roles are those
its user holds on its scope when it is validated: removing a direct, domain, inherited, system
or group grant, an implication rule or a role takes that role out of the token; a token left
with no role on its scope is 404 on validation and 401 when used, and works again once a role
is back. Taking the user out of a group, or deleting a group that held a role, revokes the
user's tokens for good. Each validation's label carries the roles the token shows (names
without the run's suffix), so that a difference in the roles is a difference in the steps."""

from ._keystone_quirks import empty_token_cache, next_second
from ._setup import domain_project_user


def _validate(api, label: str, token: str) -> None:
    """Validate ``token`` and use it (``/v3/auth/projects``); the label names the roles shown."""
    resp = api.call("probe", "GET", "/v3/auth/tokens", headers={"X-Subject-Token": token})
    api.steps.pop()  # recorded again below, under a label naming what it showed
    roles = sorted(r["name"].removesuffix(f"-{api.run_id}") for r in (resp or {}).get("token", {}).get("roles", []))
    api.call(f"{label}: roles {', '.join(roles) or '-'}", "GET", "/v3/auth/tokens",
             headers={"X-Subject-Token": token})
    api.call(f"{label}: use it", "GET", "/v3/auth/projects", token=token)


def _then(api, what: str, token: str, steps: list[tuple[str, str, str]]) -> None:
    """Each step ``(label, method, path)``: send it, then validate and use ``token``."""
    for label, method, path in steps:
        api.call(f"{what}: {label}", method, path)
        _validate(api, f"{what}: after {label}", token)


def _grants(api, what: str, grant, scope: dict, ids: tuple[str, str, str], a: str, b: str) -> None:
    """Two grants (``grant(role)``: the path of one), a token on ``scope``; take them away one by
    one, then give one back. ``ids``: the domain, project and user."""
    _, proj_id, user_id = ids
    api.call(f"{what}: grant a", "PUT", grant(a))
    api.call(f"{what}: grant b", "PUT", grant(b))
    token = api.token(user_id=user_id, password="pw-123456", **scope)
    _validate(api, f"{what}: token", token)
    _then(api, what, token, [("revoke b", "DELETE", grant(b))])
    api.call(f"{what}: revoke a", "DELETE", grant(a))
    if what == "system":
        empty_token_cache(api, what, proj_id, user_id, b)  # see _keystone_quirks
    _validate(api, f"{what}: after revoke a", token)
    _then(api, what, token, [("grant a back", "PUT", grant(a))])
    api.call(f"{what}: revoke a at the end", "DELETE", grant(a))


def _groups(api, ids: tuple[str, str, str], a: str, b: str) -> None:
    """The user holds ``b`` on the project directly and ``a`` through a group. A membership's
    removal revokes the user's tokens for good (Keystone's revocation event for the user), and
    so does a group's deletion when the group held a role; a group grant's removal does not."""
    dom_id, proj_id, user_id = ids
    call = api.call
    gid = call("create group", "POST", "/v3/groups", {"group": {"name": api.name("rcgrp"), "domain_id": dom_id}})
    gid = gid["group"]["id"]
    member, grant = f"/v3/groups/{gid}/users/{user_id}", f"/v3/projects/{proj_id}/groups/{gid}/roles/{a}"
    direct = f"/v3/projects/{proj_id}/users/{user_id}/roles/{b}"
    call("group: add member", "PUT", member)
    call("group: grant a to group", "PUT", grant)
    call("group: grant b to user", "PUT", direct)
    token = api.token(user_id=user_id, password="pw-123456", project_id=proj_id)
    _validate(api, "group: token", token)
    _then(api, "group", token, [("revoke group grant", "DELETE", grant), ("grant a to group back", "PUT", grant),
                                ("remove member", "DELETE", member), ("add member back", "PUT", member)])
    next_second()  # see _keystone_quirks
    token = api.token(user_id=user_id, password="pw-123456", project_id=proj_id)
    _validate(api, "group: new token", token)
    bare = call("create group without roles", "POST", "/v3/groups",
                {"group": {"name": api.name("rcbare"), "domain_id": dom_id}})["group"]["id"]
    call("group: add member to group without roles", "PUT", f"/v3/groups/{bare}/users/{user_id}")
    _then(api, "group", token, [("revoke user grant", "DELETE", direct), ("revoke group grant again", "DELETE", grant),
                                ("grant a to group once more", "PUT", grant),
                                ("delete group without roles", "DELETE", f"/v3/groups/{bare}"),
                                ("delete group", "DELETE", f"/v3/groups/{gid}")])
    next_second()  # see _keystone_quirks


def _implied(api, ids: tuple[str, str, str], a: str, b: str) -> None:
    _, proj_id, user_id = ids
    grant, rule = f"/v3/projects/{proj_id}/users/{user_id}/roles/{a}", f"/v3/roles/{a}/implies/{b}"
    api.call("implied: imply", "PUT", rule)
    api.call("implied: grant a", "PUT", grant)
    token = api.token(user_id=user_id, password="pw-123456", project_id=proj_id)
    _validate(api, "implied: token", token)
    _then(api, "implied", token, [("delete rule", "DELETE", rule), ("imply again", "PUT", rule)])
    api.call("implied: delete rule at the end", "DELETE", rule)
    api.call("implied: revoke a", "DELETE", grant)


def _role_deleted(api, ids: tuple[str, str, str], a: str) -> None:
    """A token with ``a`` and a role that is then deleted; then ``a``'s deletion too."""
    _, proj_id, user_id = ids
    c = api.call("deleted: create role c", "POST", "/v3/roles", {"role": {"name": api.name("rc-c")}})["role"]["id"]
    api.call("deleted: grant a", "PUT", f"/v3/projects/{proj_id}/users/{user_id}/roles/{a}")
    api.call("deleted: grant c", "PUT", f"/v3/projects/{proj_id}/users/{user_id}/roles/{c}")
    token = api.token(user_id=user_id, password="pw-123456", project_id=proj_id)
    _validate(api, "deleted: token", token)
    _then(api, "deleted", token, [("delete role c", "DELETE", f"/v3/roles/{c}"),
                                  ("delete role a", "DELETE", f"/v3/roles/{a}")])


def sequence(api) -> None:
    call = api.call
    ids = dom_id, proj_id, user_id = domain_project_user(api, "rc")
    a = call("create role a", "POST", "/v3/roles", {"role": {"name": api.name("rc-a")}})["role"]["id"]
    b = call("create role b", "POST", "/v3/roles", {"role": {"name": api.name("rc-b")}})["role"]["id"]
    for what, grant, scope in (
            ("project", lambda r: f"/v3/projects/{proj_id}/users/{user_id}/roles/{r}", {"project_id": proj_id}),
            ("domain", lambda r: f"/v3/domains/{dom_id}/users/{user_id}/roles/{r}", {"domain_id": dom_id}),
            ("system", lambda r: f"/v3/system/users/{user_id}/roles/{r}", {"system": True}),
            ("inherited", lambda r: f"/v3/OS-INHERIT/domains/{dom_id}/users/{user_id}/roles/{r}/inherited_to_projects",
             {"project_id": proj_id})):
        _grants(api, what, grant, scope, ids, a, b)
    _groups(api, ids, a, b)
    _implied(api, ids, a, b)
    _role_deleted(api, ids, a)
    call("delete role b", "DELETE", f"/v3/roles/{b}")
    call("delete user", "DELETE", f"/v3/users/{user_id}")
    call("delete project", "DELETE", f"/v3/projects/{proj_id}")
    call("disable domain", "PATCH", f"/v3/domains/{dom_id}", {"domain": {"enabled": False}})
    call("delete domain", "DELETE", f"/v3/domains/{dom_id}")
