#!/usr/bin/env bash
# Install the ZooKeeper and etcd servers that coordkit's tests run (Debian/Ubuntu, apt-get only),
# and the headless browser that tests/ui drives (chromium, chromium-driver).
#
# Idempotent: does nothing when etcd, etcdctl, java and the ZooKeeper jars are already present, so
# CI can run it on every job. Runs apt-get as root, through sudo when not root. Installs nothing
# else and starts nothing. Exits non-zero with a message saying what is missing on failure.
set -euo pipefail

JAR_DIR=/usr/share/java
PACKAGES=(etcd-server etcd-client zookeeper default-jre-headless
          libcurator-discovery-java libcurator-recipes-java default-jdk-headless
          docker-compose  # docker-compose only validates the compose files; no engine is used
          chromium chromium-driver)  # tests/ui drive coordkit ui in it through Selenium

die() {
    echo "install-servers: $*" >&2
    exit 1
}

missing() {
    local what=()
    command -v etcd >/dev/null 2>&1 || what+=("etcd")
    command -v etcdctl >/dev/null 2>&1 || what+=("etcdctl")
    command -v java >/dev/null 2>&1 || what+=("java")
    # The harness needs the server and its wire-format jar; the rest come with the same package.
    command -v javac >/dev/null 2>&1 || what+=("javac")  # the Curator interop probe is compiled
    command -v docker-compose >/dev/null 2>&1 || what+=("docker-compose")
    [[ -x /usr/bin/chromium ]] || what+=("chromium")
    [[ -x /usr/bin/chromedriver ]] || what+=("chromedriver")
    for jar in zookeeper zookeeper-jute curator-x-discovery curator-recipes; do
        [[ -e "$JAR_DIR/$jar.jar" ]] || what+=("$JAR_DIR/$jar.jar")
    done
    echo "${what[*]}"
}

need="$(missing)"
if [[ -z "$need" ]]; then
    echo "install-servers: etcd, etcdctl, java, the ZooKeeper jars and chromium are already installed"
    exit 0
fi
echo "install-servers: missing: $need"

command -v apt-get >/dev/null 2>&1 ||
    die "apt-get not found: install ${PACKAGES[*]} with this system's package manager"

if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    die "not root and no sudo: run as root to install ${PACKAGES[*]}"
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q ||
    die "apt-get update failed"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends \
    "${PACKAGES[@]}" || die "apt-get install ${PACKAGES[*]} failed"

need="$(missing)"
[[ -z "$need" ]] || die "still missing after installing ${PACKAGES[*]}: $need"
echo "install-servers: installed; $(etcd --version | head -n 1); ZooKeeper jars in $JAR_DIR"
