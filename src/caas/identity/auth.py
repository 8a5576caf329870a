"""Authentication and tokens: issue (password and token methods; unscoped, project- and
domain-scoped), validate (with a per-process cache that a change of the identity revision
empties), revoke, and the service catalog a token carries.

Both issue and validation read the user and the project in one query each (``token_lookups``),
the scope's assignment rows in one more (``assignments.direct_roles``), and take what those
roles imply from the process's ``role_graph``, read again once the identity revision moved.

A token stops working when it expires, when it is revoked (by audit id, or a revocation event
for its user: disabled, out of a group), when its user is deleted or changes password, when its
project or domain is disabled or deleted, and while its user holds no role on its scope. Its
roles are recomputed on every validation that misses the cache (any identity write empties the
cache), as Keystone's Fernet tokens: a removed grant, implication or role leaves the token with
the roles left and a grant given back makes it valid again; no revocation event is written.
Tokens issued from an application credential or a trust are checked against it on every
validation that misses the cache (see ``delegation.token_grant``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from caas.config import Settings
from caas.db import Database
from caas.errors import Forbidden, NotFound, Unauthorized
from caas.identity import assignments, compliance, delegation, policy, token_lookups, trusts
from caas.identity.app_credentials import AppCredAuth, AppCredentialService
from caas.context import AuthContext, Ref
from caas.identity.assignments import USER_DOMAIN, USER_PROJECT, USER_SYSTEM
from caas.identity.catalog import token_catalog
from caas.identity.credential_models import OAuthAccessToken
from caas.identity.models import Domain, Project, RevocationEvent, User
from caas.identity.passwords import verify_password
from caas.identity.revocation import add_revocation
from caas.identity.role_graph import RoleGraph
from caas.identity.tokens import KeyRepository, TokenData, new_audit_id

AUTH_REQUIRED = "The request you have made requires authentication."
CACHE_MAX = 20000


class AuthMethodError(Unauthorized):
    """An authentication method refused its request (Keystone adds an empty ``identity``)."""

    body_extra = {"identity": {}}


@dataclass(frozen=True)
class PasswordCredentials:
    password: str
    user_id: str | None = None
    user_name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


@dataclass(frozen=True)
class Scope:
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    project_domain_name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None
    unscoped: bool = False  # explicit "scope": "unscoped": ignore the default project
    trust_id: str | None = None  # "OS-TRUST:trust": the trust to scope to
    system: bool = False  # "scope": {"system": {"all": true}}

    @property
    def is_project(self) -> bool:
        return bool(self.project_id or self.project_name)

    @property
    def is_domain(self) -> bool:
        return bool(self.domain_id or self.domain_name)


class TokenService:
    def __init__(self, db: Database, settings: Settings, keys: KeyRepository,
                 lockout: compliance.Lockout | None = None) -> None:
        self.db = db
        self.settings = settings
        self.keys = keys
        self.lockout = lockout or compliance.Lockout(settings)
        self._lock = threading.Lock()
        self._cache: dict[str, AuthContext] = {}
        self._catalog_cache: dict[tuple, list] = {}
        self._cache_revision: tuple[int, int] | None = None
        self._role_graph: tuple[tuple[int, int], RoleGraph] | None = None  # (revision it was read at, graph)

    # ---- revision-scoped cache -----------------------------------------------------------
    def _revision(self) -> int:
        # On the hot path of every request: a raw pooled DBAPI connection, one SELECT, no ORM
        # and no explicit transaction (the pool rolls back whatever the driver opened).
        conn = self.db.engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute("SELECT value FROM identity_revision WHERE id = 1")
            (value,) = cur.fetchone()
            cur.close()
            return value
        finally:
            conn.close()

    def _sync_cache(self) -> tuple[int, int]:
        """Empty the caches when the identity revision or the key set changed; the revision now."""
        self.keys.fernet()  # reloads rotated keys; a new key set empties the cache below
        rev = (self._revision(), self.keys.generation)
        if rev != self._cache_revision:
            with self._lock:
                self._cache = {}
                self._catalog_cache = {}
                self._cache_revision = rev
        return rev

    def _graph(self, s: Session, rev: tuple[int, int]) -> RoleGraph:
        """The roles and their inferences as of revision ``rev`` or later (``rev`` was read
        before ``s`` began, so a graph read in ``s`` is at least that new): the process's copy
        while the revision stays, else read again in ``s``."""
        cached = self._role_graph
        if cached is not None and cached[0] == rev:
            return cached[1]
        graph = RoleGraph.load(s)
        self._role_graph = (rev, graph)
        return graph

    def _roles(self, s: Session, rev: tuple[int, int], user_id: str, project=None, domain_id: str | None = None,
               system: bool = False) -> tuple[Ref, ...]:
        """The user's effective roles on a project (a ``token_lookups`` row), a domain or the
        system (``assignments.direct_roles``, and what they imply)."""
        direct = assignments.direct_roles(s, user_id, project, domain_id, system)
        return self._graph(s, rev).effective(direct) if direct else ()

    # ---- issue ---------------------------------------------------------------------------
    def authenticate_password(self, creds: PasswordCredentials, scope: Scope) -> tuple[str, AuthContext]:
        rounds = self.settings.password_hash_rounds
        with self.db.read() as s:
            user = token_lookups.find_user(s, creds.user_id, creds.user_name, creds.domain_id, creds.domain_name)
        hashed = user.password_hash if user is not None else None
        user_ok = user is not None and user.enabled and user.domain_enabled
        now = time.time()
        with self.lockout.attempt(user.id if user is not None else None) as outcome:
            # The same work and the same answer for an unknown user and a wrong password.
            if not verify_password(creds.password, hashed, rounds):
                raise Unauthorized(AUTH_REQUIRED)
            outcome.append(True)
        if not user_ok:
            raise Unauthorized(AUTH_REQUIRED)
        compliance.check_login(self.settings, user, now)
        if compliance.stale_activity(self.settings, user, now):
            with self.db.write() as s:
                s.execute(update(User).where(User.id == user.id).values(last_active_at=now))
        data = TokenData(user_id=user.id, methods=("password",), issued_at=now,
                         expires_at=now + self.settings.token_ttl_seconds, audit_ids=(new_audit_id(),))
        return self._issue(data, scope, user.default_project_id, user)

    def authenticate_oauth1(self, grant) -> tuple[str, AuthContext]:
        """A token for a checked OAuth1 access token (``oauth1.Grant``): scoped to its project
        with the roles it was authorized with (see ``_context``), whatever scope was asked."""
        now = time.time()
        data = TokenData(user_id=grant.user_id, methods=("oauth1",), issued_at=now,
                         expires_at=now + self.settings.token_ttl_seconds, audit_ids=(new_audit_id(),),
                         oauth=(grant.access_token_id, grant.consumer_id))
        return self._issue(data, Scope(project_id=grant.project_id), None)

    def authenticate_app_cred(self, creds: AppCredAuth, scope: Scope) -> tuple[str, AuthContext]:
        """A token from an application credential: its project, exactly its roles, expiring
        no later than it does. It names no scope (401 when asked for one, as Keystone)."""
        if scope.is_project or scope.is_domain or scope.trust_id:
            raise AuthMethodError("Error authenticating with application credential: Application credentials cannot "
                                  "request a scope.")
        cred = AppCredentialService(self.db, self.settings).authenticate(creds)
        now = time.time()
        expires = now + self.settings.token_ttl_seconds
        data = TokenData(user_id=cred.user_id, methods=("application_credential",), issued_at=now,
                         expires_at=min(expires, cred.expires_at or expires), audit_ids=(new_audit_id(),),
                         project_id=cred.project_id or None, app_cred_id=cred.id)
        return self._issue(data, Scope(unscoped=True), None)

    def authenticate_token(self, token_id: str, scope: Scope) -> tuple[str, AuthContext]:
        old = self.validate(token_id)
        if old.token.oauth:
            raise Forbidden("You are not authorized to perform the requested action: Using OAuth-scoped token to "
                            "create another token. Create a new OAuth-scoped token instead.")
        if old.token.app_cred_id or old.token.trust_id:
            raise Forbidden("You are not authorized to perform the requested action: rescoping a delegated token.")
        methods = tuple(dict.fromkeys(("token",) + old.token.methods))
        data = TokenData(user_id=old.user.id, methods=methods, issued_at=time.time(),
                         expires_at=old.token.expires_at, audit_ids=(new_audit_id(), old.token.audit_ids[0]))
        return self._issue(data, scope, None)

    def _issue(self, data: TokenData, scope: Scope, default_project_id: str | None,
               user=None) -> tuple[str, AuthContext]:
        """Scope ``data`` and sign it. ``user``: the user's ``token_lookups`` row, when the
        caller has just read it."""
        if scope.trust_id:
            data = trusts.scope_token(self.db, data, scope.trust_id)
        rev = self._sync_cache()
        project = None
        with self.db.read() as s:
            if scope.trust_id:
                pass  # the trust gave the scope
            elif scope.system:
                data = replace(data, system=True)
            elif scope.is_project:
                project = token_lookups.find_project(s, scope.project_id, scope.project_name,
                                                     scope.project_domain_id, scope.project_domain_name)
                if project is None:
                    raise Unauthorized(f"Could not find project: {scope.project_id or scope.project_name}.")
                data = replace(data, project_id=project.id)
            elif scope.is_domain:
                dom = (s.get(Domain, scope.domain_id) if scope.domain_id
                       else s.scalar(select(Domain).where(Domain.name == scope.domain_name)))
                if dom is None:
                    raise Unauthorized(f"Could not find domain: {scope.domain_id or scope.domain_name}.")
                data = replace(data, domain_id=dom.id)
            elif default_project_id and not scope.unscoped:
                # Keystone scopes a scope-less request to the user's default project when it can.
                project = token_lookups.project_by_id(s, default_project_id)
                if project is not None and project.enabled and self._roles(s, rev, data.user_id, project):
                    data = replace(data, project_id=project.id)
            ctx = self._context(s, rev, "", data, user, project)
        token_id = self.keys.encode(data)
        return token_id, AuthContext(**{**ctx.__dict__, "token_id": token_id})

    # ---- validate ------------------------------------------------------------------------
    def validate(self, token_id: str, fresh_cache: bool = False) -> AuthContext:
        """The context of a valid token; Unauthorized for anything else. ``fresh_cache``: the
        caller has just synced the cache in this request (saves a database round trip)."""
        rev = self._cache_revision if fresh_cache else self._sync_cache()
        ctx = self._cache.get(token_id)
        if ctx is not None:
            if ctx.token.expires_at <= time.time():
                raise Unauthorized(AUTH_REQUIRED)
            return ctx
        data = self.keys.decode(token_id)
        if data.expires_at <= time.time():
            raise Unauthorized(AUTH_REQUIRED)
        with self.db.read() as s:
            ctx = self._context(s, rev, token_id, data)
            self._check_revoked(s, ctx)
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache = {}
            self._cache[token_id] = ctx
        return ctx

    def _context(self, s: Session, rev: tuple[int, int], token_id: str, data: TokenData, user=None,
                 project=None) -> AuthContext:
        """The context ``data`` gives, checked against the database in ``s`` (``rev``: the
        identity revision read before ``s`` began). ``user`` and ``project``: their
        ``token_lookups`` rows when the caller has just read them."""
        if user is None or user.id != data.user_id:  # a trust may have swapped the user
            user = token_lookups.user_by_id(s, data.user_id)
        if user is None or not user.enabled or not user.domain_enabled:
            raise Unauthorized(AUTH_REQUIRED)
        if data.issued_at < (user.password_changed_at or 0):
            raise Unauthorized(AUTH_REQUIRED)
        kwargs: dict = {}
        grant = delegation.token_grant(s, data) if data.app_cred_id or data.trust_id else None
        if grant is not None:
            kwargs = dict(grant.fields)
        if data.project_id:
            if project is None or project.id != data.project_id:
                project = token_lookups.project_by_id(s, data.project_id)
            if project is None or not project.enabled or not project.domain_enabled:
                raise Unauthorized(AUTH_REQUIRED)
            roles = grant.roles if grant is not None else self._roles(s, rev, user.id, project)
            if data.oauth:
                roles = _oauth_roles(s, data, roles)
            if not roles:
                raise Unauthorized(f"User {user.id} has no access to project {project.id}.")
            kwargs.update({"project": Ref(project.id, project.name),
                           "project_domain": Ref(project.domain_id, project.domain_name), "roles": roles})
        elif data.system:
            roles = self._roles(s, rev, user.id, system=True)
            if not roles:
                raise Unauthorized(f"User {user.id} has no access to the system.")
            kwargs = {"system": True, "roles": roles}
        elif data.domain_id:
            dom = s.get(Domain, data.domain_id)
            if dom is None or not dom.enabled:
                raise Unauthorized(AUTH_REQUIRED)
            roles = self._roles(s, rev, user.id, domain_id=dom.id)
            if not roles:
                raise Unauthorized(f"User {user.id} has no access to domain {dom.id}.")
            kwargs = {"domain": Ref(dom.id, dom.name), "roles": roles}
        return AuthContext(token_id=token_id, token=data, user=Ref(user.id, user.name),
                           user_domain=Ref(user.domain_id, user.domain_name),
                           password_expires_at=user.password_expires_at, **kwargs)

    def _check_revoked(self, s: Session, ctx: AuthContext) -> None:
        data = ctx.token
        role_ids = [r.id for r in ctx.roles]
        stmt = select(RevocationEvent).where(
            RevocationEvent.issued_before >= data.issued_at,
            or_(RevocationEvent.audit_id == data.audit_ids[0], RevocationEvent.user_id == data.user_id,
                RevocationEvent.role_id.in_(role_ids) if role_ids else False,
                RevocationEvent.project_id == data.project_id if data.project_id else False,
                RevocationEvent.domain_id == data.domain_id if data.domain_id else False))
        for ev in s.scalars(stmt):
            if ev.audit_id and ev.audit_id != data.audit_ids[0]:
                continue
            if ev.user_id and ev.user_id != data.user_id:
                continue
            if ev.project_id and ev.project_id != data.project_id:
                continue
            if ev.domain_id and ev.domain_id != data.domain_id:
                continue
            if ev.role_id and ev.role_id not in role_ids:
                continue
            raise Unauthorized(AUTH_REQUIRED)

    def validate_subject(self, ctx: AuthContext, subject: str, allow_expired: bool = False) -> AuthContext:
        """Validate another token for ``ctx`` (GET/HEAD /v3/auth/tokens). A subject token that
        is not valid is 404, as in Keystone. ``ctx`` comes from ``validate`` in this same request,
        so the cache is already in sync."""
        try:
            subject_ctx = self.validate(subject, fresh_cache=True)
        except Unauthorized:
            raise NotFound("Could not find token.") from None
        policy.enforce(ctx, "identity:validate_token", {"user_id": subject_ctx.user_id})
        return subject_ctx

    def revoke(self, ctx: AuthContext, subject: str) -> None:
        subject_ctx = self.validate_subject(ctx, subject)
        policy.enforce(ctx, "identity:revoke_token", {"user_id": subject_ctx.user_id})
        with self.db.write() as s:
            add_revocation(s, self.settings.revocation_keep_seconds, audit_id=subject_ctx.token.audit_ids[0])

    # ---- what a token reaches ------------------------------------------------------------
    def auth_projects(self, ctx: AuthContext) -> list[Project]:
        with self.db.read() as s:
            return assignments.projects_of_user(s, ctx.user_id)

    def auth_domains(self, ctx: AuthContext) -> list[Domain]:
        with self.db.read() as s:
            return assignments.domains_of_user(s, ctx.user_id)

    def auth_system(self, ctx: AuthContext) -> bool:
        """Whether the token's user may scope a token to the system (GET /v3/auth/system)."""
        with self.db.read() as s:
            return assignments.has_system_roles(s, ctx.user_id)

    def auth_catalog(self, ctx: AuthContext) -> list[dict]:
        """The catalog of ``GET /v3/auth/catalog``: a project-scoped token's only; any other
        (system, domain, unscoped) is 403 with Keystone's message ("A project-scoped token is
        required to produce a service catalog", hidden as every security error there is)."""
        if ctx.project is None:
            raise Forbidden("You are not authorized to perform the requested action.")
        return self.catalog(ctx)

    def catalog(self, ctx: AuthContext) -> list[dict]:
        """The service catalog for a token (``catalog.token_catalog``), cached per project and
        user until the next identity write."""
        key = (ctx.project_id, ctx.user_id)
        cached = self._catalog_cache.get(key)
        if cached is not None:
            return cached
        with self.db.read() as s:
            result = token_catalog(s, ctx.project_id, ctx.user_id)
        with self._lock:
            if len(self._catalog_cache) >= CACHE_MAX:
                self._catalog_cache = {}
            self._catalog_cache[key] = result
        return result


def _oauth_roles(s: Session, data: TokenData, roles: tuple[Ref, ...]) -> tuple[Ref, ...]:
    """The roles of an oauth1 token: those its access token was authorized with that the user
    still holds; Unauthorized once the access token is gone (deleted, or its consumer)."""
    token = s.get(OAuthAccessToken, data.oauth[0])
    if token is None or token.project_id != data.project_id:
        raise Unauthorized(AUTH_REQUIRED)
    return tuple(r for r in roles if r.id in set(token.role_ids or ()))


def _roles(s: Session, type_: str, user_id: str, target_id: str) -> tuple[Ref, ...]:
    """The roles of a user on a project (``type_`` USER_PROJECT), a domain (USER_DOMAIN) or the
    system (USER_SYSTEM), by name: effective ones, its groups', the inherited and the implied
    included (``assignments.roles_of_user``)."""
    if type_ == USER_SYSTEM:
        return assignments.roles_of_user(s, user_id, system=True)
    if type_ == USER_DOMAIN:
        return assignments.roles_of_user(s, user_id, domain_id=target_id)
    return assignments.roles_of_user(s, user_id, project_id=target_id)
