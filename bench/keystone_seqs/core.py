"""Domains, projects, users, roles, grants, role assignments and tokens: what caas had before
issue 17, as the area every later one builds on."""


def sequence(api) -> None:
    call = api.call
    dom = call("create domain", "POST", "/v3/domains", {"domain": {"name": api.name("dom"), "description": "d"}})
    dom_id = dom["domain"]["id"]
    call("show domain", "GET", f"/v3/domains/{dom_id}")
    call("list domains by name", "GET", f"/v3/domains?name={api.name('dom')}")
    call("create domain again (conflict)", "POST", "/v3/domains", {"domain": {"name": api.name("dom")}})
    call("create domain without name", "POST", "/v3/domains", {"domain": {}})
    call("create domain malformed", "POST", "/v3/domains", None, headers={"Content-Type": "application/json"})
    proj = call("create project", "POST", "/v3/projects",
                {"project": {"name": api.name("proj"), "domain_id": dom_id, "description": "p"}})
    proj_id = proj["project"]["id"]
    call("show project", "GET", f"/v3/projects/{proj_id}")
    call("list projects in domain", "GET", f"/v3/projects?domain_id={dom_id}")
    call("update project", "PATCH", f"/v3/projects/{proj_id}", {"project": {"description": "q"}})
    call("show unknown project", "GET", "/v3/projects/0123456789abcdef0123456789abcdef")
    user = call("create user", "POST", "/v3/users",
                {"user": {"name": api.name("user"), "domain_id": dom_id, "password": "pw-123456",
                          "email": "u@example.org", "default_project_id": proj_id}})
    user_id = user["user"]["id"]
    call("show user", "GET", f"/v3/users/{user_id}")
    call("list users in domain", "GET", f"/v3/users?domain_id={dom_id}")
    call("update user", "PATCH", f"/v3/users/{user_id}", {"user": {"description": "x"}})
    call("create user wrong type", "POST", "/v3/users", {"user": {"name": 5}})
    role = call("create role", "POST", "/v3/roles", {"role": {"name": api.name("role")}})
    role_id = role["role"]["id"]
    call("show role", "GET", f"/v3/roles/{role_id}")
    call("list roles by name", "GET", f"/v3/roles?name={api.name('role')}")
    call("grant on project", "PUT", f"/v3/projects/{proj_id}/users/{user_id}/roles/{role_id}")
    call("check grant on project", "HEAD", f"/v3/projects/{proj_id}/users/{user_id}/roles/{role_id}")
    call("list grants on project", "GET", f"/v3/projects/{proj_id}/users/{user_id}/roles")
    call("grant on domain", "PUT", f"/v3/domains/{dom_id}/users/{user_id}/roles/{role_id}")
    call("role assignments of user", "GET", f"/v3/role_assignments?user.id={user_id}")
    call("role assignments with names", "GET", f"/v3/role_assignments?user.id={user_id}&include_names")
    call("projects of user", "GET", f"/v3/users/{user_id}/projects")
    token = api.token(user_id=user_id, password="pw-123456", project_id=proj_id)
    call("validate token", "GET", "/v3/auth/tokens", headers={"X-Subject-Token": token})
    call("auth projects", "GET", "/v3/auth/projects", token=token)
    call("auth catalog", "GET", "/v3/auth/catalog", token=token)
    call("member lists users (forbidden)", "GET", "/v3/users", token=token)
    call("change password", "POST", f"/v3/users/{user_id}/password",
         {"user": {"original_password": "pw-123456", "password": "pw-654321"}}, token=token)
    call("revoke grant on project", "DELETE", f"/v3/projects/{proj_id}/users/{user_id}/roles/{role_id}")
    call("list regions", "GET", "/v3/regions")
    # the services of a type of the sequence's own (the installations' own services are data:
    # caas's carry descriptions, the anchor's bootstrapped one none)
    kind = api.name("svc")
    svc = call("create service", "POST", "/v3/services", {"service": {"type": kind, "name": "n", "description": "d"}})
    call("list services of a type", "GET", f"/v3/services?type={kind}")
    call("delete service", "DELETE", f"/v3/services/{svc['service']['id']}")
    call("list endpoints", "GET", "/v3/endpoints?interface=public")
    call("delete user", "DELETE", f"/v3/users/{user_id}")
    call("delete role", "DELETE", f"/v3/roles/{role_id}")
    call("delete project", "DELETE", f"/v3/projects/{proj_id}")
    call("delete enabled domain", "DELETE", f"/v3/domains/{dom_id}")
    call("disable domain", "PATCH", f"/v3/domains/{dom_id}", {"domain": {"enabled": False}})
    call("delete domain", "DELETE", f"/v3/domains/{dom_id}")
