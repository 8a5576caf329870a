"""Identity v3's routes: version discovery, auth tokens, domains, users and roles, as one table
(``ROUTES``) of module-level handlers (projects are in ``projects``, the catalog in ``catalog``,
groups, grants and role assignments in ``assignments``). Each reaches the identity and token services through
``call.services`` (the cloud)."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.framework import Call, Endpoint, empty, json_response, wrapped
from caas.api.identity import delegation_views as DV
from caas.api.identity import oauth1
from caas.api.identity import schemas as S
from caas.api.identity import views as V
from caas.errors import BadRequest, Unauthorized
from caas.identity.app_credentials import AppCredAuth
from caas.identity.auth import PasswordCredentials

TRUE = {"true", "1", "yes", "on", "t", "y"}


def _bool_filter(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in TRUE


def filters(call: Call, *names: str, bools: tuple[str, ...] = ("enabled",)) -> dict:
    """The query's values of ``names`` (those in ``bools`` read as booleans, as Keystone does)."""
    out = {}
    for name in names:
        value = call.query.get(name)
        if value is not None:
            out[name] = _bool_filter(value) if name in bools else value
    return out


def _token(call: Call, ctx, with_catalog: bool) -> dict:
    """The token body of ``ctx``, with the catalog when asked and the token is scoped."""
    catalog = call.services.tokens.catalog(ctx) if with_catalog and (ctx.project or ctx.domain or ctx.system) else None
    body = V.token(ctx, catalog)
    DV.delegate_token(body["token"], ctx)
    return body


def _subject(call: Call) -> str:
    subject = call.header("x-subject-token")
    if not subject:
        raise BadRequest("The X-Subject-Token header is required.")
    return subject


# ---- version discovery ---------------------------------------------------------------------
def versions(call: Call) -> Response:
    return json_response({"versions": {"values": [V.version_doc(call)]}}, status=300)


def version(call: Call) -> Response:
    return json_response({"version": V.version_doc(call)})


# ---- tokens --------------------------------------------------------------------------------
KNOWN_METHODS = {"password", "token", "application_credential", "oauth1"}


def _app_cred_auth(body: S.AppCredMethod) -> AppCredAuth:
    user, domain = body.user, body.user.domain if body.user else None
    return AppCredAuth(secret=body.secret, id=body.id, name=body.name, user_id=user.id if user else None,
                       user_name=user.name if user else None, domain_id=domain.id if domain else None,
                       domain_name=domain.name if domain else None)


def issue_token(call: Call) -> Response:
    tokens = call.services.tokens
    req = call.parse(S.AuthRequest).auth
    ident = req.identity
    scope = S.to_scope(req.scope)
    methods = set(ident.methods)
    if "password" in methods and ident.password is not None:
        u = ident.password.user
        creds = PasswordCredentials(password=u.password, user_id=u.id, user_name=u.name,
                                    domain_id=u.domain.id if u.domain else None,
                                    domain_name=u.domain.name if u.domain else None)
        token_id, ctx = tokens.authenticate_password(creds, scope)
    elif "token" in methods and ident.token is not None:
        token_id, ctx = tokens.authenticate_token(ident.token.id, scope)
    elif "application_credential" in methods and ident.application_credential is not None:
        token_id, ctx = tokens.authenticate_app_cred(_app_cred_auth(ident.application_credential), scope)
    elif "oauth1" in methods:
        token_id, ctx = tokens.authenticate_oauth1(call.services.oauth1.authenticate(oauth1.signed(call)))
    elif methods - KNOWN_METHODS:
        raise Unauthorized(f"Unsupported authentication method: {sorted(methods - KNOWN_METHODS)[0]}.")
    else:
        raise BadRequest("Expecting to find the credentials of a listed method in identity.")
    nocatalog = "nocatalog" in call.query
    return json_response(_token(call, ctx, not nocatalog), status=201, headers={"X-Subject-Token": token_id})


def validate_token(call: Call) -> Response:
    ctx = call.auth()
    subject = _subject(call)
    subject_ctx = call.services.tokens.validate_subject(ctx, subject)
    return json_response(_token(call, subject_ctx, "nocatalog" not in call.query), headers={"X-Subject-Token": subject})


def revoke_token(call: Call) -> Response:
    ctx = call.auth()
    call.services.tokens.revoke(ctx, _subject(call))
    return empty()


def auth_catalog(call: Call) -> Response:
    return json_response({"catalog": call.services.tokens.auth_catalog(call.auth()),
                          "links": {"self": f"{V.v3(call)}/auth/catalog"}})  # as Keystone: self only


def auth_projects(call: Call) -> Response:
    found = call.services.tokens.auth_projects(call.auth())
    return V.collection(call, "projects", [V.project(call, p) for p in found])


def auth_domains(call: Call) -> Response:
    found = call.services.tokens.auth_domains(call.auth())
    return V.collection(call, "domains", [V.domain(call, d) for d in found])


# ---- domains -------------------------------------------------------------------------------
def list_domains(call: Call) -> Response:
    found = call.services.identity.list_domains(call.auth(), filters(call, "name", "enabled"))
    return V.collection(call, "domains", [V.domain(call, d) for d in found])


def create_domain(call: Call) -> Response:
    body = call.parse(wrapped("domain", S.DomainCreate)).domain
    d = call.services.identity.create_domain(call.auth(), body.name, body.description or "", body.enabled,
                                             body.explicit_domain_id)
    return json_response({"domain": V.domain(call, d)}, status=201)


def get_domain(call: Call) -> Response:
    d = call.services.identity.get_domain(call.auth(), call.params["domain_id"])
    return json_response({"domain": V.domain(call, d)})


def update_domain(call: Call) -> Response:
    body = call.parse(wrapped("domain", S.DomainUpdate)).domain
    d = call.services.identity.update_domain(call.auth(), call.params["domain_id"], body.model_dump(exclude_unset=True))
    return json_response({"domain": V.domain(call, d)})


def delete_domain(call: Call) -> Response:
    call.services.identity.delete_domain(call.auth(), call.params["domain_id"])
    return empty()


# ---- users ---------------------------------------------------------------------------------
def list_users(call: Call) -> Response:
    found = call.services.identity.list_users(call.auth(), filters(call, "name", "domain_id", "enabled"))
    return V.collection(call, "users", [V.user(call, u) for u in found])


def create_user(call: Call) -> Response:
    body = call.parse(wrapped("user", S.UserCreate)).user
    u = call.services.identity.create_user(call.auth(), body.name, body.domain_id, body.password, body.enabled,
                                           body.default_project_id, body.description or "", body.email,
                                           S.user_extra(body))
    return json_response({"user": V.user(call, u)}, status=201)


def get_user(call: Call) -> Response:
    return json_response({"user": V.user(call, call.services.identity.get_user(call.auth(), call.params["user_id"]))})


def update_user(call: Call) -> Response:
    body = call.parse(wrapped("user", S.UserUpdate)).user
    changes = body.model_dump(exclude_unset=True, exclude=set(body.model_extra or {}))
    extra = S.user_extra(body)
    if extra:
        changes["extra"] = extra
    u = call.services.identity.update_user(call.auth(), call.params["user_id"], changes)
    return json_response({"user": V.updated_user(call, u)})


def delete_user(call: Call) -> Response:
    call.services.identity.delete_user(call.auth(), call.params["user_id"])
    return empty()


def change_password(call: Call) -> Response:
    body = call.parse(wrapped("user", S.PasswordChange)).user
    ctx = call.auth() if call.header("x-auth-token") else None  # the original password suffices
    call.services.identity.change_password(ctx, call.params["user_id"], body.original_password, body.password)
    return empty()


def user_projects(call: Call) -> Response:
    found = call.services.identity.list_user_projects(call.auth(), call.params["user_id"])
    return V.collection(call, "projects", [V.project(call, p) for p in found])


# ---- roles ---------------------------------------------------------------------------------
def list_roles(call: Call) -> Response:
    found = call.services.roles.list_roles(call.auth(), filters(call, "name", "domain_id"))
    return V.collection(call, "roles", [V.role(call, r) for r in found])


def create_role(call: Call) -> Response:
    body = call.parse(wrapped("role", S.RoleCreate)).role
    r = call.services.roles.create_role(call.auth(), body.name, body.description or "", body.domain_id)
    return json_response({"role": V.role(call, r)}, status=201)


def get_role(call: Call) -> Response:
    return json_response({"role": V.role(call, call.services.roles.get_role(call.auth(), call.params["role_id"]))})


def update_role(call: Call) -> Response:
    body = call.parse(wrapped("role", S.RoleUpdate)).role
    r = call.services.roles.update_role(call.auth(), call.params["role_id"], body.model_dump(exclude_unset=True))
    return json_response({"role": V.role(call, r)})


def delete_role(call: Call) -> Response:
    call.services.roles.delete_role(call.auth(), call.params["role_id"])
    return empty()




ROUTES = [
    Endpoint("GET", "/", versions, inline=True),
    Endpoint("GET", "/v3", version, inline=True),
    Endpoint("GET", "/v3/", version, inline=True),
    Endpoint("POST", "/v3/auth/tokens", issue_token),
    Endpoint("GET", "/v3/auth/tokens", validate_token),
    Endpoint("DELETE", "/v3/auth/tokens", revoke_token),
    Endpoint("GET", "/v3/auth/catalog", auth_catalog),
    Endpoint("GET", "/v3/auth/projects", auth_projects),
    Endpoint("GET", "/v3/auth/domains", auth_domains),
    Endpoint("GET", "/v3/domains", list_domains),
    Endpoint("POST", "/v3/domains", create_domain),
    Endpoint("GET", "/v3/domains/{domain_id}", get_domain),
    Endpoint("PATCH", "/v3/domains/{domain_id}", update_domain),
    Endpoint("DELETE", "/v3/domains/{domain_id}", delete_domain),
    Endpoint("GET", "/v3/users", list_users),
    Endpoint("POST", "/v3/users", create_user),
    Endpoint("GET", "/v3/users/{user_id}", get_user),
    Endpoint("PATCH", "/v3/users/{user_id}", update_user),
    Endpoint("DELETE", "/v3/users/{user_id}", delete_user),
    Endpoint("POST", "/v3/users/{user_id}/password", change_password),
    Endpoint("GET", "/v3/users/{user_id}/projects", user_projects),
    Endpoint("GET", "/v3/roles", list_roles),
    Endpoint("POST", "/v3/roles", create_role),
    Endpoint("GET", "/v3/roles/{role_id}", get_role),
    Endpoint("PATCH", "/v3/roles/{role_id}", update_role),
    Endpoint("DELETE", "/v3/roles/{role_id}", delete_role),
]
