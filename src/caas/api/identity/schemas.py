"""Request bodies of the Identity v3 API, as pydantic models (strict types: a number where a
string belongs is 400, never coerced). Unknown keys are ignored, as Keystone does for most."""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from caas.errors import BadRequest
from caas.identity import auth

Name64 = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Name255 = Annotated[StrictStr, Field(min_length=1, max_length=255)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Password = Annotated[StrictStr, Field(max_length=4096)]
Text = Annotated[StrictStr, Field(max_length=65535)]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DomainRef(Model):
    id: Optional[Id] = None
    name: Optional[Name64] = None


class PasswordUser(Model):
    id: Optional[Id] = None
    name: Optional[Name255] = None
    domain: Optional[DomainRef] = None
    password: Password


class PasswordMethod(Model):
    user: PasswordUser


class TokenMethod(Model):
    id: Annotated[StrictStr, Field(min_length=1, max_length=1024)]


class AppCredUser(Model):
    id: Optional[Id] = None
    name: Optional[Name255] = None
    domain: Optional[DomainRef] = None


class AppCredMethod(Model):
    id: Optional[Id] = None
    name: Optional[Name255] = None
    user: Optional[AppCredUser] = None
    secret: Password


class Identity(Model):
    methods: Annotated[list[StrictStr], Field(min_length=1, max_length=4)]
    password: Optional[PasswordMethod] = None
    token: Optional[TokenMethod] = None
    application_credential: Optional[AppCredMethod] = None


class ProjectScope(Model):
    id: Optional[Id] = None
    name: Optional[Name64] = None
    domain: Optional[DomainRef] = None


class TrustScope(Model):
    id: Id


class ScopeBody(Model):
    project: Optional[ProjectScope] = None
    domain: Optional[DomainRef] = None
    system: Optional[dict] = None
    trust: Optional[TrustScope] = Field(None, alias="OS-TRUST:trust")


class Auth(Model):
    identity: Identity
    scope: Optional[Union[Literal["unscoped"], ScopeBody]] = None


class AuthRequest(Model):
    auth: Auth


class DomainCreate(Model):
    name: Name64
    description: Optional[Text] = None
    enabled: StrictBool = True
    explicit_domain_id: Optional[Id] = None


class DomainUpdate(Model):
    name: Optional[Name64] = None
    description: Optional[Text] = None
    enabled: Optional[StrictBool] = None


class UserCreate(Model):
    model_config = ConfigDict(extra="allow")
    name: Name255
    domain_id: Optional[Id] = None
    password: Optional[Password] = None
    enabled: StrictBool = True
    default_project_id: Optional[Id] = None
    description: Optional[Text] = None
    email: Optional[Annotated[StrictStr, Field(max_length=255)]] = None


class UserUpdate(Model):
    model_config = ConfigDict(extra="allow")
    name: Optional[Name255] = None
    domain_id: Optional[Id] = None
    password: Optional[Password] = None
    enabled: Optional[StrictBool] = None
    default_project_id: Optional[Id] = None
    description: Optional[Text] = None
    email: Optional[Annotated[StrictStr, Field(max_length=255)]] = None


class PasswordChange(Model):
    password: Password
    original_password: Password


class RoleCreate(Model):
    name: Name255
    description: Optional[Text] = None
    domain_id: Optional[Id] = None


class GroupCreate(Model):
    name: Name64
    domain_id: Optional[Id] = None
    description: Optional[Text] = None


class GroupUpdate(Model):
    name: Optional[Name64] = None
    domain_id: Optional[Id] = None
    description: Optional[Text] = None


class RoleUpdate(Model):
    name: Optional[Name255] = None
    description: Optional[Text] = None


RESERVED_USER_KEYS = {"id", "links", "password_expires_at", "options", "extra", "password_hash"}


def user_extra(model: BaseModel) -> dict:
    """Keystone keeps unknown user attributes; so do we (JSON-safe scalars only)."""
    extra = dict(model.model_extra or {})
    for key in RESERVED_USER_KEYS:
        extra.pop(key, None)
    return extra


def to_scope(scope: "ScopeBody | str | None") -> auth.Scope:
    """The domain Scope a request's ``scope`` names ("unscoped", a project, a domain or the
    system); 400 for more than one at once, or one named without what identifies it."""
    if scope is None:
        return auth.Scope()
    if scope == "unscoped":
        return auth.Scope(unscoped=True)
    if sum(x is not None for x in (scope.project, scope.domain, scope.system, scope.trust)) > 1:
        raise BadRequest("Specify either a project, a domain or the system scope, not more than one.")
    if scope.system is not None:
        if scope.system != {"all": True}:
            raise BadRequest("Expecting to find {\"all\": true} in system scope.")
        return auth.Scope(system=True)
    if scope.trust is not None:
        return auth.Scope(trust_id=scope.trust.id)
    if scope.project is not None:
        p = scope.project
        if not p.id and not p.name:
            raise BadRequest("Expecting to find project id or name in scope.")
        if p.name and not p.id and not p.domain:
            raise BadRequest("Expecting to find domain in project scope.")
        return auth.Scope(project_id=p.id, project_name=p.name,
                          project_domain_id=p.domain.id if p.domain else None,
                          project_domain_name=p.domain.name if p.domain else None)
    if scope.domain is not None:
        d = scope.domain
        if not d.id and not d.name:
            raise BadRequest("Expecting to find domain id or name in scope.")
        return auth.Scope(domain_id=d.id, domain_name=d.name)
    return auth.Scope()
