#!/usr/bin/env bash
# The example system's demo, from a clean clone on a fresh Debian/Ubuntu machine:
#   scripts/demo.sh                 # on a local etcd
#   scripts/demo.sh --zookeeper     # on a local ZooKeeper (also: --quick, --keep-logs, --url URL; see --help)
#   scripts/demo.sh --ui            # then keeps the system running with `coordkit ui` open on it
#   scripts/demo.sh --docker        # store and services in containers, on the Docker daemon that runs
#                                   # (scripts/test-docker.sh starts one); builds the images first
#
# Installs etcd and ZooKeeper via apt when missing (scripts/install-servers.sh), makes the virtualenv
# .venv-demo (COORDKIT_DEMO_VENV to choose another) with coordkit and its `http` and `metrics` extras (the
# services serve /metrics; the report quotes them), and runs
# examples/demo.py with the arguments given. The demo's report goes to stdout, the set-up's notes to
# stderr. Exits with the demo's status: 0 when every invariant held.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${COORDKIT_DEMO_VENV:-.venv-demo}

note() { echo "demo.sh: $*" >&2; }

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
        note "not root and no sudo: cannot run $*"; exit 1; fi
}

bash scripts/install-servers.sh >&2

if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    note "installing python3-venv"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq python3-venv >/dev/null
fi

# Install (again) only when the virtualenv is new or the package's metadata or extras changed since.
extras=http,metrics,examples
for arg in "$@"; do [[ "$arg" != --ui ]] || extras=http,metrics,examples,ui; done  # the live view's extra
stamp="$VENV/.coordkit-demo-stamp"
wanted="$( (cat setup.cfg pyproject.toml; echo "$extras") | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
    note "setting up the virtualenv $VENV with coordkit[$extras]"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2
    "$VENV/bin/python" -m pip install -q -e ".[$extras]" >&2
    echo "$wanted" >"$stamp"
fi

for arg in "$@"; do
    if [[ "$arg" == --docker ]]; then
        # The images (scripts/docker-images.sh: minutes the first time, a moment when they exist).
        bash scripts/docker-images.sh
    fi
done

exec "$VENV/bin/python" examples/demo.py "$@"
