#!/usr/bin/env bash
# Installs Kavling's CRDs, RBAC and admission policies into the local Pusat Data (as admin),
# and waits until the API server serves the new kinds.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$("$REPO/dev/stack.sh" env)"
# A discovery cache of its own: a cache from before a CRD was renamed would map a kind to
# the old resource (kubectl keeps discovery for minutes).
CACHE_DIR=$(mktemp -d); trap 'rm -rf "$CACHE_DIR"' EXIT
kubectl() { "$KAVLING_KUBECTL" --kubeconfig "$KAVLING_KUBECONFIG_DIR/admin.yaml" --cache-dir "$CACHE_DIR" "$@"; }
# A stack made by an older Kavling may hold CRDs of its group that this one no longer ships
# (certificates and issuers became tlscertificates and acmeissuers, so as not to shadow
# cert-manager's): they are removed with their objects, whose finalizers no controller serves.
shipped=$(cd "$REPO/manifests/crds" && ls -- *.yaml | sed 's/\.yaml$//')
for crd in $(kubectl get crd -o name | sed -n 's#^customresourcedefinition.apiextensions.k8s.io/\(.*\.kavling\.go\.id\)$#\1#p'); do
  grep -qx "$crd" <<<"$shipped" && continue
  echo "[manifests] removing $crd: this version of Kavling no longer ships it" >&2
  kubectl get "$crd" -A -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.namespace}{"\n"}{end}' 2>/dev/null \
    | while read -r name ns; do
      kubectl patch "$crd" "$name" ${ns:+-n "$ns"} --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
    done
  kubectl delete crd "$crd" --timeout=60s >/dev/null
done
kubectl apply --server-side --force-conflicts -f "$REPO/manifests/namespace.yaml" -f "$REPO/manifests/crds" -f "$REPO/manifests/rbac" -f "$REPO/manifests/policies" >/dev/null
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
  limits:
    newOrdersPerThreeHours: ${KAVLING_ISSUER_ORDERS_PER_3H:-300}
YAML
echo "[manifests] Issuer pusat-data → $KAVLING_ACME_DIRECTORY" >&2
