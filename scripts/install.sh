#!/usr/bin/env bash
# Install everything netwright and its tests need on a fresh Debian 12 machine, as root.
# Safe to run again: apt and pip only add what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
echo "==> apt: iproute2, nftables, iptables, ping, the CNI reference plugins, BIRD 2, iperf3" >&2
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    iproute2 nftables iptables iputils-ping \
    containernetworking-plugins bird2 iperf3 >/dev/null

echo "==> pip: netwright (editable) with its test and lint groups" >&2
python3 -m pip install -q --disable-pip-version-check -U 'pip>=25.1' 'setuptools>=77'
python3 -m pip install -q --disable-pip-version-check -e . --group test --group lint
echo "==> installed: $(netwright --version)" >&2

# ansible-test (the collection's sanity and unit tests) makes virtual environments and
# bootstraps pip in them with ensurepip, which Debian ships in python3-venv.
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    echo "==> apt: python3-venv (for ansible-test's virtual environments)" >&2
    apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
