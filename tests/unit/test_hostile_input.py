"""A spec directory is untrusted input: every hostile input is one problem line, exit 2.

Each test covers one class of hostile input (a file too large, an alias bomb, a FIFO,
a symlink out of the directory, ...: docs/api.md#spec-directory) and asserts the exact
exit code and the exact problem lines, in the format of docs/api.md#error-format. None
may raise, hang, crash the interpreter or read without bound.
"""

from __future__ import annotations

import errno
import os
import stat
import textwrap
from typing import TYPE_CHECKING, Any

import pytest

from netwright.cli import main
from netwright.validate import parsing, reading

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

BACKEND = textwrap.dedent(
    """\
    apiVersion: netwright.io/v1alpha1
    kind: Backend
    metadata: {name: overlay}
    spec:
      type: vxlan
      vxlan: {vni: VALUE}
    """
)
BGP_BACKEND = textwrap.dedent(
    """\
    apiVersion: netwright.io/v1alpha1
    kind: Backend
    metadata: {name: mesh}
    spec:
      type: bgp
      bgp: {asNumber: VALUE}
    """
)
NETWORK = textwrap.dedent(
    """\
    apiVersion: netwright.io/v1alpha1
    kind: Network
    metadata: {name: podnet}
    spec:
      type: bridge
      ipPools: [pods]
      plugins: [{type: portmap, extra: VALUE}]
    ---
    apiVersion: netwright.io/v1alpha1
    kind: Backend
    metadata: {name: overlay}
    spec: {type: vxlan}
    ---
    apiVersion: netwright.io/v1alpha1
    kind: IPPool
    metadata: {name: pods}
    spec: {cidr: 10.244.0.0/16, backend: overlay}
    """
)
NODE = textwrap.dedent(
    """\
    apiVersion: v1
    kind: Node
    metadata:
      name: n1
      labels: {rack: a}
    status:
      addresses: [{type: InternalIP, address: 172.31.255.11}]
    """
)
SECRET = textwrap.dedent(
    """\
    apiVersion: v1
    kind: Secret
    metadata: {name: bgp-secrets, namespace: kube-system}
    stringData: {tor-a: hunter2}
    """
)
POOL = textwrap.dedent(
    """\
    apiVersion: netwright.io/v1alpha1
    kind: IPPool
    metadata: {name: pods}
    spec:
      cidr: 10.244.0.0/16
      backend: overlay
    """
)


def validate(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """Exit code and problem lines (paths relative to `root`, the summary line dropped)."""
    code = main(["validate", str(root)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = [line.replace(str(root) + "/", "") for line in err.splitlines()]
    assert lines, out
    assert lines[-1].endswith("nothing was applied"), lines
    return code, lines[:-1]


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- numbers and values a field's type cannot hold ---------------------------------------------

TYPE_CASES = [
    (
        "vni-beyond-64-bits",
        BACKEND.replace("VALUE", "99999999999999999999999"),
        (
            "a.yaml:6: Backend/overlay: spec.vxlan.vni: "
            "99999999999999999999999 is larger than 16777215, the maximum"
        ),
    ),
    (
        "asn-2-to-the-64",
        BGP_BACKEND.replace("VALUE", "18446744073709551616"),
        (
            "a.yaml:6: Backend/mesh: spec.bgp.asNumber: "
            "18446744073709551616 is larger than 4294967295, the maximum"
        ),
    ),
    (
        "asn-below-int64",
        BGP_BACKEND.replace("VALUE", "-9223372036854775809"),
        (
            "a.yaml:6: Backend/mesh: spec.bgp.asNumber: "
            "-9223372036854775809 is smaller than 1, the minimum"
        ),
    ),
    (
        "asn-infinite-float",
        BGP_BACKEND.replace("VALUE", "1.0e+400"),
        "a.yaml:6: Backend/mesh: spec.bgp.asNumber: expected an integer, got the number inf",
    ),
    (
        "integral-float-beyond-64-bits",
        BACKEND.replace("VALUE", "1.0e+20"),
        (
            "a.yaml:6: Backend/overlay: spec.vxlan.vni: "
            "100000000000000000000 is larger than 16777215, the maximum"
        ),
    ),
    (
        "timestamp",
        BACKEND.replace("VALUE", "2020-01-01"),
        "a.yaml:6: Backend/overlay: spec.vxlan.vni: expected an integer, got the date 2020-01-01",
    ),
    (
        "binary",
        BACKEND.replace("VALUE", "!!binary aGVsbG8="),
        "a.yaml:6: Backend/overlay: spec.vxlan.vni: expected an integer, got binary data (!!binary)",
    ),
    (
        "set",
        BACKEND.replace("{vni: VALUE}", "\n    vni: !!set {a, b}"),
        "a.yaml:7: Backend/overlay: spec.vxlan.vni: expected an integer, got a set (!!set)",
    ),
    (
        "float-for-int",
        BACKEND.replace("VALUE", "1.5"),
        "a.yaml:6: Backend/overlay: spec.vxlan.vni: expected an integer, got the number 1.5",
    ),
    (
        "preserved-field-beyond-64-bits",
        NETWORK.replace("VALUE", "99999999999999999999999"),
        (
            "a.yaml:7: Network/podnet: spec.plugins[0].extra: 99999999999999999999999 does not fit "
            "in a 64-bit integer (-9223372036854775808 to 9223372036854775807)"
        ),
    ),
    (
        "preserved-field-binary",
        NETWORK.replace("VALUE", "!!binary aGVsbG8="),
        (
            "a.yaml:7: Network/podnet: spec.plugins[0].extra: expected a JSON value (a string, "
            "number, boolean, null, list or map), got binary data (!!binary)"
        ),
    ),
    (
        "preserved-field-infinity",
        NETWORK.replace("VALUE", ".inf"),
        (
            "a.yaml:7: Network/podnet: spec.plugins[0].extra: "
            "inf is not a JSON number; infinity and NaN cannot be stored"
        ),
    ),
    (
        "integer-of-5000-digits",
        BACKEND.replace("VALUE", "1" + "0" * 5000),
        (
            "a.yaml:6: not valid YAML: an integer of 5001 characters; "
            "netwright reads integers of at most 1000 characters"
        ),
    ),
    (
        "base-60-integer-quadratic-to-convert",
        BACKEND.replace("VALUE", "1" + ":1" * 200_000),
        (
            "a.yaml:6: not valid YAML: an integer of 400001 characters; "
            "netwright reads integers of at most 1000 characters"
        ),
    ),
]


@pytest.mark.parametrize(
    ("text", "expect"), [c[1:] for c in TYPE_CASES], ids=[c[0] for c in TYPE_CASES]
)
def test_values_beyond_the_field_type(
    text: str, expect: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "a.yaml", text)
    assert validate(tmp_path, capsys) == (2, [expect])


# --- alias expansion and nesting depth ----------------------------------------------------------


def billion_laughs() -> str:
    lines = [
        "apiVersion: netwright.io/v1alpha1",
        "kind: Backend",
        "metadata: {name: lol}",
        'spec: {type: vxlan, a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    lines += [f"  , a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join([*lines, "  }", ""])


ALIAS_CASES = [
    (
        "billion-laughs",
        billion_laughs(),
        (
            "a.yaml:1: Backend/lol: aliases expand this document by more than 100000 nodes "
            "(to 3977113478); netwright lets aliases add at most 100000 nodes to a spec "
            'directory\'s documents in all (a "billion laughs")'
        ),
    ),
    (
        "recursive-alias",
        BACKEND.replace("{vni: VALUE}", "&v {vni: 1, again: *v}"),
        (
            "a.yaml:1: Backend/overlay: "
            "an alias refers to a collection that contains it (a recursive alias)"
        ),
    ),
    (
        "alias-chain-too-deep",
        "a0: &a0 [[[[[[[[[[x]]]]]]]]]]\n"
        + "".join(f"a{i}: &a{i} [[[[[[[[[[*a{i - 1}]]]]]]]]]]\n" for i in range(1, 12)),
        (
            "a.yaml:1: collections nest more than 100 levels deep; "
            "netwright reads documents nested at most 100 levels"
        ),
    ),
    (
        "100000-flow-sequences",
        "[" * 100_000,
        (
            "a.yaml:1: collections nest more than 100 levels deep; "
            "netwright reads documents nested at most 100 levels"
        ),
    ),
    (
        "a-scalar-that-looks-like-a-document-marker",  # `---x` ends no document
        "\n---x,\n".join(["[" * 60] * 4) + "\n" + "]" * 240,
        (
            "a.yaml:3: collections nest more than 100 levels deep; "
            "netwright reads documents nested at most 100 levels"
        ),
    ),
    (
        "100000-flow-maps",
        "{a: " * 50_000 + "1" + "}" * 50_000,
        (
            "a.yaml:1: collections nest more than 100 levels deep; "
            "netwright reads documents nested at most 100 levels"
        ),
    ),
    (
        "compact-block-sequences",
        "- " * 30_000 + "x\n",
        (
            "a.yaml:1: collections nest more than 100 levels deep; "
            "netwright reads documents nested at most 100 levels"
        ),
    ),
    (
        "indented-block-maps",
        "".join(" " * i + f"k{i}:\n" for i in range(300)),
        (
            "a.yaml:101: collections nest more than 100 levels deep; "
            "netwright reads documents nested at most 100 levels"
        ),
    ),
]


@pytest.mark.parametrize(
    ("text", "expect"), [c[1:] for c in ALIAS_CASES], ids=[c[0] for c in ALIAS_CASES]
)
def test_alias_expansion_and_nesting_are_bounded(
    text: str, expect: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "a.yaml", text)
    assert validate(tmp_path, capsys) == (2, [expect])


def test_nesting_at_the_limit_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = "[" * 96 + "]" * 96  # inside the document, spec, plugins and a plugin: 100 levels
    write(tmp_path, "a.yaml", NETWORK.replace("VALUE", deep))
    write(tmp_path, "b.yaml", "x: " + "[" * 100 + "]" * 100 + "\n")
    code, lines = validate(tmp_path, capsys)
    assert (code, lines) == (
        2,
        [
            (
                "b.yaml:1: collections nest more than 100 levels deep; "
                "netwright reads documents nested at most 100 levels"
            )
        ],
    )


# --- file size ----------------------------------------------------------------------------------


def test_a_file_beyond_the_size_cap_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as stream:  # sparse: nothing is written, nothing must be read
        stream.truncate(reading.MAX_FILE_BYTES + 1)
    write(tmp_path, "ok.yaml", NODE)
    assert validate(tmp_path, capsys) == (
        2,
        [
            (
                "big.yaml: is larger than 16 MiB, the largest spec file netwright reads; "
                "split it into several files"
            )
        ],
    )


def test_the_directory_as_a_whole_has_a_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "MAX_TOTAL_BYTES", 2 * len(NODE))
    for i, name in enumerate("abc"):
        write(tmp_path, f"{name}.yaml", NODE.replace("n1", name).replace(".11", f".{i + 1}"))
    assert validate(tmp_path, capsys) == (
        2,
        ["c.yaml: is beyond the 64 MiB of YAML netwright reads from a spec directory in all"],
    )


def test_the_directory_has_a_node_budget_counted_before_parsing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 MB of one-digit scalars would compose into 4 million nodes (about 1.3 GB): refused
    from its punctuation, never parsed."""

    def never(*_args: Any) -> None:
        raise AssertionError("parsed a file over the node budget")

    write(tmp_path, "flat.yaml", "[" + "1," * 4_000_000 + "1]\n")
    monkeypatch.setattr(parsing, "parse_documents", never)
    assert validate(tmp_path, capsys) == (
        2,
        [
            (
                "flat.yaml: holds more YAML nodes than netwright reads from a spec directory in"
                " all (4,000,000, together with the files read before it); split the spec, or"
                " remove what netwright does not read"
            )
        ],
    )


def test_aliases_share_one_budget_across_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Many documents, each well under the limit alone, cannot add up to a billion laughs."""
    aliases = ", ".join(["*a"] * 100)
    doc = f"a: &a [{', '.join(['x'] * 100)}]\nb: [{aliases}]\n"
    write(tmp_path, "a.yaml", "---\n".join([doc] * 12))
    code, lines = validate(tmp_path, capsys)
    assert code == 2
    # Each document adds 10,100: nine fit in the budget, the tenth to twelfth do not.
    assert [line.split(":")[1] for line in lines] == ["28", "31", "34"], lines
    tail = (
        "; netwright lets aliases add at most 100000 nodes to a spec directory's documents"
        ' in all (a "billion laughs")'
    )
    assert lines == [
        f"a.yaml:{n}: aliases expand this document by more than 9100 nodes (to 10205){tail}"
        for n in (28, 31, 34)
    ]


def test_the_reader_never_reads_past_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose size grows after it was checked (or lies, as in /proc) is read to cap+1."""
    path = tmp_path / "grows.yaml"
    path.write_bytes(b"# " + b"x" * (reading.MAX_FILE_BYTES + 100))
    real_fstat = os.fstat

    def lying_fstat(fd: int) -> Any:
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, *st[1:6], 10, *st[7:]))

    monkeypatch.setattr(os, "fstat", lying_fstat)
    text, problem = reading.read_spec_file(str(path))
    assert text is None
    assert problem is not None
    assert problem.startswith("is larger than 16 MiB")


def test_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yaml").write_bytes(b"kind: \xff\n")
    assert validate(tmp_path, capsys) == (
        2,
        ["a.yaml: is not UTF-8 text (byte 0xff at offset 6); spec files are UTF-8 YAML"],
    )


# --- paths that are not regular files, unreadable paths, symlinks -------------------------------


def test_a_fifo_is_reported_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")  # opened for reading, it would block forever
    os.symlink("pipe.yaml", tmp_path / "via-link.yaml")
    os.mkfifo(tmp_path / "not-a-spec")  # not *.yaml: no concern
    assert validate(tmp_path, capsys) == (
        2,
        [
            "pipe.yaml: is a FIFO, not a regular file; netwright reads only regular files",
            "via-link.yaml: is a FIFO, not a regular file; netwright reads only regular files",
        ],
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may create a device node")
def test_a_device_is_reported_unopened(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mknod(tmp_path / "zero.yaml", stat.S_IFCHR | 0o644, os.makedev(1, 5))
    assert validate(tmp_path, capsys) == (
        2,
        [
            (
                "zero.yaml: is a character device, not a regular file; "
                "netwright reads only regular files"
            )
        ],
    )


def test_symlinks_leaving_the_directory_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec"
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside, "nodes.yaml", NODE)
    write(
        spec,
        "pools.yaml",
        POOL.replace("backend: overlay", "backend: overlay").replace("pods", "p"),
    )
    os.symlink(outside / "nodes.yaml", spec / "nodes.yaml")
    os.symlink("../outside", spec / "more")
    os.symlink("/dev/zero", spec / "zero.yaml")
    os.symlink("pools.yaml", spec / "same.yml")  # inside: read (and so defined twice)
    code, lines = validate(spec, capsys)
    leaves = (
        "is a symlink that leads out of the spec directory; netwright reads only files "
        "inside it and does not follow such links"
    )
    assert code == 2
    assert lines == [
        f"more: {leaves}",
        f"nodes.yaml: {leaves}",
        f"zero.yaml: {leaves}",
        "pools.yaml:6: IPPool/p: spec.backend: Backend/overlay does not exist; defined: none",
        "same.yml:3: IPPool/p: metadata.name: IPPool/p is defined twice; first at pools.yaml:1",
    ]


def test_directory_symlinks_and_loops_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "sub/nodes.yaml", NODE)
    os.symlink("sub", tmp_path / "again")
    os.symlink(".", tmp_path / "sub" / "self")
    os.symlink("loop.yaml", tmp_path / "loop.yaml")
    os.symlink("nowhere.yaml", tmp_path / "dangling.yaml")
    directory = (
        "is a symlink to a directory; netwright does not follow directory symlinks "
        "(the files they lead to are read where they are)"
    )
    assert validate(tmp_path, capsys) == (
        2,
        [
            f"again: {directory}",
            "dangling.yaml: cannot read: No such file or directory",
            "loop.yaml: cannot read: Too many levels of symbolic links",
            f"sub/self: {directory}",
        ],
    )


def _denied(real: Callable[..., Any], target: str) -> Callable[..., Any]:
    def call(path: Any, *args: Any, **kwargs: Any) -> Any:
        if os.fspath(path) == target:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), target)
        return real(path, *args, **kwargs)

    return call


def test_unreadable_directories_and_files_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "locked/nodes.yaml", NODE)
    write(tmp_path, "secret.yaml", SECRET)
    (tmp_path / "locked").chmod(0)
    (tmp_path / "secret.yaml").chmod(0)
    if os.geteuid() == 0:  # root reads anyway: say what the kernel says to anyone else
        monkeypatch.setattr(os, "scandir", _denied(os.scandir, str(tmp_path / "locked")))
        monkeypatch.setattr(os, "open", _denied(os.open, str(tmp_path / "secret.yaml")))
    try:
        assert validate(tmp_path, capsys) == (
            2,
            [  # a directory's files first, then its subdirectories, as os.walk
                "secret.yaml: cannot read: Permission denied",
                "locked: cannot read: Permission denied",
            ],
        )
    finally:
        (tmp_path / "locked").chmod(0o755)


# --- duplicate keys -----------------------------------------------------------------------------


def test_duplicate_keys_are_refused_where_netwright_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path,
        "a.yaml",
        POOL.replace("  backend: overlay\n", "  backend: overlay\n  cidr: 10.250.0.0/16\n"),
    )
    write(
        tmp_path, "b.yaml", NODE.replace("  labels: {rack: a}\n", "  labels: {rack: a, rack: b}\n")
    )
    # Another API group's document is not netwright's to judge.
    write(tmp_path, "c.yaml", "apiVersion: apps/v1\nkind: Deployment\nspec: 1\nspec: 2\n")
    dup = "a key may appear only once in a map (the Kubernetes API refuses duplicates)"
    assert validate(tmp_path, capsys) == (
        2,
        [
            f"a.yaml:7: IPPool/pods: spec.cidr: duplicate key (first at line 5); {dup}",
            f"b.yaml:5: Node/n1: metadata.labels.rack: duplicate key (first at line 5); {dup}",
        ],
    )


def test_merge_keys_may_be_overridden(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path,
        "a.yaml",
        NODE.replace("  labels: {rack: a}\n", "  labels: {<<: {rack: b, os: linux}, rack: a}\n"),
    )
    assert main(["validate", str(tmp_path)]) == 0, capsys.readouterr().err


# --- envelopes, shapes and names ----------------------------------------------------------------

SHAPE_CASES = [
    (
        "netwright-kind-without-apiVersion",
        POOL.replace("apiVersion: netwright.io/v1alpha1\n", ""),
        [
            (
                "a.yaml:1: IPPool/pods: apiVersion: required field `apiVersion` is missing; "
                "kind IPPool is `netwright.io/v1alpha1`"
            )
        ],
    ),
    (
        "node-without-apiVersion",
        NODE.replace("apiVersion: v1\n", ""),
        [
            "a.yaml:1: Node/n1: apiVersion: required field `apiVersion` is missing; kind Node is `v1`"
        ],
    ),
    (
        "apiVersion-not-a-string",
        POOL.replace("apiVersion: netwright.io/v1alpha1", "apiVersion: [netwright.io/v1alpha1]"),
        [
            (
                "a.yaml:1: IPPool/pods: apiVersion: expected a string, got a list; "
                "kind IPPool is `netwright.io/v1alpha1`"
            )
        ],
    ),
    (
        "wrong-version",
        POOL.replace("v1alpha1", "v1beta9"),
        [
            (
                "a.yaml:1: IPPool/pods: apiVersion: netwright.io/v1beta9 is not served; "
                "netwright speaks netwright.io/v1alpha1"
            )
        ],
    ),
    (
        "node-status-not-a-map",
        NODE.replace(
            "status:\n  addresses: [{type: InternalIP, address: 172.31.255.11}]", "status: 5"
        ),
        ["a.yaml:6: Node/n1: status: expected a map, got the integer 5"],
    ),
    (
        "node-addresses-a-string",
        NODE.replace("[{type: InternalIP, address: 172.31.255.11}]", '"x"'),
        ["a.yaml:7: Node/n1: status.addresses: expected a list, got the string `x`"],
    ),
    (
        "node-address-an-integer",
        NODE.replace("address: 172.31.255.11", "address: 5"),
        [
            (
                "a.yaml:7: Node/n1: status.addresses[0].address: expected a string, got the integer 5; "
                "quote it in YAML to make it a string"
            )
        ],
    ),
    (
        "node-metadata-a-list",
        "apiVersion: v1\nkind: Node\nmetadata: [n1]\n",
        ["a.yaml:3: Node: metadata: expected a map, got a list"],
    ),
    (
        "node-labels-not-strings",
        NODE.replace("{rack: a}", "{rack: 1, zone: [a]}"),
        [
            (
                "a.yaml:5: Node/n1: metadata.labels[rack]: expected a string, got the integer 1; "
                "quote it in YAML to make it a string"
            ),
            "a.yaml:5: Node/n1: metadata.labels[zone]: expected a string, got a list",
        ],
    ),
    (
        "node-label-key-and-value",
        NODE.replace("{rack: a}", '{"a/b/c": x, rack: "two words"}'),
        [
            (
                "a.yaml:5: Node/n1: metadata.labels[a/b/c]: the prefix of `a/b/c` must be a "
                "lowercase DNS subdomain"
            ),
            (
                "a.yaml:5: Node/n1: metadata.labels[rack]: `two words` is not a valid label value: "
                "at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"
            ),
        ],
    ),
    (
        "node-name-uppercase",
        NODE.replace("name: n1", "name: Node_1"),
        [
            (
                "a.yaml:4: Node/Node_1: metadata.name: `Node_1` is not a valid name: a lowercase DNS "
                "subdomain of at most 253 characters (a-z, 0-9, `-` and `.`, starting and ending "
                "with a letter or digit)"
            )
        ],
    ),
    (
        "pool-name-too-long",
        POOL.replace("name: pods", "name: " + "a" * 254),
        [
            (
                f"a.yaml:3: IPPool/{'a' * 254}: metadata.name: "
                f"`{'a' * 60}...` (254 characters) is not a valid name: a lowercase DNS subdomain of "
                "at most 253 characters (a-z, 0-9, `-` and `.`, starting and ending with a letter "
                "or digit)"
            )
        ],
    ),
    (
        "name-with-a-line-break",
        POOL.replace("name: pods", 'name: "pods\\nspec: evil"'),
        [
            (
                "a.yaml:3: IPPool/pods\\nspec: evil: metadata.name: `pods\\nspec: evil` is not a "
                "valid name: a lowercase DNS subdomain of at most 253 characters (a-z, 0-9, `-` and "
                "`.`, starting and ending with a letter or digit)"
            )
        ],
    ),
    (
        "name-with-a-final-newline",
        NODE.replace("name: n1", 'name: "n1\\n"'),
        [
            (
                "a.yaml:4: Node/n1\\n: metadata.name: `n1\\n` is not a valid name: a lowercase DNS "
                "subdomain of at most 253 characters (a-z, 0-9, `-` and `.`, starting and ending "
                "with a letter or digit)"
            )
        ],
    ),
    (
        "secret-data-not-base64",
        SECRET.replace("stringData: {tor-a: hunter2}", 'data: {tor-a: "hunter2!"}'),
        ["a.yaml:4: Secret/bgp-secrets: data.tor-a: is not valid base64 of UTF-8 text"],
    ),
    (
        "secret-stringData-a-list",
        SECRET.replace("{tor-a: hunter2}", "[hunter2]"),
        ["a.yaml:4: Secret/bgp-secrets: stringData: expected a map, got a list"],
    ),
    (
        "secret-key-invalid",
        SECRET.replace("{tor-a: hunter2}", '{"tor a": hunter2}'),
        [
            (
                "a.yaml:4: Secret/bgp-secrets: stringData.tor a: 'tor a' is not a valid key: at most "
                "253 letters, digits, `-`, `_` or `.` (the Kubernetes API refuses others)"
            )
        ],
    ),
    (
        "secret-namespace-invalid",
        SECRET.replace("namespace: kube-system", "namespace: Kube_System"),
        [
            (
                "a.yaml:3: Secret/bgp-secrets: metadata.namespace: `Kube_System` is not a valid "
                "namespace: a lowercase DNS label of at most 63 characters (a-z, 0-9 and `-`, "
                "starting and ending with a letter or digit)"
            )
        ],
    ),
    (
        "secret-unknown-field",
        SECRET + "strngData: {}\n",
        [
            "a.yaml:5: Secret/bgp-secrets: strngData: unknown field `strngData`; did you mean `stringData`?"
        ],
    ),
    (
        "document-a-list",
        "- a\n- b\n",
        ["a.yaml:1: a document must be a mapping, not list"],
    ),
    (
        "document-a-scalar",
        "--- hello\n",
        ["a.yaml:1: a document must be a mapping, not str"],
    ),
    (
        "unknown-tag",
        "apiVersion: v1\nkind: Node\nmetadata: !python/object:os.system {name: n1}\n",
        [
            (
                "a.yaml:3: not valid YAML: could not determine a constructor for the tag "
                "'!python/object:os.system'"
            )
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expect"), [c[1:] for c in SHAPE_CASES], ids=[c[0] for c in SHAPE_CASES]
)
def test_envelopes_shapes_and_names(
    text: str, expect: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "a.yaml", text)
    assert validate(tmp_path, capsys) == (2, expect)


def test_an_invalid_date_is_a_string(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """2020-02-30 looks like a YAML timestamp and is none: it stays the string it is."""
    write(tmp_path, "a.yaml", BACKEND.replace("VALUE", "2020-02-30"))
    assert validate(tmp_path, capsys) == (
        2,
        [
            (
                "a.yaml:6: Backend/overlay: spec.vxlan.vni: expected an integer, got the string "
                "`2020-02-30`"
            )
        ],
    )


@pytest.mark.parametrize("command", ["allocate", "render", "plan"])
def test_every_command_that_loads_a_spec_refuses_the_same_way(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "a.yaml", "[" * 100_000)
    argv = [command, str(tmp_path)] + ([] if command == "allocate" else ["--node", "n1"])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{tmp_path}/a.yaml:1: collections nest more than 100 levels deep; "), err


def test_a_line_break_in_a_file_name_stays_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "evil\nname.yaml", "kind: [unclosed\n")
    write(tmp_path, "long.yaml", POOL.replace("name: pods", "name: " + "b" * 1000))
    code, lines = validate(tmp_path, capsys)
    assert code == 2
    assert lines[0] == "evil\\nname.yaml:2: not valid YAML: did not find expected ',' or ']'"
    assert lines[1].startswith(f"long.yaml:3: IPPool/{'b' * 280}... (1000 characters): ")


def test_many_problems_in_one_map_cost_linear_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each problem's line is looked up in an index of the map, not by scanning it."""
    keys = "".join(f"  k{i}: 1\n" for i in range(20_000))
    write(tmp_path, "a.yaml", POOL + keys)
    code, lines = validate(tmp_path, capsys)
    assert code == 2
    assert len(lines) == 20_000
    assert lines[-1] == (
        "a.yaml:20006: IPPool/pods: spec.k19999: unknown field `k19999`; allowed: `backend`, "
        "`blockSize`, `cidr`, `disabled`, `natOutgoing`, `nodeSelector`, `reserved`"
    )
