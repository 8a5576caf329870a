"""Key pairs (Nova's os-keypairs): per user, imported (public key checked and fingerprinted as
Nova does) or generated here (the private key is returned once and never stored).

Holds ``Keypairs`` (the service), ``get_keypair(s, user_id, name)`` (for server
boot), ``fingerprint(public_key, key_type)``, ``generate(key_type, user_id)`` and
``keypair_number(keypair)`` (the integer ``id`` Nova shows).

The ``key_pairs`` quota counts the user's key pairs against the limit of the caller's project,
as Nova does; the count and the insert happen under a lock row keyed by the user's id, so that
concurrent creates by one user never pass the limit.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caas import paging
from caas.compute.common import MAX_LIMIT, lock_project
from caas.compute.models import Keypair
from caas.compute.quotas import limit as quota_limit
from caas.errors import BadRequest, Conflict, Forbidden, NotFound, QuotaExceeded
from caas.context import AuthContext

KEY_TYPES = ("ssh", "x509")


def not_found(name: str, user_id: str) -> NotFound:
    return NotFound(f"Keypair {name} not found for user {user_id}")


def _marker_not_found(marker: str) -> BadRequest:
    # Nova's MarkerNotFound, which its key pair list raises (its other lists say "marker [X]")
    return BadRequest(f"Marker {marker} could not be found.")


def get_keypair(s: Session, user_id: str, name: str) -> Keypair:
    """The user's key pair ``name``; NotFound ("Keypair X not found for user Y") otherwise."""
    keypair = s.get(Keypair, (user_id, name)) if name else None
    if keypair is None:
        raise not_found(name, user_id)
    return keypair


def keypair_number(keypair: Keypair) -> int:
    """Nova shows its row id; ours is keyed by (user, name), so a stable number derived from the
    row stands in for it (31 bits, never reused by another row of the same user and name
    unless it is recreated in the same microsecond)."""
    created = keypair.created_at.isoformat() if keypair.created_at else ""
    digest = hashlib.sha256(f"{keypair.user_id}\0{keypair.name}\0{created}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1


def _colon_hex(digest: str) -> str:
    return ":".join(a + b for a, b in zip(digest[::2], digest[1::2]))


def fingerprint(public_key: str, key_type: str = "ssh") -> str:
    """Nova's fingerprint: for ``ssh`` the MD5 of the key blob (the public key must load as an
    OpenSSH public key), for ``x509`` the SHA1 of the PEM certificate; BadRequest otherwise."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    if key_type == "x509":
        try:
            cert = x509.load_pem_x509_certificate(public_key.encode("utf-8"))
            return _colon_hex(binascii.hexlify(cert.fingerprint(hashes.SHA1())).decode("ascii"))
        except (ValueError, TypeError, UnicodeError) as exc:
            raise BadRequest(f"Keypair data is invalid: failed to generate X509 fingerprint. Error message: "
                             f"{exc}") from None
    try:
        serialization.load_ssh_public_key(public_key.strip().encode("utf-8"))
        blob = base64.b64decode(public_key.split()[1])
    except Exception:  # noqa: BLE001 - whatever the key's fault, Nova's answer is the same
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint") from None
    return _colon_hex(hashlib.md5(blob, usedforsecurity=False).hexdigest())


def _der_utf8(text: str) -> bytes:
    """``text`` as a DER UTF8String (the value of the certificate's UPN otherName)."""
    raw = text.encode("utf-8")
    n = len(raw)
    length = bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes(
        (n.bit_length() + 7) // 8, "big")
    return b"\x0c" + length + raw


def generate(key_type: str, user_id: str) -> tuple[str, str, str]:
    """A new key pair as Nova makes one: (private key, public key, fingerprint). ``ssh``: RSA
    2048, the private key in traditional PEM, the public one ``ssh-rsa ... Generated-by-Nova``;
    ``x509``: a self-signed client certificate for ``user_id`` (PEM) and its key in a
    base64 PKCS#12 bundle without a password."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "x509":
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id)])
        now = dt.datetime.now(dt.timezone.utc)
        upn = x509.OtherName(ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), _der_utf8(f"{user_id}@localhost"))
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectAlternativeName([upn]), critical=False)
                .sign(key, hashes.SHA256()))
        certificate = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        bundle = pkcs12.serialize_key_and_certificates(None, key, cert, None, serialization.NoEncryption())
        return base64.b64encode(bundle).decode("ascii"), certificate, fingerprint(certificate, "x509")
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode("ascii")
    public = f"{public} Generated-by-Nova"
    return private, public, fingerprint(public, "ssh")


class Keypairs:
    """The users' key pairs, in ``db``."""

    def __init__(self, db) -> None:
        self.db = db

    @staticmethod
    def _keypair_owner(ctx: AuthContext, user_id: str | None, action: str) -> str:
        """The user whose key pairs a call is about: the caller's, or any user's for an admin."""
        owner = user_id or ctx.user_id
        if owner != ctx.user_id and not ctx.is_admin:
            raise Forbidden(f"Policy doesn't allow os_compute_api:os-keypairs:{action} to be performed.")
        return owner

    def list_keypairs(self, ctx: AuthContext, user_id: str | None = None, limit: int | None = None,
                      marker: str | None = None) -> list[Keypair]:
        """The user's key pairs by name; after ``marker`` (a name; BadRequest if unknown), at most
        ``limit``."""
        owner = self._keypair_owner(ctx, user_id, "index")
        with self.db.read() as s:
            rows = list(s.scalars(select(Keypair).where(Keypair.user_id == owner)))
        # Sorted here: the backends collate names differently.
        rows.sort(key=lambda k: k.name)
        if marker == "":  # looked up as any other name, and found nowhere
            raise _marker_not_found(marker)
        # Nova's max_limit caps a limit given; without one, every key pair is listed.
        return paging.page(rows, marker, limit, key=lambda k: k.name, missing=_marker_not_found,
                           max_limit=None if limit is None else MAX_LIMIT)[0]

    def show_keypair(self, ctx: AuthContext, name: str, user_id: str | None = None) -> Keypair:
        owner = self._keypair_owner(ctx, user_id, "show")
        with self.db.read() as s:
            return get_keypair(s, owner, name)

    def create_keypair(self, ctx: AuthContext, name: str, public_key: str | None = None, key_type: str = "ssh",
                       user_id: str | None = None) -> tuple[Keypair, str | None]:
        """Import ``public_key`` or, without one, generate a key pair. Returns the row and the
        private key (None for an import). QuotaExceeded (403) past the user's ``key_pairs``
        limit, Conflict for a name the user already has, BadRequest for a bad key."""
        owner = self._keypair_owner(ctx, user_id, "create")
        if key_type not in KEY_TYPES:
            raise BadRequest(f"Invalid keypair type {key_type}")
        private_key = None
        if public_key is None:
            private_key, public_key, fp = generate(key_type, owner)
        else:
            fp = fingerprint(public_key, key_type)
        with self.db.write() as s:
            lock_project(s, owner)  # one lock row per user: its key pair count is what is limited
            allowed = quota_limit(s, ctx.project_id, "key_pairs")
            used = s.scalar(select(func.count()).select_from(Keypair).where(Keypair.user_id == owner))
            if allowed >= 0 and used + 1 > allowed:
                raise QuotaExceeded("Quota exceeded, too many key pairs.")
            if s.get(Keypair, (owner, name)) is not None:
                raise Conflict(f"Key pair '{name}' already exists.")
            keypair = Keypair(user_id=owner, name=name, type=key_type, public_key=public_key, fingerprint=fp)
            try:
                with s.begin_nested():
                    s.add(keypair)
                    s.flush()
            except IntegrityError:
                raise Conflict(f"Key pair '{name}' already exists.") from None
            return keypair, private_key

    def delete_keypair(self, ctx: AuthContext, name: str, user_id: str | None = None) -> None:
        owner = self._keypair_owner(ctx, user_id, "delete")
        with self.db.write() as s:
            s.delete(get_keypair(s, owner, name))
