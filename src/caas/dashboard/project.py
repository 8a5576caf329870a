"""The cloud pages of a project, each a client of one OpenStack API with the user's token.

- ``/project``: the project's quota usage (Nova limits, Neutron quota details, Cinder limits).
- ``/project/instances``: the servers, 100 a page; ``/project/instances/{id}``: one server's
  facts and console log, and its deletion.
- ``/project/images``: the images the project sees; upload (multipart, streamed to Glance),
  deletion.
- ``/project/flavors``: the flavors.
- ``/project/keypairs``: key pairs; creation (the private key answered once, as a download,
  never kept), import of a public key, deletion.
- ``/project/volumes``: volumes, 100 a page; creation, deletion.

Every post is a ``forms.action``: it validates its own fields (a bad one: back to the page with
the reason) and shows the API's own reason when the API refuses; a 404 from the API (the thing
is not there, or not the project's) is the error page with that status and reason.
"""

from __future__ import annotations

import re
from typing import Any, AsyncIterator, Awaitable

from starlette.datastructures import UploadFile
from starlette.responses import Response

from caas.dashboard.client import ApiClient, ApiError
from caas.dashboard.forms import PAGE_SIZE, Invalid, action, choice, integer, marker, paging, part, text
from caas.dashboard.pages import SECURITY_HEADERS, Pages, View
from caas.image.attributes import CONTAINER_FORMATS, DISK_FORMATS

pages = Pages()

NOVA, GLANCE, NEUTRON = "/compute/v2.1", "/image/v2", "/network/v2.0"
PUBLIC_KEY_MAX = 16 * 1024  # an RSA 16384-bit OpenSSH key is about 2.8 KiB
VOLUME_GIB_MAX = 1_000_000
UPLOAD_BLOCK = 1024 * 1024
OCTET = "application/octet-stream"
VISIBILITIES = ("private", "shared", "community", "public")  # public: admins only (Glance's policy)


def cinder(view: View) -> str:
    return f"/volume/v3/{part(view.session.project_id)}"


# ---- calls ------------------------------------------------------------------------------------
async def optional(call: Awaitable[Any]) -> tuple[Any, str | None]:
    """A call whose refusal the page shows in place instead of failing: (result, None) or
    (None, the API's reason)."""
    try:
        return await call, None
    except ApiError as exc:
        if exc.status == 401:
            raise
        return None, exc.message


# ---- pagination -------------------------------------------------------------------------------
async def one_page(view: View, path: str, collection: str) -> tuple[list[dict], bool]:
    """The page asked for of a list (limit and marker): its ``collection``, and whether the API
    says there is more (Nova and Cinder link the next page in ``<collection>_links``, Glance
    in ``next``)."""
    body = await view.api.get(path, limit=PAGE_SIZE, marker=marker(view))
    return body.get(collection, []), bool(body.get(f"{collection}_links") or body.get("next"))


def render_list(view: View, template: str, items: list[dict], more: bool, key: str = "id", **values) -> Response:
    """A list page: its rows (``items``), a Next link when ``more``, a First link past page one."""
    return view.render(template, items=items, **paging(view, items, more, key), **values)


# ---- overview ---------------------------------------------------------------------------------
def count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def quota(label: str, used: Any, limit: Any, unit: str = "") -> dict:
    """One bar; ``used`` None when the API does not say (the page then says so in words), a
    limit it does not give taken as unlimited (-1)."""
    limit = count(limit)
    return {"label": label, "used": count(used), "limit": -1 if limit is None else limit, "unit": unit}


@pages.page("/project")
async def overview(view: View) -> Response:
    pid = part(view.session.project_id)
    (nova, nova_err), (neutron, neutron_err), (volume, volume_err) = await view.api.gather(
        optional(view.api.get(f"{NOVA}/limits")),
        optional(view.api.get(f"{NEUTRON}/quotas/{pid}/details")),
        optional(view.api.get(f"{cinder(view)}/limits")))
    bars, problems = [], []
    if nova is not None:
        a = nova.get("limits", {}).get("absolute", {})
        bars += [quota("Instances", a.get("totalInstancesUsed"), a.get("maxTotalInstances")),
                 quota("vCPUs", a.get("totalCoresUsed"), a.get("maxTotalCores")),
                 quota("RAM", a.get("totalRAMUsed"), a.get("maxTotalRAMSize"), " MiB")]
    else:
        problems.append(f"Compute limits: {nova_err}")
    if neutron is not None:
        fip = neutron.get("quota", {}).get("floatingip", {})
        bars.append(quota("Floating IPs", fip.get("used"), fip.get("limit")))
    else:
        problems.append(f"Network quotas: {neutron_err}")
    if volume is not None:
        a = volume.get("limits", {}).get("absolute", {})
        bars += [quota("Volumes", a.get("totalVolumesUsed"), a.get("maxTotalVolumes")),
                 quota("Gigabytes", a.get("totalGigabytesUsed"), a.get("maxTotalVolumeGigabytes"), " GiB")]
    else:
        problems.append(f"Volume limits: {volume_err}")
    return view.render("project_overview.html", bars=bars, problems=problems)


# ---- instances --------------------------------------------------------------------------------
async def image_names(view: View, servers: list[dict]) -> dict[str, str]:
    """The names of the servers' images, by id, in one call (a name is a nicety: if Glance does
    not say, the page shows the id)."""
    ids = sorted({s["image"]["id"] for s in servers if isinstance(s.get("image"), dict)
                  and isinstance(s["image"].get("id"), str) and not set(s["image"]["id"]) & set(',"')})
    if not ids:
        return {}
    found, _ = await optional(view.api.get(f"{GLANCE}/images", id="in:" + ",".join(ids), limit=len(ids)))
    return {i["id"]: i.get("name") or i["id"] for i in (found or {}).get("images", [])}


def addresses(server: dict) -> list[str]:
    """``network: address`` for each address, floating ones marked."""
    out = []
    for network, entries in (server.get("addresses") or {}).items():
        for e in entries if isinstance(entries, list) else []:
            kind = " (floating)" if e.get("OS-EXT-IPS:type") == "floating" else ""
            out.append(f"{network}: {e.get('addr', '')}{kind}")
    return out


def server_row(server: dict, names: dict[str, str]) -> dict:
    """What the pages show of a server (Nova's view at 2.60: the flavor embedded)."""
    image = server.get("image")
    image_id = image.get("id", "") if isinstance(image, dict) else ""
    flavor = server.get("flavor") or {}
    return {**server, "addresses": addresses(server), "image_name": names.get(image_id, image_id) or "(volume)",
            "flavor_name": flavor.get("original_name") or flavor.get("id") or "",
            "flavor_size": (f"{flavor.get('vcpus')} vCPU, {flavor.get('ram')} MiB RAM, {flavor.get('disk')} GB disk"
                            if "vcpus" in flavor else ""),
            "groups": [g.get("name", "") for g in server.get("security_groups") or []],
            "host": server.get("OS-EXT-SRV-ATTR:host")}


@pages.page("/project/instances")
async def instances(view: View) -> Response:
    servers, more = await one_page(view, f"{NOVA}/servers/detail", "servers")
    names = await image_names(view, servers)
    return render_list(view, "project_instances.html", [server_row(s, names) for s in servers], more)


@pages.page("/project/instances/{id}")
async def instance(view: View) -> Response:
    path = f"{NOVA}/servers/{part(view.params['id'])}"
    server = (await view.api.get(path)).get("server", {})
    names, (console, console_err) = await view.api.gather(
        image_names(view, [server]),
        optional(view.api.post(f"{path}/action", {"os-getConsoleOutput": {"length": 200}})))
    return view.render("project_instance.html", s=server_row(server, names),
                       console=(console or {}).get("output", ""), console_err=console_err)


@action(pages, "/project/instances/{id}/delete", "/project/instances")
async def delete_instance(view: View) -> str:
    await view.api.delete(f"{NOVA}/servers/{part(view.params['id'])}")
    return f"Instance {view.params['id']} is being deleted."


# ---- images -----------------------------------------------------------------------------------
def visibilities(view: View) -> tuple[str, ...]:
    """What the upload form offers: public only to admins (Glance refuses it to others)."""
    return VISIBILITIES if view.session.is_admin else VISIBILITIES[:-1]


@pages.page("/project/images")
async def images(view: View) -> Response:
    found, more = await one_page(view, f"{GLANCE}/images", "images")
    return render_list(view, "project_images.html", found, more, disk_formats=DISK_FORMATS,
                       container_formats=CONTAINER_FORMATS, visibilities=visibilities(view))


async def file_blocks(upload: UploadFile) -> AsyncIterator[bytes]:
    """The uploaded file in blocks (it is spooled to disk by the form parser; never read whole)."""
    await upload.seek(0)
    while block := await upload.read(UPLOAD_BLOCK):
        yield block


async def create_image(api: ApiClient, meta: dict, blocks: Any, size: int | None = None) -> dict:
    """Register an image with ``meta``, then send its data from ``blocks`` (an iterator of
    bytes, sync or async; ``size``: its length, if known, which Glance then checks). If the data
    is refused, the half-created image is deleted and an ``ApiError`` raised with the API's
    reason; the image otherwise."""
    image = await api.post(f"{GLANCE}/images", meta) or {}
    if not image.get("id"):
        raise ApiError(502, "The image API answered without the new image's id.")
    path = f"{GLANCE}/images/{part(image['id'])}"
    headers = {"Content-Type": OCTET}
    if size is not None:
        headers["X-OpenStack-Image-Size"] = str(size)
    try:
        await api.request("PUT", f"{path}/file", headers=headers, content=blocks)
    except Exception as exc:
        try:
            await api.delete(path)
        except ApiError:
            pass  # already gone: nothing is left either way
        if isinstance(exc, ApiError):
            raise ApiError(exc.status, f"The upload failed: {exc.message} The image was deleted.",
                           exc.detail) from None
        raise
    return image


@action(pages, "/project/images", "/project/images", upload=True)
async def upload_image(view: View) -> str:
    upload = view.form.get("file")
    try:
        meta = {"name": text(view, "name", "Name"),
                "disk_format": choice(view, "disk_format", "Disk format", DISK_FORMATS),
                "container_format": choice(view, "container_format", "Container format", CONTAINER_FORMATS),
                # all four are accepted here: the API decides who may publish
                "visibility": choice(view, "visibility", "Visibility", VISIBILITIES)}
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Invalid("Choose the image file to upload.")
        image = await create_image(view.api, meta, file_blocks(upload), upload.size)
    finally:
        if isinstance(upload, UploadFile):
            await upload.close()  # its spooled file, now rather than when collected
    return f"Image {image.get('name', meta['name'])} is uploaded."


@action(pages, "/project/images/{id}/delete", "/project/images")
async def delete_image(view: View) -> str:
    await view.api.delete(f"{GLANCE}/images/{part(view.params['id'])}")
    return f"Image {view.params['id']} is deleted."


# ---- flavors ----------------------------------------------------------------------------------
@pages.page("/project/flavors")
async def flavors(view: View) -> Response:
    found, more = await one_page(view, f"{NOVA}/flavors/detail", "flavors")
    return render_list(view, "project_flavors.html", found, more)


# ---- key pairs --------------------------------------------------------------------------------
def pem_download(name: str, private_key: str) -> Response:
    """The private key as a file to save (shown once: caas keeps no copy)."""
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "key"
    return Response(private_key, media_type="application/x-pem-file", headers={
        **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}.pem"'})


@pages.page("/project/keypairs")
async def keypairs(view: View) -> Response:
    found, more = await one_page(view, f"{NOVA}/os-keypairs", "keypairs")
    return render_list(view, "project_keypairs.html", [k.get("keypair", {}) for k in found], more, key="name")


@action(pages, "/project/keypairs", "/project/keypairs")
async def create_keypair(view: View) -> Response:
    """Nova generates the pair (no public key sent, microversion < 2.92) and returns the
    private key this once; it goes straight to the browser."""
    name = text(view, "name", "Name")
    made = (await view.api.post(f"{NOVA}/os-keypairs", {"keypair": {"name": name}})).get("keypair", {})
    if not made.get("private_key"):
        raise ApiError(502, "The compute API returned no private key.")
    return pem_download(made.get("name") or name, made["private_key"])


@action(pages, "/project/keypairs/import", "/project/keypairs")
async def import_keypair(view: View) -> str:
    body = {"name": text(view, "name", "Name"),
            "public_key": text(view, "public_key", "Public key", max_len=PUBLIC_KEY_MAX)}
    await view.api.post(f"{NOVA}/os-keypairs", {"keypair": body})
    return f"Key pair {body['name']} is imported."


@action(pages, "/project/keypairs/{name}/delete", "/project/keypairs")
async def delete_keypair(view: View) -> str:
    await view.api.delete(f"{NOVA}/os-keypairs/{part(view.params['name'])}")
    return f"Key pair {view.params['name']} is deleted."


# ---- volumes ----------------------------------------------------------------------------------
@pages.page("/project/volumes")
async def volumes(view: View) -> Response:
    found, more = await one_page(view, f"{cinder(view)}/volumes/detail", "volumes")
    return render_list(view, "project_volumes.html", found, more, max_gib=VOLUME_GIB_MAX)


@action(pages, "/project/volumes", "/project/volumes")
async def create_volume(view: View) -> str:
    name = text(view, "name", "Name", required=False)
    size = integer(view, "size", "Size (GiB)", 1, VOLUME_GIB_MAX)
    await view.api.post(f"{cinder(view)}/volumes", {"volume": {"name": name or None, "size": size}})
    return f"{f'Volume {name}' if name else 'A volume'} of {size} GiB is being created."


@action(pages, "/project/volumes/{id}/delete", "/project/volumes")
async def delete_volume(view: View) -> str:
    await view.api.delete(f"{cinder(view)}/volumes/{part(view.params['id'])}")
    return f"Volume {view.params['id']} is being deleted."
