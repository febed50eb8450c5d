#!/usr/bin/env bash
# The docker-mode tests and the docker demo, from a clean clone on a fresh Debian/Ubuntu machine
# (the entry point CI calls; run as root, or with sudo available):
#   1. installs docker.io and debootstrap when missing (apt);
#   2. uses the Docker daemon DOCKER_HOST (or the default socket) names if one answers; otherwise
#      starts one of its own, without a bridge (--bridge=none --iptables=false: containers use the
#      host's network and loopback ports), on a socket of its own; images persist in
#      COORDKIT_DOCKER_DATA_ROOT (default /var/lib/coordkit-docker), so a second run is warm;
#   3. builds the images (scripts/docker-images.sh: minutes the first time, seconds after);
#   4. runs the conformance subset (ZooKeeper and etcd) against single containers and against
#      3-member clusters of containers, and tests/docker (container pause, kill, restart);
#   5. runs the docker demo (scripts/demo.sh --docker: the example system in Compose, with
#      docker kills), on etcd and, shorter, on ZooKeeper;
#   6. whatever happened, removes every container the run made (label coordkit.run=<run id>) and
#      stops the daemon it started, by process id, waiting until it and its containerd are gone.
# Arguments are passed to every pytest run (e.g. -x). Exits non-zero if any step failed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${COORDKIT_DOCKER_VENV:-.venv-docker}
DATA_ROOT=${COORDKIT_DOCKER_DATA_ROOT:-/var/lib/coordkit-docker}
say() { echo "test-docker: $*" >&2; }
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
        say "not root and no sudo: cannot run $*"; exit 1; fi
}
started=$SECONDS
phase() { say "[$((SECONDS - started))s] $*"; }

# -- 1. packages
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if ((${#missing[@]})); then
    phase "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null ||
        { as_root apt-get -o DPkg::Lock::Timeout=300 update -qq &&
          as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null; }
fi

# -- 2. the daemon, and the clean-up that runs however this script ends
state=$(mktemp -d /tmp/coordkit-dockerd.XXXXXX)
# Every container of this run (harness, demo) carries the label coordkit.run=<this id>.
COORDKIT_DOCKER_RUN=$(echo "${state##*.}-$$" | tr '[:upper:]' '[:lower:]')  # a Compose project name
export COORDKIT_DOCKER_RUN
dockerd_pid=""
cleanup() {
    local code=$?
    trap - EXIT INT TERM
    set +e  # clean up as much as can be, whatever fails on the way
    if docker version >/dev/null 2>&1; then
        # Only this run's containers: a daemon that was already running may hold other users'.
        # The demo's Compose project is coordkit-demo-<run id>: its servers and volume too.
        local left=() volumes=() project="com.docker.compose.project=coordkit-demo-$COORDKIT_DOCKER_RUN"
        mapfile -t left < <(docker ps -aq --filter "label=coordkit.run=$COORDKIT_DOCKER_RUN"
                            docker ps -aq --filter "label=$project")
        if ((${#left[@]})); then
            say "removing containers left by the run: ${left[*]}"
            docker rm -f "${left[@]}" >/dev/null 2>&1
        fi
        mapfile -t volumes < <(docker volume ls -q --filter "label=$project")
        ((${#volumes[@]})) && docker volume rm "${volumes[@]}" >/dev/null 2>&1
    fi
    if [[ -n "$dockerd_pid" ]]; then
        say "stopping the Docker daemon it started (pid $dockerd_pid)"
        as_root kill -TERM "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$dockerd_pid" 2>/dev/null; then
            say "dockerd $dockerd_pid did not stop in 20 s: SIGKILL"
            as_root kill -KILL "$dockerd_pid" 2>/dev/null || true
        fi
        # Its containerd exits with it; wait for that too, by the pid dockerd recorded.
        local containerd
        containerd=$(cat "$state/exec/containerd/containerd.pid" 2>/dev/null || true)
        if [[ -n "$containerd" ]]; then
            for _ in $(seq 1 50); do kill -0 "$containerd" 2>/dev/null || break; sleep 0.2; done
            kill -0 "$containerd" 2>/dev/null && as_root kill -KILL "$containerd" 2>/dev/null || true
        fi
    fi
    # dockerd leaves its network namespace's bind mount behind in the exec root.
    if [[ -n "$dockerd_pid" ]] && mountpoint -q "$state/exec/netns/default" 2>/dev/null; then
        as_root umount "$state/exec/netns/default"
    fi
    rm -rf "$state" || { say "could not remove $state"; ((code)) || code=1; }
    phase "done, exit $code"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if docker version >/dev/null 2>&1; then
    phase "using the Docker daemon that runs (${DOCKER_HOST:-default socket})"
else
    phase "starting a Docker daemon of its own (data in $DATA_ROOT)"
    as_root mkdir -p "$DATA_ROOT"
    dockerd --bridge=none --iptables=false --ip6tables=false \
        --data-root "$DATA_ROOT" --exec-root "$state/exec" --pidfile "$state/dockerd.pid" \
        -H "unix://$state/docker.sock" >"$state/dockerd.log" 2>&1 &
    dockerd_pid=$!
    export DOCKER_HOST="unix://$state/docker.sock"
    for _ in $(seq 1 150); do
        docker version >/dev/null 2>&1 && break
        kill -0 "$dockerd_pid" 2>/dev/null || { tail -20 "$state/dockerd.log" >&2; say "dockerd exited"; exit 1; }
        sleep 0.2
    done
    docker version >/dev/null 2>&1 || { tail -20 "$state/dockerd.log" >&2; say "dockerd did not answer in 30 s"; exit 1; }
fi

# -- 3. images and the virtualenv
phase "images"
bash scripts/docker-images.sh
if [[ ! -x "$VENV/bin/python" ]]; then
    phase "virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
fi
"$VENV/bin/python" -m pip install -q -e '.[test,http]' 2>&1 | { grep -v '^WARNING: Location' || true; } >&2

# -- 4. tests: the conformance subset on single containers and on clusters of containers
status=0
run() { phase "$*"; "$@" || { status=1; say "FAILED: $*"; }; }
subset=(tests/conformance -k "zookeeper or etcd" -p no:cacheprovider -q)
export COORDKIT_STRICT_TESTS=1
run timeout 900 "$VENV/bin/python" -m pytest "${subset[@]}" --coordkit-docker=single "$@"
run timeout 1200 "$VENV/bin/python" -m pytest "${subset[@]}" --coordkit-docker=cluster "$@"
run timeout 900 "$VENV/bin/python" -m pytest tests/docker -p no:cacheprovider -q --coordkit-docker=cluster "$@"

# -- 5. the example system in Compose, on etcd and (a shorter stream) on ZooKeeper
run timeout 600 env COORDKIT_DEMO_VENV="$VENV" bash scripts/demo.sh --docker
run timeout 600 env COORDKIT_DEMO_VENV="$VENV" bash scripts/demo.sh --docker --zookeeper --quick

exit "$status"
