"""What goes with a deleted user, project or role, as Keystone (2024+) deletes it: the rows of
application credentials and trusts, not only their use.

- A deleted user's application credentials and access rules go, and every trust whose trustor
  or trustee it is (Keystone's callbacks on a user's deletion; a domain's deletion deletes its
  users so).
- A deleted project's trusts go (Keystone's ``delete_trusts_for_project``). Its application
  credentials stay, unusable: authenticating with one answers 404 for the project, as Keystone.
- A deleted role takes the application credentials of every user holding it directly on a
  project, on that project (Keystone's ``_send_app_cred_notification_for_role_removal``).

Removing a grant, a group membership or a group's grant deletes nothing in Keystone (only its
legacy v2 call did): the credentials and trusts stop working while the role is missing, and
work again when it comes back (checked at authentication and token validation).

Every function runs in the caller's write transaction, before the rows it looks at go; the
caller bumps the identity revision, so the tokens issued from what went stop validating.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from caas.identity.assignments import USER_PROJECT
from caas.identity.delegation_models import AccessRule, ApplicationCredential, Trust, TrustRole
from caas.identity.models import Assignment


def _delete_app_creds(s: Session, where) -> None:
    """Delete the application credentials ``where`` selects (their role and rule links go by
    ON DELETE CASCADE; SQLite's foreign keys are on, see caas.db.engine)."""
    s.execute(delete(ApplicationCredential).where(where))


def delete_trusts(s: Session, trust_ids: Iterable[str]) -> None:
    """Delete trusts and every trust redelegated from them (a redelegated trust lives on its
    parent's grant), with their roles."""
    doomed = frontier = list(trust_ids)
    while frontier:
        frontier = list(s.scalars(select(Trust.id).where(Trust.redelegated_trust_id.in_(frontier),
                                                         Trust.id.not_in(doomed))))
        doomed = doomed + frontier
    if doomed:
        s.execute(delete(TrustRole).where(TrustRole.trust_id.in_(doomed)))
        s.execute(delete(Trust).where(Trust.id.in_(doomed)))


def forget_users(s: Session, user_ids: Iterable[str]) -> None:
    """The users are being deleted: their application credentials, access rules and trusts
    (as trustor or trustee) go."""
    users = list(user_ids)
    if not users:
        return
    _delete_app_creds(s, ApplicationCredential.user_id.in_(users))
    s.execute(delete(AccessRule).where(AccessRule.user_id.in_(users)))
    delete_trusts(s, s.scalars(select(Trust.id).where(or_(Trust.trustor_user_id.in_(users),
                                                         Trust.trustee_user_id.in_(users)))))


def forget_projects(s: Session, project_ids: Iterable[str]) -> None:
    """The projects are being deleted: their trusts go (their application credentials stay)."""
    projects = list(project_ids)
    if projects:
        delete_trusts(s, s.scalars(select(Trust.id).where(Trust.project_id.in_(projects))))


def forget_role(s: Session, role_id: str) -> None:
    """Role ``role_id`` is being deleted (call before its assignments go): each user holding it
    directly on a project loses its application credentials on that project."""
    pairs = set(s.execute(select(Assignment.actor_id, Assignment.target_id)
                          .where(Assignment.type == USER_PROJECT, Assignment.role_id == role_id)))
    for user_id, project_id in pairs:
        _delete_app_creds(s, (ApplicationCredential.user_id == user_id) &
                          (ApplicationCredential.project_id == project_id))
