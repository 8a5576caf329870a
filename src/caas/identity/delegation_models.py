"""Delegation tables: application credentials (with their roles and access rules) and trusts
(OS-TRUST, with their roles). Role, user and project ids are plain strings, not foreign keys:
those tables belong to identity's core: ``delegation_cleanup`` deletes the rows that go with a
deleted user, project or role, and what stays (a credential whose project or role has gone)
stops working (checked at authentication and token validation)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from caas.db.base import Base, new_id, utcnow

NAME_LEN = 255


NO_PROJECT = ""  # the project_id of an application credential made with an unscoped token


class ApplicationCredential(Base):
    """A user's credential for one project, with a subset of the user's roles there, or for no
    project (``NO_PROJECT``: the column is not nullable, and a credential without a project came
    after its migration). The secret is stored as a bcrypt hash, as passwords are;
    ``expires_at`` is epoch seconds (None: never)."""

    __tablename__ = "app_cred"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    unrestricted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ApplicationCredentialRole(Base):
    __tablename__ = "app_cred_role"
    app_cred_id: Mapped[str] = mapped_column(
        ForeignKey("app_cred.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class AccessRule(Base):
    """One (service type, method, path glob) a user's credentials may be limited to; a user's
    identical rules are one row, shared by the credentials that name it."""

    __tablename__ = "access_rule"
    __table_args__ = (UniqueConstraint("user_id", "service", "method", "path"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    service: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(255))


class ApplicationCredentialAccessRule(Base):
    __tablename__ = "app_cred_access_rule"
    app_cred_id: Mapped[str] = mapped_column(
        ForeignKey("app_cred.id", ondelete="CASCADE"), primary_key=True)
    access_rule_id: Mapped[str] = mapped_column(ForeignKey("access_rule.id"), primary_key=True, index=True)


class Trust(Base):
    """The trustor lends the trustee some of its roles on a project. ``remaining_uses`` counts
    the tokens still to issue (None: unlimited; 0: used up, as good as deleted);
    ``redelegated_trust_id``: the trust this one was made from (a trust-scoped token's)."""

    __tablename__ = "trust"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    trustor_user_id: Mapped[str] = mapped_column(String(64), index=True)
    trustee_user_id: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    impersonation: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    remaining_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    redelegation_count: Mapped[int] = mapped_column(Integer, default=0)
    redelegated_trust_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class TrustRole(Base):
    __tablename__ = "trust_role"
    trust_id: Mapped[str] = mapped_column(ForeignKey("trust.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[str] = mapped_column(String(64), primary_key=True)
