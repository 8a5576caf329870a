"""Roles and implied roles.

A role is global (``domain_id`` None) or domain-specific: a domain role's name is unique in its
domain, it is listed only with ``?domain_id=``, and it never appears in a token itself, only the
roles it implies. An implied-role rule ``prior -> implied`` gives whoever holds ``prior`` the
``implied`` role too, transitively. As Keystone: ``admin`` may not be implied (403), nor may a
global role imply a domain-specific one (403); a cycle is allowed (the expansion visits each
role once); a duplicate rule is 409.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caas.context import AuthContext
from caas.db import Database
from caas.errors import Conflict, Forbidden, NotFound
from caas.identity import assignments, delegation_cleanup, policy
from caas.identity.models import Domain, ImpliedRole, Role
from caas.identity.revocation import bump_revision

PROHIBITED_IMPLIED = ("admin",)  # Keystone's [assignment] prohibited_implied_role
# The roles bootstrap makes, immutable as keystone-manage bootstrap makes them (option
# "immutable": no update, no delete).
IMMUTABLE_ROLES = ("admin", "manager", "member", "reader", "service")


def is_immutable(role: Role) -> bool:
    return role.domain_id is None and role.name in IMMUTABLE_ROLES


def _mutable(role: Role, verb: str) -> None:
    if is_immutable(role):
        raise Forbidden(f'Unable to {verb} immutable role resource: `{role.id}. Set resource option "immutable" '
                        "to false first.")


@dataclass(frozen=True)
class Inference:
    """One role and the roles it implies directly."""

    prior: Role
    implies: list[Role]


def _role(s: Session, role_id: str) -> Role:
    role = s.get(Role, role_id) if role_id else None
    if role is None:
        raise NotFound(f"Could not find role: {role_id}.")
    return role


def _duplicate(s: Session, name: str, domain_id: str | None, exclude: str | None = None) -> None:
    """409 when a role named ``name`` exists in ``domain_id`` (None: among global roles)."""
    stmt = select(Role.id).where(Role.name == name, Role.domain_id.is_(None) if domain_id is None
                                 else Role.domain_id == domain_id)
    found = s.scalar(stmt)
    if found and found != exclude:
        raise Conflict(f"Conflict occurred attempting to store role - Duplicate entry found with name {name}.")


class RoleService:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _action(verb: str, role: Role | None = None, domain_id: str | None = None) -> str:
        """``identity:<verb>_role``, or ``<verb>_domain_role`` for a domain-specific role."""
        domain_role = bool(domain_id) or (role is not None and role.domain_id is not None)
        return f"identity:{verb}_domain_role" if domain_role else f"identity:{verb}_role"

    def list_roles(self, ctx: AuthContext, filters: dict) -> list[Role]:
        """Global roles, or the roles of ``filters["domain_id"]``; by ``name``."""
        domain_id = filters.get("domain_id")
        policy.enforce(ctx, "identity:list_domain_roles" if domain_id else "identity:list_roles",
                       {"domain_id": domain_id})
        with self.db.read() as s:
            stmt = select(Role).where(Role.domain_id == domain_id if domain_id else Role.domain_id.is_(None))
            if filters.get("name"):
                stmt = stmt.where(Role.name == filters["name"])
            return list(s.scalars(stmt.order_by(Role.name)))

    def get_role(self, ctx: AuthContext, role_id: str) -> Role:
        with self.db.read() as s:
            role = s.get(Role, role_id)
        policy.enforce(ctx, self._action("get", role), {"role": _target(role)})
        if role is None:
            raise NotFound(f"Could not find role: {role_id}.")
        return role

    def create_role(self, ctx: AuthContext, name: str, description: str | None = None,
                    domain_id: str | None = None) -> Role:
        policy.enforce(ctx, self._action("create", domain_id=domain_id), {"role": {"domain_id": domain_id}})
        with self.db.write() as s:
            if domain_id and s.get(Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            _duplicate(s, name, domain_id)
            role = Role(name=name, description=description or "", domain_id=domain_id or None)
            s.add(role)
            bump_revision(s)
        return role

    def update_role(self, ctx: AuthContext, role_id: str, changes: dict) -> Role:
        with self.db.read() as s:
            found = s.get(Role, role_id)
        policy.enforce(ctx, self._action("update", found), {"role": _target(found)})
        with self.db.write() as s:
            role = _role(s, role_id)
            _mutable(role, "update")
            if "name" in changes and changes["name"] != role.name:
                _duplicate(s, changes["name"], role.domain_id, exclude=role.id)
                role.name = changes["name"]
            if "description" in changes:
                role.description = changes["description"] or ""
            bump_revision(s)
        return role

    def delete_role(self, ctx: AuthContext, role_id: str) -> None:
        with self.db.read() as s:
            found = s.get(Role, role_id)
        policy.enforce(ctx, self._action("delete", found), {"role": _target(found)})
        with self.db.write() as s:
            role = _role(s, role_id)
            _mutable(role, "delete")
            delegation_cleanup.forget_role(s, role.id)  # before its assignments go
            assignments.forget_role(s, role.id)
            s.delete(role)
            bump_revision(s)  # no revocation, as Keystone: the tokens' roles are recomputed

    # ---- implied roles -------------------------------------------------------------------------
    def create_implied(self, ctx: AuthContext, prior_id: str, implied_id: str) -> Inference:
        policy.enforce(ctx, "identity:create_implied_role")
        try:
            with self.db.write() as s:
                prior, implied = _role(s, prior_id), _role(s, implied_id)
                if implied.name in PROHIBITED_IMPLIED or (prior.domain_id is None and implied.domain_id):
                    raise Forbidden(f"{implied.id} cannot be an implied roles.")
                if s.get(ImpliedRole, (prior.id, implied.id)) is not None:
                    raise Conflict(f"Conflict occurred attempting to store implied_role - Duplicate entry found "
                                   f"with prior_role_id {prior.id} and implied_role_id {implied.id}.")
                s.add(ImpliedRole(prior_role_id=prior.id, implied_role_id=implied.id))
                bump_revision(s)
        except IntegrityError:  # two PUTs raced: the other one stored it
            raise Conflict("Conflict occurred attempting to store implied_role - Duplicate entry.") from None
        return Inference(prior, [implied])

    def get_implied(self, ctx: AuthContext, prior_id: str, implied_id: str, action: str = "get") -> Inference:
        """The rule ``prior -> implied`` (``action`` ``check`` for HEAD); 404 without it."""
        policy.enforce(ctx, f"identity:{action}_implied_role")
        with self.db.read() as s:
            prior, implied = _role(s, prior_id), _role(s, implied_id)
            if s.get(ImpliedRole, (prior.id, implied.id)) is None:
                raise NotFound(f"{prior.id} does not imply {implied.id}.")
            return Inference(prior, [implied])

    def delete_implied(self, ctx: AuthContext, prior_id: str, implied_id: str) -> None:
        """Remove the rule; the tokens carrying ``prior`` lose ``implied`` (recomputed on their
        next validation: no revocation, as Keystone)."""
        policy.enforce(ctx, "identity:delete_implied_role")
        with self.db.write() as s:
            prior, implied = _role(s, prior_id), _role(s, implied_id)
            rule = s.get(ImpliedRole, (prior.id, implied.id))
            if rule is None:
                raise NotFound(f"{prior.id} does not imply {implied.id}.")
            s.delete(rule)
            bump_revision(s)

    def list_implied(self, ctx: AuthContext, prior_id: str) -> Inference:
        policy.enforce(ctx, "identity:list_implied_roles")
        with self.db.read() as s:
            prior = _role(s, prior_id)
            ids = assignments.implication_rules(s).get(prior.id, [])
            return Inference(prior, list(s.scalars(select(Role).where(Role.id.in_(ids)).order_by(Role.name))))

    def list_inferences(self, ctx: AuthContext) -> list[Inference]:
        """Every role that implies another, with what it implies directly."""
        policy.enforce(ctx, "identity:list_role_inference_rules")
        with self.db.read() as s:
            rules = assignments.implication_rules(s)
            roles = {r.id: r for r in s.scalars(select(Role).where(Role.id.in_(
                set(rules) | {i for ids in rules.values() for i in ids})))}
            return [Inference(roles[p], sorted((roles[i] for i in ids), key=lambda r: r.name))
                    for p, ids in sorted(rules.items(), key=lambda kv: roles[kv[0]].name)]


def _target(role: Role | None) -> dict:
    """A role as a policy target."""
    if role is None:
        return {}
    return {"id": role.id, "name": role.name, "domain_id": role.domain_id}
