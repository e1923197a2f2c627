"""The project's own documentation stays true where that is cheap to check.

docs/api.md is the reference a user reads instead of the code, so it must name every
field the CRDs define (in the section of that kind) and every subcommand and long option
the command line accepts; and every relative link and anchor in docs/*.md and README.md,
and every `docs/<page>.md#<anchor>` that the code and the tests cite, must lead
somewhere. What the prose says about a field is not checked here: that is for review.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from netwright.cli import build_parser

REPO = Path(__file__).parents[2]
DOCS = REPO / "docs"
API = DOCS / "api.md"
PAGES = sorted([*DOCS.glob("*.md"), REPO / "README.md"])

#: Fields whose inside is a standard Kubernetes type, described once under "Common types".
_OPAQUE = {"nodeSelector", "peerSelector", "routeReflectors"}
_ENVELOPE = {"apiVersion", "kind", "metadata"}


def _field_paths(schema: dict[str, Any], path: str = "") -> list[str]:
    """Every field path of an OpenAPI schema: `spec.vxlan.vni`, `spec.tunnels[].name`."""
    out: list[str] = []
    for name, sub in (schema.get("properties") or {}).items():
        if not path and name in _ENVELOPE:
            continue
        here = f"{path}.{name}" if path else name
        out.append(here)
        if name in _OPAQUE or here == "status.conditions":
            continue
        if sub.get("type") == "array":
            items = sub.get("items") or {}
            if items.get("properties"):
                out.extend(_field_paths(items, here + "[]"))
        else:
            out.extend(_field_paths(sub, here))
    return out


def _crds() -> list[tuple[str, list[str]]]:
    found = []
    for path in sorted((REPO / "crds").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        for version in doc["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            found.append((doc["spec"]["names"]["kind"], _field_paths(schema)))
    return found


def _section(text: str, heading: str) -> str:
    """The text under `## heading` up to the next `## ` heading ("" when there is none)."""
    match = re.search(
        rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL
    )
    return match.group(1) if match else ""


def test_the_crds_are_found() -> None:
    kinds = [kind for kind, _ in _crds()]
    assert {"Backend", "IPPool", "Network", "BGPPeer", "IPBlock", "NodeNetworkConfig"} <= set(kinds)


@pytest.mark.parametrize(("kind", "paths"), _crds(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_crd_field_is_in_its_kinds_section(kind: str, paths: list[str]) -> None:
    section = _section(API.read_text(), kind)
    assert section, f"docs/api.md has no section `## {kind}`"
    missing = [p for p in paths if f"`{p}`" not in section]
    assert not missing, f"docs/api.md, `## {kind}`, does not describe: {', '.join(missing)}"


def _commands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> list[tuple[str, argparse.ArgumentParser]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}".strip()
                out.append((full, sub))
                out.extend(_commands(sub, full))
    return out


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--")
    }


def test_every_subcommand_is_in_the_api_reference() -> None:
    text = API.read_text()
    commands = _commands(build_parser())
    assert {"validate", "apply", "lab up"} <= {name for name, _ in commands}
    missing = []
    for name, _ in commands:
        top_level = " " not in name
        if top_level and not re.search(rf"^### {re.escape(name)}\s*$", text, re.MULTILINE):
            missing.append(f"### {name}")
        if not top_level and f"`{name}`" not in text:
            missing.append(f"`{name}`")
    assert not missing, f"docs/api.md lacks: {', '.join(missing)}"


def test_every_long_option_is_in_the_api_reference() -> None:
    text = API.read_text()
    parser = build_parser()
    options = _long_options(parser)
    for _, sub in _commands(parser):
        options |= _long_options(sub)
    assert {"--node", "--wait-lock", "--kubeconfig"} <= options
    missing = sorted(o for o in options if not re.search(rf"`{re.escape(o)}(?![\w-])", text))
    assert not missing, f"docs/api.md does not name these options: {', '.join(missing)}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+?)\s*$", _prose(page.read_text()), re.MULTILINE):
        slug, n = _slug(heading), 0
        while (slug if n == 0 else f"{slug}-{n}") in found:
            n += 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def _prose(text: str) -> str:
    """The text without fenced code blocks, whose `#` lines are no headings."""
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_and_anchors_resolve(page: Path) -> None:
    broken = []
    for target in _LINK.findall(_prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(
                f"{target} (no {dest.relative_to(REPO) if REPO in dest.parents else dest})"
            )
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading with anchor #{anchor})")
    assert not broken, f"{page.relative_to(REPO)}: broken links: {'; '.join(broken)}"


#: Where the code, the tests and the deployables cite the docs.
_CITING = ("src", "tests", "crds", "operator", "collections", "playbooks", "molecule", "benchmarks")
_CITATION = re.compile(r"docs/([\w-]+\.md)#([\w-]+)")


def _citations() -> list[tuple[Path, str, str]]:
    found = []
    for top in _CITING:
        for path in (REPO / top).rglob("*"):
            if path.suffix not in {".py", ".yaml", ".yml", ".md", ".j2", ".cfg", ".toml", ""}:
                continue
            if not path.is_file() or "output" in path.relative_to(REPO).parts:
                continue
            for page, anchor in _CITATION.findall(path.read_text(errors="replace")):
                found.append((path, page, anchor))
    return found


def test_cited_doc_anchors_exist() -> None:
    broken = [
        f"{path.relative_to(REPO)}: docs/{page}#{anchor}"
        for path, page, anchor in _citations()
        if not (DOCS / page).is_file() or anchor not in _anchors(DOCS / page)
    ]
    assert not broken, "cited anchors that no heading has:\n" + "\n".join(broken)


_REPO_PATH = re.compile(
    r"`((?:src|tests|crds|operator|collections|playbooks|molecule|benchmarks|examples|scripts)"
    r"/[\w./-]*?)(?:::(\w+))?`"
)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_named_files_and_tests_exist(page: Path) -> None:
    """`src/...` paths and `tests/...py::test_name` that a page names are in the repository."""
    missing = []
    for path, test in _REPO_PATH.findall(page.read_text()):
        if "<" in path or "*" in path:
            continue
        where = REPO / path
        if not where.exists():
            missing.append(path)
        elif test and not re.search(
            rf"^\s*(?:async )?def {test}\(", where.read_text(), re.MULTILINE
        ):
            missing.append(f"{path}::{test}")
    assert not missing, f"{page.relative_to(REPO)} names what does not exist: {', '.join(missing)}"


def test_anchors_follow_github_slugs() -> None:
    """The slug rule this test relies on, on headings this project uses."""
    assert _slug("Node (v1)") == "node-v1"
    assert _slug("bridge-nf in new namespaces") == "bridge-nf-in-new-namespaces"
    assert _slug("IPv6 metric 0 is stored as 1024") == "ipv6-metric-0-is-stored-as-1024"
    assert _slug("Capabilities and runtimeConfig") == "capabilities-and-runtimeconfig"


#: Where nothing may cite the team's notes outside the repository (LAB-NOTES, API.md,
#: DESIGN.md, STYLE.md, "issue N", "gotcha N"): a reader of the repository has none of
#: them. Cite docs/api.md, docs/architecture.md or docs/troubleshooting.md#<anchor>.
_SELF_CONTAINED = (
    "README.md",
    "docs",
    "crds",
    "src/netwright",
    "operator",
    "playbooks",
    "molecule",
    "benchmarks",
    "tests",
    "collections/ansible_collections/netwright/fabric/README.md",
    "collections/ansible_collections/netwright/fabric/plugins",
    "collections/ansible_collections/netwright/fabric/roles",
)
_OUTSIDE = re.compile(r"LAB-NOTES|\b(?:API|DESIGN|STYLE)\.md\b|\bgotchas? \d|\bissue \d")


def test_nothing_cites_notes_outside_the_repository() -> None:
    found = []
    for top in _SELF_CONTAINED:
        root = REPO / top
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path == Path(__file__) or "__pycache__" in path.parts:
                continue
            if path.is_file() and path.suffix in {".py", ".md", ".yaml", ".yml", ".j2", ""}:
                for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                    if _OUTSIDE.search(line):
                        found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not found, "cites what is not in the repository:\n" + "\n".join(found)
