#!/usr/bin/env bash
# Validate the Docker and Kubernetes files with what runs without a Docker engine or a cluster:
#   - every compose file in docker/ through `docker compose config` (v2) or `docker-compose config` (v1,
#     Debian's `docker-compose` package), in each combination it is used in;
#   - the manifests in examples/k8s/ against the Kubernetes API schemas, strictly (unknown fields fail),
#     with `kubernetes-validate` (PyPI) for the oldest and newest Kubernetes versions it knows;
#   - `kubectl kustomize examples/k8s` (renders the kustomization offline).
# A missing tool is reported as SKIPPED and does not fail the run, unless --require-tools is given
# (which requires a compose tool and kubernetes-validate; kubectl stays optional).
# The cross-checks between the files (names, ports, images, env) are tests/deploy/, run by pytest.
#
# Usage: scripts/validate-deploy.sh [--require-tools] [ROOT]   (ROOT: the repository, default this one)
# Exit status: 0 when every check that ran passed (and, with --require-tools, none was skipped).
set -euo pipefail

require_tools=0
if [[ "${1:-}" == "--require-tools" ]]; then
    require_tools=1
    shift
fi
ROOT=$(cd "${1:-$(dirname "$0")/..}" && pwd)
DOCKER="$ROOT/docker"
K8S="$ROOT/examples/k8s"
failed=0
skipped=0

say() { printf 'validate-deploy: %-7s %s\n' "$1" "$2"; }
skip() { say SKIPPED "$1"; skipped=$((skipped + 1)); }
skip_optional() { say SKIPPED "$1"; }
run_check() {  # run_check LABEL COMMAND...: run it, print its output only when it fails
    local label=$1 out
    shift
    if out=$("$@" 2>&1); then
        say ok "$label"
    else
        say FAILED "$label: $*"
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        failed=$((failed + 1))
    fi
}

# Every compose file, in the combinations the READMEs use; a file in no combination is an error, so
# that a new compose file cannot go unvalidated.
COMBINATIONS=(
    "single:compose.servers.yml"
    "cluster:compose.servers.yml"
    "cluster:compose.servers.yml compose.example.yml"
)
covered=" "
for combination in "${COMBINATIONS[@]}"; do covered+="${combination#*:} "; done
for file in "$DOCKER"/compose*.yml; do
    [[ -e "$file" ]] || continue
    name=$(basename "$file")
    if [[ "$covered" != *" $name "* ]]; then
        say FAILED "compose: $name is in no combination of scripts/validate-deploy.sh"
        failed=$((failed + 1))
    fi
done

compose=()
if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
fi
for combination in "${COMBINATIONS[@]}"; do
    profile=${combination%%:*}
    files=()
    for name in ${combination#*:}; do files+=(-f "$DOCKER/$name"); done
    label="compose: ${combination#*:} --profile $profile"
    if ((${#compose[@]} == 0)); then
        skip "$label (neither \`docker compose\` nor \`docker-compose\` is installed: apt-get install docker-compose)"
    else
        # The project directory is docker/, as when the files are used from the repository root.
        run_check "$label (${compose[*]})" "${compose[@]}" --project-directory "$DOCKER" \
            "${files[@]}" --profile "$profile" config -q
    fi
done

manifests=()
for file in "$K8S"/*.yaml; do
    [[ "$(basename "$file")" == kustomization.yaml ]] || manifests+=("$file")
done
# A Python that has kubernetes_validate: $PYTHON or python3, else the one the CLI was installed with.
validator_python=""
for candidate in "${PYTHON:-python3}" \
        "$(command -v kubernetes-validate >/dev/null 2>&1 && sed -n '1s/^#!//p' "$(command -v kubernetes-validate)")"; do
    if [[ -n "$candidate" ]] && "$candidate" -c 'import kubernetes_validate' >/dev/null 2>&1; then
        validator_python=$candidate
        break
    fi
done
if [[ -z "$validator_python" ]]; then
    skip "k8s schemas (kubernetes-validate is not installed: pip install kubernetes-validate)"
else
    # The oldest and newest Kubernetes versions whose schemas the installed package carries.
    read -r oldest newest < <("$validator_python" -c \
        'import kubernetes_validate.utils as u; v = u.all_versions(); print(v[0], v[-1])')
    for version in "$oldest" "$newest"; do
        run_check "k8s schemas, strict, Kubernetes $version (kubernetes-validate)" \
            "$validator_python" -m kubernetes_validate --strict --quiet -k "$version" "${manifests[@]}"
    done
fi

if command -v kubectl >/dev/null 2>&1; then
    run_check "k8s kustomization renders (kubectl kustomize)" kubectl kustomize "$K8S"
else
    skip_optional "k8s kustomization (kubectl is not installed; optional)"
fi

say summary "$failed failed, $skipped skipped"
if ((failed > 0)); then
    exit 1
fi
if ((require_tools && skipped > 0)); then
    echo "validate-deploy: --require-tools: $skipped check(s) skipped for a missing tool" >&2
    exit 1
fi
