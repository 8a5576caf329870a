"""Tables of the credentials part of Identity: credentials (EC2 ones among them), domain
configuration, OAuth1 consumers, tokens and nonces, and password history. Every secret in them is
stored encrypted with the credential keys (``identity/secrets.py``), never in the clear."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from caas.db.base import Base, new_id, utcnow


class Credential(Base):
    """A user's credential (``type`` ``ec2``, ``cert``, ``totp``, ...); ``blob`` encrypted."""

    __tablename__ = "credential"
    # an EC2 credential's id is the SHA-256 of its access key (64 hex digits), as Keystone's
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    type: Mapped[str] = mapped_column(String(255))
    encrypted_blob: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class DomainConfig(Base):
    """One option of a domain's configuration; a sensitive one's value is encrypted text."""

    __tablename__ = "domain_config"
    domain_id: Mapped[str] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"), primary_key=True)
    group: Mapped[str] = mapped_column(String(255), primary_key=True)
    option: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[object] = mapped_column(JSON, nullable=True)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)


class OAuthConsumer(Base):
    __tablename__ = "oauth_consumer"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    encrypted_secret: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class OAuthRequestToken(Base):
    """A request token: made for a consumer and a project, then authorized by a user with
    roles (``verifier`` set), then exchanged for an access token (deleted)."""

    __tablename__ = "oauth_request_token"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    encrypted_secret: Mapped[str] = mapped_column(Text)
    consumer_id: Mapped[str] = mapped_column(ForeignKey("oauth_consumer.id", ondelete="CASCADE"), index=True)
    requested_project_id: Mapped[str] = mapped_column(String(64))
    role_ids: Mapped[list | None] = mapped_column(JSON, nullable=True)
    authorizing_user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verifier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class OAuthAccessToken(Base):
    __tablename__ = "oauth_access_token"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    encrypted_secret: Mapped[str] = mapped_column(Text)
    consumer_id: Mapped[str] = mapped_column(ForeignKey("oauth_consumer.id", ondelete="CASCADE"), index=True)
    authorizing_user_id: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    role_ids: Mapped[list] = mapped_column(JSON, default=list)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class OAuthNonce(Base):
    """A (consumer, timestamp, nonce) an OAuth1 request was accepted with: a request that reuses
    one is a replay. Kept while oauthlib would accept its timestamp (``oauth1_nonces``)."""

    __tablename__ = "oauth_nonce"
    # no foreign key to oauth_consumer: this table's migration branches from 0001 alone
    consumer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)
    nonce: Mapped[str] = mapped_column(String(255), primary_key=True)


class PasswordHistory(Base):
    """A user's earlier password hashes (security_compliance.unique_last_password_count)."""

    __tablename__ = "password_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)
    # set by the user itself (POST /users/{id}/password), not by an admin: only such a
    # password is held to the minimum password age
    self_service: Mapped[bool] = mapped_column(Boolean, default=False)
