"""The architecture of DESIGN.md, checked on the source (issue 16): imports run from a higher
layer down, never back up; no service imports the HTTP edge; virt reads no other service's
models; no service function takes a microversion or builds a URL; the network and image services
use no name of Neutron's or Glance's wire format; no module over 600 lines and no function over
60 (migrations aside); no class in compute is a mixin or made of mixins.

What the code does not meet yet is listed in ``DEBT``, exactly: a new violation fails, and so
does an entry that no longer applies (the list only shrinks)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "caas"

# The layers, lowest first. A module may import from its own layer or a lower one. The ground
# floor is the types and settings every layer shares; the services are ordered by who calls
# whom (volume reads images, compute binds ports and attaches volumes; hosts registers machines
# with compute); the cluster layer sits
# on the cloud (it reaches it through openstacksdk; it reuses compute's pure scheduler filters
# to read Placement's data); the composition root builds the services; the edges serve them.
LAYERS = [
    {"errors", "numbers", "lockfile", "context", "config", "policy", "debounce"},
    {"db"},
    {"virt"},
    {"identity"},
    {"image", "network"},
    {"volume"},
    {"compute"},
    {"hosts"},
    {"clusters"},
    {"cloud", "portal"},
    {"api"},
    {"dashboard", "cli", "server", "__main__", "testhost"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
# The model registry Alembic and the tests read: it names every package's tables by design.
REGISTRIES = {"db/all_models.py"}
SERVICES = ("identity", "image", "network", "volume", "compute", "hosts", "clusters", "virt")

# Known debts (issue 16's remaining work); each entry must still be true.
DEBT: dict[str, set[str]] = {
    "upward imports": set(),
    "long modules": set(),
    "long functions": set(),
    "wire format in services": set(),
    "wire names in services": set(),
    "compute mixins": set(),
}
# Names only the APIs' wire formats use: Neutron's attributes ("router:external", "binding:host_id",
# "provider:network_type", "tenant_id") and Glance's paths and headers ("/v2/images",
# "X-OpenStack-Image-Size"). The services below speak domain names; api/ renders and parses these.
WIRE_NAMES = ("router:", "binding:", "provider:", "tenant_id", "/v2/", "x-openstack-")
WIRE_CLEAN = ("network", "image")


@functools.cache
def modules(root: Path = SRC) -> list[tuple[str, ast.Module, str]]:
    """Every module under ``root`` (migrations aside): its path, syntax tree and text."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if "/migrations/" not in rel:
            text = path.read_text()
            out.append((rel, ast.parse(text), text))
    return out


def runtime_imports(tree: ast.Module) -> list[str]:
    """The caas modules imported, outside ``if TYPE_CHECKING:`` blocks (names for types only)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("caas"):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.startswith("caas"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def top(rel_or_module: str) -> str:
    parts = rel_or_module.replace("/", ".").split(".")
    if parts[0] == "caas":
        parts = parts[1:]
    return parts[0] if parts else "caas"


def upward_imports(root: Path = SRC) -> set[str]:
    bad = set()
    for rel, tree, _ in modules(root):
        if rel in REGISTRIES or top(rel) not in RANK:
            continue
        for module in runtime_imports(tree):
            target = top(module)
            if target in RANK and RANK[target] > RANK[top(rel)]:
                bad.add(f"{rel} -> caas.{target}")
    return bad


def long_modules(root: Path = SRC) -> set[str]:
    return {rel for rel, _, text in modules(root) if text.count("\n") > 600}


def long_functions(root: Path = SRC) -> set[str]:
    bad = set()
    for rel, tree, _ in modules(root):
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                bad.add(f"{rel}:{node.name}")
    return bad


def wire_format_in_services(root: Path = SRC) -> set[str]:
    """Service modules with a function that takes a microversion, or text that builds a link
    (``href``, ``base_url``): the API layer's business."""
    bad = set()
    for rel, tree, _ in modules(root):
        if top(rel) not in SERVICES:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if any(takes_wire(a, top(rel)) for a in node.args.args + node.args.kwonlyargs):
                    bad.add(rel)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ("href", "bookmark"):
                bad.add(rel)
    return bad


def compute_mixins(root: Path = SRC) -> set[str]:
    """Compute's classes that are, or are made of, mixins: a class named ``*Mixin``, one with
    more than one base, or a base named ``*Mixin``. Compute's services are composed (each
    given its dependencies in its constructor), not assembled from mixins sharing state."""
    bad = set()
    for rel, tree, _ in modules(root):
        if top(rel) != "compute":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
                if node.name.endswith("Mixin") or len(bases) > 1 or any(b.endswith("Mixin") for b in bases):
                    bad.add(f"{rel}:{node.name}")
    return bad


def takes_wire(arg: ast.arg, package: str) -> bool:
    """A parameter that is a microversion, a base URL or the legacy-prefix flag. ``version``
    counts in the cloud services (the API's), unless annotated ``int`` (an IP version); a
    cluster profile's version and the guest's IP versions are domain data."""
    if arg.arg in ("microversion", "mv", "base_url", "legacy"):
        return True
    ip_version = isinstance(arg.annotation, ast.Name) and arg.annotation.id == "int"
    return arg.arg == "version" and package in ("identity", "image", "network", "volume", "compute") and not ip_version


def docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstring nodes of a module and its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def wire_names_in_services(root: Path = SRC) -> set[str]:
    """Modules of ``WIRE_CLEAN`` with a string (docstrings aside: they may say what the API
    calls a thing) that holds one of ``WIRE_NAMES``."""
    bad = set()
    for rel, tree, _ in modules(root):
        if top(rel) not in WIRE_CLEAN:
            continue
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                    and any(name in node.value.lower() for name in WIRE_NAMES)):
                bad.add(rel)
    return bad


CHECKS = {"upward imports": upward_imports, "long modules": long_modules, "long functions": long_functions,
          "wire format in services": wire_format_in_services, "wire names in services": wire_names_in_services,
          "compute mixins": compute_mixins}


@pytest.mark.parametrize("rule", list(CHECKS))
def test_the_architecture_holds_but_for_known_debts(rule):
    found = CHECKS[rule]()
    assert found - DEBT[rule] == set(), f"new {rule} (see DESIGN.md)"
    assert DEBT[rule] - found == set(), f"fixed {rule}: take them off DEBT in {__file__}"


def test_no_service_imports_the_http_edge():
    for rel, tree, _ in modules():
        if top(rel) in SERVICES or top(rel) in LAYERS[0] or top(rel) == "db":
            assert not [m for m in runtime_imports(tree) if top(m) in ("api", "dashboard", "cli", "server")], rel


def test_the_checks_can_fail(tmp_path):
    """Each rule catches what it is for, on a made-up source tree."""
    (tmp_path / "virt").mkdir()
    (tmp_path / "compute").mkdir()
    (tmp_path / "virt" / "d.py").write_text(
        "from caas.compute.models import Server\nif TYPE_CHECKING:\n    from caas.network import x\n")
    body = "".join(f"    x{i} = {i}\n" for i in range(61))
    (tmp_path / "compute" / "s.py").write_text(
        f"def view(row, version, base_url):\n    return {{'href': base_url}}\n\ndef long():\n{body}" + "#\n" * 540)
    (tmp_path / "compute" / "ok.py").write_text("def routes(cidr, version: int):\n    return version\n\n\n"
                                                "class Flavor(Base):\n    pass\n")
    (tmp_path / "compute" / "service.py").write_text(
        "class FlavorsMixin:\n    pass\n\n\nclass ComputeService(FlavorsMixin):\n    pass\n\n\n"
        "class Both(Flavors, Keypairs):\n    pass\n")
    (tmp_path / "network").mkdir()
    (tmp_path / "network" / "v.py").write_text(
        '"""Renders ``router:external``."""\ndef view(n):\n    return {"router:external": n.external}\n')
    (tmp_path / "network" / "ok.py").write_text('def view(n):\n    """As ``tenant_id``."""\n    return n.project_id\n')
    (tmp_path / "image").mkdir()
    (tmp_path / "image" / "h.py").write_text('SIZE = "X-OpenStack-Image-Size"\n')
    (tmp_path / "compute" / "q.py").write_text('KEYS = ("tenant_id",)\n')
    assert upward_imports(tmp_path) == {"virt/d.py -> caas.compute"}
    assert long_modules(tmp_path) == {"compute/s.py"}
    assert long_functions(tmp_path) == {"compute/s.py:long"}
    assert wire_format_in_services(tmp_path) == {"compute/s.py"}
    assert wire_names_in_services(tmp_path) == {"network/v.py", "image/h.py"}
    assert compute_mixins(tmp_path) == {"compute/service.py:FlavorsMixin", "compute/service.py:ComputeService",
                                        "compute/service.py:Both"}


def netns_imports(root: Path = SRC) -> set[str]:
    """Modules outside ``virt/netns`` that import it: only the driver protocol reaches a
    driver, so the two registries that name every driver or table are the only ones allowed,
    and the test hosts' tool (``scripts/testhost``), which makes its bridge and veths with the
    driver's kernel helpers (``network/links.py``) and never runs the driver."""
    allowed = {"virt/__init__.py", "testhost/hosts.py"} | REGISTRIES
    return {rel for rel, tree, _ in modules(root)
            if not rel.startswith("virt/netns/") and rel not in allowed
            and any(m == "caas.virt.netns" or m.startswith("caas.virt.netns.") for m in runtime_imports(tree))}


def test_only_the_driver_registry_imports_the_netns_driver(tmp_path):
    """``caas cleanup`` and start-up reach the netns driver through the protocol (``driver_for``,
    ``cleanup``, ``owned``); the check catches an import of it elsewhere."""
    assert netns_imports() == set()
    (tmp_path / "virt" / "netns").mkdir(parents=True)
    (tmp_path / "virt" / "netns" / "driver.py").write_text("from caas.virt.netns.records import Records\n")
    (tmp_path / "server.py").write_text("def f():\n    from caas.virt.netns.driver import NetnsDriver\n")
    assert netns_imports(tmp_path) == {"server.py"}
