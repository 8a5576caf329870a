"""The authenticated caller: who, in what scope, with which roles. Built by token validation
(identity) and handed to every service call that checks policy. A ground-floor type, beside
``caas.errors``: every service imports it, and it imports none of them."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a ground-floor type: it names identity's token only as a type
    from caas.identity.tokens import TokenData


@dataclass(frozen=True)
class Ref:
    id: str
    name: str


@dataclass(frozen=True)
class AccessRule:
    """What a token from an application credential with access rules may call: one service
    type, one method, and a path glob where ``*`` is one path segment and ``**`` any number
    (keystonemiddleware's reading)."""

    id: str
    service: str
    method: str
    path: str

    def matches(self, services: tuple[str, ...], method: str, paths: tuple[str, ...]) -> bool:
        if self.service not in services or self.method != method:
            return False
        pattern = _glob_regex(self.path)
        return any(pattern.match(p) for p in paths)


@functools.lru_cache(maxsize=1024)
def _glob_regex(glob: str) -> re.Pattern:
    parts = re.split(r"(\*\*|\*|\{[^}]*\})", glob)
    out = "".join(".*" if p == "**" else r"[^/]+" if p == "*" or p.startswith("{") else re.escape(p)
                  for p in parts if p)
    return re.compile(f"^{out}$")


@dataclass(frozen=True)
class AppCredential:
    """The application credential a token was issued from (``access_rules`` None: no rules)."""

    id: str
    name: str
    unrestricted: bool
    access_rules: tuple[AccessRule, ...] | None = None

    def permits(self, services: tuple[str, ...], method: str, paths: tuple[str, ...]) -> bool:
        """Whether a request to one of ``services`` (its types) may go through."""
        if self.access_rules is None:
            return True
        return any(rule.matches(services, method, paths) for rule in self.access_rules)


@dataclass(frozen=True)
class TrustRef:
    """The trust a trust-scoped token was issued from."""

    id: str
    trustor_id: str
    trustee_id: str
    impersonation: bool


@dataclass(frozen=True)
class AuthContext:
    token_id: str
    token: TokenData
    user: Ref
    user_domain: Ref
    project: Ref | None = None
    project_domain: Ref | None = None
    domain: Ref | None = None
    roles: tuple[Ref, ...] = field(default_factory=tuple)
    app_cred: AppCredential | None = None
    trust: TrustRef | None = None
    # A system-scoped token ("scope": {"system": {"all": true}}): no project, no domain; the
    # roles are the user's on the system. The cloud services give it no project's resources.
    system: bool = False
    password_expires_at: float | None = None  # the user's, epoch seconds (None: never)

    @property
    def user_id(self) -> str:
        return self.user.id

    @property
    def project_id(self) -> str | None:
        return self.project.id if self.project else None

    @property
    def domain_id(self) -> str | None:
        """The domain a domain-scoped token is scoped to (None for other scopes)."""
        return self.domain.id if self.domain else None

    @property
    def scope_type(self) -> str | None:
        """``system``, ``domain``, ``project``, or None for an unscoped token."""
        if self.system:
            return "system"
        if self.domain:
            return "domain"
        return "project" if self.project else None

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.roles)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.role_names

    @property
    def is_reader(self) -> bool:
        return bool(self.role_names & {"admin", "member", "reader"})

    @property
    def may_write(self) -> bool:
        """Whether the token may change its project's cloud resources (compute, volumes): any
        role on the project does (Nova's and Cinder's admin-or-owner rule, which the seed
        documents' custom roles such as ``fabric`` rely on), except when every role it carries
        is ``reader``, which only reads."""
        return self.is_admin or bool(self.role_names - {"reader"})
