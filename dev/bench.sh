#!/usr/bin/env bash
# Benchmarks against a fresh local Pusat Data, with the operator and DNS server built in
# release mode so the figures are not those of a debug build.
#   dev/bench.sh [approve|storage|tls|hosting|hosting-https|dns-change|zone-fill|at-size|province|audit|audit-drain|chaos|all] [N]
# (The DNS query-path benchmark against NSD and Knot is bench/dns.sh; it needs no stack.)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export KAVLING_STACK_DIR="${KAVLING_BENCH_STACK_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/bench-stack}"
export KAVLING_PORT_BASE="${KAVLING_BENCH_PORT_BASE:-19000}"
dev/build-tools.sh all
cargo build --release --quiet -p kavling-operator -p kavling-dns -p kavling-bench -p kavling-cli
REL="${CARGO_TARGET_DIR:-$REPO/target}/release"
# (KAVLING_OPERATOR_BIN may name a wrapper, e.g. one that runs it under a profiler)
export KAVLING_OPERATOR_BIN="${KAVLING_OPERATOR_BIN:-$REL/kavling-operator}" KAVLING_DNS_BIN="$REL/kavling-dns"
dev/stack.sh destroy >/dev/null 2>&1 || true
dev/stack.sh start
trap 'dev/stack.sh stop >/dev/null 2>&1 || true' EXIT
dev/install-manifests.sh
RUST_LOG=warn dev/stack.sh operator start
RUST_LOG=warn dev/stack.sh dns start
what="${1:-all}"; shift || true
case "$what" in
  approve) "$REL/approve-to-ready" subdomain "$@" ;;
  storage) "$REL/approve-to-ready" storage "$@" ;;
  tls) "$REL/approve-to-ready" tls "$@" ;;
  hosting) "$REL/approve-to-ready" hosting "$@" ;;
  hosting-https) "$REL/hosting-https" "$@" ;;
  dns-change) "$REL/dns-change" "$@" ;;
  zone-fill) "$REL/zone-fill" "$@" ;;
  # approvals made *at* size: a zone of N records first, then M subdomain requests
  at-size) "$REL/zone-fill" "${1:-20000}"; echo; "$REL/approve-to-ready" subdomain "${2:-200}" 10 ;;
  # the size of a province: tenants, subdomain requests (some with TLS), DnsRecords; per 1,000,
  # approve → Ready at size vs empty, RSS per component, audit drain/verify, restart
  province) "$REL/province" "$@" ;;
  # N approvals under >= KILLS operator SIGKILLs, then each dependency down mid-burst; checked
  chaos) KAVLING_BIN_DIR="$REL" "$REL/chaos" "$@" ;;
  # 2N commits of a zone being filled through the writer with its packing, vs the rule before
  audit-drain) "$REL/audit" drain "${1:-20000}" ;;
  audit) "$REL/audit" cluster "${1:-100}"; echo; "$REL/audit" repo "${2:-10000}"; echo; "$REL/audit" layout "${3:-4000}" ;;
  all) "$REL/approve-to-ready" subdomain 100 10; echo; "$REL/approve-to-ready" storage 100 10; echo; "$REL/approve-to-ready" tls 50 10; echo; "$REL/approve-to-ready" hosting 100 10; echo; "$REL/dns-change" 1000; echo; "$REL/audit" cluster 100; echo; "$REL/audit" repo 10000 ;;
  *) echo "usage: dev/bench.sh [approve|storage|tls|hosting|hosting-https|dns-change|zone-fill|at-size|province|audit|audit-drain|chaos|all] [N]" >&2; exit 2 ;;
esac
