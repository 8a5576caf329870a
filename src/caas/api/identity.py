"""Identity v3 over HTTP (mounted at /identity): version discovery, auth tokens, domains,
projects, users, roles, grants, role assignments, regions, services and endpoints."""

from __future__ import annotations

import datetime as dt

from starlette.responses import Response

from caas.api import identity_schemas as S
from caas.api.framework import BodyRules, Call, ServiceAPI, empty, json_response, wrapped
from caas.errors import BadRequest, CaasError, Unauthorized
from caas.identity.auth import PasswordCredentials, Scope, TokenService
from caas.context import AuthContext
from caas.identity.service import USER_DOMAIN, USER_PROJECT, IdentityService

VERSION_ID = "v3.14"
VERSION_UPDATED = "2020-04-07T00:00:00Z"
MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def keystone_error(exc: CaasError) -> dict:
    return {"error": {"code": exc.status, "message": exc.message, "title": exc.title}}


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


TRUE = {"true", "1", "yes", "on", "t", "y"}


def _bool_filter(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in TRUE


def build(identity: IdentityService, tokens: TokenService, max_body: int) -> ServiceAPI:
    # Flask's is_json types, and bodies without a type; any other is 400 (the Keystone anchor's words)
    rules = BodyRules(refuse=BadRequest, bom=True, refusal=(
        "Expecting to find application/json in Content-Type header. The server could not comply with the request "
        "since it is either malformed or otherwise incorrect. The client is assumed to be in error."))
    api = ServiceAPI("identity", keystone_error, max_body=max_body, validate_token=tokens.validate, body_rules=rules)

    # ---- helpers -------------------------------------------------------------------------
    def auth(call: Call) -> AuthContext:
        return call.auth()

    def v3(call: Call) -> str:
        return call.base_url + "/identity/v3"

    def links(call: Call, path: str) -> dict:
        return {"self": f"{v3(call)}/{path}"}

    def collection(call: Call, key: str, items: list) -> Response:
        self_url = str(call.request.url)
        return json_response({key: items, "links": {"self": self_url, "previous": None, "next": None}})

    def domain_view(call, d) -> dict:
        return {"id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
                "tags": [], "options": {}, "links": links(call, f"domains/{d.id}")}

    def project_view(call, p) -> dict:
        return {"id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
                "enabled": p.enabled, "parent_id": p.domain_id, "is_domain": False, "tags": [],
                "options": {}, "links": links(call, f"projects/{p.id}")}

    def user_view(call, u) -> dict:
        view = dict(u.extra or {})
        view.update({"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
                     "password_expires_at": None, "options": {}, "links": links(call, f"users/{u.id}")})
        if u.default_project_id:
            view["default_project_id"] = u.default_project_id
        if u.description:
            view["description"] = u.description
        if u.email:
            view["email"] = u.email
        return view

    def role_view(call, r) -> dict:
        return {"id": r.id, "name": r.name, "domain_id": None, "description": r.description,
                "options": {}, "links": links(call, f"roles/{r.id}")}

    def token_view(ctx: AuthContext, with_catalog: bool) -> dict:
        t = ctx.token
        body: dict = {
            "methods": list(t.methods),
            "user": {"domain": {"id": ctx.user_domain.id, "name": ctx.user_domain.name},
                     "id": ctx.user.id, "name": ctx.user.name, "password_expires_at": None},
            "audit_ids": list(t.audit_ids),
            "expires_at": _iso(t.expires_at),
            "issued_at": _iso(t.issued_at),
        }
        if ctx.project:
            body["project"] = {"domain": {"id": ctx.project_domain.id, "name": ctx.project_domain.name},
                               "id": ctx.project.id, "name": ctx.project.name}
            body["is_domain"] = False
        elif ctx.domain:
            body["domain"] = {"id": ctx.domain.id, "name": ctx.domain.name}
        if ctx.roles:
            body["roles"] = [{"id": r.id, "name": r.name} for r in ctx.roles]
        if with_catalog and (ctx.project or ctx.domain):
            body["catalog"] = tokens.catalog(ctx)
        return {"token": body}

    def version_doc(call: Call) -> dict:
        return {"id": VERSION_ID, "status": "stable", "updated": VERSION_UPDATED,
                "links": [{"rel": "self", "href": v3(call) + "/"}], "media-types": MEDIA_TYPES}

    def filters(call: Call, *names: str, bools: tuple[str, ...] = ("enabled",)) -> dict:
        out = {}
        for name in names:
            value = call.query.get(name)
            if value is not None:
                out[name] = _bool_filter(value) if name in bools else value
        return out

    # ---- version discovery ---------------------------------------------------------------
    @api.route("GET", "/", inline=True)
    def versions(call: Call) -> Response:
        return json_response({"versions": {"values": [version_doc(call)]}}, status=300)

    @api.route("GET", "/v3", inline=True)
    def version(call: Call) -> Response:
        return json_response({"version": version_doc(call)})

    api.route("GET", "/v3/", inline=True)(version)

    # ---- tokens --------------------------------------------------------------------------
    @api.route("POST", "/v3/auth/tokens")
    def issue_token(call: Call) -> Response:
        req = call.parse(S.AuthRequest).auth
        ident = req.identity
        scope = _scope(req.scope)
        methods = set(ident.methods)
        if "password" in methods and ident.password is not None:
            u = ident.password.user
            creds = PasswordCredentials(password=u.password, user_id=u.id, user_name=u.name,
                                        domain_id=u.domain.id if u.domain else None,
                                        domain_name=u.domain.name if u.domain else None)
            token_id, ctx = tokens.authenticate_password(creds, scope)
        elif "token" in methods and ident.token is not None:
            token_id, ctx = tokens.authenticate_token(ident.token.id, scope)
        elif methods - {"password", "token"}:
            raise Unauthorized(f"Unsupported authentication method: {sorted(methods - {'password', 'token'})[0]}.")
        else:
            raise BadRequest("Expecting to find the credentials of a listed method in identity.")
        nocatalog = "nocatalog" in call.query
        return json_response(token_view(ctx, not nocatalog), status=201, headers={"X-Subject-Token": token_id})

    @api.route("GET", "/v3/auth/tokens")
    def validate_token(call: Call) -> Response:
        ctx = auth(call)
        subject = call.header("x-subject-token")
        if not subject:
            raise BadRequest("The X-Subject-Token header is required.")
        subject_ctx = tokens.validate_subject(ctx, subject)
        return json_response(token_view(subject_ctx, "nocatalog" not in call.query),
                             headers={"X-Subject-Token": subject})

    @api.route("DELETE", "/v3/auth/tokens")
    def revoke_token(call: Call) -> Response:
        ctx = auth(call)
        subject = call.header("x-subject-token")
        if not subject:
            raise BadRequest("The X-Subject-Token header is required.")
        tokens.revoke(ctx, subject)
        return empty()

    @api.route("GET", "/v3/auth/catalog")
    def auth_catalog(call: Call) -> Response:
        ctx = auth(call)
        if not (ctx.project or ctx.domain):
            raise Unauthorized("The service catalog is only available to a scoped token.")
        return json_response({"catalog": tokens.catalog(ctx), "links": {"self": f"{v3(call)}/auth/catalog",
                                                                          "previous": None, "next": None}})

    @api.route("GET", "/v3/auth/projects")
    def auth_projects(call: Call) -> Response:
        ctx = auth(call)
        return collection(call, "projects", [project_view(call, p) for p in tokens.auth_projects(ctx)])

    @api.route("GET", "/v3/auth/domains")
    def auth_domains(call: Call) -> Response:
        ctx = auth(call)
        return collection(call, "domains", [domain_view(call, d) for d in tokens.auth_domains(ctx)])

    # ---- domains -------------------------------------------------------------------------
    @api.route("GET", "/v3/domains")
    def list_domains(call: Call) -> Response:
        found = identity.list_domains(auth(call), filters(call, "name", "enabled"))
        return collection(call, "domains", [domain_view(call, d) for d in found])

    @api.route("POST", "/v3/domains")
    def create_domain(call: Call) -> Response:
        body = call.parse(wrapped("domain", S.DomainCreate)).domain
        d = identity.create_domain(auth(call), body.name, body.description or "", body.enabled,
                                   body.explicit_domain_id)
        return json_response({"domain": domain_view(call, d)}, status=201)

    @api.route("GET", "/v3/domains/{domain_id}")
    def get_domain(call: Call) -> Response:
        return json_response({"domain": domain_view(call, identity.get_domain(auth(call), call.params["domain_id"]))})

    @api.route("PATCH", "/v3/domains/{domain_id}")
    def update_domain(call: Call) -> Response:
        body = call.parse(wrapped("domain", S.DomainUpdate)).domain
        d = identity.update_domain(auth(call), call.params["domain_id"], body.model_dump(exclude_unset=True))
        return json_response({"domain": domain_view(call, d)})

    @api.route("DELETE", "/v3/domains/{domain_id}")
    def delete_domain(call: Call) -> Response:
        identity.delete_domain(auth(call), call.params["domain_id"])
        return empty()

    # ---- projects ------------------------------------------------------------------------
    @api.route("GET", "/v3/projects")
    def list_projects(call: Call) -> Response:
        f = filters(call, "name", "domain_id", "enabled", "parent_id", "is_domain", bools=("enabled", "is_domain"))
        return collection(call, "projects", [project_view(call, p) for p in identity.list_projects(auth(call), f)])

    @api.route("POST", "/v3/projects")
    def create_project(call: Call) -> Response:
        body = call.parse(wrapped("project", S.ProjectCreate)).project
        p = identity.create_project(auth(call), body.name, body.domain_id, body.description or "",
                                    body.enabled, body.parent_id)
        return json_response({"project": project_view(call, p)}, status=201)

    @api.route("GET", "/v3/projects/{project_id}")
    def get_project(call: Call) -> Response:
        p = identity.get_project(auth(call), call.params["project_id"])
        return json_response({"project": project_view(call, p)})

    @api.route("PATCH", "/v3/projects/{project_id}")
    def update_project(call: Call) -> Response:
        body = call.parse(wrapped("project", S.ProjectUpdate)).project
        p = identity.update_project(auth(call), call.params["project_id"], body.model_dump(exclude_unset=True))
        return json_response({"project": project_view(call, p)})

    @api.route("DELETE", "/v3/projects/{project_id}")
    def delete_project(call: Call) -> Response:
        identity.delete_project(auth(call), call.params["project_id"])
        return empty()

    # ---- users ---------------------------------------------------------------------------
    @api.route("GET", "/v3/users")
    def list_users(call: Call) -> Response:
        found = identity.list_users(auth(call), filters(call, "name", "domain_id", "enabled"))
        return collection(call, "users", [user_view(call, u) for u in found])

    @api.route("POST", "/v3/users")
    def create_user(call: Call) -> Response:
        body = call.parse(wrapped("user", S.UserCreate)).user
        u = identity.create_user(auth(call), body.name, body.domain_id, body.password, body.enabled,
                                 body.default_project_id, body.description or "", body.email, S.user_extra(body))
        return json_response({"user": user_view(call, u)}, status=201)

    @api.route("GET", "/v3/users/{user_id}")
    def get_user(call: Call) -> Response:
        return json_response({"user": user_view(call, identity.get_user(auth(call), call.params["user_id"]))})

    @api.route("PATCH", "/v3/users/{user_id}")
    def update_user(call: Call) -> Response:
        body = call.parse(wrapped("user", S.UserUpdate)).user
        changes = body.model_dump(exclude_unset=True, exclude=set(body.model_extra or {}))
        extra = S.user_extra(body)
        if extra:
            changes["extra"] = extra
        u = identity.update_user(auth(call), call.params["user_id"], changes)
        return json_response({"user": user_view(call, u)})

    @api.route("DELETE", "/v3/users/{user_id}")
    def delete_user(call: Call) -> Response:
        identity.delete_user(auth(call), call.params["user_id"])
        return empty()

    @api.route("POST", "/v3/users/{user_id}/password")
    def change_password(call: Call) -> Response:
        body = call.parse(wrapped("user", S.PasswordChange)).user
        identity.change_password(auth(call), call.params["user_id"], body.original_password, body.password)
        return empty()

    @api.route("GET", "/v3/users/{user_id}/projects")
    def user_projects(call: Call) -> Response:
        found = identity.list_user_projects(auth(call), call.params["user_id"])
        return collection(call, "projects", [project_view(call, p) for p in found])

    @api.route("GET", "/v3/users/{user_id}/groups")
    def user_groups(call: Call) -> Response:
        identity.get_user(auth(call), call.params["user_id"])  # policy and existence
        return collection(call, "groups", [])  # groups are not supported: nobody is in one

    # ---- roles ---------------------------------------------------------------------------
    @api.route("GET", "/v3/roles")
    def list_roles(call: Call) -> Response:
        found = identity.list_roles(auth(call), filters(call, "name", "domain_id"))
        return collection(call, "roles", [role_view(call, r) for r in found])

    @api.route("POST", "/v3/roles")
    def create_role(call: Call) -> Response:
        body = call.parse(wrapped("role", S.RoleCreate)).role
        r = identity.create_role(auth(call), body.name, body.description or "", body.domain_id)
        return json_response({"role": role_view(call, r)}, status=201)

    @api.route("GET", "/v3/roles/{role_id}")
    def get_role(call: Call) -> Response:
        return json_response({"role": role_view(call, identity.get_role(auth(call), call.params["role_id"]))})

    @api.route("PATCH", "/v3/roles/{role_id}")
    def update_role(call: Call) -> Response:
        body = call.parse(wrapped("role", S.RoleUpdate)).role
        r = identity.update_role(auth(call), call.params["role_id"], body.model_dump(exclude_unset=True))
        return json_response({"role": role_view(call, r)})

    @api.route("DELETE", "/v3/roles/{role_id}")
    def delete_role(call: Call) -> Response:
        identity.delete_role(auth(call), call.params["role_id"])
        return empty()

    # ---- grants --------------------------------------------------------------------------
    for kind, type_ in (("projects", USER_PROJECT), ("domains", USER_DOMAIN)):
        base = f"/v3/{kind}/{{target_id}}/users/{{user_id}}/roles"

        def make(type_=type_):
            def put(call: Call) -> Response:
                p = call.params
                identity.create_grant(auth(call), type_, p["target_id"], p["user_id"], p["role_id"])
                return empty()

            def head(call: Call) -> Response:
                p = call.params
                identity.check_grant(auth(call), type_, p["target_id"], p["user_id"], p["role_id"])
                return empty()

            def delete(call: Call) -> Response:
                p = call.params
                identity.revoke_grant(auth(call), type_, p["target_id"], p["user_id"], p["role_id"])
                return empty()

            def listing(call: Call) -> Response:
                p = call.params
                roles = identity.list_grants(auth(call), type_, p["target_id"], p["user_id"])
                return collection(call, "roles", [role_view(call, r) for r in roles])
            return put, head, delete, listing

        put, head, delete, listing = make()
        api.route("PUT", base + "/{role_id}")(put)
        api.route("HEAD", base + "/{role_id}")(head)
        api.route("GET", base + "/{role_id}")(head)
        api.route("DELETE", base + "/{role_id}")(delete)
        api.route("GET", base)(listing)

    @api.route("GET", "/v3/role_assignments")
    def role_assignments(call: Call) -> Response:
        ctx = auth(call)
        keys = ("user.id", "group.id", "role.id", "scope.project.id", "scope.domain.id", "scope.system")
        f = {k: call.query.get(k) for k in keys if call.query.get(k)}
        names = "include_names" in call.query and call.query.get("include_names", "").lower() not in ("0", "false")
        out = []
        for a in identity.list_role_assignments(ctx, f):
            role = {"id": a.role.id}
            user = {"id": a.user.id}
            if a.project is not None:
                scope = {"project": {"id": a.project.id}}
                link = f"{v3(call)}/projects/{a.project.id}/users/{a.user.id}/roles/{a.role.id}"
            else:
                scope = {"domain": {"id": a.domain.id}}
                link = f"{v3(call)}/domains/{a.domain.id}/users/{a.user.id}/roles/{a.role.id}"
            if names:
                role["name"] = a.role.name
                user.update({"name": a.user.name, "domain": {"id": a.user_domain.id, "name": a.user_domain.name}})
                if a.project is not None:
                    scope["project"].update({"name": a.project.name,
                                             "domain": {"id": a.domain.id, "name": a.domain.name}})
                else:
                    scope["domain"]["name"] = a.domain.name
            out.append({"role": role, "user": user, "scope": scope, "links": {"assignment": link}})
        return collection(call, "role_assignments", out)

    # ---- regions, services, endpoints ----------------------------------------------------
    def region_view(call, r) -> dict:
        return {"id": r.id, "description": r.description, "parent_region_id": None,
                "links": links(call, f"regions/{r.id}")}

    def service_view(call, s) -> dict:
        return {"id": s.id, "type": s.type, "name": s.name, "description": s.description,
                "enabled": s.enabled, "links": links(call, f"services/{s.id}")}

    def endpoint_view(call, e) -> dict:
        return {"id": e.id, "interface": e.interface, "region": e.region_id, "region_id": e.region_id,
                "service_id": e.service_id, "url": e.url, "enabled": e.enabled,
                "links": links(call, f"endpoints/{e.id}")}

    @api.route("GET", "/v3/regions")
    def list_regions(call: Call) -> Response:
        return collection(call, "regions", [region_view(call, r) for r in identity.list_regions(auth(call))])

    @api.route("GET", "/v3/regions/{region_id}")
    def get_region(call: Call) -> Response:
        return json_response({"region": region_view(call, identity.get_region(auth(call), call.params["region_id"]))})

    @api.route("GET", "/v3/services")
    def list_services(call: Call) -> Response:
        found = identity.list_services(auth(call), filters(call, "type", "name"))
        return collection(call, "services", [service_view(call, s) for s in found])

    @api.route("GET", "/v3/services/{service_id}")
    def get_service(call: Call) -> Response:
        s = identity.get_service(auth(call), call.params["service_id"])
        return json_response({"service": service_view(call, s)})

    @api.route("GET", "/v3/endpoints")
    def list_endpoints(call: Call) -> Response:
        found = identity.list_endpoints(auth(call), filters(call, "interface", "service_id", "region_id"))
        return collection(call, "endpoints", [endpoint_view(call, e) for e in found])

    @api.route("GET", "/v3/endpoints/{endpoint_id}")
    def get_endpoint(call: Call) -> Response:
        e = identity.get_endpoint(auth(call), call.params["endpoint_id"])
        return json_response({"endpoint": endpoint_view(call, e)})

    return api


def _scope(scope) -> Scope:
    if scope is None:
        return Scope()
    if scope == "unscoped":
        return Scope(unscoped=True)
    if scope.system is not None:
        raise BadRequest("System-scoped tokens are not supported; scope to a project or a domain.")
    if scope.project is not None and scope.domain is not None:
        raise BadRequest("Specify either a project or a domain scope, not both.")
    if scope.project is not None:
        p = scope.project
        if not p.id and not p.name:
            raise BadRequest("Expecting to find project id or name in scope.")
        if p.name and not p.id and not p.domain:
            raise BadRequest("Expecting to find domain in project scope.")
        return Scope(project_id=p.id, project_name=p.name,
                     project_domain_id=p.domain.id if p.domain else None,
                     project_domain_name=p.domain.name if p.domain else None)
    if scope.domain is not None:
        d = scope.domain
        if not d.id and not d.name:
            raise BadRequest("Expecting to find domain id or name in scope.")
        return Scope(domain_id=d.id, domain_name=d.name)
    return Scope()
