#!/usr/bin/env bash
# The main job: bring up the local Pusat Data, install Kavling, run the operator, let each
# tenant file its example requests, let the Dinas approve them, and show what was created.
# Safe to run again: everything it does is idempotent.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }

step "tools (cached after the first run; the first builds Kubernetes from source)"
dev/build-tools.sh all
step "building Kavling"
cargo build --workspace --quiet
BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug"

step "starting the local Pusat Data"
dev/stack.sh start
dev/install-manifests.sh
dev/stack.sh operator restart
dev/stack.sh dns restart
eval "$(dev/stack.sh env)"
as() { local u=$1; shift; "$KAVLING_KUBECTL" --kubeconfig "$KAVLING_KUBECONFIG_DIR/$u.yaml" "$@"; }
kavling() { local u=$1; shift; "$BIN/kavling" --kubeconfig "$KAVLING_KUBECONFIG_DIR/$u.yaml" "$@"; }

step "the Dinas (ani) registers zones and tenants"
as ani apply --server-side -f examples/zones.yaml -f examples/tenants.yaml
as ani wait --for=condition=Ready --timeout=60s tenant --all >/dev/null

step "each tenant files its requests in its own name"
for f in examples/requests/*.yaml; do
  user=$(awk '/requestedBy:/ {print $2; exit}' "$f")
  printf '%-8s ' "$user"; as "$user" apply --server-side -f "$f"
done

step "the Dinas reviews and approves"
kavling ani get requests -A
for f in examples/requests/*.yaml; do
  ns=$(awk '/namespace:/ {print $2; exit}' "$f"); name=$(awk '/^  name:/ {print $2; exit}' "$f")
  decided=$(as ani get request -n "$ns" "$name" -o jsonpath='{.status.decision.approval}' 2>/dev/null || true)
  if [ -n "$decided" ]; then echo "already decided: $ns/$name ($decided)"; continue; fi
  kavling ani approve -n "$ns" "$name" --reason "sesuai ketentuan"
done

step "following the subdomain requests until their names are served"
for f in examples/requests/*.yaml; do
  grep -q '^  subdomain:' "$f" || continue
  ns=$(awk '/namespace:/ {print $2; exit}' "$f"); name=$(awk '/^  name:/ {print $2; exit}' "$f")
  echo "-- $ns/$name"; kavling ani wait -n "$ns" "$name" --timeout 60
done

step "following the storage requests until their buckets are ready"
for f in examples/requests/*.yaml; do
  grep -q '^  storage:' "$f" || continue
  ns=$(awk '/namespace:/ {print $2; exit}' "$f"); name=$(awk '/^  name:/ {print $2; exit}' "$f")
  user=$(awk '/requestedBy:/ {print $2; exit}' "$f")
  echo "-- $ns/$name"; kavling ani wait -n "$ns" "$name" --timeout 60
  # the tenant reads its credentials Secret and uses it with a plain S3 client (curl's SigV4)
  secret=$(as "$user" get bucket -n "$ns" "$name" -o jsonpath='{.status.secretName}')
  field() { as "$user" get secret -n "$ns" "$secret" -o "jsonpath={.data.$1}" | base64 -d; }
  url="$(field endpoint)/$(field bucket)/demo/halo.txt"
  # (Garage wants the payload hash header; curl signs it when given)
  s3() { curl -fsS --aws-sigv4 "aws:amz:$(field region):s3" --user "$(field accessKeyId):$(field secretAccessKey)" \
           -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
  echo "Selamat datang di Pusat Data" | s3 -X PUT --data-binary @- "$url" >/dev/null
  echo "   $user wrote and read back over S3 with Secret $secret: \"$(s3 "$url")\""
done

step "hosting: each approved hosting request becomes its own namespace, rendered from its template"
for f in examples/requests/*.yaml; do
  grep -q '^  hosting:' "$f" || continue
  ns=$(awk '/namespace:/ {print $2; exit}' "$f"); name=$(awk '/^  name:/ {print $2; exit}' "$f")
  echo "-- $ns/$name"; kavling ani wait -n "$ns" "$name" --timeout 60
done
kavling ani get hostings -A
echo "   the department's static site runs on the node (image from the Pusat Data's registry):"
as admin wait --for=condition=Available --timeout=120s deploy/web -n disdik--situs >/dev/null
as admin get pods -n disdik--situs -o wide
echo "   the village's OpenSID: code fetched from the Pusat Data's git mirror, PHP 8.4 + nginx, and its MariaDB:"
as admin wait --for=condition=Available --timeout=240s deploy/web -n sungaipua--opensid >/dev/null \
  || echo "   (OpenSID is not Available yet; see: kubectl get pods -n sungaipua--opensid)"
as admin get pods -n sungaipua--opensid -o wide

step "TLS: every subdomain that wants it gets a certificate from the ACME CA (Pebble), DNS-01 through our zones"
as ani wait --for=condition=Ready --timeout=120s tlscertificates.kavling.go.id --all -A >/dev/null \
  || echo "   (some certificates are not Ready yet; see: kavling get certificates -A -o wide)"
kavling ani get certificates -A

step "the names answer from Kavling's own DNS server (dig @${KAVLING_DNS_ADDR})"
DNS_PORT=${KAVLING_DNS_ADDR##*:}
for q in "dinkes.bukittinggikota.go.id A" "dinkes.bukittinggikota.go.id AAAA" "sehat.bukittinggikota.go.id A" \
         "www-nagari.sungaipua.desa.id A" "belum-ada.bukittinggikota.go.id A"; do
  # shellcheck disable=SC2086
  out=$(dig @127.0.0.1 -p "$DNS_PORT" +norec +noall +answer +comments $q | grep -E 'status:|IN' | sed 's/^;; ->>HEADER<<- //')
  printf '%s\n' "$out"
done

step "the department's site opens over HTTPS at its official name, with the certificate Kavling obtained"
SITE=disdik.bukittinggikota.go.id
ADDR=$(dig @127.0.0.1 -p "$DNS_PORT" +short "$SITE" A)
echo "   Kavling's DNS: $SITE A $ADDR (the node's ingress)"
https() { curl -sS --max-time 5 --resolve "$SITE:443:$ADDR" --cacert "$KAVLING_PEBBLE_ROOT" "$@" "https://$SITE/"; }
for _ in $(seq 1 60); do https -o /dev/null 2>/dev/null && break; sleep 1; done
echo "   certificate served: $(echo | openssl s_client -connect "$ADDR:443" -servername "$SITE" 2>/dev/null \
  | openssl x509 -noout -subject -issuer -enddate | tr '\n' ' ')"
echo "   before upload: $(https | grep -o '<h1>[^<]*</h1>')"
# joko (Dinas Pendidikan) puts the site in with kubectl exec (SFTP is a later issue)
printf '%s\n' '<!doctype html><html lang="id"><meta charset="utf-8"><title>Dinas Pendidikan</title>' \
  '<h1>Dinas Pendidikan Kota Bukittinggi</h1><p>Situs resmi, dilayani Pusat Data melalui Kavling.</p></html>' \
  | as joko exec -i -n disdik--situs deploy/web -- sh -c 'cat > /usr/share/nginx/html/index.html'
echo "   after upload:  $(https | grep -o '<h1>[^<]*</h1>')"
if dev/build-tools.sh browser >/dev/null 2>&1 && command -v chromium >/dev/null; then
  # Chromium trusts exactly the key the site serves (its SPKI pin); curl above checked the chain.
  SPKI=$(echo | openssl s_client -connect "$ADDR:443" -servername "$SITE" 2>/dev/null | openssl x509 -pubkey -noout \
    | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --window-size=1000,500 \
    --host-resolver-rules="MAP $SITE $ADDR" --ignore-certificate-errors-spki-list="$SPKI" \
    --screenshot="$KAVLING_STACK_DIR/disdik.png" "https://$SITE/" >/dev/null 2>&1 \
    && echo "   screenshot (headless Chromium): $KAVLING_STACK_DIR/disdik.png"
fi
kavling ani suspend hosting -n tenant-disdik situs --reason "pemeliharaan server" >/dev/null
for _ in $(seq 1 60); do https 2>/dev/null | grep -q ditangguhkan && break; sleep 1; done
echo "   suspended:     $(https | grep -o '<h1>[^<]*</h1>')"
kavling ani resume hosting -n tenant-disdik situs >/dev/null
for _ in $(seq 1 60); do https 2>/dev/null | grep -q 'Dinas Pendidikan' && break; sleep 1; done
echo "   resumed:       $(https | grep -o '<h1>[^<]*</h1>')"

step "the village's OpenSID opens over HTTPS at its name, with its database"
SID=sid.sungaipua.desa.id
SID_ADDR=$(dig @127.0.0.1 -p "$DNS_PORT" +short "$SID" A)
sid() { curl -sS --max-time 5 --resolve "$SID:443:$SID_ADDR" --cacert "$KAVLING_PEBBLE_ROOT" "$@" "https://$SID/"; }
for _ in $(seq 1 120); do sid 2>/dev/null | grep -q 'terhubung' && break; sleep 1; done
echo "   Kavling's DNS: $SID A $SID_ADDR"
sid | sed -n 's/.*<h1>\([^<]*\)<\/h1>.*/   \1/p; s/.*<p>\(Basis data[^<]*\)<\/p>.*/   \1/p; s/.*<p>\(PHP [^<]*\)<\/p>.*/   \1/p'

step "what the Pusat Data now holds"
kavling ani get tenants
echo; kavling ani get zones
echo; kavling ani get requests -A -o wide
echo; kavling ani get subdomains
echo; kavling ani get records
echo; kavling ani get buckets -A -o wide

step "every change above is one signed commit in the audit repository ($KAVLING_AUDIT_REPO)"
# The remote catches up within a second of the last commit; give it a moment.
for _ in $(seq 1 50); do
  [ "$(git ls-remote "$KAVLING_AUDIT_REPO" refs/heads/main | cut -f1)" = "$(git --git-dir="$KAVLING_AUDIT_LOCAL" rev-parse main)" ] && break
  sleep 0.2
done
kavling ani audit log --kind Subdomain -o wide
echo; kavling ani audit verify
kavling ani audit allowed-signers >"$KAVLING_STACK_DIR/allowed_signers"
CLONE="$KAVLING_STACK_DIR/audit-clone"; rm -rf "$CLONE"; git clone -q "$KAVLING_AUDIT_REPO" "$CLONE"
git -C "$CLONE" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$KAVLING_STACK_DIR/allowed_signers" \
  log -3 --format='%G? %h %s'
echo "(G = a good signature, checked by plain git)"
cat <<MSG

The local Pusat Data keeps running. Try, for example:
  export KUBECONFIG=$KAVLING_KUBECONFIG_DIR/rina.yaml    # a Dinas Kesehatan user
  $BIN/kavling get requests
  $BIN/kavling describe request portal
  KUBECONFIG=$KAVLING_KUBECONFIG_DIR/ani.yaml $BIN/kavling suspend subdomain dinkes.bukittinggikota.go.id --reason "evaluasi"
  KUBECONFIG=$KAVLING_KUBECONFIG_DIR/ani.yaml $BIN/kavling describe bucket -n tenant-agam arsip
  KAVLING_AUDIT_REPO=$KAVLING_AUDIT_REPO $BIN/kavling audit log --tenant dinkes
Stop it with dev/stack.sh stop (data kept) or dev/stack.sh destroy.
MSG
