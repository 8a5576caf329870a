"""Share quotas: per-project limits on the number of shares and their gigabytes (Manila's
defaults; no quota-set API here), claimed inside the create's transaction under the project's
lock row (``share_lock`` ``project:<id>``, SELECT ... FOR UPDATE), so parallel creates never
exceed a limit. Usage is counted from the share rows themselves (any status until the row is
gone), so nothing can drift."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caas.db.engine import insert_if_absent
from caas.errors import CaasError
from caas.share.models import Share, ShareLock

DEFAULT_QUOTAS = {"shares": 50, "gigabytes": 1000}


class OverLimit(CaasError):
    """A quota would be exceeded: Manila's QuotaError, 413."""

    status = 413
    title = "Request Entity Too Large"


def lock_project(s: Session, project_id: str) -> None:
    key = f"project:{project_id}"
    insert_if_absent(s, ShareLock, key=key)
    s.execute(select(ShareLock).where(ShareLock.key == key).with_for_update())


def usage(s: Session, project_id: str) -> dict[str, int]:
    count, size = s.execute(select(func.count(), func.coalesce(func.sum(Share.size), 0))
                            .where(Share.project_id == project_id)).one()
    return {"shares": int(count), "gigabytes": int(size)}


def claim(s: Session, project_id: str, size: int, limits: dict[str, int] = DEFAULT_QUOTAS) -> None:
    """Check that the project may add one share of ``size`` GiB (gigabytes first, as Manila
    reports it); OverLimit otherwise. The caller writes the row in the same transaction."""
    lock_project(s, project_id)
    used = usage(s, project_id)
    if used["gigabytes"] + size > limits["gigabytes"]:
        raise OverLimit("Requested share exceeds allowed project/user or share type gigabytes quota.",
                        kind="ShareSizeExceedsAvailableQuota")
    if used["shares"] + 1 > limits["shares"]:
        raise OverLimit(f"Maximum number of shares allowed ({limits['shares']}) either per project/user or share "
                        "type quota is exceeded.", kind="ShareLimitExceeded")
