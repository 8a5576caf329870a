"""The controller's identity for its agents: a self-signed certificate (EC P-256, ten years)
made once in the data dir, served by the agent listener of ``caas up``; its SHA-256
fingerprint goes into every join token. The agent side: ``fetch_pinned`` reads the
certificate a controller presents and accepts it only with the pinned fingerprint;
``client_context`` trusts that certificate and nothing else."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import ssl
from pathlib import Path


class PinError(Exception):
    """The controller presented another certificate than the token pins (or none)."""


def cert_paths(data_dir: Path) -> tuple[Path, Path]:
    d = data_dir / "agent-tls"
    return d / "cert.pem", d / "key.pem"


def ensure_certificate(data_dir: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """The certificate and key files, made on the first call (the key 0600 in a 0700 dir)."""
    cert, key = cert_paths(data_dir)
    if cert.exists() and key.exists():
        return cert, key
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "caas controller")])
    alt: list = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        if host not in ("127.0.0.1", "0.0.0.0", "::", ""):
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        alt.append(x509.DNSName(host))
    now = dt.datetime.now(dt.timezone.utc)
    built = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
             .not_valid_after(now + dt.timedelta(days=3650))
             .add_extension(x509.SubjectAlternativeName(alt), critical=False)
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
             .sign(private, hashes.SHA256()))
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    return cert, key


def fingerprint_pem(pem: str) -> str:
    """The SHA-256 of the certificate's DER form, in lower-case hex."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def fetch_pinned(host: str, port: int, fingerprint: str, timeout: float = 10) -> str:
    """The PEM certificate the server at ``host:port`` presents, if its fingerprint is
    ``fingerprint``; PinError if it is another one, OSError if it cannot be reached."""
    pem = ssl.get_server_certificate((host, port), timeout=timeout)
    got = fingerprint_pem(pem)
    if got != fingerprint:
        raise PinError(f"the controller at {host}:{port} presents a certificate with fingerprint {got}, not "
                       f"{fingerprint} as the join token says: refusing to talk to it")
    return pem


def client_context(pem: str) -> ssl.SSLContext:
    """A TLS client context that trusts exactly the certificate ``pem`` (the host name is not
    checked: the pin is the identity)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=pem)
    return ctx
