#!/usr/bin/env bash
# The whole test suite from a clean clone on a fresh Debian/Ubuntu machine:
# installs ZooKeeper, etcd and Java via apt when missing, builds virtualenvs, and runs
# every test against real local servers, with the current protobuf and with protobuf 3.20.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
bash scripts/install-servers.sh

if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1; then
    echo "coordkit: installing python3-venv" >&2
    sudo=(); [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)  # as scripts/install-servers.sh does
    # A fresh machine may have no package lists yet: update once if the first try fails.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq python3-venv >/dev/null ||
        { "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq && \
          "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq python3-venv >/dev/null; }
fi

venv() {  # venv DIR PIP-ARGS...: a fresh virtualenv with coordkit and what the tests need
    local dir=$1; shift
    "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$dir/bin/python" -m pip install -q "$@"
}

echo "== coordkit: virtualenv with the current protobuf" >&2
venv .venv -e '.[test]'
.venv/bin/python -c 'import google.protobuf as p, coordkit.backends.etcd.backend; print("protobuf", p.__version__)'
COORDKIT_STRICT_TESTS=1 .venv/bin/python -m pytest "$@"

echo "== coordkit: etcd tests again with protobuf 3.20" >&2
# A regular (not editable) install here, checked from outside the source tree: what users get.
venv .venv-protobuf320 '.[test]' 'protobuf==3.20.3'
(cd / && "$OLDPWD/.venv-protobuf320/bin/python" -c \
    'import google.protobuf as p, coordkit, coordkit.backends.etcd.backend, coordkit.balancing.http; print("protobuf", p.__version__, "coordkit", coordkit.__version__, coordkit.__file__)' \
    && "$OLDPWD/.venv-protobuf320/bin/coordkit" --version)
COORDKIT_STRICT_TESTS=1 .venv-protobuf320/bin/python -m pytest -q tests/compat tests/conformance -k "etcd or compat"
