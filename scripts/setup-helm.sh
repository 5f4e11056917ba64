#!/usr/bin/env bash
# Build the pinned Helm binary from the Go module proxy into the repository
# cache and print its path.  Idempotent: an existing binary of the pinned
# version is reused.  CI calls this on a fresh machine; developers may too.
#
# The pin lives here and only here:
HELM_VERSION=v3.21.4
# Bump when the build recipe below changes, so cached binaries are rebuilt.
RECIPE=2
#
# Environment overrides (all optional):
#   GIGAFACTORY_CACHE   cache root          (default: <repo>/.cache)
#   GO                  go binary           (default: go on PATH, else /usr/local/go/bin/go)
#   GOPATH / GOMODCACHE / GOCACHE           (default: ~/.cache/gigafactory-go/...)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_root="${GIGAFACTORY_CACHE:-$repo_root/.cache}"
bin_dir="$cache_root/bin"
helm_bin="$bin_dir/helm"
stamp="$bin_dir/helm.version"

if [[ -x "$helm_bin" && -f "$stamp" && "$(cat "$stamp")" == "$HELM_VERSION recipe $RECIPE" ]]; then
    echo "$helm_bin"
    exit 0
fi

go_bin="${GO:-}"
if [[ -z "$go_bin" ]]; then
    if command -v go >/dev/null 2>&1; then
        go_bin="$(command -v go)"
    elif [[ -x /usr/local/go/bin/go ]]; then
        go_bin=/usr/local/go/bin/go
    else
        echo "setup-helm: no Go toolchain found (set GO=/path/to/go)" >&2
        exit 1
    fi
fi

go_root_cache="${HOME:-/root}/.cache/gigafactory-go"
export GOPATH="${GOPATH:-$go_root_cache/path}"
export GOMODCACHE="${GOMODCACHE:-$go_root_cache/mod}"
export GOCACHE="${GOCACHE:-$go_root_cache/build}"
export GOFLAGS="${GOFLAGS:--mod=mod}"
export CGO_ENABLED="${CGO_ENABLED:-0}"
mkdir -p "$bin_dir" "$GOPATH" "$GOMODCACHE" "$GOCACHE"

echo "setup-helm: building helm $HELM_VERSION with $("$go_bin" version)" >&2
# The release Makefile stamps, through -ldflags, the version Helm reports and the
# Kubernetes version it assumes for `helm template` and `helm lint` (.Capabilities):
# the minor of the k8s.io/client-go it is built with. A bare `go install` would leave
# Kubernetes v1.20.0 there and charts with a kubeVersion constraint would not render.
"$go_bin" mod download "helm.sh/helm/v3@$HELM_VERSION"
helm_src="$GOMODCACHE/helm.sh/helm/v3@$HELM_VERSION"
client_go="$(awk '$1 == "k8s.io/client-go" { print $2 }' "$helm_src/go.mod")"
k8s_minor="$(echo "$client_go" | cut -d. -f2)"
if [[ -z "$k8s_minor" ]]; then
    echo "setup-helm: cannot read the k8s.io/client-go version from $helm_src/go.mod" >&2
    exit 1
fi
ldflags="-w -s -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in pkg/lint/rules pkg/chartutil; do
    ldflags="$ldflags -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$k8s_minor"
done
GOBIN="$bin_dir" "$go_bin" install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
printf '%s\n' "$HELM_VERSION recipe $RECIPE" > "$stamp"
"$helm_bin" version --short >&2
echo "$helm_bin"
