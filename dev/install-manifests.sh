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

# The audit signing key the stack made (the audit remote trusts exactly this key), as the
# operator's Secret; an existing Secret is never replaced.
if ! kubectl get secret -n kavling-system kavling-audit-signing-key >/dev/null 2>&1; then
  kubectl create secret generic -n kavling-system kavling-audit-signing-key \
    --type=kubernetes.io/ssh-auth --from-file=ssh-privatekey="$KAVLING_AUDIT_SIGNING_KEY" >/dev/null
  kubectl label secret -n kavling-system kavling-audit-signing-key app.kubernetes.io/managed-by=kavling >/dev/null
fi

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
