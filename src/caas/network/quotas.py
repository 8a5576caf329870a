"""Network quotas: per-project limits (defaults where unset), usage details."""

from __future__ import annotations

from sqlalchemy import delete, select

from caas.db.engine import insert_if_absent
from caas.errors import BadRequest, Forbidden
from caas.numbers import INT32_MAX
from caas.context import AuthContext
from caas.network.common import DEFAULT_QUOTAS, Base
from caas.network.models import NetworkQuota


class QuotasMixin(Base):
    @staticmethod
    def _may_read(ctx: AuthContext, project_id: str) -> None:
        if not (ctx.is_admin or project_id == ctx.project_id):
            raise Forbidden("Only an admin may read another project's quota.", kind="HTTPForbidden")

    def show_quota(self, ctx: AuthContext, project_id: str) -> dict:
        self._may_read(ctx, project_id)
        with self.db.read() as s:
            return {r: self.limit(s, project_id, r) for r in DEFAULT_QUOTAS}

    def default_quota(self, ctx: AuthContext, project_id: str) -> dict:
        self._may_read(ctx, project_id)
        return dict(DEFAULT_QUOTAS)

    def quota_details(self, ctx: AuthContext, project_id: str) -> dict:
        self._may_read(ctx, project_id)
        with self.db.read() as s:
            out = {}
            for resource in DEFAULT_QUOTAS:
                out[resource] = {"limit": self.limit(s, project_id, resource),
                                 "used": self.used(s, project_id, resource), "reserved": 0}
            return out

    def list_quotas(self, ctx: AuthContext) -> dict[str, dict[str, int]]:
        """The limits of every project that has a limit of its own: {project id: {resource: limit}}."""
        if not ctx.is_admin:
            raise Forbidden("Only an admin may list quotas.", kind="HTTPForbidden")
        with self.db.read() as s:
            projects = sorted(set(s.scalars(select(NetworkQuota.project_id))))
            return {p: {r: self.limit(s, p, r) for r in DEFAULT_QUOTAS} for p in projects}

    def update_quota(self, ctx: AuthContext, project_id: str, limits: dict, check: bool = False) -> dict:
        if not ctx.is_admin:
            raise Forbidden("Only an admin may change quotas.", kind="HTTPForbidden")
        unknown = set(limits) - set(DEFAULT_QUOTAS)
        if unknown:
            raise BadRequest(f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'", kind="HTTPBadRequest")
        for resource, value in limits.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < -1:
                raise BadRequest(f"Invalid input for {resource}. Reason: '{value}' must be an integer >= -1.",
                                 kind="InvalidInput")
            if value > INT32_MAX:  # Neutron's bound (the column is an integer); 2**63 was a 500
                raise BadRequest(f"Invalid input for {resource}. Reason: '{value}' is too large - must be no larger "
                                 f"than '{INT32_MAX}'.", kind="InvalidInput")
        with self.db.write() as s:
            self.lock_project(s, project_id)
            for resource, value in limits.items():
                used = self.used(s, project_id, resource) if check else 0
                if check and value >= 0 and used > value:
                    raise BadRequest(f"Quota limit {value} for {resource} must be greater than or equal to already "
                                     f"used and reserved {used}.", kind="InvalidQuotaValue")
            for resource, value in limits.items():
                if not insert_if_absent(s, NetworkQuota, project_id=project_id, resource=resource, limit=value):
                    s.get(NetworkQuota, (project_id, resource)).limit = value
            s.flush()
            return {r: self.limit(s, project_id, r) for r in DEFAULT_QUOTAS}

    def reset_quota(self, ctx: AuthContext, project_id: str) -> None:
        if not ctx.is_admin:
            raise Forbidden("Only an admin may change quotas.", kind="HTTPForbidden")
        with self.db.write() as s:
            s.execute(delete(NetworkQuota).where(NetworkQuota.project_id == project_id))
