"""The API server and `netwright validate` agree on every single-document case.

Every document that the validate suites (`tests/unit/test_validate_rejects.py`,
`test_crd_schema.py`, `test_cel_rules.py`, `test_validate_unsafe.py`) check against a
CRD is recorded by running those suites with a recording plugin (`_collect_documents`),
so a case added there is covered here without a second table. Each distinct document
is sent to the real API server as a server-side dry-run create with strict field
validation, and checked by netwright on its own: schema, CEL rules and the
single-document checks of building the model (cross-object checks need the other
documents and are left out, as docs/api.md allows). Both must accept it, or both refuse it
naming the same fields.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _apiserver import ApiError, Client

from netwright.validate import validating
from netwright.validate._schema import CrdSchemas
from netwright.validate.bounds import AliasBudget
from netwright.validate.parsing import parse_documents

if TYPE_CHECKING:
    from collections.abc import Iterable

REPO = Path(__file__).parents[2]
SUITES = (
    "tests/unit/test_validate_rejects.py",
    "tests/unit/test_crd_schema.py",
    "tests/unit/test_cel_rules.py",
    "tests/unit/test_validate_unsafe.py",
)
PLURALS = {
    "Backend": "backends",
    "IPPool": "ippools",
    "Network": "networks",
    "BGPPeer": "bgppeers",
    "IPBlock": "ipblocks",
    "NodeNetworkConfig": "nodenetworkconfigs",
}
GROUP_VERSION = "netwright.io/v1alpha1"
#: At most this many distinct documents from one unit test.
PER_TEST = 50
#: The unit test of each CEL rule, case by case: their messages are compared too.
CEL_CASE = "test_cel_rules.py::test_rule["


@dataclass(frozen=True)
class Case:
    tests: tuple[str, ...]  # the unit tests that checked this document
    kind: str
    document: dict[str, Any]


def collect_cases(tmp: Path) -> tuple[list[Case], int]:
    """Run the validate suites with the recording plugin: their distinct documents."""
    out = tmp / "documents.jsonl"
    env = {
        **os.environ,
        "NETWRIGHT_COLLECT_DOCUMENTS": str(out),
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "_collect_documents", "-o", "addopts=", *SUITES],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    by_document: dict[str, Case] = {}
    per_test: dict[str, int] = {}
    skipped = 0
    for line in out.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row.get("skipped"):
            skipped += 1
            continue
        document = row["document"]
        if document.get("apiVersion") != GROUP_VERSION or document.get("kind") != row["kind"]:
            skipped += 1  # the envelope itself is the case: the server routes by it
            continue
        key = json.dumps(document, sort_keys=True)
        seen = by_document.get(key)
        if seen is None:
            # A test of speed validates thousands of alike documents: a sample is enough.
            per_test[row["test"]] = per_test.get(row["test"], 0) + 1
            if per_test[row["test"]] > PER_TEST:
                continue
        tests = (*seen.tests, row["test"]) if seen else (row["test"],)
        by_document[key] = Case(tests, row["kind"], document)
    return list(by_document.values()), skipped


# -- netwright's verdict ----------------------------------------------------------------------


def netwright_verdict(schemas: CrdSchemas, document: dict[str, Any]) -> dict[str, list[str]]:
    """field -> messages netwright gives one document on its own (schema, CEL, building)."""
    docs, problems = parse_documents(json.dumps(document), "case.yaml", "case.yaml", AliasBudget())
    assert not problems, problems
    verdict: dict[str, list[str]] = {}
    for issue in validating._collect(docs, schemas).issues:
        verdict.setdefault(normalise(issue.path), []).append(issue.message)
    return verdict


# -- the API server's verdict -------------------------------------------------------------


_UNKNOWN = re.compile(r'unknown field "([^"]+)"')
_DUPLICATE = re.compile(r'duplicate field "([^"]+)"')
# A value Go cannot decode into metadata at all (`labels: {rack: 1}`): a 400 naming the field.
_OBJECT_META = re.compile(r"Go struct field ObjectMeta\.(\w+)")


_KEY = re.compile(r"\[([^\]]*[^\]0-9][^\]]*)\]")


def normalise(path: str) -> str:
    """netwright's `spec.matchLabels[rack]` and the server's `spec.matchLabels.rack`
    compared alike: map keys as `.key`, list indices as `[0]`."""
    return _KEY.sub(r".\1", path).strip(".")


def covered(theirs: str, ours: Iterable[str]) -> bool:
    """The server's field is one netwright names, or contains one (the server names a
    whole map, `metadata.labels`, where netwright names the key)."""
    return any(o == theirs or o.startswith((theirs + ".", theirs + "[")) for o in ours)


STRICT_DRY_RUN = {"dryRun": "All", "fieldValidation": "Strict"}


def server_verdict(api: Client, kind: str, document: dict[str, Any]) -> dict[str, list[str]]:
    """field -> messages when the server refuses a dry-run create; {} when it accepts.

    A create ignores `status` (the status subresource is on), so a document with one is
    created for real without it, its status sent as a dry-run update of `/status`, and
    the object deleted again.
    """
    collection = f"/apis/netwright.io/v1alpha1/{PLURALS[kind]}"
    try:
        api.post(collection, document, query=STRICT_DRY_RUN)
    except ApiError as exc:
        return error_fields(exc)
    if "status" not in document:
        return {}
    created = api.post(collection, {k: v for k, v in document.items() if k != "status"})
    name = created["metadata"]["name"]
    try:
        api.put(f"{collection}/{name}/status", {**created, "status": document["status"]},
                query=STRICT_DRY_RUN)  # fmt: skip
    except ApiError as exc:
        return error_fields(exc)
    finally:
        api.delete(f"{collection}/{name}")
    return {}


def error_fields(exc: ApiError) -> dict[str, list[str]]:
    body = exc.body
    if exc.code not in (400, 422):
        raise exc
    verdict: dict[str, list[str]] = {}
    for cause in (body.get("details") or {}).get("causes") or []:
        # With schema errors the server skips the CEL rules and says so in a cause of its
        # own (field `<nil>`); netwright evaluates them anyway and reports what they find.
        if cause.get("field") not in (None, "", "<nil>"):
            verdict.setdefault(normalise(cause["field"]), []).append(str(cause.get("message")))
    if verdict:
        return verdict
    message = str(body.get("message", ""))
    fields = _UNKNOWN.findall(message) + _DUPLICATE.findall(message)
    fields += [f"metadata.{f[0].lower()}{f[1:]}" for f in _OBJECT_META.findall(message)]
    return {normalise(f): [message] for f in fields} or {f"<unparsed: {message}>": [message]}


# -- the test ---------------------------------------------------------------------------------


#: Where netwright refuses a document the API server accepts, on purpose; each with why.
KNOWN_DIFFERENCES = {
    ("IPBlock", "metadata.name"): (
        "an IPBlock's name derives from its pool and CIDR (docs/api.md#ipblock); the CEL rule for it "
        "(three replace() calls) costs cel-python about 0.7 ms per block, 100 times the "
        "budget of validating 10,000 blocks (test_ipblock_validation_is_fast), so only "
        "netwright's model builder checks it; the controller writes only derived names"
    ),
    ("IPBlock", "spec.cidr"): (
        "for the same reason an IPBlock's cidr has no CEL rule against leading zeros in its "
        "IPv4 parts (`010.0.0.0/24`, which Kubernetes' cidr format reads as decimal): only "
        "netwright's model builder refuses them"
    ),
}


def agree(kind: str, ours: list[str], theirs: list[str]) -> bool:
    """Both accept, or both refuse and every field the server names netwright names too.

    netwright may name more: the server stops early (strict decoding refuses unknown
    fields before the schema is checked, and schema errors skip the CEL rules), while
    netwright reports every problem at once.
    """
    if not theirs:
        return all((kind, f) in KNOWN_DIFFERENCES for f in ours)
    if not ours:
        return False
    return all(covered(t, ours) for t in theirs)


def test_server_and_validate_agree_on_every_single_document_case(
    api: Client, installed_crds: dict[str, Any], tmp_path: Path
) -> None:
    cases, skipped = collect_cases(tmp_path)
    schemas = CrdSchemas.from_directory(REPO / "crds")
    ours = {id(case): netwright_verdict(schemas, case.document) for case in cases}

    plain = [c for c in cases if "status" not in c.document]
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = pool.map(lambda c: server_verdict(api, c.kind, c.document), plain)
        theirs = dict(zip(map(id, plain), found, strict=True))
    for case in cases:  # one at a time: these create and delete real objects
        if id(case) not in theirs:
            theirs[id(case)] = server_verdict(api, case.kind, case.document)

    disagreements = []
    refused = more = same_words = 0
    for case in cases:
        mine, server = ours[id(case)], theirs[id(case)]
        refused += bool(server)
        more += bool(server) and set(mine) != set(server)
        if not agree(case.kind, sorted(mine), sorted(server)):
            disagreements.append(
                f"{case.tests[0]} ({len(case.tests)} tests): {case.kind} "
                f"{json.dumps(case.document)[:400]}\n"
                f"    netwright: {sorted(mine) or 'accepts'}\n"
                f"    server:    {sorted(server) or 'accepts'}"
            )
        elif any(CEL_CASE in t for t in case.tests) and server:
            # A CEL rule's message (messageExpression included) is the server's, word
            # for word: the library functions _cel.py implements format it alike.
            for field, messages in server.items():
                for message in mine[field]:
                    if not any(message in m for m in messages):
                        disagreements.append(
                            f"{case.tests[0]}: {field}: netwright says {message!r}, "
                            f"the server {messages}"
                        )
                    same_words += 1
    print(
        f"\n{len(cases)} distinct documents from {len(SUITES)} suites: {refused} refused by "
        f"both ({more} where netwright names more fields; {same_words} CEL messages "
        f"compared word for word), {len(cases) - refused} accepted, {skipped} not sendable"
    )
    assert len(cases) > 150, "the validate suites' documents were not all recorded"
    assert {s for c in cases for t in c.tests for s in SUITES if t.startswith(s)} == set(SUITES)
    assert same_words > 30, "the CEL rules' cases were not all recorded"
    assert not disagreements, f"{len(disagreements)} disagreements:\n" + "\n".join(disagreements)
