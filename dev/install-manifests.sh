#!/usr/bin/env bash
# Installs Kavling's CRDs, RBAC and admission policies into the local Pusat Data (as admin),
# and waits until the API server serves the new kinds.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$("$REPO/dev/stack.sh" env)"
kubectl() { "$KAVLING_KUBECTL" --kubeconfig "$KAVLING_KUBECONFIG_DIR/admin.yaml" "$@"; }
kubectl apply --server-side --force-conflicts -f "$REPO/manifests/crds" -f "$REPO/manifests/rbac" -f "$REPO/manifests/policies" >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f "$REPO/manifests/crds" >/dev/null
echo "[manifests] CRDs, RBAC and admission policies installed" >&2
