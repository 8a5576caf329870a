"""Key pairs over HTTP on both backends: import (RSA, ECDSA, Ed25519, x509) with Nova's
fingerprints, generation (the private key once), Nova's shapes and status codes at 2.1, 2.2,
2.10 and 2.35 (paging), per-user isolation and the admin's ``user_id``, the ``key_pairs``
quota, name rules and bad input in Nova's error format. The server fixture fails the module
on any 5xx."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from tests.compute.conftest import C, Member, error_of, mv, set_quota, uniq
from tests.conftest import client_for

pytestmark = pytest.mark.backends("sqlite", "postgresql")  # quotas, and concurrent creates against them

K = f"{C}/os-keypairs"


def openssh(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def md5_fingerprint(public_key: str) -> str:
    digest = hashlib.md5(base64.b64decode(public_key.split()[1])).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def certificate() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tester")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


ED25519 = openssh(ed25519.Ed25519PrivateKey.generate())
ECDSA = openssh(ec.generate_private_key(ec.SECP384R1()))
RSA = openssh(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def create(client, version="2.2", status=None, **keypair):
    r = client.post(K, json={"keypair": keypair}, headers=mv(version))
    if status is not None:
        assert r.status_code == status, r.text
    return r


@pytest.fixture(scope="module")
def alice(server, admin):
    m = Member(server, admin)
    yield m
    m.close()


@pytest.fixture(scope="module")
def bob(server, admin):
    m = Member(server, admin)
    yield m
    m.close()


# ---- import ----------------------------------------------------------------------------------
@pytest.mark.parametrize("public_key", [ED25519, ECDSA, RSA, ED25519 + " me@host\n"],
                         ids=["ed25519", "ecdsa", "rsa", "with-comment"])
def test_import_fingerprints_as_nova(alice, public_key):
    name = uniq("k")
    r = create(alice.client, "2.1", 200, name=name, public_key=public_key)
    body = r.json()["keypair"]
    assert body == {"name": name, "public_key": public_key, "fingerprint": md5_fingerprint(public_key),
                    "user_id": alice.user_id}
    r = create(alice.client, "2.2", 201, name=uniq("k"), public_key=public_key)
    assert r.json()["keypair"]["type"] == "ssh" and "private_key" not in r.json()["keypair"]


def test_import_x509(alice):
    cert = certificate()
    body = create(alice.client, "2.2", 201, name=uniq("x"), public_key=cert, type="x509").json()["keypair"]
    sha1 = x509.load_pem_x509_certificate(cert.encode()).fingerprint(hashes.SHA1()).hex()
    assert body["type"] == "x509" and body["fingerprint"] == ":".join(re.findall("..", sha1))
    r = create(alice.client, "2.2", name=uniq("x"), public_key=RSA, type="x509")
    assert r.status_code == 400 and "failed to generate X509 fingerprint" in error_of(r, "badRequest")
    r = create(alice.client, "2.1", name=uniq("x"), public_key=cert, type="x509")
    assert r.status_code == 400 and "type" in error_of(r, "badRequest")


@pytest.mark.parametrize("public_key", ["", "ssh-rsa", "ssh-rsa AAAA", "not a key at all", "ssh-ed25519 " + "A" * 68,
                                        "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----",
                                        ED25519.replace("ssh-ed25519", "ssh-rsa")],
                         ids=["empty", "type-only", "short", "prose", "bad-ed25519", "certificate", "wrong-type"])
def test_invalid_public_keys(alice, public_key):
    r = create(alice.client, "2.2", name=uniq("k"), public_key=public_key)
    assert r.status_code == 400, r.text
    assert error_of(r, "badRequest") == "Keypair data is invalid: failed to generate fingerprint"


# ---- generation ------------------------------------------------------------------------------
def test_generate_returns_the_private_key_once(alice):
    name = uniq("gen")
    r = create(alice.client, "2.1", 200, name=name)
    body = r.json()["keypair"]
    assert set(body) == {"name", "public_key", "fingerprint", "user_id", "private_key"}
    private = serialization.load_pem_private_key(body["private_key"].encode(), None)
    assert body["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert openssh(private) == " ".join(body["public_key"].split()[:2])
    assert body["public_key"].endswith(" Generated-by-Nova")
    assert body["fingerprint"] == md5_fingerprint(body["public_key"])
    shown = alice.client.get(f"{K}/{name}").json()["keypair"]
    assert "private_key" not in shown and shown["public_key"] == body["public_key"]
    r = create(alice.client, "2.2", 201, name=uniq("gen"))
    assert r.json()["keypair"]["type"] == "ssh" and "private_key" in r.json()["keypair"]


def test_generate_x509(alice):
    body = create(alice.client, "2.2", 201, name=uniq("gx"), type="x509").json()["keypair"]
    assert body["type"] == "x509" and body["public_key"].startswith("-----BEGIN CERTIFICATE-----")
    key, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(body["private_key"]), None)
    assert cert.public_bytes(serialization.Encoding.PEM).decode() == body["public_key"]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == alice.user_id
    assert ":".join(re.findall("..", cert.fingerprint(hashes.SHA1()).hex())) == body["fingerprint"]


# ---- shapes by microversion ------------------------------------------------------------------
def test_show_and_list_shapes(alice):
    name = uniq("shape")
    create(alice.client, "2.2", 201, name=name, public_key=ED25519)
    base = {"name", "public_key", "fingerprint", "user_id", "created_at", "deleted", "deleted_at", "id",
            "updated_at"}
    for version, keys in (("2.1", base), ("2.2", base | {"type"}), ("2.60", base | {"type"})):
        shown = alice.client.get(f"{K}/{name}", headers=mv(version)).json()["keypair"]
        assert set(shown) == keys, version
        assert shown["deleted"] is False and shown["deleted_at"] is None and shown["updated_at"] is None
        assert isinstance(shown["id"], int) and shown["user_id"] == alice.user_id
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", shown["created_at"])
    listed = alice.client.get(K, headers=mv("2.1")).json()
    assert set(listed) == {"keypairs"}
    entry = next(k["keypair"] for k in listed["keypairs"] if k["keypair"]["name"] == name)
    assert set(entry) == {"name", "public_key", "fingerprint"}
    entry = next(k["keypair"] for k in alice.client.get(K, headers=mv("2.2")).json()["keypairs"]
                 if k["keypair"]["name"] == name)
    assert set(entry) == {"name", "public_key", "fingerprint", "type"}
    assert alice.client.get(f"{K}/{name}").json()["keypair"]["id"] == shown["id"]  # stable


def test_paging_from_2_35(server, admin):
    m = Member(server, admin)
    try:
        names = sorted(f"p{i}-{uniq()}" for i in range(5))
        for n in names:
            create(m.client, "2.2", 201, name=n, public_key=ED25519)
        # Before 2.35 limit and marker are ignored.
        assert len(m.client.get(K, params={"limit": 2}, headers=mv("2.34")).json()["keypairs"]) == 5
        r = m.client.get(K, params={"limit": 2}, headers=mv("2.35")).json()
        assert [k["keypair"]["name"] for k in r["keypairs"]] == names[:2]
        (link,) = r["keypairs_links"]
        assert link["rel"] == "next" and "/compute/v2.1/os-keypairs?" in link["href"]
        assert f"marker={names[1]}" in link["href"]
        r2 = m.client.get(link["href"], headers=mv("2.35")).json()
        assert [k["keypair"]["name"] for k in r2["keypairs"]] == names[2:4]
        r3 = m.client.get(K, params={"limit": 2, "marker": names[3]}, headers=mv("2.35")).json()
        assert [k["keypair"]["name"] for k in r3["keypairs"]] == names[4:]
        assert "keypairs_links" not in r3
        assert "keypairs_links" not in m.client.get(K, headers=mv("2.35")).json()
        r = m.client.get(K, params={"marker": "nope"}, headers=mv("2.35"))
        assert r.status_code == 400 and error_of(r, "badRequest") == "Marker nope could not be found."
        r = m.client.get(K, params={"marker": ""}, headers=mv("2.35"))
        assert r.status_code == 400 and error_of(r, "badRequest") == "Marker  could not be found."
        for bad in ("-1", "x", ""):
            assert m.client.get(K, params={"limit": bad}, headers=mv("2.35")).status_code == 400
        assert m.client.get(K, params={"marker": "nope"}, headers=mv("2.34")).status_code == 200
    finally:
        m.close()


def test_delete_status_by_version(alice):
    for version, status in (("2.1", 202), ("2.2", 204)):
        name = uniq("del")
        create(alice.client, version, name=name, public_key=ED25519)
        r = alice.client.delete(f"{K}/{name}", headers=mv(version))
        assert r.status_code == status and r.content == b""
        r = alice.client.get(f"{K}/{name}")
        assert r.status_code == 404
        assert error_of(r, "itemNotFound") == f"Keypair {name} not found for user {alice.user_id}"
        assert alice.client.delete(f"{K}/{name}").status_code == 404


def test_duplicate_name_is_409(alice):
    name = uniq("dup")
    create(alice.client, "2.2", 201, name=name, public_key=ED25519)
    r = create(alice.client, "2.2", name=name, public_key=RSA)
    assert r.status_code == 409 and error_of(r, "conflictingRequest") == f"Key pair '{name}' already exists."
    assert create(alice.client, "2.2", name=name).status_code == 409


# ---- users -----------------------------------------------------------------------------------
def test_per_user_and_admin_user_id(admin, alice, bob):
    name = uniq("mine")
    create(alice.client, "2.2", 201, name=name, public_key=ED25519)
    assert bob.client.get(f"{K}/{name}").status_code == 404
    assert name not in {k["keypair"]["name"] for k in bob.client.get(K).json()["keypairs"]}
    assert bob.client.delete(f"{K}/{name}").status_code == 404
    # A member naming another user is refused; naming themselves is fine.
    for method, url in (("GET", K), ("GET", f"{K}/{name}"), ("DELETE", f"{K}/{name}")):
        r = bob.client.request(method, url, params={"user_id": alice.user_id}, headers=mv("2.10"))
        assert r.status_code == 403, (method, url, r.text)
        assert "os_compute_api:os-keypairs" in error_of(r, "forbidden")
    assert bob.client.get(K, params={"user_id": bob.user_id}, headers=mv("2.10")).status_code == 200
    # Admins may, from 2.10; before, the parameter is ignored (their own key pairs).
    r = admin.get(f"{K}/{name}", params={"user_id": alice.user_id}, headers=mv("2.10"))
    assert r.status_code == 200 and r.json()["keypair"]["user_id"] == alice.user_id
    assert admin.get(f"{K}/{name}", params={"user_id": alice.user_id}, headers=mv("2.9")).status_code == 404
    listed = admin.get(K, params={"user_id": alice.user_id}, headers=mv("2.10")).json()["keypairs"]
    assert name in {k["keypair"]["name"] for k in listed}
    # ... and create for another user.
    other = uniq("forbob")
    r = create(admin, "2.10", 201, name=other, public_key=ED25519, user_id=bob.user_id)
    assert r.json()["keypair"]["user_id"] == bob.user_id
    assert bob.client.get(f"{K}/{other}").status_code == 200
    assert create(admin, "2.9", name=uniq(), public_key=ED25519, user_id=bob.user_id).status_code == 400
    r = create(bob.client, "2.10", name=uniq(), public_key=ED25519, user_id=alice.user_id)
    assert r.status_code == 403
    r = admin.delete(f"{K}/{other}", params={"user_id": bob.user_id}, headers=mv("2.10"))
    assert r.status_code == 204
    assert bob.client.get(f"{K}/{other}").status_code == 404


def test_key_pair_quota(server, admin):
    m = Member(server, admin)
    try:
        set_quota(admin, m.project_id, key_pairs=2)
        create(m.client, "2.2", 201, name="q1", public_key=ED25519)
        create(m.client, "2.2", 201, name="q2")
        for body in ({"name": "q3", "public_key": ED25519}, {"name": "q3"}):
            r = create(m.client, "2.2", **body)
            assert r.status_code == 403 and error_of(r, "forbidden") == "Quota exceeded, too many key pairs."
        assert m.client.delete(f"{K}/q1", headers=mv("2.2")).status_code == 204
        create(m.client, "2.2", 201, name="q3", public_key=ED25519)
        set_quota(admin, m.project_id, key_pairs=-1)
        create(m.client, "2.2", 201, name="q4", public_key=ED25519)
    finally:
        m.close()


# ---- names and bad input ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["simple", "with space", "under_score-dash", "A" * 255, "0"])
def test_allowed_names(alice, name):
    r = create(alice.client, "2.2", name=name, public_key=ED25519)
    assert r.status_code in (201, 409), r.text
    assert alice.client.get(f"{K}/{name}").json()["keypair"]["name"] == name


@pytest.mark.parametrize("name", ["", " lead", "trail ", "dot.ted", "semi;colon", "$(id)", "a|b", "a/b", "ünï",
                                  "tab\tx", "A" * 256, 5, None, ["k"]])
def test_refused_names(alice, name):
    for version in ("2.1", "2.60"):
        r = create(alice.client, version, name=name, public_key=ED25519)
        assert r.status_code == 400, (version, r.text)
        error_of(r, "badRequest")


BAD_BODIES = [None, [], {}, {"keypair": None}, {"keypair": []}, {"keypair": {}}, {"keypair": {"public_key": ED25519}},
              {"keypair": {"name": "x", "public_key": 5}}, {"keypair": {"name": "x", "public_key": None}},
              {"keypair": {"name": "x", "type": "rsa"}}, {"keypair": {"name": "x", "type": None}},
              {"keypair": {"name": "x", "colour": "red"}}, {"keypair": {"name": "x"}, "extra": 1},
              {"keypair": {"name": "x", "user_id": 5}}, {"keypair": {"name": "x", "user_id": "u" * 65}}]


@pytest.mark.parametrize("body", BAD_BODIES, ids=[json.dumps(b)[:50] for b in BAD_BODIES])
def test_bad_bodies(alice, body):
    r = alice.client.post(K, content=json.dumps(body), headers={**mv("2.10"), "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    error_of(r, "badRequest")


def test_malformed_json_surrogates_and_huge_bodies(alice):
    headers = {**mv("2.2"), "Content-Type": "application/json"}
    assert alice.client.post(K, content=b'{"keypair": ', headers=headers).status_code == 400
    r = alice.client.post(K, content=b'{"keypair": {"name": "x", "public_key": "ssh-rsa \\ud800"}}',
                          headers=headers)
    assert r.status_code == 400, r.text
    r = alice.client.post(K, json={"keypair": {"name": "x", "public_key": "ssh-rsa " + "A" * (1024 * 1024)}},
                          headers=mv("2.2"))
    assert r.status_code == 413 and error_of(r, "overLimit")


def test_odd_names_in_urls(alice):
    for name in ("nope", "a%20b", "x" * 400, "%E2%98%83", "semi;colon"):
        r = alice.client.get(f"{K}/{name}")
        assert r.status_code == 404, (name, r.text)
        assert alice.client.delete(f"{K}/{name}").status_code == 404


def test_concurrent_creates_respect_the_quota(server, admin):
    from concurrent.futures import ThreadPoolExecutor

    m = Member(server, admin)
    try:
        set_quota(admin, m.project_id, key_pairs=3)

        def attempt(i):
            with client_for(server, m.token) as c:
                return c.post(K, json={"keypair": {"name": f"c{i}", "public_key": ED25519}}, headers=mv("2.2"))

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(attempt, range(8)))
        assert sorted(r.status_code for r in results) == [201] * 3 + [403] * 5
        assert len(m.client.get(K).json()["keypairs"]) == 3
    finally:
        m.close()
