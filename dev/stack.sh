#!/usr/bin/env bash
# The local Pusat Data: a real Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager), Pebble (ACME test CA) and Garage (S3 object store) as processes on
# 127.0.0.1; one node (containerd, kubelet, kube-proxy in a network namespace of its own, with
# kube-scheduler and the Pusat Data's image registry; see dev/node/node.sh; KAVLING_NODE=0
# leaves it out); plus Kavling's operator when asked.
#
#   dev/stack.sh start      build/find the tools, start everything, wait until healthy
#   dev/stack.sh stop       stop what this stack started (by PID), keep the data
#   dev/stack.sh status     one line per component
#   dev/stack.sh env        print the stack's environment (source it: eval "$(dev/stack.sh env)")
#   dev/stack.sh operator start|stop|kill|restart   run Kavling's operator against the stack
#   dev/stack.sh dns start|stop|kill|restart        run Kavling's DNS server (port base+53)
#   dev/stack.sh garage|pebble|audit-remote stop|start   one dependency alone (outage tests)
#   dev/stack.sh destroy    stop and delete the state directory
#
# State (certificates, kubeconfigs, data, logs, PIDs) lives in $KAVLING_STACK_DIR (default
# <repo>/.stack). Ports are $KAVLING_PORT_BASE + fixed offsets (default base 17000), so a test
# stack and a demo stack can run side by side with different bases.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="${KAVLING_STACK_DIR:-$REPO/.stack}"
BASE="${KAVLING_PORT_BASE:-17000}"
CACHE="${KAVLING_CACHE:-$HOME/.cache/kavling}"
K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.4}"
GARAGE_VERSION="${GARAGE_VERSION:-2.5.0}"
START_TIMEOUT="${KAVLING_START_TIMEOUT:-90}"
DINAS_GROUP="kavling:dinas"

P_ETCD=$((BASE + 79)); P_ETCD_PEER=$((BASE + 80)); P_API=$((BASE + 443)); P_KCM=$((BASE + 257))
P_PEBBLE=$((BASE + 400)); P_PEBBLE_MGMT=$((BASE + 401)); P_PEBBLE_HTTP=$((BASE + 402)); P_PEBBLE_TLS=$((BASE + 403))
P_DNS=$((BASE + 53)); P_DNS_HTTP=$((BASE + 54)); P_OPERATOR=$((BASE + 808)); P_STANDBY=$((BASE + 809))
P_GIT=$((BASE + 418)); P_MIRROR=$((BASE + 419))
P_S3=$((BASE + 900)); P_GARAGE_RPC=$((BASE + 901)); P_GARAGE_WEB=$((BASE + 902)); P_GARAGE_ADMIN=$((BASE + 903))

BIN_ETCD="$CACHE/etcd-$ETCD_VERSION/etcd"
BIN_K8S="$CACHE/kubernetes-$K8S_VERSION"
BIN_GARAGE="$CACHE/garage-$GARAGE_VERSION/bin/garage"
CERT_MANAGER_CRDS="$CACHE/cert-manager-crds-${CERT_MANAGER_VERSION:-v1.21.2}"
BIN_HELM="$CACHE/helm-${HELM_VERSION:-v3.22.0}/helm"
BIN_PROMTOOL="$CACHE/promtool-${PROMETHEUS_VERSION:-v0.316.0}/promtool"
# Pebble from its Go module (dev/build-tools.sh pebble): ARI (RFC 9773) and `replaces`.
BIN_PEBBLE="$CACHE/pebble-${PEBBLE_VERSION:-v2.10.3}/pebble"

PKI="$STACK/pki"; KCFG="$STACK/kubeconfig"; LOGS="$STACK/logs"; RUN="$STACK/run"; DATA="$STACK/data"

# shellcheck source=node/node.sh
. "$REPO/dev/node/node.sh"

bold() { printf '\033[1m%s\033[0m' "$*"; }
say()  { printf '%s %s\n' "$(bold '[stack]')" "$*" >&2; }
die()  { printf '\033[31m[stack] error:\033[0m %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- processes

pid_of()   { cat "$RUN/$1.pid" 2>/dev/null || true; }
alive()    { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# launch NAME PORT CMD...  — start CMD in its own session, log to $LOGS/NAME.log, record PID.
launch() {
  local name=$1 port=$2; shift 2
  if alive "$name"; then say "$name already running (pid $(pid_of "$name"))"; return 0; fi
  if [ "$port" != - ] && port_busy "$port"; then
    die "$name cannot start: port 127.0.0.1:$port is already taken by another process (set KAVLING_PORT_BASE to move the stack, or stop that process)"
  fi
  mkdir -p "$LOGS" "$RUN"
  setsid "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
  STARTED+=("$name")
}

# wait_for NAME CHECK-CMD... — poll until CHECK-CMD succeeds, the process dies, or time runs out.
wait_for() {
  local name=$1; shift
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      die "$name exited during start-up; last lines of $LOGS/$name.log:
$(tail -n 15 "$LOGS/$name.log" 2>/dev/null)"
    fi
    [ $SECONDS -lt $deadline ] || die "$name did not become healthy within ${START_TIMEOUT}s; see $LOGS/$name.log"
    sleep 0.3
  done
  say "$name ${WAITING:-ready} $(printf '(%ds)' $((SECONDS - T0)))"
}

stop_one() {
  local name=$1 p; p=$(pid_of "$name")
  [ -n "$p" ] || return 0
  if kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    fi
    say "stopped $name (pid $p)"
  fi
  rm -f "$RUN/$name.pid"
}

COMPONENTS=(etcd kube-apiserver kube-controller-manager pebble garage audit-remote source-mirror)

stop_all() {
  stop_one kavling-operator-standby
  stop_one kavling-operator
  stop_one kavling-dns
  stop_node
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_one "${COMPONENTS[$i]}"; done
}

# ---------------------------------------------------------------- certificates and users

gen_ca() {
  [ -f "$PKI/ca.crt" ] && return 0
  mkdir -p "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kavling-local-ca" \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
}

# gen_cert NAME SUBJECT [SAN] — a key and certificate signed by the stack CA.
gen_cert() {
  local name=$1 subj=$2 san=${3:-}
  [ -f "$PKI/$name.crt" ] && return 0
  openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$PKI/$name.key" -out "$PKI/$name.csr" 2>/dev/null
  local ext="$PKI/$name.ext"
  if [ -n "$san" ]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >"$ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"$ext"
  fi
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

# kubeconfig USER [NAMESPACE] — a kubeconfig for a client certificate user.
kubeconfig() {
  local user=$1 ns=${2:-default}
  mkdir -p "$KCFG"
  cat >"$KCFG/$user.yaml" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: pusat-data-local
  cluster:
    server: https://127.0.0.1:$P_API
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$PKI/user-$user.crt")
    client-key-data: $(base64 -w0 "$PKI/user-$user.key")
contexts:
- name: $user@pusat-data-local
  context: {cluster: pusat-data-local, user: $user, namespace: $ns}
current-context: $user@pusat-data-local
YAML
}

# Users of the local Pusat Data: name and groups (client certificate CN and O).
USERS=(
  "admin:system:masters"
  "ani:$DINAS_GROUP"
  "rina:kavling:tenant:dinkes"
  "joko:kavling:tenant:disdik"
  "sari:kavling:tenant:bappeda"
  "andi:kavling:tenant:agam"
  "datuk:kavling:tenant:sungaipua"
  "kavling-operator:kavling:operator"
  "kavling-dns:kavling:dns"
  "kavling-restore:kavling:restore"
  "system:kube-controller-manager:"
)

gen_pki() {
  gen_ca
  gen_cert apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:10.96.0.1,IP:$NODE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # The apiserver's client certificate towards kubelets (logs, exec, port-forward).
  gen_cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client/O=kavling:apiserver"
  # (and the node's address: pods reach the ACME directory through forward-in)
  gen_cert pebble "/CN=pebble" "IP:127.0.0.1,IP:$NODE_IP,DNS:localhost"
  [ -f "$PKI/sa.key" ] || { openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null; openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null; }
  # The operator's audit signing key, made here so the audit remote can trust it before the
  # operator's first push (dev/install-manifests.sh hands it to the operator as its Secret).
  [ -f "$PKI/audit-signing" ] || ssh-keygen -q -t ed25519 -N "" -C "" -f "$PKI/audit-signing" >/dev/null
  local u name group file
  for u in "${USERS[@]}"; do
    # split on the first ':' after the user name; system:kube-controller-manager has colons itself
    if [[ $u == system:kube-controller-manager:* ]]; then name=system:kube-controller-manager; group=""; file=controller-manager
    else name=${u%%:*}; group=${u#*:}; file=$name; fi
    local subj="/CN=$name"; [ -n "$group" ] && subj="$subj/O=$group"
    gen_cert "user-$file" "$subj"
    # tenant users start in their tenant's home namespace
    if [[ $group == kavling:tenant:* ]]; then kubeconfig "$file" "tenant-${group#kavling:tenant:}"; else kubeconfig "$file"; fi
  done
}

# ---------------------------------------------------------------- components

start_etcd() {
  mkdir -p "$DATA/etcd"; chmod 700 "$DATA/etcd"
  launch etcd "$P_ETCD" "$BIN_ETCD" --name kavling --data-dir "$DATA/etcd" \
    --listen-client-urls "http://127.0.0.1:$P_ETCD" --advertise-client-urls "http://127.0.0.1:$P_ETCD" \
    --listen-peer-urls "http://127.0.0.1:$P_ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$P_ETCD_PEER" \
    --initial-cluster "kavling=http://127.0.0.1:$P_ETCD_PEER" --unsafe-no-fsync=true \
    --listen-metrics-urls "" --log-level warn
  wait_for etcd curl -fsS "http://127.0.0.1:$P_ETCD/health"
}

start_apiserver() {
  launch kube-apiserver "$P_API" "$BIN_K8S/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$P_ETCD" \
    --bind-address 127.0.0.1 --advertise-address "$(advertise_address)" --secure-port "$P_API" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
    --service-cluster-ip-range 10.96.0.0/24 --endpoint-reconciler-type "$(node_enabled && echo lease || echo none)" \
    --allow-privileged=true --disable-admission-plugins ServiceAccount \
    --enable-priority-and-fairness=false --profiling=false -v=1
  wait_for kube-apiserver curl -fsS --cacert "$PKI/ca.crt" "https://127.0.0.1:$P_API/readyz"
}

# The controllers the local Pusat Data runs: what a one-node cluster with workloads needs.
KCM_CONTROLLERS=namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller,resourcequota-controller,deployment-controller,replicaset-controller,statefulset-controller,daemonset-controller,job-controller,endpointslice-controller,endpointslice-mirroring-controller,node-lifecycle-controller,taint-eviction-controller,pod-garbage-collector-controller,disruption-controller,persistentvolume-binder-controller,persistentvolume-protection-controller,persistentvolumeclaim-protection-controller,ttl-after-finished-controller

# The address the apiserver publishes as the `kubernetes` Service's endpoint: the node's side
# of forward-in when there is a node (pods reach the API there), else loopback.
advertise_address() { if node_enabled; then echo "$NODE_IP"; else echo 127.0.0.1; fi; }

start_controller_manager() {
  launch kube-controller-manager "$P_KCM" "$BIN_K8S/kube-controller-manager" \
    --kubeconfig "$KCFG/controller-manager.yaml" \
    --authentication-kubeconfig "$KCFG/controller-manager.yaml" --authorization-kubeconfig "$KCFG/controller-manager.yaml" \
    --bind-address 127.0.0.1 --secure-port "$P_KCM" --leader-elect=false \
    --controllers "$KCM_CONTROLLERS" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true --concurrent-gc-syncs 5 -v=1
  wait_for kube-controller-manager curl -fsSk "https://127.0.0.1:$P_KCM/healthz"
}

start_pebble() {
  mkdir -p "$DATA/pebble"
  cat >"$DATA/pebble/pebble.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:$P_PEBBLE",
    "managementListenAddress": "127.0.0.1:$P_PEBBLE_MGMT",
    "certificate": "$PKI/pebble.crt",
    "privateKey": "$PKI/pebble.key",
    "httpPort": $P_PEBBLE_HTTP,
    "tlsPort": $P_PEBBLE_TLS,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false,
    "profiles": {
      "default": {"description": "the local Pusat Data's", "validityPeriod": ${KAVLING_PEBBLE_CERT_VALIDITY:-7776000}}
    }
  }
}
JSON
  # Deterministic in CI: no validation sleep, no injected bad nonces, no authorization reuse.
  # Its resolver is Kavling's DNS server, so DNS-01 validation queries our own zones.
  launch pebble "$P_PEBBLE" env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
    "$BIN_PEBBLE" -config "$DATA/pebble/pebble.json" -dnsserver "127.0.0.1:$P_DNS"
  wait_for pebble curl -fsS --cacert "$PKI/ca.crt" "https://127.0.0.1:$P_PEBBLE/dir"
  curl -fsS --cacert "$PKI/ca.crt" "https://127.0.0.1:$P_PEBBLE_MGMT/roots/0" >"$PKI/pebble-root.pem" \
    || die "pebble: could not fetch its root CA from https://127.0.0.1:$P_PEBBLE_MGMT/roots/0"
}

# The admin API calls kavling-operator makes (operator/src/objectstore/garage.rs: SCOPE).
GARAGE_OPERATOR_SCOPE=GetBucketInfo,CreateBucket,UpdateBucket,DeleteBucket,AllowBucketKey,ImportKey,GetKeyInfo,UpdateKey,DeleteKey

garage_cli() { "$BIN_GARAGE" -c "$DATA/garage/garage.toml" "$@"; }

# The audit repository's remote: a bare repository served by real `git daemon` (git://) on
# loopback, accepting pushes only of the operator's signed history (pre-receive hook). The operator keeps its own copy in $DATA/audit and pushes here.
start_audit_remote() {
  mkdir -p "$DATA/git"
  [ -d "$DATA/git/audit.git" ] || git init -q --bare -b main "$DATA/git/audit.git"
  # No automatic gc after a push: a detached `git gc --auto` keeps the client's connection
  # open until it has repacked (tens of seconds once thousands of audit commits are loose),
  # and the operator's push waits that long.
  git --git-dir="$DATA/git/audit.git" config receive.autogc false
  # Only the operator's signed, fast-forward history of main is accepted (see the hook).
  printf 'kavling-audit@kavling.go.id namespaces="git" %s\n' "$(cut -d' ' -f1,2 "$PKI/audit-signing.pub")" \
    >"$DATA/git/allowed_signers"
  install -m 0755 "$REPO/dev/audit-remote-pre-receive" "$DATA/git/audit.git/hooks/pre-receive"
  # git-daemon itself, not the `git daemon` wrapper, so the recorded PID is the server's.
  launch audit-remote "$P_GIT" "$(git --exec-path)/git-daemon" --reuseaddr --listen=127.0.0.1 --port="$P_GIT" \
    --base-path="$DATA/git" --export-all --enable=receive-pack --informative-errors \
    --init-timeout=10 --timeout=30 "$DATA/git"
  wait_for audit-remote git ls-remote "git://127.0.0.1:$P_GIT/audit.git"
}

# The Pusat Data's source mirror: application code hostings fetch once (OpenSID), served
# read-only by a second `git daemon` — never the audit remote, and nothing from the internet.
# Locally it holds dev/fixtures/opensid as opensid.git (branch master, tag v2411.0.0), committed
# with fixed dates so its hash is the same on every machine.
start_source_mirror() {
  local src="$DATA/sources" work
  mkdir -p "$src"
  work=$(mktemp -d)
  git -C "$work" init -q -b master
  cp -R "$REPO/dev/fixtures/opensid/." "$work/"
  git -C "$work" add -A
  GIT_AUTHOR_DATE=@1735689600 GIT_COMMITTER_DATE=@1735689600 \
    git -C "$work" -c user.name="Pusat Data" -c user.email=mirror@pusat-data.local -c commit.gpgsign=false \
    commit -qm "OpenSID (fixture for the local Pusat Data)"
  git -C "$work" -c tag.gpgsign=false tag v2411.0.0
  rm -rf "$src/opensid.git.tmp"
  git clone -q --bare "$work" "$src/opensid.git.tmp"
  rm -rf "$work" "$src/opensid.git"; mv "$src/opensid.git.tmp" "$src/opensid.git"
  launch source-mirror "$P_MIRROR" "$(git --exec-path)/git-daemon" --reuseaddr --listen=127.0.0.1 --port="$P_MIRROR" \
    --base-path="$src" --export-all --informative-errors "$src"
  wait_for source-mirror git ls-remote "git://127.0.0.1:$P_MIRROR/opensid.git"
}

start_garage() {
  mkdir -p "$DATA/garage/meta" "$DATA/garage/data"
  [ -f "$DATA/garage/rpc_secret" ] || openssl rand -hex 32 >"$DATA/garage/rpc_secret"
  [ -f "$STACK/garage-admin-token" ] || openssl rand -base64 32 | tr -d '\n' >"$STACK/garage-admin-token"
  cat >"$DATA/garage/garage.toml" <<TOML
metadata_dir = "$DATA/garage/meta"
data_dir = "$DATA/garage/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$P_GARAGE_RPC"
rpc_public_addr = "127.0.0.1:$P_GARAGE_RPC"
rpc_secret = "$(cat "$DATA/garage/rpc_secret")"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$P_S3"
root_domain = ".s3.localhost"

[s3_web]
bind_addr = "127.0.0.1:$P_GARAGE_WEB"
root_domain = ".web.localhost"

[admin]
api_bind_addr = "127.0.0.1:$P_GARAGE_ADMIN"
admin_token = "$(cat "$STACK/garage-admin-token")"
TOML
  launch garage "$P_S3" "$BIN_GARAGE" -c "$DATA/garage/garage.toml" server
  WAITING=answering wait_for garage garage_cli status
  # A single node with replication factor 1 needs a layout before it serves.
  # (captured first: `… | grep -q` under pipefail fails at random when grep exits early)
  local layout; layout=$(garage_cli layout show 2>&1 || true)
  if [[ $layout == *"layout version: 0"* || $layout == *"No nodes currently have a role"* ]]; then
    local node; node=$(garage_cli node id -q | cut -d@ -f1)
    garage_cli layout assign -z pusat-data -c 10G "$node" >>"$LOGS/garage.log" 2>&1 || die "garage: layout assign failed; see $LOGS/garage.log"
    garage_cli layout apply --version 1 >>"$LOGS/garage.log" 2>&1 || die "garage: layout apply failed; see $LOGS/garage.log"
  fi
  wait_for garage curl -fsS -H "Authorization: Bearer $(cat "$STACK/garage-admin-token")" \
    "http://127.0.0.1:$P_GARAGE_ADMIN/health"
  # The operator gets a token scoped to the admin calls it makes, never the root token.
  if [ ! -s "$STACK/garage-operator-token" ]; then
    garage_cli admin-token create -q --scope "$GARAGE_OPERATOR_SCOPE" kavling-operator \
      >"$STACK/garage-operator-token" 2>>"$LOGS/garage.log" \
      || die "garage: could not create the operator's scoped admin token; see $LOGS/garage.log"
  fi
}

write_env() {
  cat >"$STACK/stack.env" <<ENV
# The local Pusat Data's addresses and credentials (written by dev/stack.sh).
KAVLING_STACK_DIR=$STACK
KAVLING_PORT_BASE=$BASE
KAVLING_KUBECONFIG_DIR=$KCFG
KAVLING_API_SERVER=https://127.0.0.1:$P_API
KAVLING_CA=$PKI/ca.crt
KAVLING_DNS_ADDR=127.0.0.1:$P_DNS
KAVLING_DNS_HTTP=127.0.0.1:$P_DNS_HTTP
KAVLING_OPERATOR_ADDR=127.0.0.1:$P_OPERATOR
KAVLING_STANDBY_ADDR=127.0.0.1:$P_STANDBY
KAVLING_ACME_DIRECTORY=https://127.0.0.1:$P_PEBBLE/dir
KAVLING_ACME_CA_BUNDLE=$PKI/ca.crt
KAVLING_PEBBLE_MGMT=https://127.0.0.1:$P_PEBBLE_MGMT
KAVLING_PEBBLE_ROOT=$PKI/pebble-root.pem
KAVLING_S3_ENDPOINT=http://127.0.0.1:$P_S3
KAVLING_S3_REGION=garage
KAVLING_GARAGE_ADMIN=http://127.0.0.1:$P_GARAGE_ADMIN
KAVLING_GARAGE_ADMIN_TOKEN_FILE=$STACK/garage-admin-token
KAVLING_GARAGE_OPERATOR_TOKEN_FILE=$STACK/garage-operator-token
KAVLING_KUBECTL=$BIN_K8S/kubectl
KAVLING_CERT_MANAGER_CRDS=$CERT_MANAGER_CRDS
KAVLING_HELM=$BIN_HELM
KAVLING_PROMTOOL=$BIN_PROMTOOL
KAVLING_AUDIT_REPO=git://127.0.0.1:$P_GIT/audit.git
KAVLING_AUDIT_LOCAL=$DATA/audit
KAVLING_AUDIT_SIGNING_KEY=$PKI/audit-signing
KAVLING_NODE_IP=$(node_enabled && echo "$NODE_IP")
KAVLING_NETNS=$(node_enabled && echo "$NETNS_PATH")
KAVLING_REGISTRY=127.0.0.1:$P_REGISTRY
KAVLING_IMAGE_REGISTRY=$REGISTRY_NAME/kavling
KAVLING_SOURCE_MIRROR=$(node_enabled && echo "git://$NODE_IP:$P_MIRROR")
KAVLING_NODE_ACME_DIRECTORY=$(node_enabled && echo "https://$NODE_IP:$P_PEBBLE/dir")
KAVLING_NODE_GARAGE_ADMIN=$(node_enabled && echo "http://$NODE_IP:$P_GARAGE_ADMIN")
KAVLING_NODE_S3_ENDPOINT=$(node_enabled && echo "http://$NODE_IP:$P_S3")
KAVLING_NODE_AUDIT_REMOTE=$(node_enabled && echo "git://$NODE_IP:$P_GIT/audit.git")
KAVLING_INGRESS_ADDRESS=$(ingress_address)
KAVLING_INGRESS_NAMESPACE=$INGRESS_NAMESPACE
KAVLING_INGRESS_CLASS=$INGRESS_CLASS
ENV
}

check_tools() {
  local missing=()
  [ -x "$BIN_ETCD" ] || missing+=(etcd)
  [ -x "$BIN_K8S/kube-apiserver" ] && [ -x "$BIN_K8S/kubelet" ] || missing+=(kubernetes)
  [ -s "$CERT_MANAGER_CRDS/cert-manager.io_certificates.yaml" ] || missing+=(cert-manager-crds)
  [ -x "$BIN_HELM" ] || missing+=(helm)
  [ -x "$BIN_PROMTOOL" ] || missing+=(promtool)
  if node_enabled; then
    [ -x "$BIN_REGISTRY" ] || missing+=(registry)
    [ -x "$BIN_LOCAL_PATH" ] || missing+=(local-path)
    [ -x "$BIN_KUBE_ROUTER" ] || missing+=(netpol)
    [ -x "$CACHE/coredns-${COREDNS_VERSION:-v1.15.0}/coredns" ] || missing+=(coredns)
    [ -x "$CACHE/traefik-${TRAEFIK_VERSION:-v3.6.12}/traefik" ] || missing+=(traefik)
    command -v containerd >/dev/null && command -v mmdebstrap >/dev/null || missing+=(apt)
  fi
  [ -x "$BIN_GARAGE" ] || missing+=(garage)
  [ -x "$BIN_PEBBLE" ] || missing+=(pebble)
  command -v openssl >/dev/null || missing+=(apt)
  if [ ${#missing[@]} -gt 0 ]; then
    say "missing: ${missing[*]} — building (cached under $CACHE)"
    for t in $(printf '%s\n' "${missing[@]}" | sort -u); do "$REPO/dev/build-tools.sh" "$t"; done
  fi
}

cmd_start() {
  check_tools
  STARTED=()
  T0=$SECONDS
  # Anything that fails below stops every component, so nothing half-started is left running.
  trap 'rc=$?; if [ $rc -ne 0 ]; then say "start failed — stopping what was started"; stop_all; fi' EXIT
  mkdir -p "$STACK" "$LOGS" "$RUN"
  gen_pki
  write_env
  start_etcd
  start_apiserver
  start_controller_manager
  start_pebble
  start_garage
  start_audit_remote
  start_source_mirror
  start_node
  trap - EXIT
  say "local Pusat Data is up in $((SECONDS - T0))s — kubeconfigs in $KCFG (admin; ani [Dinas]; rina [dinkes], joko [disdik], sari [bappeda], andi [agam], datuk [sungaipua])"
}

cmd_status() {
  local c rc=0
  local node=(); node_enabled && node=("${NODE_COMPONENTS[@]}")
  for c in "${COMPONENTS[@]}" "${node[@]}" kavling-operator kavling-dns; do
    if alive "$c"; then printf '%-26s running (pid %s)\n' "$c" "$(pid_of "$c")"
    else printf '%-26s stopped\n' "$c"; [[ $c == kavling-* ]] || rc=1; fi
  done
  return $rc
}

# cmd_component NAME start|stop|kill|restart — Kavling's own processes against the stack.
cmd_component() {
  local name=$1; shift
  [ -f "$STACK/stack.env" ] || die "the stack is not started; run dev/stack.sh start"
  local target="${CARGO_TARGET_DIR:-$REPO/target}/debug"
  local bin port health args audit="" kcfg="$KCFG/$name.yaml" extra_env=()
  # where OpenSID's code comes from: the source mirror as the node's pods reach it
  node_enabled && extra_env+=(KAVLING_SOURCE_MIRROR="git://$NODE_IP:$P_MIRROR")
  case "$name" in
    kavling-operator)
      bin="${KAVLING_OPERATOR_BIN:-$target/kavling-operator}"; port=$P_OPERATOR; audit="$DATA/audit"
      health="http://127.0.0.1:$P_OPERATOR/readyz"; args=(--listen "127.0.0.1:$P_OPERATOR") ;;
    kavling-operator-standby) # a second replica for failover tests: its own audit copy and port
      bin="${KAVLING_OPERATOR_BIN:-$target/kavling-operator}"; port=$P_STANDBY; audit="$DATA/audit-standby"; kcfg="$KCFG/kavling-operator.yaml"
      health="http://127.0.0.1:$P_STANDBY/readyz"; args=(--listen "127.0.0.1:$P_STANDBY") ;;
    kavling-dns)
      bin="${KAVLING_DNS_BIN:-$target/kavling-dns}"; port=$P_DNS
      health="http://127.0.0.1:$P_DNS_HTTP/readyz"; args=(--listen "127.0.0.1:$P_DNS" --http "127.0.0.1:$P_DNS_HTTP") ;;
  esac
  case "${1:-start}" in
    start)
      [ -x "$bin" ] || die "$name is not built ($bin); run cargo build --workspace"
      STARTED=()
      # TMPDIR names no directory: as under the Deployment's readOnlyRootFilesystem, Kavling's
      # processes must not need to write anywhere but their data directory.
      # One identity per replica, kept across restarts (as a pod's name is), so a restarted
      # leader takes its lease back at once instead of waiting it out.
      launch "$name" "$port" env RUST_LOG="${RUST_LOG:-info,kube=warn}" KUBECONFIG="$kcfg" \
        TMPDIR="$STACK/no-tmp-for-kavling" KAVLING_LEADER_IDENTITY="stack-$name" \
        KAVLING_GARAGE_ADMIN="http://127.0.0.1:$P_GARAGE_ADMIN" KAVLING_GARAGE_TOKEN_FILE="$STACK/garage-operator-token" \
        KAVLING_S3_ENDPOINT="http://127.0.0.1:$P_S3" KAVLING_S3_REGION=garage \
        KAVLING_DNS_SERVERS="127.0.0.1:$P_DNS" KAVLING_INGRESS_ADDRESSES="${KAVLING_INGRESS_ADDRESSES:-$(ingress_address)}" \
        KAVLING_INGRESS_NAMESPACE="$INGRESS_NAMESPACE" KAVLING_INGRESS_CLASS="$INGRESS_CLASS" \
        KAVLING_IMAGE_REGISTRY="$REGISTRY_NAME/kavling" \
        "${extra_env[@]}" \
        KAVLING_AUDIT_REPO="$audit" KAVLING_AUDIT_REMOTE="git://127.0.0.1:$P_GIT/audit.git" \
        KAVLING_DENIED_TARGET_CIDRS="10.96.0.0/24" \
        "$bin" "${args[@]}"
      T0=$SECONDS
      wait_for "$name" curl -fsS "$health" ;;
    stop) stop_one "$name" ;;
    kill) # for crash tests: no chance to clean up
      local p; p=$(pid_of "$name")
      if [ -n "$p" ]; then
        kill -KILL "$p" 2>/dev/null || true
        # SIGKILL is delivered asynchronously: wait until the process (and its port) is gone.
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
      fi
      rm -f "$RUN/$name.pid" ;;
    restart) stop_one "$name"; cmd_component "$name" start ;;
    *) die "usage: dev/stack.sh ${name#kavling-} start|stop|kill|restart" ;;
  esac
}

case "${1:-}" in
  start) cmd_start ;;
  stop) stop_all ;;
  status) cmd_status ;;
  env) sed -e '/^#/d' -e 's/^/export /' "$STACK/stack.env" ;;
  operator) shift; cmd_component kavling-operator "$@" ;;
  operator-standby) shift; cmd_component kavling-operator-standby "$@" ;;
  dns) shift; cmd_component kavling-dns "$@" ;;
  garage|pebble|audit-remote|apiserver|etcd) # for outage tests: stop and start one dependency alone
    c=$1; shift; [ -f "$STACK/stack.env" ] || die "the stack is not started"
    process=$c; [ "$c" = apiserver ] && process=kube-apiserver
    case "${1:-}" in
      stop) stop_one "$process" ;;
      start) STARTED=(); T0=$SECONDS; "start_${c//-/_}" ;;
      *) die "usage: dev/stack.sh $c stop|start" ;;
    esac ;;
  destroy) stop_all; destroy_node; rm -rf "$STACK"; say "removed $STACK" ;;
  *) echo "usage: dev/stack.sh start|stop|status|env|destroy|operator start|stop|kill|restart|dns start|stop|kill|restart|garage|pebble|audit-remote|apiserver|etcd stop|start" >&2; exit 2 ;;
esac
