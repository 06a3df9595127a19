# The local Pusat Data's node, sourced by dev/stack.sh: one Kubernetes node whose runtime
# (containerd + runc + CNI bridge), kubelet and kube-proxy live in a network namespace of their
# own (kavling-<port base>), so two stacks never share iptables rules, ports or pod addresses and
# nothing the node opens is reachable from outside this machine. Beside it, on the host:
# kube-scheduler, and the Pusat Data's image registry (CNCF distribution) on 127.0.0.1.
#
#   host 127.0.0.1:<api>, :<registry>, :<git>, :<mirror>,          ◀── forward-in ── node <NODE_IP>:same ports
#        :<pebble>, :<garage admin>, :<s3>   (what Kavling's own pods use when the chart runs it)
#   host ── veth kvh<base> <HOST_IP>/30 ═══ kvn<base> <NODE_IP>/30 ── node netns
#   node netns: bridge kvbr0 10.244.<i>.0/24 (pods), kube-proxy (iptables), hostPort 80/443
#
# The apiserver advertises <NODE_IP>:<api> as the `kubernetes` Service's endpoint, which
# forward-in carries to the host's loopback; the host reaches the node's address directly.

NODE_NAME=kavling-node
# One /30 and one pod range per stack, from its port base in hundreds: the e2e stack (18000)
# and the restore test's fresh stack (18700) used to share 172.30.18.0/30 (base / 1000), so a
# node left behind by one answered for the other.
NET_IDX=$(( (BASE / 100) % 250 ))
NETNS="kavling-$BASE"
NETNS_PATH="/run/netns/$NETNS"
HOST_IP="172.30.$NET_IDX.1"
NODE_IP="172.30.$NET_IDX.2"
POD_CIDR="10.244.$NET_IDX.0/24"
CGROUP_ROOT="/kavling-$BASE"
P_REGISTRY=$((BASE + 500)); P_SCHED=$((BASE + 259))
REGISTRY_NAME="registry.pusat-data.local"   # what images are called; containerd maps it to P_REGISTRY
REGISTRY_VERSION="${REGISTRY_VERSION:-v3.1.2}"
LOCAL_PATH_VERSION="${LOCAL_PATH_VERSION:-v0.0.30}"
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}"
BIN_KUBE_ROUTER="$CACHE/kube-router-$KUBE_ROUTER_VERSION/kube-router"
BIN_LOCAL_PATH="$CACHE/local-path-provisioner-$LOCAL_PATH_VERSION/local-path-provisioner"
BIN_REGISTRY="$CACHE/registry-$REGISTRY_VERSION/registry"
NODE="$STACK/node"
NODE_COMPONENTS=(registry node-forward containerd kubelet kube-scheduler kube-proxy local-path kube-router)

# The ingress controller (Traefik, dev/node/ingress.yaml) and where hostings' names point:
# the node's address, where its hostPorts 80 and 443 answer (without a node: a documentation
# address nothing answers on).
INGRESS_NAMESPACE=kavling-ingress
INGRESS_CLASS=kavling
ingress_address() { if node_enabled; then echo "$NODE_IP"; else echo 10.75.0.80; fi; }

node_enabled() { [ "${KAVLING_NODE:-1}" != 0 ]; }

# in_node CMD... — run CMD in the node's network namespace. nsenter, not `ip netns exec`:
# that also remounts /sys, which hides the cgroup hierarchies kubelet and runc need.
in_node() { nsenter --net="$NETNS_PATH" "$@"; }

node_network() {
  if [ ! -e "$NETNS_PATH" ]; then
    ip netns add "$NETNS" || die "node: cannot create network namespace $NETNS (needs root and iproute2)"
  fi
  if ! ip link show "kvh$BASE" >/dev/null 2>&1; then
    ip link add "kvh$BASE" type veth peer name "kvn$BASE" || die "node: cannot create veth kvh$BASE"
    ip link set "kvn$BASE" netns "$NETNS"
    ip addr add "$HOST_IP/30" dev "kvh$BASE"
    ip link set "kvh$BASE" up
    ip -n "$NETNS" addr add "$NODE_IP/30" dev "kvn$BASE"
    ip -n "$NETNS" link set "kvn$BASE" up
    ip -n "$NETNS" link set lo up
    ip -n "$NETNS" route add default via "$HOST_IP"
  fi
  # Services between pods on one bridge go through iptables (kube-proxy's DNAT).
  modprobe br_netfilter 2>/dev/null || true
  in_node sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 >/dev/null 2>&1 \
    || in_node sysctl -qw net.ipv4.ip_forward=1 >/dev/null
  # The pods' cgroups live under their own root, one per stack; cgroup v1 needs it in every
  # hierarchy (and cpuset needs its cpus and mems filled in before anything can join it).
  local h
  for h in /sys/fs/cgroup/*/; do
    [ -L "${h%/}" ] && continue
    mkdir -p "$h${CGROUP_ROOT#/}" 2>/dev/null || true
  done
  if [ -d "/sys/fs/cgroup/cpuset$CGROUP_ROOT" ]; then
    cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset$CGROUP_ROOT/cpuset.cpus"
    cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset$CGROUP_ROOT/cpuset.mems"
  fi
}

node_pki() {
  gen_cert node "/CN=system:node:$NODE_NAME/O=system:nodes"
  gen_cert scheduler "/CN=system:kube-scheduler"
  gen_cert kube-proxy "/CN=system:kube-proxy"
  gen_cert local-path "/CN=system:kavling:local-path"
  gen_cert kube-router "/CN=system:kavling:kube-router"
  # kubelet's serving certificate: the apiserver connects to it at the node's address.
  gen_cert kubelet-serving "/CN=$NODE_NAME" "IP:$NODE_IP,DNS:$NODE_NAME"
  local who server
  for who in node scheduler kube-proxy local-path kube-router; do
    server="https://$NODE_IP:$P_API"; [[ $who == scheduler || $who == local-path ]] && server="https://127.0.0.1:$P_API"
    cat >"$NODE/$who.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "$server", certificate-authority: "$PKI/ca.crt"}}]
users: [{name: $who, user: {client-certificate: "$PKI/$who.crt", client-key: "$PKI/$who.key"}}]
contexts: [{name: $who, context: {cluster: local, user: $who}}]
current-context: $who
YAML
  done
}

node_config() {
  mkdir -p "$NODE/cni" "$NODE/certs.d/$REGISTRY_NAME" "$NODE/kubelet" "$DATA/registry"
  cat >"$DATA/registry/config.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: "$DATA/registry/store"}
  delete: {enabled: false}
http:
  addr: 127.0.0.1:$P_REGISTRY
YAML
  cat >"$NODE/containerd.toml" <<TOML
version = 2
root = "$NODE/containerd/root"
state = "$NODE/containerd/state"
[grpc]
  address = "$NODE/containerd.sock"
[ttrpc]
  address = "$NODE/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$REGISTRY_NAME/kavling/$(image_ref pause)"
  stream_server_address = "127.0.0.1"
  # Root in this VM may not lower a process's oom_score_adj: keep runc from trying.
  restrict_oom_score_adj = true
  # Pods' network namespaces under this stack's state, not /var/run/netns: destroy finds them.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$NODE/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$NODE/certs.d"
TOML
  # The Pusat Data's registry by its name, over plain HTTP on the node's side of forward-in.
  cat >"$NODE/certs.d/$REGISTRY_NAME/hosts.toml" <<TOML
server = "http://$NODE_IP:$P_REGISTRY"
[host."http://$NODE_IP:$P_REGISTRY"]
  capabilities = ["pull", "resolve"]
TOML
  cat >"$NODE/cni/10-kavling.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "kavling", "plugins": [
  {"type": "bridge", "bridge": "kvbr0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$NODE/cni-ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
  cat >"$NODE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $PKI/ca.crt}}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
containerRuntimeEndpoint: unix://$NODE/containerd.sock
failSwapOn: false
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
maxPods: 80
serializeImagePulls: false
# A shared development machine: evict only when really short, never GC images we just pushed.
evictionHard: {memory.available: "200Mi", nodefs.available: "2%", imagefs.available: "2%"}
evictionPressureTransitionPeriod: 30s
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
YAML
  cat >"$NODE/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$NODE/kube-proxy.kubeconfig"}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_IP/32"]
conntrack: {maxPerCore: 0, min: 0}
YAML
}

image_ref() { "$REPO/dev/images.sh" ref "$1"; } # ROLE's name:tag (templates/images.yaml)

start_registry() {
  launch registry "$P_REGISTRY" "$BIN_REGISTRY" serve "$DATA/registry/config.yml"
  wait_for registry curl -fsS "http://127.0.0.1:$P_REGISTRY/v2/"
  "$REPO/dev/images.sh" push "127.0.0.1:$P_REGISTRY" >"$LOGS/images.log" 2>&1 \
    || die "images: building or pushing the catalog failed; see $LOGS/images.log"
  say "images in the registry: $(grep -c ' pushed ' "$LOGS/images.log") pushed, $(grep -c 'already there' "$LOGS/images.log") already there $(printf '(%ds)' $((SECONDS - T0)))"
}

start_node_forward() {
  launch node-forward - python3 "$REPO/dev/node/forward.py" --listen-ns "$NETNS_PATH" \
    "$NODE_IP:$P_API=127.0.0.1:$P_API" "$NODE_IP:$P_REGISTRY=127.0.0.1:$P_REGISTRY" \
    "$NODE_IP:$P_GIT=127.0.0.1:$P_GIT" "$NODE_IP:$P_MIRROR=127.0.0.1:$P_MIRROR" \
    "$NODE_IP:$P_PEBBLE=127.0.0.1:$P_PEBBLE" "$NODE_IP:$P_GARAGE_ADMIN=127.0.0.1:$P_GARAGE_ADMIN" \
    "$NODE_IP:$P_S3=127.0.0.1:$P_S3"
  wait_for node-forward in_node curl -fsS "http://$NODE_IP:$P_REGISTRY/v2/"
}

start_containerd() {
  launch containerd - nsenter --net="$NETNS_PATH" containerd --config "$NODE/containerd.toml"
  wait_for containerd containerd_cri_ready
}

# containerd answers `ctr version` before its CRI service has recovered the containers it
# had (a restart after many pods takes seconds); the kubelet refuses a CRI that is "not
# initialized yet". The CRI service logs "Start streaming server" as its last step.
containerd_cri_ready() {
  ctr --address "$NODE/containerd.sock" version >/dev/null 2>&1 \
    && grep -q "Start streaming server" "$LOGS/containerd.log" && sleep 0.5
}

start_kubelet() {
  launch kubelet - nsenter --net="$NETNS_PATH" "$BIN_K8S/kubelet" --config "$NODE/kubelet.yaml" \
    --kubeconfig "$NODE/node.kubeconfig" --root-dir "$NODE/kubelet" --cert-dir "$NODE/kubelet-pki" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" -v=1
  WAITING=Ready wait_for kubelet node_ready
}

node_ready() {
  "$BIN_K8S/kubectl" --kubeconfig "$KCFG/admin.yaml" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True
}

start_kube_scheduler() {
  launch kube-scheduler "$P_SCHED" "$BIN_K8S/kube-scheduler" --kubeconfig "$NODE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$NODE/scheduler.kubeconfig" --authorization-kubeconfig "$NODE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$P_SCHED" --leader-elect=false -v=1
  wait_for kube-scheduler curl -fsSk "https://127.0.0.1:$P_SCHED/healthz"
}

start_kube_proxy() {
  launch kube-proxy - nsenter --net="$NETNS_PATH" "$BIN_K8S/kube-proxy" --config "$NODE/kube-proxy.yaml" -v=1
  wait_for kube-proxy in_node curl -fsS "http://127.0.0.1:10256/healthz"
}

node_kubectl() { "$BIN_K8S/kubectl" --kubeconfig "$KCFG/admin.yaml" "$@"; }

# The ingress controller as a pod (and the apiserver's kubelet-client binding): applied on
# every start, so a changed image or manifest rolls out; waits until it answers on 443.
start_ingress() {
  sed -e "s|\${IMAGE}|$REGISTRY_NAME/kavling/$(image_ref ingress)|" -e "s|\${CLASS}|$INGRESS_CLASS|" \
    "$REPO/dev/node/ingress.yaml" | node_kubectl apply --server-side --force-conflicts -f - >>"$LOGS/ingress.log" 2>&1 \
    || die "ingress: applying dev/node/ingress.yaml failed; see $LOGS/ingress.log"
  local deadline=$((SECONDS + START_TIMEOUT))
  until node_kubectl -n "$INGRESS_NAMESPACE" rollout status deploy/traefik --timeout=2s >/dev/null 2>&1 \
        && curl -sk -o /dev/null --max-time 2 "https://$NODE_IP/"; do
    [ $SECONDS -lt $deadline ] || die "ingress: Traefik did not become ready on https://$NODE_IP/ within ${START_TIMEOUT}s; \
kubectl -n $INGRESS_NAMESPACE describe pod says:
$(node_kubectl -n "$INGRESS_NAMESPACE" describe pod 2>&1 | tail -n 15)"
    sleep 0.5
  done
  say "ingress ready on https://$NODE_IP/ $(printf '(%ds)' $((SECONDS - T0)))"
}

# Volumes: the default StorageClass and Rancher's local-path-provisioner (a host process),
# whose helper pods make each volume a directory under $NODE/volumes.
start_storage() {
  mkdir -p "$NODE/volumes"
  sed -e "s|\${VOLUMES}|$NODE/volumes|" -e "s|\${HELPER_IMAGE}|$REGISTRY_NAME/kavling/$(image_ref web)|" \
    "$REPO/dev/node/storage.yaml" | node_kubectl apply --server-side --force-conflicts -f - >>"$LOGS/storage.log" 2>&1 \
    || die "storage: applying dev/node/storage.yaml failed; see $LOGS/storage.log"
  launch local-path - "$BIN_LOCAL_PATH" --debug start --kubeconfig "$NODE/local-path.kubeconfig" \
    --namespace kavling-storage --configmap-name local-path-config \
    --helper-image "$REGISTRY_NAME/kavling/$(image_ref web)" --service-account-name default
  sleep 0.5
  alive local-path || die "local-path exited during start-up; last lines of $LOGS/local-path.log:
$(tail -n 15 "$LOGS/local-path.log" 2>/dev/null)"
}

# NetworkPolicies enforced (dev/node/netpol.yaml): kube-router's firewall in the node's
# network namespace. It matches pods by the node's pod range, which nothing else assigns here.
start_netpol() {
  node_kubectl apply --server-side --force-conflicts -f "$REPO/dev/node/netpol.yaml" >>"$LOGS/netpol.log" 2>&1 \
    || die "netpol: applying dev/node/netpol.yaml failed; see $LOGS/netpol.log"
  [ -n "$(node_kubectl get node "$NODE_NAME" -o jsonpath='{.spec.podCIDR}')" ] \
    || node_kubectl patch node "$NODE_NAME" --type merge -p "{\"spec\":{\"podCIDR\":\"$POD_CIDR\",\"podCIDRs\":[\"$POD_CIDR\"]}}" >>"$LOGS/netpol.log" 2>&1
  launch kube-router - nsenter --net="$NETNS_PATH" "$BIN_KUBE_ROUTER" --kubeconfig "$NODE/kube-router.kubeconfig" \
    --hostname-override "$NODE_NAME" --run-firewall=true --run-router=false --run-service-proxy=false \
    --enable-ipv6=false --metrics-port=0 --health-port=20244 --service-cluster-ip-range=10.96.0.0/24 -v=1
  # ready once its first sync has put its chains in place (its /healthz also waits for a
  # heartbeat of every controller, which can take longer than a start should)
  wait_for kube-router in_node iptables -S KUBE-ROUTER-FORWARD
}

# Cluster DNS (dev/node/dns.yaml): CoreDNS as a pod in kube-system behind 10.96.0.10, the
# address kubelet gives every pod; hostings' policies allow DNS to kube-system's pods.
start_cluster_dns() {
  sed -e "s|\${IMAGE}|$REGISTRY_NAME/kavling/$(image_ref dns)|" "$REPO/dev/node/dns.yaml" \
    | node_kubectl apply --server-side --force-conflicts -f - >>"$LOGS/dns.log" 2>&1 \
    || die "cluster DNS: applying dev/node/dns.yaml failed; see $LOGS/dns.log"
  node_kubectl -n kube-system rollout status deploy/coredns --timeout="${START_TIMEOUT}s" >>"$LOGS/dns.log" 2>&1 \
    || die "cluster DNS: CoreDNS did not become ready; see $LOGS/dns.log and
$(node_kubectl -n kube-system describe pod -l k8s-app=kube-dns 2>&1 | tail -n 15)"
  say "cluster DNS ready (CoreDNS at 10.96.0.10) $(printf '(%ds)' $((SECONDS - T0)))"
}

start_node() {
  node_enabled || { say "node disabled (KAVLING_NODE=0): hostings will not run"; return 0; }
  mkdir -p "$NODE"
  node_network
  node_pki
  node_config
  start_registry
  start_node_forward
  start_containerd
  start_kubelet
  start_kube_scheduler
  start_kube_proxy
  start_storage
  start_netpol
  start_cluster_dns
  start_ingress
}

# Stops every pod's processes (containerd's shims are not its children once started), then
# the node's own components. Only the PIDs containerd recorded for this stack are signalled.
stop_node_pods() {
  local f p
  for f in "$NODE"/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f"); [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
  done
  for f in "$NODE"/containerd/state/io.containerd.runtime.v2.task/*/*/init.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f"); [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
  done
}

stop_node() {
  stop_one kube-router
  stop_one local-path
  stop_one kube-proxy
  stop_one kube-scheduler
  stop_one kubelet
  stop_node_pods
  stop_one containerd
  stop_one node-forward
  stop_one registry
}

# After stop: unmount what the pods left (overlay roots, volumes), remove the namespace, the
# veth and the cgroups. Only paths under this stack's directory and cgroup root are touched.
destroy_node() {
  local m
  for m in $(awk -v n="$NODE/" 'index($2, n) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  [ -e "$NETNS_PATH" ] && ip netns delete "$NETNS" 2>/dev/null || true
  ip link delete "kvh$BASE" 2>/dev/null || true
  local h
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h${CGROUP_ROOT#/}" ] || continue
    find "$h${CGROUP_ROOT#/}" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}
