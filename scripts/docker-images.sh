#!/usr/bin/env bash
# Builds the images of the docker harness and the example system, on the daemon DOCKER_HOST names:
#   coordkit-base:bookworm       Debian bookworm made with debootstrap, when no registry gives one
#   coordkit-etcd:3.4            docker/Dockerfile.etcd       (Debian's etcd-server 3.4)
#   coordkit-zookeeper:3.8       docker/Dockerfile.zookeeper  (Debian's zookeeper 3.8, Java 17)
#   coordkit-examples:dev        docker/Dockerfile.examples (python:3.11-slim) where a registry is
#                                reachable, else docker/Dockerfile.examples.local on the base
# Idempotent: each image carries a label with the hash of what it was built from (Dockerfile, base
# image, sources) and is rebuilt only when that changes, so a second run takes seconds.
# COORDKIT_DOCKER_BASE=IMAGE chooses the base (e.g. debian:bookworm-slim); otherwise the official
# debian:bookworm-slim is pulled if a registry answers, and debootstrap (as root) makes one if not.
# Builds use the host's network (the daemon runs without a bridge) and the legacy builder (Debian's
# docker.io has no buildx). Exits non-zero, naming the image, when a build fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKER_BUILDKIT=0

say() { echo "docker-images: $*" >&2; }
DOCKER=${COORDKIT_DOCKER:-docker}
LOCAL_BASE=coordkit-base:bookworm
MIRROR=${COORDKIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}

docker_ok() { "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
docker_ok || { say "no Docker daemon answers (DOCKER_HOST=${DOCKER_HOST:-unset}); scripts/test-docker.sh starts one"; exit 1; }

label_of() {  # label_of IMAGE: the source hash the image was built from, or nothing
    "$DOCKER" image inspect --format '{{index .Config.Labels "coordkit.source"}}' "$1" 2>/dev/null || true
}
image_id() { "$DOCKER" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# -- the base image
base=${COORDKIT_DOCKER_BASE:-}
registry=no
if [[ -z "$base" ]]; then
    if [[ -n "$(image_id "$LOCAL_BASE")" ]]; then
        base=$LOCAL_BASE
    elif timeout 60 "$DOCKER" pull -q debian:bookworm-slim >/dev/null 2>&1; then
        base=debian:bookworm-slim registry=yes
    else
        command -v debootstrap >/dev/null || { say "no registry and no debootstrap: apt-get install debootstrap"; exit 1; }
        [[ "$(id -u)" -eq 0 ]] || { say "debootstrap needs root"; exit 1; }
        root=$(mktemp -d /tmp/coordkit-debootstrap.XXXXXX)
        trap 'rm -rf "$root"' EXIT
        say "no registry: making $LOCAL_BASE with debootstrap from $MIRROR (about a minute)"
        debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$root.log" 2>&1 ||
            { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
        rm -f "$root.log"
        # Package lists come from the image's own apt sources; the host's proxies are not needed.
        tar -C "$root" -c . | "$DOCKER" import -m "debootstrap --variant=minbase bookworm" - "$LOCAL_BASE" >/dev/null
        rm -rf "$root"
        trap - EXIT
        base=$LOCAL_BASE
    fi
fi
base_id=$(image_id "$base")
[[ -n "$base_id" ]] || { say "base image $base is missing"; exit 1; }
say "base: $base"

build() {  # build IMAGE HASH CONTEXT DOCKERFILE [ARGS...]: build unless the image has this hash
    local image=$1 hash=$2 context=$3 dockerfile=$4; shift 4
    if [[ "$(label_of "$image")" == "$hash" ]]; then
        say "$image is up to date"
        return
    fi
    say "building $image"
    local started=$SECONDS
    if ! "$DOCKER" build -q --network host --force-rm --label "coordkit.source=$hash" \
        --build-arg "BASE=$base" -f "$dockerfile" -t "$image" "$@" "$context" >/tmp/coordkit-build.$$.log 2>&1; then
        tail -30 /tmp/coordkit-build.$$.log >&2; rm -f /tmp/coordkit-build.$$.log
        say "building $image FAILED"; exit 1
    fi
    rm -f /tmp/coordkit-build.$$.log
    say "built $image in $((SECONDS - started))s"
}

empty=$(mktemp -d /tmp/coordkit-context.XXXXXX)
examples_ctx=$(mktemp -d /tmp/coordkit-context.XXXXXX)
trap 'rm -rf "$empty" "$examples_ctx"' EXIT

for server in etcd:3.4 zookeeper:3.8; do
    file=docker/Dockerfile.${server%%:*}
    hash=$(cat "$file" | sha256sum | cut -c1-16)-${base_id#sha256:}
    build "coordkit-$server" "${hash:0:40}" "$empty" "$file"
done

# -- the example services: the hash covers everything that goes into the image
sources_hash=$( (cat docker/Dockerfile.examples docker/Dockerfile.examples.local pyproject.toml setup.cfg README.md;
    find coordkit cli examples -type f -not -path '*/__pycache__/*' -not -name '*.pyc' | LC_ALL=C sort |
        xargs cat) | sha256sum | cut -c1-24)
hash="$sources_hash-${base_id#sha256:}"
hash=${hash:0:40}
if [[ "$(label_of coordkit-examples:dev)" == "$hash" ]]; then
    say "coordkit-examples:dev is up to date"
elif [[ "$registry" == yes ]] || timeout 60 "$DOCKER" pull -q python:3.11-slim >/dev/null 2>&1; then
    cp -r pyproject.toml setup.cfg README.md coordkit cli examples "$examples_ctx/"
    cp docker/Dockerfile.examples.dockerignore "$examples_ctx/.dockerignore"
    build coordkit-examples:dev "$hash" "$examples_ctx" docker/Dockerfile.examples
else
    PYTHON=${PYTHON:-python3}
    say "wheels of coordkit[http,metrics] for the image (the host's package index)"
    "$PYTHON" -m pip wheel -q --wheel-dir "$examples_ctx/wheels" '.[http,metrics]' 2>&1 | { grep -v '^WARNING: Location' || true; } >&2
    cp -r examples "$examples_ctx/examples"
    find "$examples_ctx/examples" -name __pycache__ -prune -exec rm -rf {} +
    build coordkit-examples:dev "$hash" "$examples_ctx" docker/Dockerfile.examples.local
fi
