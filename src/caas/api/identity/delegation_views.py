"""Keystone's representation of application credentials, access rules and trusts, and the
fields a token issued from one of them carries (``application_credential``, ``OS-TRUST:trust``)."""

from __future__ import annotations

from caas.api.framework import Call
from caas.api.identity.views import links, role
from caas.context import AuthContext
from caas.identity.app_credentials import AppCredView
from caas.identity.delegation import iso_expiry
from caas.identity.trusts import TrustView
from caas.identity.roles import IMMUTABLE_ROLES


def access_rule(r) -> dict:
    return {"id": r.id, "service": r.service, "path": r.path, "method": r.method}


def access_rule_linked(call: Call, r) -> dict:
    return {**access_rule(r), "links": links(call, f"access_rules/{r.id}")}


def _bare_role(call: Call, r) -> dict:
    """A role as an application credential lists it: the role's view without its links."""
    view = role(call, r)
    view.pop("links", None)
    return view


def app_cred(call: Call, v: AppCredView) -> dict:
    c = v.cred
    view = {"id": c.id, "name": c.name, "description": c.description, "user_id": c.user_id,
            "project_id": c.project_id or None, "system": None, "expires_at": iso_expiry(c.expires_at),
            "unrestricted": c.unrestricted, "roles": [_bare_role(call, r) for r in v.roles],
            "links": links(call, f"application_credentials/{c.id}")}
    if v.rules:  # Keystone leaves the key out when there are none
        view["access_rules"] = [access_rule(r) for r in v.rules]
    if v.secret is not None:
        view["secret"] = v.secret
    return view


def trust_summary(call: Call, t) -> dict:
    """A trust as a list shows it (no roles)."""
    return {"id": t.id, "trustor_user_id": t.trustor_user_id, "trustee_user_id": t.trustee_user_id,
            "project_id": t.project_id, "impersonation": t.impersonation,
            "expires_at": iso_expiry(t.expires_at, zulu=True), "remaining_uses": t.remaining_uses,
            "deleted_at": None, "redelegated_trust_id": t.redelegated_trust_id,
            "redelegation_count": t.redelegation_count, "links": links(call, f"OS-TRUST/trusts/{t.id}")}


def trust(call: Call, v: TrustView) -> dict:
    return {**trust_summary(call, v.trust), "roles": [role(call, r) for r in v.roles],
            "roles_links": {**links(call, f"OS-TRUST/trusts/{v.trust.id}/roles"), "next": None, "previous": None}}


def delegate_token(body: dict, ctx: AuthContext) -> None:
    """A delegated token's body as Keystone gives it: ``application_credential`` added, or
    ``OS-TRUST:trust`` added, the roles in full and no ``is_domain``."""
    if ctx.app_cred is not None:
        a = ctx.app_cred
        cred = {"id": a.id, "name": a.name, "restricted": not a.unrestricted}
        if a.access_rules is not None:
            cred["access_rules"] = [access_rule(r) for r in a.access_rules]
        body["application_credential"] = cred
    elif ctx.trust is not None:
        t = ctx.trust
        body["OS-TRUST:trust"] = {"id": t.id, "trustor_user": {"id": t.trustor_id},
                                  "trustee_user": {"id": t.trustee_id}, "impersonation": t.impersonation}
        body.pop("is_domain", None)
        if ctx.roles:
            # a token's roles are global ones (a domain role only lends what it implies)
            body["roles"] = [{"id": r.id, "name": r.name, "domain_id": None, "description": None,
                              "options": {"immutable": True} if r.name in IMMUTABLE_ROLES else {}}
                             for r in ctx.roles]
