"""Groups of users: CRUD (names unique per domain) and membership. A user's groups lend it
their role assignments; deleting a group removes its assignments and memberships. As Keystone
(a revocation event for the user): taking a user out of a group makes all of that user's tokens
stop working for good, and so does deleting a group that held a role for its members. Removing
a group's grant revokes nothing: the members' tokens lose the role (``assignments``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caas.context import AuthContext
from caas.db import Database
from caas.db.engine import insert_if_absent
from caas.errors import BadRequest, Conflict, NotFound
from caas.identity import assignments, policy
from caas.identity.models import Domain, Group, User, UserGroupMembership
from caas.identity.revocation import add_revocation, bump_revision

DEFAULT_DOMAIN_ID = "default"


def _get(s: Session, model, id_: str, what: str):
    obj = s.get(model, id_) if id_ else None
    if obj is None:
        raise NotFound(f"Could not find {what}: {id_}.")
    return obj


def _target(group: Group | None = None, user: User | None = None, domain_id: str | None = None) -> dict:
    """The policy target: ``group`` and ``user`` with their domains, or a listing's domain."""
    target: dict = {"domain_id": domain_id}
    if group is not None:
        target["group"] = {"id": group.id, "domain_id": group.domain_id}
    if user is not None:
        target["user"] = {"id": user.id, "domain_id": user.domain_id}
    return target


def _conflict(name: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store group - Duplicate entry found with name {name}.")


class GroupService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list_groups(self, ctx: AuthContext, filters: dict) -> list[Group]:
        domain_id = filters.get("domain_id") or ctx.domain_id
        policy.enforce(ctx, "identity:list_groups", {"group": {"domain_id": domain_id}})
        with self.db.read() as s:
            stmt = select(Group)
            if domain_id:
                stmt = stmt.where(Group.domain_id == domain_id)
            if filters.get("name"):
                stmt = stmt.where(Group.name == filters["name"])
            return list(s.scalars(stmt.order_by(Group.name)))

    def get_group(self, ctx: AuthContext, group_id: str) -> Group:
        with self.db.read() as s:
            group = s.get(Group, group_id)
        policy.enforce(ctx, "identity:get_group", _target(group))
        if group is None:
            raise NotFound(f"Could not find group: {group_id}.")
        return group

    def create_group(self, ctx: AuthContext, name: str, domain_id: str | None = None,
                     description: str | None = None) -> Group:
        """A new group in ``domain_id`` (default: the token's domain, else ``default``)."""
        domain_id = domain_id or ctx.domain_id or (ctx.project_domain.id if ctx.project_domain else DEFAULT_DOMAIN_ID)
        policy.enforce(ctx, "identity:create_group", {"group": {"domain_id": domain_id}})
        try:
            with self.db.write() as s:
                _get(s, Domain, domain_id, "domain")
                if s.scalar(select(Group.id).where(Group.domain_id == domain_id, Group.name == name)):
                    raise _conflict(name)
                group = Group(name=name, domain_id=domain_id, description=description or "")
                s.add(group)
                bump_revision(s)
        except IntegrityError:  # a concurrent create took the name
            raise _conflict(name) from None
        return group

    def update_group(self, ctx: AuthContext, group_id: str, changes: dict) -> Group:
        with self.db.read() as s:
            found = s.get(Group, group_id)
        policy.enforce(ctx, "identity:update_group", _target(found))
        with self.db.write() as s:
            group = _get(s, Group, group_id, "group")
            if "domain_id" in changes and changes["domain_id"] != group.domain_id:
                raise BadRequest("Update of `domain_id` is not allowed.")
            if "name" in changes and changes["name"] != group.name:
                if s.scalar(select(Group.id).where(Group.domain_id == group.domain_id, Group.name == changes["name"])):
                    raise _conflict(changes["name"])
                group.name = changes["name"]
            if "description" in changes:
                group.description = changes["description"] or ""
            bump_revision(s)
        return group

    def delete_group(self, ctx: AuthContext, group_id: str) -> None:
        with self.db.read() as s:
            found = s.get(Group, group_id)
        policy.enforce(ctx, "identity:delete_group", _target(found))
        with self.db.write() as s:
            group = _get(s, Group, group_id, "group")
            assignments.revoke_for_group(s, group.id)  # before the memberships go
            assignments.forget_actor(s, group.id)
            s.delete(group)

    # ---- membership ----------------------------------------------------------------------------
    def _pair(self, ctx: AuthContext, action: str, group_id: str, user_id: str) -> None:
        """Policy, then 404 for an unknown group or user (Keystone checks in that order)."""
        with self.db.read() as s:
            group, user = s.get(Group, group_id), s.get(User, user_id)
        policy.enforce(ctx, action, _target(group, user))
        if group is None:
            raise NotFound(f"Could not find group: {group_id}.")
        if user is None:
            raise NotFound(f"Could not find user: {user_id}.")

    def add_user(self, ctx: AuthContext, group_id: str, user_id: str) -> None:
        self._pair(ctx, "identity:add_user_to_group", group_id, user_id)
        with self.db.write() as s:
            if insert_if_absent(s, UserGroupMembership, user_id=user_id, group_id=group_id):
                bump_revision(s)

    def check_user(self, ctx: AuthContext, group_id: str, user_id: str) -> None:
        self._pair(ctx, "identity:check_user_in_group", group_id, user_id)
        with self.db.read() as s:
            if s.get(UserGroupMembership, (user_id, group_id)) is None:
                raise NotFound(f"User '{user_id}' not found in group '{group_id}'")

    def remove_user(self, ctx: AuthContext, group_id: str, user_id: str) -> None:
        self._pair(ctx, "identity:remove_user_from_group", group_id, user_id)
        with self.db.write() as s:
            row = s.get(UserGroupMembership, (user_id, group_id))
            if row is None:
                raise NotFound(f"User '{user_id}' not found in group '{group_id}'")
            s.delete(row)
            # As Keystone: the user's tokens die for good, not only the roles the group lent them.
            add_revocation(s, user_id=user_id)

    def list_users(self, ctx: AuthContext, group_id: str) -> list[User]:
        with self.db.read() as s:
            group = s.get(Group, group_id)
        policy.enforce(ctx, "identity:list_users_in_group", _target(group))
        with self.db.read() as s:
            _get(s, Group, group_id, "group")
            return list(s.scalars(select(User).join(UserGroupMembership, UserGroupMembership.user_id == User.id)
                                  .where(UserGroupMembership.group_id == group_id).order_by(User.name)))

    def groups_of_user(self, ctx: AuthContext, user_id: str) -> list[Group]:
        with self.db.read() as s:
            user = s.get(User, user_id)
        policy.enforce(ctx, "identity:list_groups_for_user",
                       {**_target(user=user, domain_id=user.domain_id if user else None), "user_id": user_id})
        with self.db.read() as s:
            _get(s, User, user_id, "user")
            return list(s.scalars(select(Group).join(UserGroupMembership, UserGroupMembership.group_id == Group.id)
                                  .where(UserGroupMembership.user_id == user_id).order_by(Group.name)))
