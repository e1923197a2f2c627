#!/usr/bin/env bash
# Run `ansible-test sanity` and `ansible-test units` for the netwright.fabric collection,
# offline, reproducibly: the same command on a laptop and in CI.
#
#   scripts/ansible-test.sh            sanity, then units
#   scripts/ansible-test.sh sanity     only sanity (extra arguments go to ansible-test)
#   scripts/ansible-test.sh units -v
#
# How: each runs in a virtual environment ansible-test makes (--venv), with Python 3.11,
# the interpreter netwright requires. Sanity's venvs hold only ansible-test's pinned
# tools. The units' venv also sees the system site-packages
# (--venv-system-site-packages), where netwright is installed, so the module tests run
# the real pipeline. Tool packages come from the configured pip index.
#
# ansible-test bootstraps pip into a new venv with a get-pip script it downloads from
# ci-files.testing.ansible.com, which this machine cannot reach. A missing script is
# replaced by a stand-in that runs `python -m ensurepip` and then pip itself with the same
# arguments: the result is the same pinned pip, installed from the wheel Python ships.
set -euo pipefail
cd "$(dirname "$0")/.."
collection=collections/ansible_collections/netwright/fabric
python=${ANSIBLE_TEST_PYTHON:-3.11}

if ! command -v ansible-test >/dev/null; then
    echo "ansible-test.sh: ansible-test is not installed (pip install ansible-core)" >&2
    exit 2
fi

# The pip version ansible-test pins for its venvs, and the cache path it looks in.
pip_version=$(python3 - <<'PY'
import ansible_test._internal.python_requirements as r
import inspect, re
source = inspect.getsource(r.get_venv_packages)
print(re.search(r"pip='([0-9.]+)'", source).group(1))
PY
)
cache=${HOME}/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [[ ! -s $cache ]]; then
    mkdir -p "$(dirname "$cache")"
    cat >"$cache" <<'PY'
# Stand-in for get-pip.py (written by netwright's scripts/ansible-test.sh): bootstrap pip
# from the wheel Python ships, then let that pip install what get-pip.py was asked for.
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
PY
    echo "ansible-test.sh: wrote a stand-in pip bootstrap script: $cache" >&2
fi

what=${1:-all}
[[ $# -gt 0 ]] && shift
cd "$collection"
status=0
if [[ $what == all || $what == sanity ]]; then
    echo "==> ansible-test sanity ($collection, Python $python)" >&2
    ansible-test sanity --venv --python "$python" --color no "$@" || status=$?
fi
if [[ $what == all || $what == units ]]; then
    echo "==> ansible-test units ($collection, Python $python)" >&2
    ansible-test units --venv --venv-system-site-packages --python "$python" --color no "$@" \
        || status=$?
fi
exit "$status"
