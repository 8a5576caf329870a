"""Request bodies of the Identity v3 API, as pydantic models (strict types: a number where a
string belongs is 400, never coerced). Unknown keys are ignored, as Keystone does for most."""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

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


class Identity(Model):
    methods: Annotated[list[StrictStr], Field(min_length=1, max_length=4)]
    password: Optional[PasswordMethod] = None
    token: Optional[TokenMethod] = None


class ProjectScope(Model):
    id: Optional[Id] = None
    name: Optional[Name64] = None
    domain: Optional[DomainRef] = None


class ScopeBody(Model):
    project: Optional[ProjectScope] = None
    domain: Optional[DomainRef] = None
    system: Optional[dict] = None
    # OS-TRUST and application credentials are not supported.


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


class ProjectCreate(Model):
    name: Name64
    domain_id: Optional[Id] = None
    parent_id: Optional[Id] = None
    description: Optional[Text] = None
    enabled: StrictBool = True
    is_domain: StrictBool = False

    @field_validator("is_domain")
    @classmethod
    def _no_domains(cls, v: bool) -> bool:
        if v:
            raise ValueError("projects acting as domains are not supported")
        return v


class ProjectUpdate(Model):
    name: Optional[Name64] = None
    domain_id: Optional[Id] = None
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
