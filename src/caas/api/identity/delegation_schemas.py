"""Request bodies of application credentials and trusts (strict types, unknown keys ignored),
and their translation to the services' typed requests."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import Field, StrictBool, StrictInt, StrictStr, model_validator

from caas.api.identity.schemas import Id, Model, Name255, Text
from caas.identity.app_credentials import NewAppCredential, RoleName, RuleSpec
from caas.identity.trusts import NewTrust

Method = Literal["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"]
Time = Annotated[StrictStr, Field(max_length=64)]


class RoleRef(Model):
    id: Optional[Id] = None
    name: Optional[Name255] = None

    @model_validator(mode="after")
    def _named(self):
        if not self.id and not self.name:
            raise ValueError("a role needs an id or a name")
        return self


class AccessRuleBody(Model):
    id: Optional[Id] = None
    service: Optional[Annotated[StrictStr, Field(min_length=1, max_length=64)]] = None
    method: Optional[Method] = None
    path: Optional[Annotated[StrictStr, Field(max_length=225, pattern=r"^/")]] = None


class AppCredCreate(Model):
    name: Name255
    description: Optional[Text] = None
    secret: Optional[Annotated[StrictStr, Field(min_length=1, max_length=4096)]] = None
    roles: Optional[Annotated[list[RoleRef], Field(max_length=100)]] = None
    expires_at: Optional[Time] = None
    unrestricted: Optional[StrictBool] = None
    access_rules: Optional[Annotated[list[AccessRuleBody], Field(max_length=100)]] = None

    def request(self) -> NewAppCredential:
        rules = None
        if self.access_rules is not None:
            rules = tuple(RuleSpec(r.id, r.service, r.method, r.path) for r in self.access_rules)
        return NewAppCredential(name=self.name, description=self.description, secret=self.secret,
                                roles=tuple(RoleName(r.id, r.name) for r in self.roles or ()),
                                expires_at=self.expires_at, unrestricted=self.unrestricted, access_rules=rules)


class TrustCreate(Model):
    trustor_user_id: Id
    trustee_user_id: Id
    impersonation: StrictBool
    project_id: Optional[Id] = None
    roles: Optional[Annotated[list[RoleRef], Field(max_length=100)]] = None
    expires_at: Optional[Time] = None
    remaining_uses: Optional[Annotated[StrictInt, Field(ge=-(2 ** 31), lt=2 ** 31)]] = None
    allow_redelegation: Optional[StrictBool] = None
    redelegation_count: Optional[Annotated[StrictInt, Field(ge=0, lt=2 ** 31)]] = None

    def request(self) -> NewTrust:
        roles = self.roles or []
        return NewTrust(trustor_user_id=self.trustor_user_id, trustee_user_id=self.trustee_user_id,
                        impersonation=self.impersonation, project_id=self.project_id,
                        role_ids=tuple(r.id for r in roles if r.id),
                        role_names=tuple(r.name for r in roles if not r.id), expires_at=self.expires_at,
                        remaining_uses=self.remaining_uses, allow_redelegation=bool(self.allow_redelegation),
                        redelegation_count=self.redelegation_count)
