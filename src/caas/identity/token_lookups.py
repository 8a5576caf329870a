"""The rows a token's issue and validation read, each in one query with its domain: the user
(by id, or by name in a domain named by id or by name) and the project (likewise).

They are plain rows, not ORM objects (a Project would load its tags as well), from statements
built once at import: on the hot path of every token, building and loading cost more than the
queries themselves. A user row has the User columns a token needs (``id``, ``name``,
``domain_id``, ``enabled``, ``password_hash``, ``password_changed_at``, ``default_project_id``,
``password_expires_at``, ``last_active_at``); a project row ``id``, ``name``, ``domain_id``,
``enabled`` and ``parent_id``; both add their domain's ``domain_name`` and ``domain_enabled``.
"""

from __future__ import annotations

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from caas.errors import BadRequest
from caas.identity.models import Domain, Project, User

_DOMAIN = (Domain.name.label("domain_name"), Domain.enabled.label("domain_enabled"))
_USERS = (select(User.id, User.name, User.domain_id, User.enabled, User.password_hash, User.password_changed_at,
                 User.default_project_id, User.password_expires_at, User.last_active_at, User.created_at,
                 *_DOMAIN)
          .join(Domain, Domain.id == User.domain_id))
_PROJECTS = (select(Project.id, Project.name, Project.domain_id, Project.enabled, Project.parent_id, *_DOMAIN)
             .join(Domain, Domain.id == Project.domain_id))

_USER_BY_ID = _USERS.where(User.id == bindparam("id"))
_USER_IN_DOMAIN = _USERS.where(User.name == bindparam("name"), User.domain_id == bindparam("domain_id"))
_USER_IN_DOMAIN_NAMED = _USERS.where(User.name == bindparam("name"), Domain.name == bindparam("domain_name"))
_PROJECT_BY_ID = _PROJECTS.where(Project.id == bindparam("id"))
_PROJECT_IN_DOMAIN = _PROJECTS.where(Project.name == bindparam("name"), Project.domain_id == bindparam("domain_id"))
_PROJECT_IN_DOMAIN_NAMED = _PROJECTS.where(Project.name == bindparam("name"),
                                           Domain.name == bindparam("domain_name"))


def _one(s: Session, stmt, **params) -> Row | None:
    return s.connection().execute(stmt, params).first()


def user_by_id(s: Session, user_id: str) -> Row | None:
    """The user row of ``user_id``; None when there is none."""
    return _one(s, _USER_BY_ID, id=user_id)


def find_user(s: Session, user_id: str | None, name: str | None, domain_id: str | None,
              domain_name: str | None) -> Row | None:
    """The user a password method names: by id, or by name in a domain given by id or by name;
    None when there is no such user (or domain). 400 when a name comes without a domain, or
    there is neither id nor name."""
    if user_id:
        return user_by_id(s, user_id)
    if not name:
        raise BadRequest("Expecting to find user id or name in password.user.")
    if domain_id:
        return _one(s, _USER_IN_DOMAIN, name=name, domain_id=domain_id)
    if domain_name:
        return _one(s, _USER_IN_DOMAIN_NAMED, name=name, domain_name=domain_name)
    raise BadRequest("Expecting to find domain in user - the server could not comply with the request since it "
                     "is either malformed or otherwise incorrect.")


def project_by_id(s: Session, project_id: str) -> Row | None:
    """The project row of ``project_id``; None when there is none."""
    return _one(s, _PROJECT_BY_ID, id=project_id)


def find_project(s: Session, project_id: str | None, name: str | None, domain_id: str | None,
                 domain_name: str | None) -> Row | None:
    """The project a scope names: by id, or by name in a domain given by id or by name; None
    when there is none. 400 when a name comes without a domain."""
    if project_id:
        return project_by_id(s, project_id)
    if domain_id:
        return _one(s, _PROJECT_IN_DOMAIN, name=name, domain_id=domain_id)
    if domain_name:
        return _one(s, _PROJECT_IN_DOMAIN_NAMED, name=name, domain_name=domain_name)
    raise BadRequest("Expecting to find domain in project.")
