#!/usr/bin/env bash
# Builds (or finds in the cache) every third-party piece of the local Pusat Data:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy,
#   kubectl, the image registry (CNCF distribution), Traefik,
#   Rancher's local-path-provisioner, kube-router, CoreDNS,
#   Helm, promtool, Pebble (ARI), cert-manager's CRDs (files only, for a coexistence test) — from Go modules,
#   garage                                                   — from the crate registry,
#   dig/kdig, knot, nsd, dnsperf, containerd, runc,
#   CNI plugins, mmdebstrap, skopeo                          — from Debian.
# Everything is cached by version under $KAVLING_CACHE (default ~/.cache/kavling), so only
# the first run pays for the builds (Kubernetes from source: 15–25 minutes on 2 cores).
#
# Usage: dev/build-tools.sh [apt|etcd|kubernetes|garage|registry|traefik|local-path|netpol|coredns|cert-manager-crds|helm|promtool|pebble|all]   (default: all)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.4}"     # the version Kubernetes $K8S_VERSION pins
GARAGE_VERSION="${GARAGE_VERSION:-2.5.0}"
REGISTRY_VERSION="${REGISTRY_VERSION:-v3.1.2}"
# The newest Traefik whose every dependency the Go module proxy here serves (3.7's ACME DNS
# providers need modules it does not).
TRAEFIK_VERSION="${TRAEFIK_VERSION:-v3.6.12}"
LOCAL_PATH_VERSION="${LOCAL_PATH_VERSION:-v0.0.30}"
# kube-router's firewall (iptables + ipset): kube-network-policies needs the nft `queue`
# expression, which this VM's kernel lacks. v2.1.0 is the version the module proxy serves.
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
# cert-manager's CRDs, for the test that Kavling's kinds never shadow cert-manager's.
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.21.2}"
# Helm: Kavling's chart is installed on the local node by tests/tests/install.rs.
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
# promtool checks and unit-tests Kavling's alert rules (Prometheus 3.x's module version).
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
# Pebble from its Go module: Debian's 2.4 has no ARI (RFC 9773) and no `replaces`.
PEBBLE_VERSION="${PEBBLE_VERSION:-v2.10.3}"
CACHE="${KAVLING_CACHE:-$HOME/.cache/kavling}"
LOGS="$CACHE/logs"
mkdir -p "$CACHE" "$LOGS"

say()  { printf '\033[1m[tools]\033[0m %s\n' "$*" >&2; }
fail() { printf '\033[31m[tools] error:\033[0m %s\n' "$*" >&2; exit 1; }

need_toolchain() {
  command -v "$1" >/dev/null 2>&1 || fail "the $1 toolchain is missing: $2"
}

# unbound and ldnsutils: the validators that judge signed zones (tests/tests/dnssec.rs).
# git: the audit remote (git daemon) and real `git verify-commit`, which needs ssh-keygen.
# The node: containerd, runc, the CNI plugins, iptables/conntrack for kube-proxy; the images:
# mmdebstrap (root filesystems from Debian packages) and skopeo (into the registry).
APT_PACKAGES=(dnsutils knot-dnsutils knot nsd dnsperf unbound ldnsutils openssl curl git openssh-client bc
  containerd runc containernetworking-plugins iptables ipset conntrack mmdebstrap skopeo)

apt_tools() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == *"install ok installed"* ]] || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then say "apt packages present"; return; fi
  say "installing from Debian: ${missing[*]}"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq >"$LOGS/apt.log" 2>&1 || fail "apt-get update failed; see $LOGS/apt.log"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >>"$LOGS/apt.log" 2>&1 \
    || fail "apt-get install ${missing[*]} failed; see $LOGS/apt.log"
  # knot and nsd come with systemd units; we only use their binaries, never the system services.
}

etcd_tool() {
  local out="$CACHE/etcd-$ETCD_VERSION/etcd"
  if [ -x "$out" ]; then say "etcd $ETCD_VERSION cached"; return; fi
  need_toolchain go "install Go to build etcd from its module"
  say "building etcd $ETCD_VERSION from go.etcd.io/etcd/server/v3 (log: $LOGS/etcd-build.log)"
  local w; w=$(mktemp -d)
  cat >"$w/main.go" <<'GO'
// A wrapper so etcd builds from its published server module: the etcd root module
// carries replace directives that `go install` refuses.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (
    cd "$w"
    go mod init kavling.local/etcd-build
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    go mod tidy
    mkdir -p "$(dirname "$out")"
    CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out.tmp" .
    mv "$out.tmp" "$out"
  ) >"$LOGS/etcd-build.log" 2>&1 || { rm -rf "$w"; fail "etcd build failed; see $LOGS/etcd-build.log"; }
  rm -rf "$w"
  say "etcd built: $out"
}

kubernetes_tool() {
  local dir="$CACHE/kubernetes-$K8S_VERSION"
  local cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl) c all=1
  for c in "${cmds[@]}"; do [ -x "$dir/$c" ] || all=0; done
  if [ $all = 1 ]; then say "kubernetes $K8S_VERSION cached"; return; fi
  need_toolchain go "install Go to build Kubernetes from its module"
  need_toolchain curl "install curl to read Kubernetes' go.mod from the module proxy"
  say "building ${cmds[*]} $K8S_VERSION from k8s.io/kubernetes"
  say "  (first time only: 15–25 minutes on 2 cores; log: $LOGS/kubernetes-build.log)"
  local w minor staging proxy
  w=$(mktemp -d)
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  proxy=$(go env GOPROXY | tr ',' '\n' | grep -v -e '^direct$' -e '^off$' | head -n1)
  proxy=${proxy:-https://proxy.golang.org}
  # The staging modules are whatever Kubernetes' own go.mod replaces with ./staging/...;
  # each is published as k8s.io/<name> v0.<minor>.<patch>.
  staging=$(curl -fsSL "$proxy/k8s.io/kubernetes/@v/$K8S_VERSION.mod" \
            | awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}') \
    || fail "could not read k8s.io/kubernetes $K8S_VERSION go.mod from $proxy"
  [ -n "$staging" ] || fail "no staging modules found in k8s.io/kubernetes $K8S_VERSION go.mod"
  local pub="v0.${K8S_VERSION#v1.}"
  {
    echo "module kavling.local/kubernetes-build"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    for m in $staging; do echo "replace $m => $m $pub"; done
  } >"$w/go.mod"
  cat >"$w/tools.go" <<'GO'
//go:build tools

// Pins the commands we build so `go mod tidy` keeps their dependencies.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  (
    cd "$w"
    go mod tidy
    mkdir -p "$dir.tmp"
    CGO_ENABLED=0 go build -trimpath -tags tools -ldflags "$ld" -o "$dir.tmp/" \
      $(printf 'k8s.io/kubernetes/cmd/%s ' "${cmds[@]}")
    rm -rf "$dir"; mv "$dir.tmp" "$dir"
  ) >"$LOGS/kubernetes-build.log" 2>&1 || { rm -rf "$w"; fail "Kubernetes build failed; see $LOGS/kubernetes-build.log"; }
  rm -rf "$w"
  say "kubernetes built: $("$dir/kube-apiserver" --version)"
}

garage_tool() {
  local root="$CACHE/garage-$GARAGE_VERSION"
  if [ -x "$root/bin/garage" ]; then say "garage $GARAGE_VERSION cached"; return; fi
  need_toolchain cargo "install Rust (rustup) to build Garage"
  say "building garage $GARAGE_VERSION with cargo install (first time only: ~11 minutes; log: $LOGS/garage-build.log)"
  # Garage is AGPL: we run it as a separate server and never link it.
  cargo install garage --locked --version "$GARAGE_VERSION" --root "$root" \
    >"$LOGS/garage-build.log" 2>&1 || fail "garage build failed; see $LOGS/garage-build.log"
  say "garage built: $root/bin/garage"
}

# go_tool NAME VERSION MODULE/cmd/PATH [BUILD-TAGS] — `go install` one command into the cache.
go_tool() {
  local name=$1 version=$2 pkg=$3 tags=${4:-} dir="$CACHE/$1-$2"
  if [ -x "$dir/$name" ]; then say "$name $version cached"; return; fi
  need_toolchain go "install Go to build $name from its module"
  say "building $name $version from $pkg (log: $LOGS/$name-build.log)"
  GOBIN="$dir.tmp" CGO_ENABLED=0 go install -trimpath -ldflags '-s -w' ${tags:+-tags "$tags"} "$pkg@$version" \
    >"$LOGS/$name-build.log" 2>&1 || fail "$name build failed; see $LOGS/$name-build.log"
  # a command in a directory named cmd installs as "cmd"
  [ -x "$dir.tmp/$name" ] || mv "$dir.tmp/$(basename "$pkg")" "$dir.tmp/$name"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  say "$name built: $dir/$name"
}

local_path_tool() {
  go_tool local-path-provisioner "$LOCAL_PATH_VERSION" github.com/rancher/local-path-provisioner
}

# NetworkPolicy enforcement on the node: kube-router with only its firewall (netpol) part.
netpol_tool() {
  go_tool kube-router "$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
}

# Cluster DNS (service names for pods), run on the node as a pod from an image built here.
coredns_tool() {
  go_tool coredns "$COREDNS_VERSION" github.com/coredns/coredns
}

helm_tool() {
  go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm
}

pebble_tool() {
  go_tool pebble "$PEBBLE_VERSION" github.com/letsencrypt/pebble/v2/cmd/pebble
}

promtool_tool() {
  # without the cloud service discoveries (their SDKs are most of the build; rules need none)
  go_tool promtool "$PROMETHEUS_VERSION" github.com/prometheus/prometheus/cmd/promtool remove_all_sd
}

registry_tool() {
  go_tool registry "$REGISTRY_VERSION" github.com/distribution/distribution/v3/cmd/registry
}

# cert-manager's own CustomResourceDefinitions, as its Go module ships them (deploy/crds/):
# installed next to Kavling's by tests/tests/coexistence.rs. Nothing of cert-manager runs.
cert_manager_crds() {
  local dir="$CACHE/cert-manager-crds-$CERT_MANAGER_VERSION" src
  if [ -s "$dir/cert-manager.io_certificates.yaml" ]; then say "cert-manager CRDs $CERT_MANAGER_VERSION cached"; return; fi
  need_toolchain go "install Go to fetch cert-manager's module"
  say "fetching cert-manager $CERT_MANAGER_VERSION's CRDs from its Go module"
  src=$(cd / && GOFLAGS=-mod=mod go mod download -json "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION" \
    2>>"$LOGS/cert-manager.log" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] && [ -d "$src/deploy/crds" ] || fail "cert-manager's module has no deploy/crds; see $LOGS/cert-manager.log"
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  cp "$src"/deploy/crds/*.yaml "$dir.tmp"/
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
}

# Traefik's go.mod replaces one of its own packages with a nested module the module zip leaves
# out (pkg/config/dynamic/ext: two empty extension structs in the open-source build), so
# `go install` refuses it; we build in a copy of the module with that directory restored.
traefik_tool() {
  local dir="$CACHE/traefik-$TRAEFIK_VERSION"
  if [ -x "$dir/traefik" ]; then say "traefik $TRAEFIK_VERSION cached"; return; fi
  need_toolchain go "install Go to build Traefik from its module"
  say "building traefik $TRAEFIK_VERSION from its module (first time only: ~6 minutes; log: $LOGS/traefik-build.log)"
  local w; w=$(mktemp -d)
  (
    set -e
    cd "$w"
    GOFLAGS=-mod=mod go mod download "github.com/traefik/traefik/v3@$TRAEFIK_VERSION"
    cp -r "$(go env GOMODCACHE)/github.com/traefik/traefik/v3@$TRAEFIK_VERSION/." src
    chmod -R u+w src; cd src
    if grep -q 'dynamic/ext => ./pkg/config/dynamic/ext' go.mod; then
      mkdir -p pkg/config/dynamic/ext
      printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24\n' >pkg/config/dynamic/ext/go.mod
      printf 'package ext\n\ntype HTTP struct{}\n\ntype Router struct{}\n' >pkg/config/dynamic/ext/ext.go
    fi
    mkdir -p "$dir.tmp"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" \
      -o "$dir.tmp/traefik" ./cmd/traefik
  ) >"$LOGS/traefik-build.log" 2>&1 || { rm -rf "$w"; fail "traefik build failed; see $LOGS/traefik-build.log"; }
  rm -rf "$w" "$dir"; mv "$dir.tmp" "$dir"
  say "traefik built: $dir/traefik"
}

case "${1:-all}" in
  apt) apt_tools ;;
  etcd) etcd_tool ;;
  kubernetes) kubernetes_tool ;;
  garage) garage_tool ;;
  registry) registry_tool ;;
  traefik) traefik_tool ;;
  local-path) local_path_tool ;;
  netpol) netpol_tool ;;
  coredns) coredns_tool ;;
  cert-manager-crds) cert_manager_crds ;;
  helm) helm_tool ;;
  promtool) promtool_tool ;;
  pebble) pebble_tool ;;
  browser) APT_PACKAGES=(chromium); apt_tools ;;  # the demo's screenshot (not needed by the tests)
  all) apt_tools; etcd_tool; kubernetes_tool; garage_tool; registry_tool; traefik_tool; local_path_tool; netpol_tool; coredns_tool; cert_manager_crds; helm_tool; promtool_tool; pebble_tool ;;
  *) fail "unknown target '$1' (apt|etcd|kubernetes|garage|registry|traefik|local-path|netpol|coredns|cert-manager-crds|helm|promtool|pebble|all)" ;;
esac
