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

# The local ACME CA (Pebble) as the Issuer `pusat-data`, the operator's default Issuer: its
# directory's TLS is signed by the stack CA; ca.crt in issued Secrets is Pebble's root.
indent() { sed 's/^/    /' "$1"; }
kubectl apply --server-side --force-conflicts -f - >/dev/null <<YAML
apiVersion: kavling.go.id/v1alpha1
kind: Issuer
metadata:
  name: pusat-data
spec:
  directory: $KAVLING_ACME_DIRECTORY
  contact: [tik@pusatdata.example.go.id]
  caBundle: |
$(indent "$KAVLING_ACME_CA_BUNDLE")
  caCertificate: |
$(indent "$KAVLING_PEBBLE_ROOT")
YAML
echo "[manifests] Issuer pusat-data → $KAVLING_ACME_DIRECTORY" >&2
