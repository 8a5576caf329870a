"""What several areas start from."""


def domain_project_user(api, prefix: str) -> tuple[str, str, str]:
    """A new domain, a project in it and a user in it (password ``pw-123456``), named from
    ``prefix``: their ids."""
    call = api.call
    dom_id = call("create domain", "POST", "/v3/domains",
                  {"domain": {"name": api.name(f"{prefix}dom")}})["domain"]["id"]
    proj_id = call("create project", "POST", "/v3/projects",
                   {"project": {"name": api.name(f"{prefix}proj"), "domain_id": dom_id}})["project"]["id"]
    user_id = call("create user", "POST", "/v3/users", {"user": {
        "name": api.name(f"{prefix}user"), "domain_id": dom_id, "password": "pw-123456"}})["user"]["id"]
    return dom_id, proj_id, user_id
