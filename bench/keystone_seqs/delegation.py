"""Application credentials (with access rules, restricted and not, and one made with an unscoped
token) and trusts (OS-TRUST, with trust-scoped tokens), their tokens and their error cases, as one
user and a trustee see them; then what deleting a credential's user, role or project, or a
trust's trustor, trustee or project, does to them and to their tokens."""

PW = "pw-123456"


def _auth(api, identity: dict, scope: dict | None = None) -> dict:
    body = {"auth": {"identity": identity}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return body


def _issue(api, body: dict) -> str:
    """A token (not a recorded step: the recorded ones go through ``api.call``)."""
    resp = api.http.post("/v3/auth/tokens", json=body)
    if resp.status_code != 201:
        raise RuntimeError(f"{api.cloud}: token: {resp.status_code} {resp.text[:300]}")
    return resp.headers["X-Subject-Token"]


def _app_cred_identity(cred_id: str, secret: str) -> dict:
    return {"methods": ["application_credential"], "application_credential": {"id": cred_id, "secret": secret}}


def _password_identity(user_id: str) -> dict:
    return {"methods": ["password"], "password": {"user": {"id": user_id, "password": PW}}}


def _setup(api) -> dict:
    """A project, a user with member and reader on it (and its token), and a trustee."""
    call = api.call
    proj = call("create project", "POST", "/v3/projects", {"project": {"name": api.name("dlg-proj")}})["project"]
    user = call("create user", "POST", "/v3/users", {"user": {"name": api.name("dlg-user"), "password": PW}})["user"]
    trustee = call("create trustee", "POST", "/v3/users",
                   {"user": {"name": api.name("dlg-trustee"), "password": PW}})["user"]
    roles = {r["name"]: r["id"] for r in call("list roles", "GET", "/v3/roles")["roles"]}
    for name in ("member", "reader"):
        call(f"grant {name}", "PUT", f"/v3/projects/{proj['id']}/users/{user['id']}/roles/{roles[name]}")
    token = api.token(user_id=user["id"], password=PW, project_id=proj["id"])
    return {"project": proj["id"], "user": user["id"], "trustee": trustee["id"], "roles": roles, "token": token}


def _app_creds(api, w: dict) -> None:
    call, uid, tok = api.call, w["user"], w["token"]
    base = f"/v3/users/{uid}/application_credentials"
    rule = {"service": "identity", "method": "GET", "path": f"/v3/users/{uid}"}
    ruled = call("create app cred with rules", "POST", base, {"application_credential": {
        "name": api.name("ac-ruled"), "roles": [{"name": "reader"}], "access_rules": [rule]}}, token=tok)
    ruled = ruled["application_credential"]
    plain = call("create app cred", "POST", base, {"application_credential": {
        "name": api.name("ac-plain"), "description": "d", "secret": "given-Secret-1",
        "expires_at": "2999-01-01T00:00:00Z"}}, token=tok)["application_credential"]
    call("create app cred again (conflict)", "POST", base,
         {"application_credential": {"name": api.name("ac-plain")}}, token=tok)
    call("create app cred unassigned role", "POST", base, {"application_credential": {
        "name": api.name("ac-x"), "roles": [{"id": w["roles"]["admin"]}]}}, token=tok)
    call("create app cred unknown role name", "POST", base, {"application_credential": {
        "name": api.name("ac-x"), "roles": [{"name": api.name("no-role")}]}}, token=tok)
    call("create app cred expired", "POST", base, {"application_credential": {
        "name": api.name("ac-x"), "expires_at": "2000-01-01T00:00:00"}}, token=tok)
    call("create app cred bad expiry", "POST", base, {"application_credential": {
        "name": api.name("ac-x"), "expires_at": "garbage"}}, token=tok)
    call("create app cred without name", "POST", base, {"application_credential": {}}, token=tok)
    call("create app cred wrong type", "POST", base, {"application_credential": {"name": 5}}, token=tok)
    call("create app cred bad method", "POST", base, {"application_credential": {
        "name": api.name("ac-x"), "access_rules": [{"service": "compute", "method": "BREW", "path": "/"}]}},
        token=tok)
    call("create app cred for another user", "POST", f"/v3/users/{api.admin_user_id}/application_credentials",
         {"application_credential": {"name": api.name("ac-x")}}, token=tok)
    call("list app creds", "GET", base, token=tok)
    call("list app creds by name", "GET", f"{base}?name={api.name('ac-plain')}", token=tok)
    call("show app cred", "GET", f"{base}/{plain['id']}", token=tok)
    call("show unknown app cred", "GET", f"{base}/0123456789abcdef0123456789abcdef", token=tok)
    call("list access rules", "GET", f"/v3/users/{uid}/access_rules", token=tok)
    rule_id = ruled["access_rules"][0]["id"]
    call("show access rule", "GET", f"/v3/users/{uid}/access_rules/{rule_id}", token=tok)
    call("delete access rule in use", "DELETE", f"/v3/users/{uid}/access_rules/{rule_id}", token=tok)
    _app_cred_tokens(api, w, ruled, plain)
    call("delete app cred", "DELETE", f"{base}/{ruled['id']}", token=tok)
    call("show deleted app cred", "GET", f"{base}/{ruled['id']}", token=tok)
    call("delete access rule", "DELETE", f"/v3/users/{uid}/access_rules/{rule_id}", token=tok)
    call("show deleted access rule", "GET", f"/v3/users/{uid}/access_rules/{rule_id}", token=tok)
    call("delete plain app cred", "DELETE", f"{base}/{plain['id']}", token=tok)


def _app_cred_tokens(api, w: dict, ruled: dict, plain: dict) -> None:
    call, uid = api.call, w["user"]
    call("app cred token by id", "POST", "/v3/auth/tokens?nocatalog",
         _auth(api, _app_cred_identity(ruled["id"], ruled["secret"])), token="")
    by_name = {"methods": ["application_credential"], "application_credential": {
        "name": api.name("ac-plain"), "user": {"id": uid}, "secret": "given-Secret-1"}}
    call("app cred token by name", "POST", "/v3/auth/tokens?nocatalog", _auth(api, by_name), token="")
    call("app cred token bad secret", "POST", "/v3/auth/tokens",
         _auth(api, _app_cred_identity(ruled["id"], "wrong")), token="")
    call("app cred token unknown id", "POST", "/v3/auth/tokens",
         _auth(api, _app_cred_identity("0123456789abcdef0123456789abcdef", "x")), token="")
    call("app cred token without id or name", "POST", "/v3/auth/tokens", _auth(api, {
        "methods": ["application_credential"], "application_credential": {"secret": "x"}}), token="")
    call("app cred token by name without user", "POST", "/v3/auth/tokens", _auth(api, {
        "methods": ["application_credential"], "application_credential": {"name": "x", "secret": "x"}}), token="")
    call("app cred token with scope", "POST", "/v3/auth/tokens",
         _auth(api, _app_cred_identity(ruled["id"], ruled["secret"]), {"project": {"id": w["project"]}}), token="")
    ruled_tok = _issue(api, _auth(api, _app_cred_identity(ruled["id"], ruled["secret"])))
    call("ruled token reads its user", "GET", f"/v3/users/{uid}", token=ruled_tok)
    call("ruled token lists projects (no rule)", "GET", f"/v3/users/{uid}/projects", token=ruled_tok)
    plain_tok = _issue(api, _auth(api, _app_cred_identity(plain["id"], "given-Secret-1")))
    call("restricted token creates app cred", "POST", f"/v3/users/{uid}/application_credentials",
         {"application_credential": {"name": api.name("ac-child")}}, token=plain_tok)
    call("restricted token lists app creds", "GET", f"/v3/users/{uid}/application_credentials", token=plain_tok)
    call("restricted token creates trust", "POST", "/v3/OS-TRUST/trusts", {"trust": {
        "trustor_user_id": uid, "trustee_user_id": w["trustee"], "impersonation": False,
        "project_id": w["project"], "roles": [{"name": "reader"}]}}, token=plain_tok)
    call("validate app cred token", "GET", "/v3/auth/tokens?nocatalog", headers={"X-Subject-Token": plain_tok})


def _trusts(api, w: dict) -> None:
    call, uid, tok = api.call, w["user"], w["token"]
    body = {"trustor_user_id": uid, "trustee_user_id": w["trustee"], "impersonation": False,
            "project_id": w["project"], "roles": [{"name": "reader"}], "remaining_uses": 3}
    trust = call("create trust", "POST", "/v3/OS-TRUST/trusts", {"trust": body}, token=tok)["trust"]
    imp = call("create impersonating trust", "POST", "/v3/OS-TRUST/trusts", {"trust": {
        **body, "impersonation": True, "remaining_uses": None, "expires_at": "2999-01-01T00:00:00Z"}},
        token=tok)["trust"]
    for label, change in (("role not held", {"roles": [{"id": w["roles"]["admin"]}]}),
                          ("unknown role name", {"roles": [{"name": api.name("no-role")}]}),
                          ("no roles", {"roles": []}),
                          ("other trustor", {"trustor_user_id": w["trustee"]}),
                          ("unknown trustee", {"trustee_user_id": "0123456789abcdef0123456789abcdef"}),
                          ("wrong type", {"impersonation": "no"}),
                          ("zero uses", {"remaining_uses": 0}),
                          ("bad expiry", {"expires_at": "garbage"})):
        call(f"create trust {label}", "POST", "/v3/OS-TRUST/trusts", {"trust": {**body, **change}}, token=tok)
    call("create trust without impersonation", "POST", "/v3/OS-TRUST/trusts",
         {"trust": {k: v for k, v in body.items() if k != "impersonation"}}, token=tok)
    trustee_tok = api.token(user_id=w["trustee"], password=PW, unscoped=True)
    call("list trusts by trustor", "GET", f"/v3/OS-TRUST/trusts?trustor_user_id={uid}", token=tok)
    call("list trusts by trustee", "GET", f"/v3/OS-TRUST/trusts?trustee_user_id={w['trustee']}", token=trustee_tok)
    call("list every trust as trustee", "GET", "/v3/OS-TRUST/trusts", token=trustee_tok)
    call("show trust", "GET", f"/v3/OS-TRUST/trusts/{trust['id']}", token=tok)
    call("show trust as admin (no party)", "GET", f"/v3/OS-TRUST/trusts/{trust['id']}")
    call("trust roles", "GET", f"/v3/OS-TRUST/trusts/{trust['id']}/roles", token=trustee_tok)
    call("trust role", "GET", f"/v3/OS-TRUST/trusts/{trust['id']}/roles/{w['roles']['reader']}", token=tok)
    call("trust role not in it", "GET", f"/v3/OS-TRUST/trusts/{trust['id']}/roles/{w['roles']['member']}", token=tok)
    call("show unknown trust", "GET", "/v3/OS-TRUST/trusts/0123456789abcdef0123456789abcdef", token=tok)
    scope = {"OS-TRUST:trust": {"id": trust["id"]}}
    call("trust token (password)", "POST", "/v3/auth/tokens?nocatalog",
         _auth(api, _password_identity(w["trustee"]), scope), token="")
    call("trust token (token)", "POST", "/v3/auth/tokens?nocatalog",
         _auth(api, {"methods": ["token"], "token": {"id": trustee_tok}}, scope), token="")
    call("trust token for the trustor", "POST", "/v3/auth/tokens",
         _auth(api, _password_identity(uid), scope), token="")
    trust_tok = _issue(api, _auth(api, _password_identity(w["trustee"]), scope))
    call("trust token (used up)", "POST", "/v3/auth/tokens", _auth(api, _password_identity(w["trustee"]), scope),
         token="")
    call("validate trust token", "GET", "/v3/auth/tokens?nocatalog", headers={"X-Subject-Token": trust_tok})
    call("impersonating trust token", "POST", "/v3/auth/tokens?nocatalog",
         _auth(api, _password_identity(w["trustee"]), {"OS-TRUST:trust": {"id": imp["id"]}}), token="")
    call("delete trust as trustee", "DELETE", f"/v3/OS-TRUST/trusts/{imp['id']}", token=trustee_tok)
    call("delete trust", "DELETE", f"/v3/OS-TRUST/trusts/{imp['id']}", token=tok)
    call("show deleted trust", "GET", f"/v3/OS-TRUST/trusts/{imp['id']}", token=tok)


def _fresh(api, made: list, tag: str) -> dict:
    """A project and a user with member on it (and its token), both noted in ``made`` for the
    clean-up; not recorded steps (the deletions are what the cases compare)."""
    hdrs = {"X-Auth-Token": api.admin_token}
    proj = api.http.post("/v3/projects", json={"project": {"name": api.name(f"dlg-{tag}")}}, headers=hdrs).json()
    user = api.http.post("/v3/users", json={"user": {"name": api.name(f"dlg-{tag}"), "password": PW}},
                         headers=hdrs).json()
    proj, user = proj["project"]["id"], user["user"]["id"]
    made += [f"/v3/users/{user}", f"/v3/projects/{proj}"]
    member = api.http.get("/v3/roles?name=member", headers=hdrs).json()["roles"][0]["id"]
    api.http.put(f"/v3/projects/{proj}/users/{user}/roles/{member}", headers=hdrs)
    return {"project": proj, "user": user, "member": member,
            "token": api.token(user_id=user, password=PW, project_id=proj)}


def _new_cred(api, f: dict, label: str, token: str | None = None, **fields) -> tuple[dict, str | None]:
    """A credential of ``f``'s user (a recorded step) and, when it authenticates, a token from it."""
    made = api.call(f"create app cred {label}", "POST", f"/v3/users/{f['user']}/application_credentials",
                    {"application_credential": {"name": api.name(f"ac-{label}"), **fields}},
                    token=token or f["token"])["application_credential"]
    resp = api.http.post("/v3/auth/tokens", json=_auth(api, _app_cred_identity(made["id"], made["secret"])))
    return made, resp.headers.get("X-Subject-Token")


def _cred_state(api, f: dict, cred: dict, token: str, label: str) -> None:
    """Show the credential (as the admin), authenticate with it, validate a token from it."""
    api.call(f"show app cred {label}", "GET", f"/v3/users/{f['user']}/application_credentials/{cred['id']}")
    api.call(f"app cred token {label}", "POST", "/v3/auth/tokens?nocatalog",
             _auth(api, _app_cred_identity(cred["id"], cred["secret"])), token="")
    api.call(f"validate app cred token {label}", "GET", "/v3/auth/tokens?nocatalog",
             headers={"X-Subject-Token": token})


def _app_cred_deletions(api, made: list) -> None:
    """What goes with a credential's user, project, group: Keystone deletes it with its user and
    keeps it otherwise. The user's is one without roles: the anchor's Keystone, on SQLite with
    foreign keys off, deletes a user's (and a deleted role's) credentials by a bulk DELETE that
    leaves their role rows behind, and a later credential given the same internal id then fails
    (409, or 500 when it lists a deleted role). A deleted role's credentials are compared in
    tests/identity/test_delegation.py, from the anchor's answers (404 to show, to authenticate,
    to validate)."""
    call = api.call
    f = _fresh(api, made, "unscoped")
    unscoped = api.token(user_id=f["user"], password=PW, unscoped=True)
    cred, token = _new_cred(api, f, "unscoped", token=unscoped)
    _cred_state(api, f, cred, token, "without project")
    call("create app cred unscoped with a role", "POST", f"/v3/users/{f['user']}/application_credentials",
         {"application_credential": {"name": api.name("ac-x"), "roles": [{"id": f["member"]}]}}, token=unscoped)
    call("delete user of app creds", "DELETE", f"/v3/users/{f['user']}")
    _cred_state(api, f, cred, token, "of deleted user")

    f = _fresh(api, made, "project")
    cred, token = _new_cred(api, f, "of project")
    call("delete project of app cred", "DELETE", f"/v3/projects/{f['project']}")
    _cred_state(api, f, cred, token, "of deleted project")

    f = _fresh(api, made, "group")
    group = call("create group", "POST", "/v3/groups", {"group": {"name": api.name("dlg-group")}})["group"]
    call("add user to group", "PUT", f"/v3/groups/{group['id']}/users/{f['user']}")
    call("grant group", "PUT", f"/v3/projects/{f['project']}/groups/{group['id']}/roles/{f['member']}")
    call("revoke user grant", "DELETE", f"/v3/projects/{f['project']}/users/{f['user']}/roles/{f['member']}")
    f["token"] = api.token(user_id=f["user"], password=PW, project_id=f["project"])
    cred, token = _new_cred(api, f, "through group")
    call("remove user from group", "DELETE", f"/v3/groups/{group['id']}/users/{f['user']}")
    _cred_state(api, f, cred, token, "after group removal")
    call("add user to group again", "PUT", f"/v3/groups/{group['id']}/users/{f['user']}")
    call("app cred token after group back", "POST", "/v3/auth/tokens?nocatalog",
         _auth(api, _app_cred_identity(cred["id"], cred["secret"])), token="")
    call("delete group", "DELETE", f"/v3/groups/{group['id']}")


def _trust_deletions(api, made: list) -> None:
    """A trust goes with its trustor, its trustee and its project; its tokens with it."""
    for doomed in ("trustor", "trustee", "project"):
        f, trustee = _fresh(api, made, f"tr-{doomed}"), _fresh(api, made, f"te-{doomed}")
        trust = api.call(f"create trust ({doomed} to delete)", "POST", "/v3/OS-TRUST/trusts", {"trust": {
            "trustor_user_id": f["user"], "trustee_user_id": trustee["user"], "impersonation": False,
            "project_id": f["project"], "roles": [{"name": "member"}]}}, token=f["token"])["trust"]
        scope = {"OS-TRUST:trust": {"id": trust["id"]}}
        token = _issue(api, _auth(api, _password_identity(trustee["user"]), scope))
        path = {"trustor": f"/v3/users/{f['user']}", "trustee": f"/v3/users/{trustee['user']}",
                "project": f"/v3/projects/{f['project']}"}[doomed]
        api.call(f"delete {doomed} of trust", "DELETE", path)
        api.call(f"show trust of deleted {doomed}", "GET", f"/v3/OS-TRUST/trusts/{trust['id']}")
        api.call(f"list trusts of trustor (deleted {doomed})", "GET",
                 f"/v3/OS-TRUST/trusts?trustor_user_id={f['user']}")
        api.call(f"validate trust token (deleted {doomed})", "GET", "/v3/auth/tokens?nocatalog",
                 headers={"X-Subject-Token": token})
        if doomed != "trustee":
            api.call(f"trust token (deleted {doomed})", "POST", "/v3/auth/tokens?nocatalog",
                     _auth(api, _password_identity(trustee["user"]), scope), token="")


def sequence(api) -> None:
    w = _setup(api)
    made = [f"/v3/users/{w['user']}", f"/v3/users/{w['trustee']}", f"/v3/projects/{w['project']}"]
    try:
        _app_creds(api, w)
        _trusts(api, w)
        _app_cred_deletions(api, made)
        _trust_deletions(api, made)
    finally:
        _clean(api, made)


def _clean(api, made: list) -> None:
    """Delete what the sequence made: each user's credentials through the API first (see
    ``_app_cred_deletions``: a user's deletion would leave their role rows behind)."""
    hdrs = {"X-Auth-Token": api.admin_token}
    for path in made:
        if path.startswith("/v3/users/"):
            listed = api.http.get(f"{path}/application_credentials", headers=hdrs)
            for cred in listed.json().get("application_credentials", []) if listed.status_code == 200 else []:
                api.http.delete(f"{path}/application_credentials/{cred['id']}", headers=hdrs)
        api.http.delete(path, headers=hdrs)
