# Copyright: netwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netns connection wraps each command in `ip netns exec NAME`, and nothing else."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleConnectionFailure
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader


def connect(**variables):
    conn = connection_loader.get("netwright.fabric.netns", PlayContext(), None)
    conn.set_options(var_options=dict({"inventory_hostname": "host-a"}, **variables))
    return conn


NAME_CASES = [
    ("inventory name", {}, "host-a"),
    ("ansible_host wins", {"ansible_host": "nw-n1"}, "nw-n1"),
    ("ansible_netns_name wins over both", {"ansible_host": "nw-n1", "ansible_netns_name": "x"}, "x"),
]


@pytest.mark.parametrize("variables, name", [c[1:] for c in NAME_CASES], ids=[c[0] for c in NAME_CASES])
def test_the_namespace_comes_from_the_host(variables, name):
    wrapped = connect(**variables)._netns_command("echo 'hi there'")
    assert wrapped == f"ip netns exec {name} /bin/sh -c 'echo '\"'\"'hi there'\"'\"''"


@pytest.mark.parametrize("name", ["a/b", ".", ".."])
def test_a_path_is_not_a_namespace(name):
    with pytest.raises(AnsibleConnectionFailure, match="is not a network namespace name"):
        connect(ansible_host=name)._netns_command("true")


def test_commands_run_through_ip_netns_exec():
    # /bin/echo stands in for `ip`: what it prints is the command line it was given.
    conn = connect(ansible_host="nw-n1", ansible_netns_ip_executable="/bin/echo")
    rc, out, _err = conn.exec_command("uname")
    assert (rc, out) == (0, b"netns exec nw-n1 /bin/sh -c uname\n")


def test_file_transfer_is_local(tmp_path):
    conn = connect(ansible_host="nw-n1")
    source = tmp_path / "a"
    source.write_text("x")
    conn.put_file(str(source), str(tmp_path / "b"))
    assert (tmp_path / "b").read_text() == "x"
