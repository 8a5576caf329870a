"""Credentials (``/v3/credentials``) and EC2 credentials (``/v3/users/{id}/credentials/OS-EC2``),
as Keystone keeps them: a credential is a user's (optionally a project's) typed blob; an EC2
credential is a credential of type ``ec2`` whose blob is JSON with an ``access`` and a
``secret``, and whose id is the SHA-256 of its access key. Blobs are stored encrypted
(``secrets.SecretBox``). No token depends on a credential, so writing one leaves the identity
revision (and every process's token cache) alone. Policy as Keystone's defaults: the admin, or the credential's owner.

Keystone does not check that a credential's user or project exists (the anchor stores
``"user_id": "nosuch"``); nor does this, but deleting a user or a project deletes its
credentials (``forget_owners``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from caas.context import AuthContext
from caas.db import Database
from caas.errors import BadRequest, Conflict, NotFound
from caas.identity import policy
from caas.identity.credential_models import Credential, OAuthAccessToken
from caas.identity.models import Project, User
from caas.identity.secrets import SecretBox

EC2 = "ec2"


@dataclass(frozen=True)
class CredentialView:
    """A credential with its blob decrypted."""

    id: str
    user_id: str
    project_id: str | None
    type: str
    blob: str


@dataclass(frozen=True)
class NewCredential:
    user_id: str
    type: str
    blob: str
    project_id: str | None = None


def ec2_id(access: str) -> str:
    """An EC2 credential's id: the SHA-256 of its access key, as Keystone's."""
    return hashlib.sha256(access.encode("utf-8")).hexdigest()


def _ec2_access(blob: str) -> str:
    """The ``access`` of an EC2 blob; 400 with Keystone's words if the blob has none."""
    try:
        access = json.loads(blob).get("access")
    except (ValueError, AttributeError):
        access = None
    if not isinstance(access, str) or not access:
        raise BadRequest("Invalid blob in credential")
    return access


def forget_owners(s: Session, user_ids: list[str] = (), project_ids: list[str] = ()) -> None:
    """Delete the credentials and OAuth1 access tokens of users or projects being deleted (in
    the caller's transaction)."""
    if user_ids:
        s.execute(delete(Credential).where(Credential.user_id.in_(list(user_ids))))
        s.execute(delete(OAuthAccessToken).where(OAuthAccessToken.authorizing_user_id.in_(list(user_ids))))
    if project_ids:
        s.execute(delete(Credential).where(Credential.project_id.in_(list(project_ids))))
        s.execute(delete(OAuthAccessToken).where(OAuthAccessToken.project_id.in_(list(project_ids))))


class CredentialService:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box

    def _view(self, c: Credential) -> CredentialView:
        return CredentialView(c.id, c.user_id, c.project_id, c.type, self.box.decrypt(c.encrypted_blob))

    @staticmethod
    def _get(s: Session, credential_id: str) -> Credential:
        cred = s.get(Credential, credential_id)
        if cred is None:
            raise NotFound(f"Could not find credential: {credential_id}.")
        return cred

    # ---- /v3/credentials -----------------------------------------------------------------
    def create(self, ctx: AuthContext, new: NewCredential) -> CredentialView:
        policy.enforce(ctx, "identity:create_credential", {"user_id": new.user_id})
        cred_id = uuid.uuid4().hex
        if new.type == EC2:
            if not new.project_id:
                raise BadRequest("Invalid input for field/attribute credential: 'project_id' is a required "
                                 "property of an ec2 credential.")
            cred_id = ec2_id(_ec2_access(new.blob))
        with self.db.write() as s:
            if s.get(Credential, cred_id) is not None:
                raise Conflict(f"Conflict occurred attempting to store credential - Duplicate ID, {cred_id}.")
            cred = Credential(id=cred_id, user_id=new.user_id, project_id=new.project_id, type=new.type,
                              encrypted_blob=self.box.encrypt(new.blob), extra={})
            s.add(cred)
        return self._view(cred)

    def list(self, ctx: AuthContext, filters: dict) -> list[CredentialView]:
        """The credentials matching ``filters`` (``user_id``, ``type``) that the caller may see:
        all for the admin, its own for anybody else (Keystone filters the list by policy)."""
        with self.db.read() as s:
            stmt = select(Credential)
            for key in ("user_id", "type"):
                if filters.get(key) is not None:
                    stmt = stmt.where(getattr(Credential, key) == filters[key])
            rows = list(s.scalars(stmt.order_by(Credential.created_at, Credential.id)))
        return [self._view(c) for c in rows
                if policy.allowed(ctx, "identity:list_credentials", {"user_id": c.user_id})]

    def get(self, ctx: AuthContext, credential_id: str) -> CredentialView:
        with self.db.read() as s:
            cred = self._get(s, credential_id)
        policy.enforce(ctx, "identity:get_credential", {"user_id": cred.user_id})
        return self._view(cred)

    def update(self, ctx: AuthContext, credential_id: str, changes: dict) -> CredentialView:
        """Change ``blob``, ``type``, ``project_id`` or ``user_id``; a non-admin may not give
        its credential away (the new owner is checked as the old one)."""
        with self.db.write() as s:
            cred = self._get(s, credential_id)
            policy.enforce(ctx, "identity:update_credential", {"user_id": cred.user_id})
            if "user_id" in changes:
                policy.enforce(ctx, "identity:update_credential", {"user_id": changes["user_id"]})
            type_ = changes.get("type", cred.type)
            project_id = changes.get("project_id", cred.project_id)
            if type_ == EC2:
                if not project_id:
                    raise BadRequest("Invalid input for field/attribute credential: 'project_id' is a required "
                                     "property of an ec2 credential.")
                blob = changes.get("blob", self.box.decrypt(cred.encrypted_blob))
                if ec2_id(_ec2_access(blob)) != cred.id and "blob" in changes:
                    raise BadRequest("Invalid blob in credential: an ec2 credential's access key is its id.")
            for key in ("user_id", "type", "project_id"):
                if key in changes:
                    setattr(cred, key, changes[key])
            if "blob" in changes:
                cred.encrypted_blob = self.box.encrypt(changes["blob"])
        return self._view(cred)

    def delete(self, ctx: AuthContext, credential_id: str) -> None:
        with self.db.write() as s:
            cred = self._get(s, credential_id)
            policy.enforce(ctx, "identity:delete_credential", {"user_id": cred.user_id})
            s.delete(cred)

    # ---- /v3/users/{user_id}/credentials/OS-EC2 ------------------------------------------
    def ec2_create(self, ctx: AuthContext, user_id: str, project_id: str | None) -> CredentialView:
        """A new EC2 credential of ``user_id`` for ``project_id``: access and secret generated."""
        policy.enforce(ctx, "identity:ec2_create_credential", {"user_id": user_id})
        with self.db.read() as s:
            if s.get(User, user_id) is None:
                raise NotFound(f"Could not find user: {user_id}.")
            if not project_id or s.get(Project, project_id) is None:
                raise NotFound(f"Could not find project: {project_id}.")
        access, secret = uuid.uuid4().hex, uuid.uuid4().hex
        blob = json.dumps({"access": access, "secret": secret, "trust_id": None})
        with self.db.write() as s:
            cred = Credential(id=ec2_id(access), user_id=user_id, project_id=project_id, type=EC2,
                              encrypted_blob=self.box.encrypt(blob), extra={})
            s.add(cred)
        return self._view(cred)

    def ec2_list(self, ctx: AuthContext, user_id: str) -> list[CredentialView]:
        policy.enforce(ctx, "identity:ec2_list_credentials", {"user_id": user_id})
        with self.db.read() as s:
            if s.get(User, user_id) is None:
                raise NotFound(f"Could not find user: {user_id}.")
            rows = list(s.scalars(select(Credential).where(Credential.user_id == user_id, Credential.type == EC2)
                                  .order_by(Credential.created_at, Credential.id)))
        return [self._view(c) for c in rows]

    def _ec2(self, s: Session, user_id: str, access: str) -> Credential:
        if s.get(User, user_id) is None:
            raise NotFound(f"Could not find user: {user_id}.")
        cred = s.get(Credential, ec2_id(access))
        if cred is None or cred.type != EC2 or cred.user_id != user_id:
            raise NotFound(f"Could not find credential: {ec2_id(access)}.")
        return cred

    def ec2_get(self, ctx: AuthContext, user_id: str, access: str) -> CredentialView:
        policy.enforce(ctx, "identity:ec2_get_credential", {"user_id": user_id})
        with self.db.read() as s:
            return self._view(self._ec2(s, user_id, access))

    def ec2_delete(self, ctx: AuthContext, user_id: str, access: str) -> None:
        policy.enforce(ctx, "identity:ec2_delete_credential", {"user_id": user_id})
        with self.db.write() as s:
            s.delete(self._ec2(s, user_id, access))
