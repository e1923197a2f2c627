"""Fuzzing: no spec directory, however broken, makes `validate` raise, hang or balloon.

Hypothesis writes random YAML-ish text and bytes, random mutations of the
shipped examples, and valid documents with a field replaced by a random YAML
value into a spec directory, then runs `netwright validate` and the loader
directly. Every run must end in exit 0 or 2 (never an exception), and the
peak of Python allocations must stay under `PEAK_BYTES`. Derandomized and
without an example database, so CI runs the same examples every time, and
bounded to well under 30 seconds for the whole file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwright.cli import main
from netwright.validate.parsing import parse_documents
from netwright.validate.reading import read_directory
from netwright.validate.validating import validate_documents

PEAK_BYTES = 200 * 1024 * 1024
EXAMPLES = Path(__file__).parents[2] / "examples"
SEEDS = sorted(
    (path.read_text() for path in EXAMPLES.glob("*/*.yaml") if path.stat().st_size < 20_000),
    key=len,
)

FUZZ = settings(
    # A longer hunt: NETWRIGHT_FUZZ_EXAMPLES=2000 python3 -m pytest tests/unit/test_fuzz_spec_input.py
    max_examples=int(os.environ.get("NETWRIGHT_FUZZ_EXAMPLES", "50")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Characters that mean something to YAML, and a few that only libyaml's reader judges.
YAMLISH = st.sampled_from(
    [
        *"-:[]{}&*!|>'\"#%@`?,.\n \t0123456789abkv=~<",
        *("---\n", "...\n", "&a ", "*a", "<<: ", "? ", "\r\n", "\ufeff"),
        *("!!binary ", "!!set ", "!!int ", "!!float ", "!!timestamp ", "!!str ", "!!map "),
        *("!!seq ", "!!python/object "),
        *("\x00", "\x85", "\u2028", "é", "\U0001f600", "1e400", "99999999999999999999999"),
        *("apiVersion: netwright.io/v1alpha1\n", "kind: IPPool\n", "kind: Node\n"),
        *("apiVersion: v1\n", "metadata: {name: x}\n", "spec: ", "status: ", "2020-01-01"),
        *(".inf", ".nan", "0x1f"),
    ]
)
YAMLISH_TEXT = st.lists(YAMLISH, max_size=300).map("".join)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**200),
    st.integers(max_value=-(2**63) + 1, min_value=-(2**200)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=16),
    st.dates(),
    st.datetimes(timezones=st.just(dt.UTC)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), inner, max_size=4),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=20,
)


class _Dumper(yaml.SafeDumper):
    """Dumps sets as `!!set` and keeps keys in order, as a hand-written file would."""


_Dumper.add_representer(frozenset, lambda d, v: d.represent_set(set(v)))


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Build the CEL environment before hypothesis runs: cel-python raises the
    recursion limit once, which hypothesis would report as a test's doing."""
    with contextlib.redirect_stdout(io.StringIO()):
        for example in sorted(EXAMPLES.iterdir()):
            main(["validate", str(example)])


def _outcome(directory: str) -> int:
    """`netwright validate` on `directory`, its output swallowed; asserts the memory bound."""
    out, err = io.StringIO(), io.StringIO()
    tracemalloc.start()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["validate", directory])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"peak {peak} bytes"
    assert "Traceback" not in err.getvalue()
    return code


def _check(files: dict[str, bytes]) -> None:
    """Write `files` into a fresh spec directory and run the CLI and the loader on it."""
    os.environ["NETWRIGHT_NO_CACHE"] = "1"
    try:
        with tempfile.TemporaryDirectory(prefix="nw-fuzz-") as tmp:
            for name, data in files.items():
                (Path(tmp) / name).write_bytes(data)
            assert _outcome(tmp) in (0, 2)
            loaded, _ = read_directory(tmp)
            for f in loaded:
                documents, _ = parse_documents(f.text, f.file, f.relpath)
                validate_documents(documents)
    finally:
        del os.environ["NETWRIGHT_NO_CACHE"]


@FUZZ
@given(text=YAMLISH_TEXT)
def test_yamlish_text(text: str) -> None:
    _check({"a.yaml": text.encode("utf-8", "surrogatepass")})


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    _check({"a.yaml": data})


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        op = draw(st.sampled_from(["insert", "delete", "duplicate", "replace", "swap-lines"]))
        if op == "insert":
            text = text[:at] + draw(YAMLISH) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(min_value=1, max_value=40)) :]
        elif op == "duplicate":
            end = min(len(text), at + draw(st.integers(min_value=1, max_value=200)))
            text = text[:end] + text[at:end] + text[end:]
        elif op == "replace" and at < len(text):
            text = text[:at] + draw(YAMLISH) + text[at + 1 :]
        else:
            lines = text.splitlines(keepends=True)
            if len(lines) > 1:
                i = draw(st.integers(min_value=0, max_value=len(lines) - 2))
                lines[i], lines[i + 1] = lines[i + 1], lines[i]
                text = "".join(lines)
    return text


@FUZZ
@given(text=mutated_example())
def test_mutated_examples(text: str) -> None:
    _check({"a.yaml": text.encode("utf-8", "surrogatepass")})


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a document (keys and list indices)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


@st.composite
def example_with_a_random_value(draw: st.DrawFn) -> str:
    documents = [d for d in yaml.safe_load_all(draw(st.sampled_from(SEEDS))) if d]
    doc = draw(st.sampled_from(documents))
    path = draw(st.sampled_from(_paths(doc)[1:]))
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = draw(VALUES)
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False)


@FUZZ
@given(text=example_with_a_random_value())
def test_examples_with_random_values(text: str) -> None:
    _check({"a.yaml": text.encode()})
