"""Identity v3's delegation routes: application credentials and access rules
(``/v3/users/{user_id}/application_credentials``, ``.../access_rules``) and trusts
(``/v3/OS-TRUST/trusts``), as one table (``ROUTES``) of module-level handlers reaching
``call.services.app_credentials`` and ``call.services.trusts``."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.framework import Call, Endpoint, empty, json_response, wrapped
from caas.api.identity import delegation_views as DV
from caas.api.identity import views as V
from caas.api.identity.delegation_schemas import AppCredCreate, TrustCreate


# ---- application credentials ---------------------------------------------------------------
def create_app_cred(call: Call) -> Response:
    body = call.parse(wrapped("application_credential", AppCredCreate)).application_credential
    v = call.services.app_credentials.create(call.auth(), call.params["user_id"], body.request())
    return json_response({"application_credential": DV.app_cred(call, v)}, status=201)


def list_app_creds(call: Call) -> Response:
    found = call.services.app_credentials.list(call.auth(), call.params["user_id"], call.query.get("name"))
    return V.collection(call, "application_credentials", [DV.app_cred(call, v) for v in found])


def get_app_cred(call: Call) -> Response:
    p = call.params
    v = call.services.app_credentials.get(call.auth(), p["user_id"], p["cred_id"])
    return json_response({"application_credential": DV.app_cred(call, v)})


def delete_app_cred(call: Call) -> Response:
    call.services.app_credentials.delete(call.auth(), call.params["user_id"], call.params["cred_id"])
    return empty()


def list_access_rules(call: Call) -> Response:
    f = {k: call.query.get(k) for k in ("service", "method", "path") if call.query.get(k) is not None}
    found = call.services.app_credentials.list_access_rules(call.auth(), call.params["user_id"], f)
    return V.collection(call, "access_rules", [DV.access_rule_linked(call, r) for r in found])


def get_access_rule(call: Call) -> Response:
    r = call.services.app_credentials.get_access_rule(call.auth(), call.params["user_id"], call.params["rule_id"])
    return json_response({"access_rule": DV.access_rule_linked(call, r)})


def delete_access_rule(call: Call) -> Response:
    call.services.app_credentials.delete_access_rule(call.auth(), call.params["user_id"], call.params["rule_id"])
    return empty()


# ---- trusts --------------------------------------------------------------------------------
def create_trust(call: Call) -> Response:
    body = call.parse(wrapped("trust", TrustCreate)).trust
    v = call.services.trusts.create(call.auth(), body.request())
    return json_response({"trust": DV.trust(call, v)}, status=201)


def list_trusts(call: Call) -> Response:
    found = call.services.trusts.list(call.auth(), call.query.get("trustor_user_id"), call.query.get("trustee_user_id"))
    return V.collection(call, "trusts", [DV.trust_summary(call, t) for t in found])


def get_trust(call: Call) -> Response:
    return json_response({"trust": DV.trust(call, call.services.trusts.get(call.auth(), call.params["trust_id"]))})


def delete_trust(call: Call) -> Response:
    call.services.trusts.delete(call.auth(), call.params["trust_id"])
    return empty()


def trust_roles(call: Call) -> Response:
    roles = call.services.trusts.roles(call.auth(), call.params["trust_id"])
    return V.collection(call, "roles", [V.role(call, r) for r in roles])


def trust_role(call: Call) -> Response:
    r = call.services.trusts.role(call.auth(), call.params["trust_id"], call.params["role_id"])
    return json_response({"role": V.role(call, r)})


CREDS = "/v3/users/{user_id}/application_credentials"
RULES = "/v3/users/{user_id}/access_rules"
TRUSTS = "/v3/OS-TRUST/trusts"

ROUTES = [
    Endpoint("POST", CREDS, create_app_cred),
    Endpoint("GET", CREDS, list_app_creds),
    Endpoint("GET", CREDS + "/{cred_id}", get_app_cred),
    Endpoint("DELETE", CREDS + "/{cred_id}", delete_app_cred),
    Endpoint("GET", RULES, list_access_rules),
    Endpoint("GET", RULES + "/{rule_id}", get_access_rule),
    Endpoint("DELETE", RULES + "/{rule_id}", delete_access_rule),
    Endpoint("POST", TRUSTS, create_trust),
    Endpoint("GET", TRUSTS, list_trusts),
    Endpoint("GET", TRUSTS + "/{trust_id}", get_trust),
    Endpoint("DELETE", TRUSTS + "/{trust_id}", delete_trust),
    Endpoint("GET", TRUSTS + "/{trust_id}/roles", trust_roles),
    Endpoint("GET", TRUSTS + "/{trust_id}/roles/{role_id}", trust_role),
]
