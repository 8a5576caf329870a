"""The dashboard's project pages (caas.dashboard.project) against a real caas over HTTP: quota
overview, instances, images (upload streamed to Glance), flavors, key pairs (the private key as a
download), volumes. Each form: success checked through the API, bad fields, the API's refusals
shown, other projects' things out of reach, escaping, CSRF and the body limit."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from caas.dashboard import pages as dashboard_pages
from caas.dashboard.client import ApiClient, ApiError
from caas.dashboard.project import create_image
from caas.image.service import HOST_IMAGE_ID
from tests.conftest import TLS, client_for, issue_token, make_member
from tests.dashboard.common import Browser, flash, text

D = "/dashboard"
C = "/compute/v2.1"
G = "/image/v2"
MV = {"OpenStack-API-Version": "compute 2.60"}
MEAN = "x;$(id)'\"<b>"
MEAN_HTML = "x;$(id)&#39;&#34;&lt;b&gt;"  # how Jinja's autoescape writes it
BIG = {"pad": "x" * (65 * 1024)}  # over the 64 KiB form limit


# ---- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def srv(sqlite_server):
    return sqlite_server


@pytest.fixture(scope="module")
def admin_api(srv):
    with client_for(srv, issue_token(srv)) as c:
        yield c


@pytest.fixture(scope="module")
def admin_pid(admin_api):
    token = admin_api.headers["X-Auth-Token"]
    body = admin_api.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": token}).json()
    return body["token"]["project"]["id"]


@pytest.fixture(scope="module")
def admin_b(srv):
    with Browser(srv) as b:
        b.login()
        yield b


class Member:
    """A member of a project of its own: its API client and its logged-in browser."""

    def __init__(self, srv, admin_api) -> None:
        self.info = make_member(srv, admin_api)
        self.pid = self.info["project_id"]
        self.api = client_for(srv, self.info["token"])
        self.b = Browser(srv)
        self.b.login(self.info["name"], self.info["password"], self.info["name"])

    def close(self) -> None:
        self.api.close()
        self.b.close()


@pytest.fixture(scope="module")
def new_member(srv, admin_api):
    """A factory of members, each in a fresh project (for tests that count what a project has)."""
    made = []

    def make() -> Member:
        made.append(Member(srv, admin_api))
        return made[-1]
    yield make
    for m in made:
        m.close()


@pytest.fixture(scope="module")
def member(new_member) -> Member:
    return new_member()


# ---- helpers ----------------------------------------------------------------------------------
def assert_stacked(page: httpx.Response) -> None:
    """Every table folds at phone width: class stack, a caption, th scope=col, td data-label."""
    tables = re.findall(r"<table\b[^>]*>.*?</table>", page.text, flags=re.S)
    assert tables, "no table on the page"
    for table in tables:
        assert re.match(r'<table class="stack"', table), table[:100]
        assert "<caption>" in table
        assert all('scope="col"' in th for th in re.findall(r"<th\b[^>]*>", table))
        tds = re.findall(r"<td\b[^>]*>", table)
        assert tds and all("data-label=" in td for td in tds), [td for td in tds if "data-label" not in td]


def assert_escaped(page: httpx.Response) -> None:
    assert MEAN_HTML in page.text
    assert "<b>" not in page.text


def api_reason(r: httpx.Response) -> str:
    """The message of an API error body in any service's format."""
    body = r.json()
    if isinstance(body.get("message"), str):
        return body["message"]
    return next(v["message"] for v in body.values() if isinstance(v, dict) and "message" in v)


def row_links(page: httpx.Response, kind: str) -> list[str]:
    return re.findall(rf'href="/dashboard/project/{kind}/([^"/]+)"', page.text)


def boot(api: httpx.Client, name: str = "s", count: int = 1) -> list[str]:
    """``count`` servers (fake driver, no network), waited until ACTIVE; their ids."""
    body = {"name": name, "flavorRef": "42", "imageRef": HOST_IMAGE_ID, "networks": "none"}
    if count > 1:
        body.update(min_count=count, max_count=count)
    r = api.post(f"{C}/servers", json={"server": body}, headers=MV)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        servers = api.get(f"{C}/servers/detail", headers=MV, params={"name": f"^{re.escape(name)}"}).json()["servers"]
        if len(servers) >= count and all(s["status"] == "ACTIVE" for s in servers):
            return [s["id"] for s in servers]
        time.sleep(0.1)
    raise AssertionError(f"servers {name} not ACTIVE: {[s['status'] for s in servers]}")


def unlimited(admin_api: httpx.Client, pid: str, admin_pid: str) -> None:
    """Lift the compute and volume quotas of a project."""
    r = admin_api.put(f"{C}/os-quota-sets/{pid}", json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
    assert r.status_code == 200, r.text
    r = admin_api.put(f"/volume/v3/{admin_pid}/os-quota-sets/{pid}",
                      json={"quota_set": {"volumes": -1, "gigabytes": -1}})
    assert r.status_code == 200, r.text


def new_volume(api: httpx.Client, pid: str, name: str | None = None) -> str:
    """A 1 GiB volume, waited until available; its id."""
    r = api.post(f"/volume/v3/{pid}/volumes", json={"volume": {"name": name, "size": 1}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    deadline = time.monotonic() + 20
    while api.get(f"/volume/v3/{pid}/volumes/{vid}").json()["volume"]["status"] != "available":
        assert time.monotonic() < deadline, f"volume {vid} not available"
        time.sleep(0.1)
    return vid


def volumes_of(api: httpx.Client, pid: str) -> list[dict]:
    return api.get(f"/volume/v3/{pid}/volumes/detail").json()["volumes"]


def image_named(api: httpx.Client, name: str) -> list[dict]:
    return api.get(f"{G}/images", params={"name": name}).json()["images"]


# ---- overview ---------------------------------------------------------------------------------
def test_overview_shows_each_quota_as_used_of_limit(new_member, admin_api, admin_pid):
    m = new_member()
    r = admin_api.put(f"{C}/os-quota-sets/{m.pid}", json={"quota_set": {"instances": -1, "cores": 7}})
    assert r.status_code == 200, r.text
    r = m.api.post(f"/volume/v3/{m.pid}/volumes", json={"volume": {"name": "q", "size": 3}})
    assert r.status_code == 202, r.text
    boot(m.api, "quota")

    page = m.b.get(f"{D}/project")
    words = text(page)
    assert "Instances 1 used of unlimited" in words
    assert "vCPUs 1 used of 7" in words
    ram = m.api.get(f"{C}/limits").json()["limits"]["absolute"]
    assert f"RAM {ram['totalRAMUsed']} MiB used of {ram['maxTotalRAMSize']} MiB" in words
    fip = m.api.get(f"/network/v2.0/quotas/{m.pid}/details").json()["quota"]["floatingip"]
    assert f"Floating IPs {fip['used']} used of {fip['limit']}" in words
    assert "Volumes 1 used of 10" in words
    assert "Gigabytes 3 GiB used of 1000 GiB" in words
    # an unlimited quota has no meter; the limited ones have one each
    assert page.text.count("<meter") == 5
    assert "Not available" not in words


# ---- instances --------------------------------------------------------------------------------
def test_instances_are_paged_by_100_with_a_next_link(new_member, admin_api, admin_pid):
    m = new_member()
    unlimited(admin_api, m.pid, admin_pid)
    ids = set(boot(m.api, "bulk", 101))
    first = m.b.get(f"{D}/project/instances")
    assert_stacked(first)
    page1 = row_links(first, "instances")
    assert len(page1) == 100
    nxt = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert nxt, "no Next link"
    second = m.b.get(nxt.group(1).replace("&amp;", "&"))
    page2 = row_links(second, "instances")
    assert len(page2) == 1 and 'rel="next"' not in second.text and "First page" in text(second)
    assert set(page1) | set(page2) == ids
    words = text(first)
    assert "m1.nano" in words and "host" in words and "ACTIVE" in words
    # another project's list does not show them
    assert not ids & set(row_links(new_member().b.get(f"{D}/project/instances"), "instances"))


def test_instances_bad_marker_shows_the_api_reason(member):
    page = member.b.get(f"{D}/project/instances", status=400, marker="no-such-server")
    assert "marker [no-such-server] not found" in text(page)


def test_instance_detail_facts_console_and_escaping(member, admin_api, admin_b):
    sid = boot(member.api, MEAN)[0]
    listing = member.b.get(f"{D}/project/instances")
    assert_escaped(listing)
    page = member.b.get(f"{D}/project/instances/{sid}")
    assert_escaped(page)
    words = text(page)
    for fact in (f"ID {sid}", "Status ● ACTIVE", "Flavor m1.nano (1 vCPU, 128 MiB RAM, 1 GB disk)", "Image host",
                 "Key name none"):
        assert fact in words, fact
    assert "Host" not in re.findall(r"<dt>(.*?)</dt>", page.text)  # members are not told the host
    console = re.search(r'<pre class="console"[^>]*>(.*?)</pre>', page.text, flags=re.S)
    assert console and "login:" in console.group(1)
    assert 'data-confirm="Delete instance' in page.text
    # an admin sees the host, as Nova tells admins
    host = admin_api.get(f"{C}/servers/{sid}", headers=MV).json()["server"]["OS-EXT-SRV-ATTR:host"]
    assert f"Host {host}" in text(admin_b.get(f"{D}/project/instances/{sid}"))


def test_instance_unknown_and_other_projects_are_404_with_novas_reason(member, admin_api):
    reason = api_reason(member.api.get(f"{C}/servers/nope", headers=MV))
    assert reason in text(member.b.get(f"{D}/project/instances/nope", status=404))
    theirs = boot(admin_api, "admins")[0]
    page = member.b.get(f"{D}/project/instances/{theirs}", status=404)
    assert "could not be found" in text(page)
    member.b.get(f"{D}/project/instances")
    page = member.b.post(f"{D}/project/instances/{theirs}/delete", status=404)
    assert "could not be found" in text(page)
    assert admin_api.get(f"{C}/servers/{theirs}", headers=MV).json()["server"]["status"] == "ACTIVE"


def test_instance_delete(member):
    sid = boot(member.api, "doomed")[0]
    member.b.get(f"{D}/project/instances/{sid}")
    member.b.post(f"{D}/project/instances/{sid}/delete", csrf=False, status=403)
    member.b.post(f"{D}/project/instances/{sid}/delete", BIG, status=413)
    assert member.api.get(f"{C}/servers/{sid}", headers=MV).json()["server"]["status"] == "ACTIVE"
    done = member.b.follow(member.b.post(f"{D}/project/instances/{sid}/delete"))
    assert flash(done) == f"Done: Instance {sid} is being deleted."
    deadline = time.monotonic() + 20
    while member.api.get(f"{C}/servers/{sid}", headers=MV).status_code != 404:
        assert time.monotonic() < deadline, "the server was not deleted"
        time.sleep(0.1)


# ---- images -----------------------------------------------------------------------------------
def upload(b: Browser, status: int = 303, csrf: bool = True, content: bytes | None = b"data", **fields):
    data = {"name": "img", "disk_format": "raw", "container_format": "bare", "visibility": "private", **fields}
    files = {"file": ("disk.img", content, "application/octet-stream")} if content is not None else None
    return b.post(f"{D}/project/images", data, status=status, files=files, csrf=csrf)


def test_image_upload_streams_the_file_to_glance(member):
    page = member.b.get(f"{D}/project/images")
    assert 'enctype="multipart/form-data"' in page.text and '<option value="public">' not in page.text
    data = os.urandom(2 * 1024 * 1024 + 12345)  # over the form parser's 1 MiB spool: read from disk, in blocks
    done = member.b.follow(upload(member.b, content=data, name=MEAN))
    assert flash(done).startswith("Done: Image") and "<b>" not in done.text
    [image] = image_named(member.api, MEAN)
    assert (image["status"], image["size"], image["visibility"]) == ("active", len(data), "private")
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["disk_format"] == "raw" and image["owner"] == member.pid
    assert_escaped(done)
    assert_stacked(done)
    assert "2.0 MiB" in text(done)


def test_image_upload_offers_public_to_admins_only_and_glance_decides(member, admin_b):
    assert '<option value="public">' in admin_b.get(f"{D}/project/images").text
    member.b.get(f"{D}/project/images")
    page = member.b.follow(upload(member.b, name="wants-public", visibility="public"))
    reason = api_reason(member.api.post(f"{G}/images", json={"name": "p", "visibility": "public"}))
    assert flash(page) == f"Error: {reason}" and "publicize_image" in reason
    assert image_named(member.api, "wants-public") == []


@pytest.mark.parametrize("fields, content, message", [
    ({"name": ""}, b"x", "Name is required."),
    ({"name": "n" * 256}, b"x", "Name is at most 255 characters."),
    ({"disk_format": "exe"}, b"x", "Disk format must be one of"),
    ({"container_format": ""}, b"x", "Container format must be one of"),
    ({"visibility": "everyone"}, b"x", "Visibility must be one of"),
    ({}, None, "Choose the image file to upload."),
])
def test_image_upload_bad_fields(member, fields, content, message):
    before = member.api.get(f"{G}/images").json()["images"]
    member.b.get(f"{D}/project/images")
    page = member.b.follow(upload(member.b, content=content, **fields))
    assert flash(page).startswith(f"Error: {message}")
    assert member.api.get(f"{G}/images").json()["images"] == before


def test_image_upload_refused_without_csrf_or_when_a_field_is_too_large(member):
    member.b.get(f"{D}/project/images")
    upload(member.b, csrf=False, status=403, name="no-csrf")
    # a file may be large, a text field may not: a field over 64 KiB is 413
    r = upload(member.b, status=413, name="big", pad="x" * (65 * 1024))
    assert "larger than 64 KiB" in text(r)
    assert image_named(member.api, "no-csrf") == [] and image_named(member.api, "big") == []


def test_a_refused_upload_deletes_the_half_created_image(srv, member):
    """The data the API refuses (here: shorter than announced) leaves no queued image behind."""
    async def attempt():
        api = ApiClient(None, member.info["token"])
        api._http = httpx.AsyncClient(base_url=srv.url, timeout=30, verify=TLS)  # the real server, over HTTP

        async def blocks():
            yield b"12345"
        try:
            with pytest.raises(ApiError) as caught:
                await create_image(api, {"name": "half", "disk_format": "raw", "container_format": "bare"},
                                   blocks(), size=10)
        finally:
            await api.close()
        return caught.value
    exc = asyncio.run(attempt())
    assert exc.status == 400
    assert exc.message == "The upload failed: The image data is 5 bytes, not the 10 announced. The image was deleted."
    assert image_named(member.api, "half") == []


def test_image_delete(member, admin_api, admin_b):
    image = member.api.post(f"{G}/images", json={"name": "mine"}).json()
    page = member.b.get(f"{D}/project/images")
    assert f'action="/dashboard/project/images/{image["id"]}/delete"' in page.text
    assert f'/project/images/{HOST_IMAGE_ID}/delete' not in page.text  # not the member's: no button
    member.b.post(f"{D}/project/images/{image['id']}/delete", csrf=False, status=403)
    member.b.post(f"{D}/project/images/{image['id']}/delete", BIG, status=413)
    assert member.api.get(f"{G}/images/{image['id']}").status_code == 200
    done = member.b.follow(member.b.post(f"{D}/project/images/{image['id']}/delete"))
    assert flash(done) == f"Done: Image {image['id']} is deleted."
    assert member.api.get(f"{G}/images/{image['id']}").status_code == 404
    # the public host image is visible but not the member's: Glance's 403 reason
    page = member.b.follow(member.b.post(f"{D}/project/images/{HOST_IMAGE_ID}/delete"))
    assert flash(page) == "Error: " + api_reason(member.api.delete(f"{G}/images/{HOST_IMAGE_ID}"))
    # the admin's private image is not even visible: 404 with Glance's reason; it stays
    private = admin_api.post(f"{G}/images", json={"name": "admins-private"}).json()
    reason = api_reason(member.api.get(f"{G}/images/{private['id']}"))
    assert reason in text(member.b.post(f"{D}/project/images/{private['id']}/delete", status=404))
    assert admin_api.get(f"{G}/images/{private['id']}").status_code == 200
    assert "No image found" in text(member.b.post(f"{D}/project/images/nope/delete", status=404))
    # the admin may delete an image of another project
    admin_b.get(f"{D}/project/images")
    other = member.api.post(f"{G}/images", json={"name": "for-admin"}).json()
    admin_b.follow(admin_b.post(f"{D}/project/images/{other['id']}/delete"))
    assert member.api.get(f"{G}/images/{other['id']}").status_code == 404


# ---- flavors ----------------------------------------------------------------------------------
def test_flavors_list(member, admin_api):
    r = admin_api.post(f"{C}/flavors", json={"flavor": {"name": MEAN, "vcpus": 3, "ram": 768, "disk": 4,
                                                          "OS-FLV-EXT-DATA:ephemeral": 2, "swap": 64}})
    assert r.status_code == 200, r.text
    page = member.b.get(f"{D}/project/flavors")
    assert_stacked(page)
    assert_escaped(page)
    words = text(page)
    assert "m1.tiny 1 512 MiB 1 GB 0 GB 0 MiB yes" in words
    assert "3 768 MiB 4 GB 2 GB 64 MiB yes" in words


# ---- key pairs --------------------------------------------------------------------------------
def test_keypair_create_downloads_the_private_key_once(member):
    member.b.get(f"{D}/project/keypairs")
    r = member.b.post(f"{D}/project/keypairs", {"name": "my key"}, status=200)
    assert r.headers["content-type"] == "application/x-pem-file"
    assert r.headers["content-disposition"] == 'attachment; filename="my_key.pem"'
    for header, value in dashboard_pages.SECURITY_HEADERS.items():
        assert r.headers[header] == value
    private = serialization.load_pem_private_key(r.content, password=None)
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
    stored = member.api.get(f"{C}/os-keypairs/my key", headers=MV).json()["keypair"]
    assert stored["public_key"].split()[:2] == public.split()[:2]
    assert "private_key" not in stored
    page = member.b.get(f"{D}/project/keypairs")
    assert_stacked(page)
    assert stored["fingerprint"] in page.text


@pytest.mark.parametrize("data, message", [
    ({}, "Error: Name is required."),
    ({"name": "n" * 256}, "Error: Name is at most 255 characters."),
    ({"name": MEAN}, "Error: Invalid input for field/attribute name."),  # Nova's pattern refuses it
])
def test_keypair_create_bad_names(member, data, message):
    member.b.get(f"{D}/project/keypairs")
    page = member.b.follow(member.b.post(f"{D}/project/keypairs", data))
    assert flash(page).startswith(message)
    assert "<b>" not in page.text


def test_keypair_create_refused_without_csrf_or_too_large(member):
    member.b.get(f"{D}/project/keypairs")
    member.b.post(f"{D}/project/keypairs", {"name": "nocsrf"}, csrf=False, status=403)
    member.b.post(f"{D}/project/keypairs", {"name": "big", **BIG}, status=413)
    names = {k["keypair"]["name"] for k in member.api.get(f"{C}/os-keypairs", headers=MV).json()["keypairs"]}
    assert not names & {"nocsrf", "big"}


def openssh_public_key() -> str:
    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " me@laptop"


def test_keypair_import(member):
    key = openssh_public_key()
    member.b.get(f"{D}/project/keypairs")
    page = member.b.follow(member.b.post(f"{D}/project/keypairs/import", {"name": "laptop", "public_key": key}))
    assert flash(page) == "Done: Key pair laptop is imported."
    assert member.api.get(f"{C}/os-keypairs/laptop", headers=MV).json()["keypair"]["public_key"] == key
    for data, message in (({"name": "k2"}, "Error: Public key is required."),
                          ({"public_key": key}, "Error: Name is required."),
                          ({"name": "k2", "public_key": "not a key"}, "Error: Keypair data is invalid"),
                          ({"name": "laptop", "public_key": key}, "Error: Key pair 'laptop' already exists.")):
        page = member.b.follow(member.b.post(f"{D}/project/keypairs/import", data))
        assert flash(page).startswith(message), (data, flash(page))
    assert member.api.get(f"{C}/os-keypairs/k2", headers=MV).status_code == 404
    member.b.post(f"{D}/project/keypairs/import", {"name": "k3", "public_key": key}, csrf=False, status=403)
    member.b.post(f"{D}/project/keypairs/import", {"name": "k3", "public_key": key, **BIG}, status=413)
    assert member.api.get(f"{C}/os-keypairs/k3", headers=MV).status_code == 404


def test_keypair_delete(member, admin_api):
    r = member.api.post(f"{C}/os-keypairs", json={"keypair": {"name": "gone soon", "public_key": openssh_public_key()}},
                        headers=MV)
    assert r.status_code == 201, r.text
    page = member.b.get(f"{D}/project/keypairs")
    assert 'action="/dashboard/project/keypairs/gone%20soon/delete"' in page.text
    member.b.post(f"{D}/project/keypairs/gone%20soon/delete", csrf=False, status=403)
    done = member.b.follow(member.b.post(f"{D}/project/keypairs/gone%20soon/delete"))
    assert flash(done) == "Done: Key pair gone soon is deleted."
    assert member.api.get(f"{C}/os-keypairs/gone soon", headers=MV).status_code == 404
    reason = api_reason(member.api.get(f"{C}/os-keypairs/nope", headers=MV))
    assert reason in text(member.b.post(f"{D}/project/keypairs/nope/delete", status=404))
    # key pairs are the user's: another user's name is not reachable, and it stays
    r = admin_api.post(f"{C}/os-keypairs", json={"keypair": {"name": "admins", "public_key": openssh_public_key()}},
                       headers=MV)
    assert r.status_code == 201, r.text
    member.b.post(f"{D}/project/keypairs/admins/delete", status=404)
    assert admin_api.get(f"{C}/os-keypairs/admins", headers=MV).status_code == 200


# ---- volumes ----------------------------------------------------------------------------------
def test_volume_create_and_list(member):
    member.b.get(f"{D}/project/volumes")
    done = member.b.follow(member.b.post(f"{D}/project/volumes", {"name": MEAN, "size": "2"}))
    assert flash(done) == f"Done: Volume {MEAN} of 2 GiB is being created."
    [volume] = [v for v in volumes_of(member.api, member.pid) if v["name"] == MEAN]
    assert volume["size"] == 2
    page = member.b.get(f"{D}/project/volumes")
    assert_stacked(page)
    assert_escaped(page)
    assert "2 GiB" in text(page)
    done = member.b.follow(member.b.post(f"{D}/project/volumes", {"name": "", "size": "1"}))
    assert flash(done) == "Done: A volume of 1 GiB is being created."


@pytest.mark.parametrize("data, message", [
    ({"name": "v"}, "Error: Size (GiB) is required."),
    ({"name": "v", "size": "abc"}, "Error: Size (GiB) must be a whole number from 1 to 1000000, not 'abc'."),
    ({"name": "v", "size": "0"}, "Error: Size (GiB) must be a whole number"),
    ({"name": "v", "size": "-1"}, "Error: Size (GiB) must be a whole number"),
    ({"name": "v", "size": "1.5"}, "Error: Size (GiB) must be a whole number"),
    ({"name": "v", "size": "²"}, "Error: Size (GiB) must be a whole number"),
    ({"name": "v" * 256, "size": "1"}, "Error: Name is at most 255 characters."),
])
def test_volume_create_bad_fields(member, data, message):
    before = {v["id"] for v in volumes_of(member.api, member.pid)}
    member.b.get(f"{D}/project/volumes")
    page = member.b.follow(member.b.post(f"{D}/project/volumes", data))
    assert flash(page).startswith(message)
    # no new volume (an earlier test's may have gone from creating to available meanwhile)
    assert {v["id"] for v in volumes_of(member.api, member.pid)} == before


def test_volume_over_quota_shows_cinders_reason(new_member, admin_api, admin_pid):
    m = new_member()
    r = admin_api.put(f"/volume/v3/{admin_pid}/os-quota-sets/{m.pid}", json={"quota_set": {"gigabytes": 2}})
    assert r.status_code == 200, r.text
    m.b.get(f"{D}/project/volumes")
    page = m.b.follow(m.b.post(f"{D}/project/volumes", {"name": "huge", "size": "5"}))
    assert flash(page) == ("Error: VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
                           "gigabytes quota. Requested 5G, quota is 2G and 0G has been consumed.")
    assert volumes_of(m.api, m.pid) == []
    m.b.post(f"{D}/project/volumes", {"name": "v", "size": "1"}, csrf=False, status=403)
    m.b.post(f"{D}/project/volumes", {"name": "v", "size": "1", **BIG}, status=413)
    assert volumes_of(m.api, m.pid) == []


def test_volumes_are_paged_and_show_their_server(new_member, admin_api, admin_pid):
    m = new_member()
    unlimited(admin_api, m.pid, admin_pid)
    for i in range(100):
        r = m.api.post(f"/volume/v3/{m.pid}/volumes", json={"volume": {"name": f"v{i}", "size": 1}})
        assert r.status_code == 202, r.text
    sid = boot(m.api, "holder")[0]
    attached = new_volume(m.api, m.pid, "attached")
    r = m.api.post(f"{C}/servers/{sid}/os-volume_attachments", json={"volumeAttachment": {"volumeId": attached}},
                   headers=MV)
    assert r.status_code == 200, r.text
    first = m.b.get(f"{D}/project/volumes")
    rows = re.findall(r'action="/dashboard/project/volumes/([^"/]+)/delete"', first.text)
    assert len(rows) == 100
    assert f'href="/dashboard/project/instances/{sid}"' in first.text  # the newest, attached, comes first
    nxt = re.search(r'href="([^"]+)" rel="next"', first.text)
    second = m.b.get(nxt.group(1).replace("&amp;", "&"))
    rest = re.findall(r'action="/dashboard/project/volumes/([^"/]+)/delete"', second.text)
    assert len(rest) == 1 and not set(rows) & set(rest)
    assert set(rows) | set(rest) == {v["id"] for v in volumes_of(m.api, m.pid)}


def test_volume_delete(member, admin_api, admin_pid):
    vid = new_volume(member.api, member.pid, "bye")
    page = member.b.get(f"{D}/project/volumes")
    assert 'data-confirm="Delete volume bye? This cannot be undone."' in page.text
    member.b.post(f"{D}/project/volumes/{vid}/delete", csrf=False, status=403)
    member.b.post(f"{D}/project/volumes/{vid}/delete", BIG, status=413)
    assert member.api.get(f"/volume/v3/{member.pid}/volumes/{vid}").status_code == 200
    done = member.b.follow(member.b.post(f"{D}/project/volumes/{vid}/delete"))
    assert flash(done) == f"Done: Volume {vid} is being deleted."
    deadline = time.monotonic() + 20
    while member.api.get(f"/volume/v3/{member.pid}/volumes/{vid}").status_code != 404:
        assert time.monotonic() < deadline, "the volume was not deleted"
        time.sleep(0.1)
    # another project's volume: 404 with Cinder's reason, and it stays
    theirs = new_volume(admin_api, admin_pid)
    reason = api_reason(member.api.get(f"/volume/v3/{member.pid}/volumes/{theirs}"))
    assert reason in text(member.b.post(f"{D}/project/volumes/{theirs}/delete", status=404))
    assert admin_api.get(f"/volume/v3/{admin_pid}/volumes/{theirs}").status_code == 200
    assert "could not be found" in text(member.b.post(f"{D}/project/volumes/nope/delete", status=404))
