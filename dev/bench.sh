#!/usr/bin/env bash
# Benchmarks against the local Pusat Data (started if needed, with the operator built in
# release mode so the figures are not those of a debug build).
#   dev/bench.sh [N] [BURST]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export KAVLING_STACK_DIR="${KAVLING_BENCH_STACK_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/bench-stack}"
export KAVLING_PORT_BASE="${KAVLING_BENCH_PORT_BASE:-19000}"
dev/build-tools.sh all
cargo build --release --quiet -p kavling-operator -p kavling-bench
export KAVLING_OPERATOR_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/kavling-operator"
dev/stack.sh destroy >/dev/null 2>&1 || true
dev/stack.sh start
trap 'dev/stack.sh stop >/dev/null 2>&1 || true' EXIT
dev/install-manifests.sh
RUST_LOG=warn dev/stack.sh operator start
"${CARGO_TARGET_DIR:-$REPO/target}/release/approve-to-ready" "$@"
