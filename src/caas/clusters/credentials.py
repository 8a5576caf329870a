"""The application credential a cluster's work runs on, so that it never needs the user's token
after the request that asked for it, nor an admin's rights in the user's project.

At create, ``make`` asks the cloud's Identity API, with the caller's own token, for an
application credential of the caller in the cluster's project: named after the cluster
(``caas-cluster-<name>-<first 8 of its id>``), with the token's roles on that project only (no
``roles`` given: Keystone takes the token's), restricted (it cannot make or delete application
credentials or trusts), and with no expiry: the cluster lives until its user deletes it, and its
work (a restart's resume, node changes, the health check) must not stop working on a date.
Its secret is kept encrypted with the credential keys (``identity/secrets.py``).

A restricted credential cannot delete itself (Keystone refuses, and so does caas's identity):
``remove`` deletes it with the token of the request that deletes the cluster (or whose create
rolled back), kept in memory for that work only.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete

from caas.clusters import marks
from caas.clusters.cloud import CloudAccess, cloud_message
from caas.clusters.models import DELETING, Cluster, ClusterCredential, ClusterScaler
from caas.context import AuthContext
from caas.db import Database
from caas.errors import Forbidden, ServiceUnavailable
from caas.identity.secrets import SecretBox

log = logging.getLogger("caas.clusters")


class CredentialFailed(Exception):
    """The cluster's application credential does not work; the message is for the user."""


def credential_name(cluster_name: str, cluster_id: str) -> str:
    return f"caas-cluster-{cluster_name}-{cluster_id[:8]}"


def scaler_rules(cluster_id: str) -> list[dict]:
    """The scaler credential's access rules: the cluster service's scale call of this cluster."""
    return [{"service": "caas", "method": "POST", "path": f"/v1/clusters/{cluster_id}/scale"}]


class ClusterCredentials:
    def __init__(self, db: Database, box: SecretBox, access: CloudAccess) -> None:
        self.db = db
        self.box = box
        self.access = access

    def _create(self, ctx: AuthContext, name: str, description: str, **attrs):
        """An application credential of the caller in its project, made with its token: the
        cloud's answer; Forbidden when it refuses, ServiceUnavailable when it does not answer."""
        try:
            return self.access.user(ctx.token_id, ctx.project_id).identity.create_application_credential(
                ctx.user_id, name, description=description, unrestricted=False, **attrs)
        except Exception as exc:  # noqa: BLE001 - the cloud's refusal, in its own words
            status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
            text = f"caas could not make the cluster's application credential with your token: {cloud_message(exc)}"
            raise (Forbidden if status in (401, 403) else ServiceUnavailable)(text) from None

    def make_scaler(self, ctx: AuthContext, cluster_id: str, cluster_name: str) -> ClusterScaler:
        """The scaler credential of an elastic cluster (``scaler_rules``); its row, not yet added."""
        cred = self._create(ctx, f"caas-scaler-{cluster_name}-{cluster_id[:8]}",
                            marks.description(cluster_name, cluster_id, "Slurm asks for its nodes with it"),
                            access_rules=scaler_rules(cluster_id))
        return ClusterScaler(cluster_id=cluster_id, user_id=ctx.user_id, app_cred_id=cred.id, name=cred.name,
                             encrypted_secret=self.box.encrypt(cred.secret))

    def scaler(self, cluster_id: str) -> tuple[str, str] | None:
        """The scaler credential's (id, secret), or None for a cluster that has none."""
        with self.db.read() as s:
            row = s.get(ClusterScaler, cluster_id)
            return (row.app_cred_id, self.box.decrypt(row.encrypted_secret)) if row is not None else None

    def make(self, ctx: AuthContext, cluster_id: str, cluster_name: str) -> ClusterCredential:
        """A new application credential for the caller in its project, made with its token;
        returns its row (not yet added to a session). Forbidden when the cloud refuses it (a
        token from a restricted application credential, say), ServiceUnavailable when the
        cloud does not answer."""
        cred = self._create(ctx, credential_name(cluster_name, cluster_id),
                            marks.description(cluster_name, cluster_id, "its work runs on it"))
        return ClusterCredential(cluster_id=cluster_id, user_id=ctx.user_id, app_cred_id=cred.id, name=cred.name,
                                 encrypted_secret=self.box.encrypt(cred.secret))

    def _row(self, cluster_id: str) -> ClusterCredential | None:
        with self.db.read() as s:
            row = s.get(ClusterCredential, cluster_id)
            if row is not None:
                s.expunge(row)
            return row

    def connection(self, cluster_id: str, access: CloudAccess | None = None, fresh: bool = False):
        """A connection on the cluster's credential (through ``access``, the engine's by
        default); with ``fresh``, authenticated anew now, so that a credential that stopped
        working fails here. CredentialFailed, saying why, when it does not work."""
        access = access or self.access
        row = self._row(cluster_id)
        if row is None:
            raise CredentialFailed("the cluster has no application credential to work with (it was made before "
                                   "caas kept one): delete it with the cloud's own tools")
        if fresh:
            access.forget(row.app_cred_id)
        conn = access.credential(row.app_cred_id, self.box.decrypt(row.encrypted_secret))
        if fresh:
            try:
                conn.authorize()
            except Exception as exc:  # noqa: BLE001 - the cloud's refusal, with what it means
                access.forget(row.app_cred_id)
                raise CredentialFailed(
                    f"the cluster's application credential {row.name} no longer works ({cloud_message(exc)}): it "
                    f"was deleted or has expired, or its user {row.user_id} no longer holds its roles on the project "
                    "or is disabled") from None
        return conn

    def for_work(self, c: Cluster, token: str, event):
        """The connection of cluster ``c``'s work: on its credential, checked now. A delete
        whose credential no longer works runs on the delete request's ``token`` instead (said
        with ``event(cluster_id, step, message, level)``)."""
        try:
            return self.connection(c.id, fresh=True)
        except CredentialFailed as exc:
            if not token or c.status != DELETING:
                raise
            event(c.id, "delete", f"{exc}; deleting with the token of the delete request", "error")
            return self.access.user(token, c.project_id)

    def _delete_in_cloud(self, row, token: str, project_id: str) -> None:
        """Delete ``row``'s credential with ``token`` (already gone counts as deleted)."""
        self.access.user(token, project_id).identity.delete_application_credential(row.user_id, row.app_cred_id,
                                                                                   ignore_missing=True)

    def remove(self, cluster_id: str, token: str, project_id: str) -> str | None:
        """Delete the cluster's credentials (its own, and its scaler's) from the cloud with
        ``token`` and forget them; None once they are gone (or there was none), else why one is
        still there."""
        with self.db.read() as s:
            scaler = s.get(ClusterScaler, cluster_id)
            if scaler is not None:
                s.expunge(scaler)
        if scaler is not None and token:
            try:
                self._delete_in_cloud(scaler, token, project_id)
            except Exception as exc:  # noqa: BLE001 - the cloud's refusal, for the cluster's reason
                return f"its scaler credential {scaler.name} could not be deleted: {cloud_message(exc)}"
            with self.db.write() as s:
                s.execute(delete(ClusterScaler).where(ClusterScaler.cluster_id == cluster_id))
        elif scaler is not None:
            return (f"its scaler credential {scaler.name} is kept: deleting it takes its user's token, which caas "
                    "keeps only while a request's work runs (caas was restarted since)")
        row = self._row(cluster_id)
        if row is None:
            return None
        if not token:
            return (f"its application credential {row.name} is kept: deleting it takes its user's token, which caas "
                    "keeps only while a request's work runs (caas was restarted since)")
        try:
            self._delete_in_cloud(row, token, project_id)
        except Exception as exc:  # noqa: BLE001 - the cloud's refusal, for the cluster's reason
            return f"its application credential {row.name} could not be deleted: {cloud_message(exc)}"
        self.access.forget(row.app_cred_id)
        with self.db.write() as s:
            s.execute(delete(ClusterCredential).where(ClusterCredential.cluster_id == cluster_id))
        return None

    def discard(self, row, token: str, project_id: str) -> None:
        """Delete a credential whose cluster was never recorded (or was replaced); best effort,
        logged when it fails."""
        try:
            self._delete_in_cloud(row, token, project_id)
        except Exception as exc:  # noqa: BLE001 - logged: nothing else can be done now
            log.warning("application credential %s (%s) could not be deleted: %s", row.name, row.app_cred_id,
                        cloud_message(exc))
