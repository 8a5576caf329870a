#!/usr/bin/env python3
"""Identity v3 side by side: the same requests to the Keystone anchor and to caas, every difference.

Prints the differences and their count; asserts nothing. Loopback (127.0.0.1) only.

    python bench/keystone_diff.py                  # a private caas and the Keystone anchor
    python bench/keystone_diff.py --area groups    # only bench/keystone_seqs/groups.py
    python bench/keystone_diff.py --verbose        # every step, the same ones too

Each module in ``bench/keystone_seqs/`` is an area with one function, ``sequence(api)``, that
sends its requests through ``api.call(label, method, path, body)``; the same function runs once
against each cloud (the Keystone anchor first, http://127.0.0.1:5000/v3, admin/secret; then a
private caas started for the run, on the fake driver). For every labelled step the runner records the status code
and the shape of the answer: the set of key paths of its JSON body (``group``, ``group.id``,
``groups[].links.self``, ...), values ignored. A difference is a step whose status differs, or
whose shapes differ (the keys one side has and the other lacks are printed), or a step one side
reached and the other did not (a sequence stops at its first exception, which is printed).
Ids, timestamps and URLs never count: only statuses and key sets are compared.

Start the anchor first: ``../shared/anchors/keystone/start.sh start``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from _common import CaasServer, interrupt_on_sigterm

KEYSTONE = "http://127.0.0.1:5000"
SEQS = Path(__file__).parent / "keystone_seqs"
MAX_DEPTH = 4


def shape(obj, prefix: str = "", depth: int = MAX_DEPTH) -> set[str]:
    """The key paths of a decoded JSON value: a dict's keys (``a``, ``a.b``), a list's elements'
    keys merged under ``[]`` (``a[].b``), down to ``depth`` levels. Values are ignored."""
    out: set[str] = set()
    if depth == 0:
        return out
    if isinstance(obj, dict):
        for key, value in obj.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.add(path)
            out |= shape(value, path, depth - 1)
    elif isinstance(obj, list):
        for item in obj:
            out |= shape(item, prefix + "[]", depth)
    return out


@dataclass
class Step:
    label: str
    method: str
    path: str
    status: int
    keys: set[str]


@dataclass
class Api:
    """One cloud's Identity v3 as a sequence sees it: ``call`` sends a request and records a
    step; ``token`` issues a token; ``name`` makes a name unique to this run."""

    cloud: str
    root: str  # the URL that /v3 hangs from
    admin_password: str
    run_id: str
    steps: list[Step] = field(default_factory=list)
    error: str | None = None

    def __post_init__(self) -> None:
        # No keep-alive: the anchor's uWSGI follows some 204s with a chunked body's end, which
        # the next request on the connection would read as its status line.
        self.http = httpx.Client(base_url=self.root, timeout=60, limits=httpx.Limits(max_keepalive_connections=0))
        self.admin_token = self.token(name="admin", password=self.admin_password, project_name="admin")
        self.admin_user_id = self._admin_user_id()

    def name(self, prefix: str) -> str:
        """``prefix`` made unique to this run (the anchor keeps its state between runs)."""
        return f"{prefix}-{self.run_id}"

    def call(self, label: str, method: str, path: str, body: dict | None = None, token: str | None = None,
             headers: dict | None = None):
        """Send ``method path`` (``path`` starts with /v3) with ``token`` (the admin's
        project-scoped token by default; "" for none) and record the step under ``label``.
        Returns the decoded JSON body, or None when there is none."""
        hdrs = dict(headers or {})
        auth = self.admin_token if token is None else token
        if auth:
            hdrs["X-Auth-Token"] = auth
        resp = self.http.request(method, path, json=body, headers=hdrs)
        try:
            data = resp.json() if resp.content else None
        except ValueError:
            data = None
        self.steps.append(Step(label, method, path, resp.status_code, shape(data)))
        return data

    def token(self, user_id: str | None = None, password: str = "", name: str | None = None,
              project_id: str | None = None, project_name: str | None = None, domain_id: str | None = None,
              system: bool = False, unscoped: bool = False) -> str:
        """A password token for the user ``user_id`` (or ``name`` in the Default domain),
        scoped to a project (by id, or by name in Default), a domain, or the system. Raises
        RuntimeError when the cloud does not answer 201 (not a recorded step)."""
        user = {"id": user_id} if user_id else {"name": name, "domain": {"id": "default"}}
        auth: dict = {"identity": {"methods": ["password"], "password": {"user": {**user, "password": password}}}}
        if system:
            auth["scope"] = {"system": {"all": True}}
        elif project_id or project_name:
            auth["scope"] = {"project": {"id": project_id} if project_id else
                             {"name": project_name, "domain": {"id": "default"}}}
        elif domain_id:
            auth["scope"] = {"domain": {"id": domain_id}}
        elif not unscoped:
            raise ValueError("say which scope, or unscoped=True")
        resp = self.http.post("/v3/auth/tokens", json={"auth": auth})
        if resp.status_code != 201:
            raise RuntimeError(f"{self.cloud}: token for {user_id or name}: {resp.status_code} {resp.text[:300]}")
        return resp.headers["X-Subject-Token"]

    def _admin_user_id(self) -> str:
        resp = self.http.get("/v3/auth/tokens", headers={"X-Auth-Token": self.admin_token,
                                                         "X-Subject-Token": self.admin_token})
        return resp.json()["token"]["user"]["id"]


def areas(only: list[str] | None) -> list[str]:
    """The area modules in bench/keystone_seqs, or the ``only`` ones, in name order."""
    names = sorted(m.name for m in pkgutil.iter_modules([str(SEQS)]) if not m.name.startswith("_"))
    if only:
        unknown = set(only) - set(names)
        if unknown:
            raise SystemExit(f"no such area: {', '.join(sorted(unknown))} (areas: {', '.join(names)})")
        return [n for n in names if n in only]
    return names


def run_area(area: str, api: Api) -> None:
    """Run one area's sequence against one cloud; an exception stops it and is kept."""
    module = importlib.import_module(f"keystone_seqs.{area}")
    try:
        module.sequence(api)
    except Exception as exc:  # noqa: BLE001 - reported as a difference, the other areas go on
        api.error = f"{type(exc).__name__}: {exc} ({traceback.extract_tb(exc.__traceback__)[-1].lineno})"


def differences(ks: Api, caas: Api, verbose: bool) -> int:
    """Print the steps that differ (all of them with ``verbose``); return how many differ."""
    count = 0
    for i in range(max(len(ks.steps), len(caas.steps))):
        a = ks.steps[i] if i < len(ks.steps) else None
        b = caas.steps[i] if i < len(caas.steps) else None
        if a is None or b is None or a.label != b.label:
            count += 1
            print(f"  DIFF step {i + 1}: keystone reached {a.label if a else '-'!r}, caas {b.label if b else '-'!r}")
            continue
        lines = []
        if a.status != b.status:
            lines.append(f"status keystone {a.status}, caas {b.status}")
        if a.keys - b.keys:
            lines.append(f"only keystone has {sorted(a.keys - b.keys)}")
        if b.keys - a.keys:
            lines.append(f"only caas has {sorted(b.keys - a.keys)}")
        count += bool(lines)
        if lines or verbose:
            print(f"  {'DIFF' if lines else 'same'} {a.label}: {a.method} {a.path.split('?')[0][:70]} "
                  f"({a.status}){': ' if lines else ''}{'; '.join(lines)}")
    for api in (ks, caas):
        if api.error:
            print(f"  {api.cloud} stopped: {api.error}")
    if (ks.error is None) != (caas.error is None):
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area", action="append", help="only this area (repeatable)")
    parser.add_argument("--keystone", default=KEYSTONE, help="the Keystone anchor's root URL")
    parser.add_argument("--keystone-password", default="secret")
    parser.add_argument("--verbose", action="store_true", help="print the steps that agree too")
    args = parser.parse_args()
    interrupt_on_sigterm()
    sys.path.insert(0, str(Path(__file__).parent))
    run_id = uuid.uuid4().hex[:8]
    os.environ["CAAS_DRIVER"] = "fake"  # Identity needs no instances, and netns is one per machine
    caas = CaasServer(prefix="caas-kdiff-")
    caas.start()
    total = 0
    try:
        for area in areas(args.area):
            ks_api = Api("keystone", args.keystone, args.keystone_password, run_id)
            caas_api = Api("caas", f"http://127.0.0.1:{caas.port}/identity", caas.admin_password, run_id)
            run_area(area, ks_api)
            run_area(area, caas_api)
            print(f"{area}: {len(ks_api.steps)} steps on keystone, {len(caas_api.steps)} on caas")
            n = differences(ks_api, caas_api, args.verbose)
            print(f"{area}: {n} difference{'s' if n != 1 else ''}")
            total += n
    finally:
        caas.stop()
    print(f"total: {total} difference{'s' if total != 1 else ''} in status codes and response keys")


if __name__ == "__main__":
    main()
