"""Application credentials (with access rules, restricted and not) and trusts (OS-TRUST, with
trust-scoped tokens), their tokens and their error cases, as one user and a trustee see them."""

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


def sequence(api) -> None:
    w = _setup(api)
    try:
        _app_creds(api, w)
        _trusts(api, w)
    finally:
        api.http.delete(f"/v3/users/{w['user']}", headers={"X-Auth-Token": api.admin_token})
        api.http.delete(f"/v3/users/{w['trustee']}", headers={"X-Auth-Token": api.admin_token})
        api.http.delete(f"/v3/projects/{w['project']}", headers={"X-Auth-Token": api.admin_token})
