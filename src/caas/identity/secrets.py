"""Secrets at rest: credential blobs, sensitive domain options and OAuth1 secrets are stored
encrypted with Fernet keys of their own, in ``<data dir>/credential-keys``, laid out as the
token keys are (``tokens.KeyRepository``; Keystone keeps its credential keys apart from its
token keys the same way). Decryption tries every kept key (``MultiFernet``), so a rotation never
makes a stored secret unreadable; ``rotate`` re-encrypts every stored secret with the new
primary key in the same step (Keystone's ``credential_rotate`` then ``credential_migrate``), so
that the key a later rotation drops protects nothing.
"""

from __future__ import annotations

from cryptography.fernet import InvalidToken
from sqlalchemy import select

from caas.db import Database
from caas.errors import CaasError
from caas.identity.tokens import KeyRepository


class SecretBox:
    """Encrypts and decrypts text with the credential keys of one data dir."""

    def __init__(self, keys: KeyRepository) -> None:
        self.keys = keys

    def setup(self) -> None:
        """Create the keys unless they exist (first start)."""
        self.keys.setup()

    def encrypt(self, text: str) -> str:
        return self.keys.fernet().encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The text ``token`` encrypts; a CaasError (500) if no kept key opens it: the
        credential keys were replaced, which no request can repair."""
        try:
            return self.keys.fernet().decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise CaasError("A stored secret cannot be decrypted with the credential keys.") from exc

    def reencrypt(self, token: str) -> str:
        """``token`` encrypted again with the primary key (its text unchanged)."""
        return self.keys.fernet().rotate(token.encode("ascii")).decode("ascii")


def encrypted_columns():
    """Every (model, column) holding a secret encrypted with the credential keys."""
    from caas.identity.credential_models import (Credential, DomainConfig, OAuthAccessToken, OAuthConsumer,
                                                 OAuthRequestToken)

    return [(Credential, "encrypted_blob"), (OAuthConsumer, "encrypted_secret"),
            (OAuthRequestToken, "encrypted_secret"), (OAuthAccessToken, "encrypted_secret"),
            (DomainConfig, "value")]


def rotate(box: SecretBox, db: Database, more: tuple = ()) -> tuple[int, int]:
    """Promote the staged credential key and re-encrypt every stored secret with it, in one
    transaction: identity's (``encrypted_columns``) and the (model, column) pairs ``more`` names
    (other services' secrets: identity imports none of them). Returns the new primary's index
    and the number of secrets re-encrypted."""
    from caas.identity.credential_models import DomainConfig

    primary = box.keys.rotate()
    count = 0
    with db.write() as s:
        for model, column in [*encrypted_columns(), *more]:
            stmt = select(model)
            if model is DomainConfig:
                stmt = stmt.where(DomainConfig.sensitive.is_(True))
            for row in s.scalars(stmt):
                setattr(row, column, box.reencrypt(getattr(row, column)))
                count += 1
    return primary, count
