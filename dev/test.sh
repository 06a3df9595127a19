#!/usr/bin/env bash
# The tests: unit tests, then end-to-end tests against a fresh local Pusat Data started on its
# own ports and state directory (so a running demo is not disturbed), stopped afterwards.
#
# Usage: dev/test.sh [extra cargo test args]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export KAVLING_STACK_DIR="${KAVLING_TEST_STACK_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/e2e-stack}"
export KAVLING_PORT_BASE="${KAVLING_TEST_PORT_BASE:-18000}"
# Pebble issues 60-second certificates here, so renewal (at two thirds) happens within a test.
export KAVLING_PEBBLE_CERT_VALIDITY=60
# ...so every certificate is ordered again about every 40 s while the suite runs: Let's
# Encrypt's 300 orders per 3 hours (the Issuer's default) ran out before node.rs once the
# chaos test's certificates joined (its HTTPS sites then waited for budget). The budget
# itself is tested with an Issuer of its own (certificates.rs).
export KAVLING_ISSUER_ORDERS_PER_3H=5000
# ask Pebble for renewal windows (ARI) every few seconds, as it would be hours in production
export KAVLING_ARI_POLL_SECONDS=5

dev/build-tools.sh all
echo "[test] building the workspace" >&2
cargo build --workspace --all-targets --quiet

"$REPO/dev/stack.sh" destroy >/dev/null 2>&1 || true
"$REPO/dev/stack.sh" start
trap '"$REPO/dev/stack.sh" stop >/dev/null 2>&1 || true' EXIT
"$REPO/dev/install-manifests.sh"
"$REPO/dev/stack.sh" operator start
"$REPO/dev/stack.sh" dns start

echo "[test] unit and end-to-end tests" >&2
cargo test --workspace "$@"
