#!/usr/bin/env bash
# DNS benchmark: the same generated zone served by Kavling's DNS server, NSD and Knot DNS
# (both from Debian), each confined to CPU 0 with a cpuset, queried by dnsperf on CPU 1.
#
#   bench/dns.sh [RECORDS=100000] [SECONDS=10]        MODES="unsigned signed" (default: both)
#
# Prints, per server and query file (mixed: 5% names that do not exist; positive: only
# existing names): queries/s, server CPU time per query, latency at a fixed rate, RSS after
# loading, and load time — with Kavling's ratios to NSD and Knot.
#
# Signed (DNSSEC, ECDSA P-256, NSEC3 with no extra iterations and no salt; every query with
# the DO bit): Kavling signs the file itself (--dnssec-key), Knot signs it itself (automatic
# signing, one CSK), NSD serves the file signed beforehand by ldns-signzone (its signing time
# is printed apart; NSD's load time is then only its load). Then the signing cost alone:
# Kavling's first signing and its re-signing after one change, against ldns-signzone.
# Unsigned mode also runs a TCP load (bench/tcp_load.py): idle and slow clients held open while
# new clients arrive — how many new clients each server still answers.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-100000}"; DURATION="${2:-10}"; RATE="${RATE:-20000}"; MODES="${MODES:-unsigned signed}"
ZONE=bench.go.id
PORT_BASE="${KAVLING_BENCH_DNS_PORT:-19553}"
W=$(mktemp -d /tmp/kavling-dns-bench.XXXX)
CPUSET=/sys/fs/cgroup/cpuset/kavling-dns-bench
trap 'for p in $(cat "$CPUSET/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null || true; done; sleep 0.5; rmdir "$CPUSET" 2>/dev/null || true; rm -rf "$W"' EXIT

"$REPO/dev/build-tools.sh" apt >/dev/null
cargo build --release --quiet -p kavling-dns --bin kavling-dns
KAVLING_DNS="${CARGO_TARGET_DIR:-$REPO/target}/release/kavling-dns"

echo "generating a $N-record zone and query files in $W" >&2
python3 - "$N" "$W" "$ZONE" <<'PY'
import random, sys
n, w, zone = int(sys.argv[1]), sys.argv[2], sys.argv[3]
random.seed(42)
with open(f"{w}/{zone}.zone", "w") as f:
    # a master file as an office writes one ($ORIGIN, $TTL, @, relative names, parentheses):
    # all three servers load this very file
    f.write(f"$ORIGIN {zone}.\n$TTL 3600\n")
    f.write("@ IN SOA ns1 hostmaster ( 2026112301 ; serial\n    3600 600 1209600 300 )\n")
    f.write("  IN NS ns1\n  IN NS ns2\n")
    f.write("ns1 A 10.255.0.1\nns2 A 10.255.0.2\n")
    for i in range(n):
        f.write(f"h{i} A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
with open(f"{w}/mixed.txt", "w") as m, open(f"{w}/positive.txt", "w") as p:
    for i in range(200000):
        h = random.randrange(n)
        p.write(f"h{h}.{zone} A\n")
        m.write(f"nx{random.randrange(10**9)}.{zone} A\n" if random.random() < 0.05 else f"h{h}.{zone} A\n")
PY

# A cpuset on CPU 0 for the server (taskset alone is not enough: Knot moves its UDP worker).
if mkdir -p "$CPUSET" 2>/dev/null && echo 0 >"$CPUSET/cpuset.cpus" && echo 0 >"$CPUSET/cpuset.mems"; then
  confine() { sh -c "echo \$\$ > $CPUSET/cgroup.procs && exec \"\$@\"" sh "$@"; }
else
  echo "warning: no writable cpuset; falling back to taskset (Knot may escape to CPU 1)" >&2
  confine() { taskset -c 0 "$@"; }
fi

cpu_ticks() { # total user+system ticks of every process in the cpuset
  local t=0 p
  for p in $(cat "$CPUSET/cgroup.procs" 2>/dev/null); do
    # fields after "pid (comm) " — comm may hold spaces (NSD renames its processes)
    t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0)))
  done
  echo "$t"
}
rss_kib() { local t=0 p; for p in $(cat "$CPUSET/cgroup.procs" 2>/dev/null); do t=$((t + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$t"; }
HZ=$(getconf CLK_TCK)

declare -A QPS CPUQ LAT RSS LOAD TCP
DO=()  # dnsperf's DO bit, in the signed mode
run_server() { # NAME PORT CMD...
  local name=$1 port=$2; shift 2
  local t0; t0=$(date +%s.%N)
  confine "$@" >"$W/$name.log" 2>&1 &
  # ready: the last name answers (signed: with its RRSIG, so signing is over)
  until dig @127.0.0.1 -p "$port" +dnssec +time=1 +tries=1 "h$((N - 1)).$ZONE" A 2>/dev/null \
      | grep -v '^;' | grep -q "$([ ${#DO[@]} -gt 0 ] && echo RRSIG || echo 'IN.A')"; do
    sleep 0.05
    if [ "$(echo "$(date +%s.%N) - $t0 > 120" | bc)" = 1 ]; then echo "$name did not start; log:" >&2; cat "$W/$name.log" >&2; exit 1; fi
  done
  LOAD[$name]=$(echo "$(date +%s.%N) - $t0" | bc)
  RSS[$name]=$(rss_kib)
  for file in mixed positive; do
    local c0 c1 out q
    c0=$(cpu_ticks)
    out=$(taskset -c 1 dnsperf "${DO[@]}" -s 127.0.0.1 -p "$port" -d "$W/$file.txt" -l "$DURATION" -q 500 2>&1)
    c1=$(cpu_ticks)
    q=$(echo "$out" | awk '/Queries completed:/ {print $3}')
    QPS[$name/$file]=$(echo "$out" | awk '/Queries per second:/ {printf "%.0f", $4}')
    CPUQ[$name/$file]=$(echo "scale=3; ($c1 - $c0) * 1000000 / $HZ / $q" | bc)
    out=$(taskset -c 1 dnsperf "${DO[@]}" -s 127.0.0.1 -p "$port" -d "$W/$file.txt" -l 5 -Q "$RATE" 2>&1)
    LAT[$name/$file]=$(echo "$out" | awk '/Average Latency/ {printf "%.1f", $4 * 1e6}')
  done
  if [ ${#DO[@]} -eq 0 ]; then
    # TCP under load: 2,000 idle connections and 300 clients asking every 5 s held open while
    # a new client arrives every 100 ms (bench/tcp_load.py)
    TCP[$name]=$(taskset -c 1 python3 "$REPO/bench/tcp_load.py" "$port" "h1.$ZONE" 2000 300 10)
  fi
  for p in $(cat "$CPUSET/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  sleep 1
}

# NSD (response rate limiting off)
mkdir -p "$W/nsd"
cat >"$W/nsd/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$((PORT_BASE + 1))
  server-count: 1
  username: ""
  zonesdir: "$W"
  database: ""
  pidfile: "$W/nsd/nsd.pid"
  xfrdfile: "$W/nsd/xfrd.state"
  zonelistfile: "$W/nsd/zone.list"
  xfrdir: "$W/nsd"
  logfile: "$W/nsd/nsd.log"
  verbosity: 0
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: $ZONE
  zonefile: "$W/$ZONE.zone"
CONF
# Knot DNS, one UDP worker
mkdir -p "$W/knot"
cat >"$W/knot/knot.conf" <<CONF
server:
  listen: 127.0.0.1@$((PORT_BASE + 2))
  rundir: "$W/knot"
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: "$W/knot"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$W"
    zonefile-sync: -1
    journal-content: none
    semantic-checks: off
zone:
  - domain: $ZONE
    file: "$W/$ZONE.zone"
CONF

# Signed mode: a key for Kavling (openssl), one for NSD's file (ldns-keygen + ldns-signzone),
# Knot's own policy.
sign_setup() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/kavling.key" 2>/dev/null
  (cd "$W" && ldns-keygen -a ECDSAP256SHA256 -k "$ZONE" >"$W/ldns.keyname")
  local t0; t0=$(date +%s.%N)
  ldns-signzone -n -t 0 -s '' -o "$ZONE" -f "$W/$ZONE.signed" "$W/$ZONE.zone" "$W/$(cat "$W/ldns.keyname")"
  LDNS_SIGN=$(echo "$(date +%s.%N) - $t0" | bc)
  sed -i "s|zonefile: \"$W/$ZONE.zone\"|zonefile: \"$W/$ZONE.signed\"|" "$W/nsd/nsd.conf"
  # Knot resolves a policy reference only if the policy comes first
  cat >"$W/knot/policy.conf" <<CONF
policy:
  - id: bench
    algorithm: ecdsap256sha256
    single-type-signing: on
    nsec3: on
    nsec3-iterations: 0
    nsec3-salt-length: 0
CONF
  sed -i "/^zone:/e cat $W/knot/policy.conf" "$W/knot/knot.conf"
  printf '    dnssec-signing: on\n    dnssec-policy: bench\n' >>"$W/knot/knot.conf"
  DO=(-D)
}

run_all() { # MODE
  local suffix="" kavling_args=()
  if [ "$1" = signed ]; then
    sign_setup; suffix=-signed
    kavling_args=(--dnssec-key "$ZONE=$W/kavling.key")
  fi
  echo "running ($1): each server alone on CPU 0, dnsperf on CPU 1, ${DURATION}s per query file" >&2
  run_server "kavling$suffix" "$PORT_BASE" "$KAVLING_DNS" --no-api --udp-workers 1 --listen "127.0.0.1:$PORT_BASE" --http "127.0.0.1:$((PORT_BASE + 10))" --zone-file "$ZONE=$W/$ZONE.zone" "${kavling_args[@]}"
  run_server "nsd$suffix" "$((PORT_BASE + 1))" nsd -d -c "$W/nsd/nsd.conf"
  rm -rf "$W/knot/"*.mdb "$W/knot/journal" "$W/knot/timers" 2>/dev/null || true
  run_server "knot$suffix" "$((PORT_BASE + 2))" knotd -c "$W/knot/knot.conf"
}

ratio() { echo "scale=2; $1 / $2" | bc; }
report() { # MODE SUFFIX
  local m=$1 x=$2
  printf '\n%s, %s records; dnsperf %ss per file; latency at %s q/s%s\n\n' "$m" "$N" "$DURATION" "$RATE" "$([ "$m" = signed ] && echo '; every query with DO')"
  printf '%-8s %-9s %10s %14s %13s %10s %9s\n' server queries "q/s" "CPU/query µs" "latency µs" "RSS MiB" "load s"
  for s in kavling nsd knot; do
    for f in mixed positive; do
      printf '%-8s %-9s %10s %14s %13s %10s %9.2f\n' "$s" "$f" "${QPS[$s$x/$f]}" "${CPUQ[$s$x/$f]}" "${LAT[$s$x/$f]}" "$((RSS[$s$x] / 1024))" "${LOAD[$s$x]}"
    done
  done
  [ "$m" = signed ] && printf '(load s: Kavling and Knot load and sign; NSD loads a file ldns-signzone signed in %.2f s)\n' "$LDNS_SIGN"
  if [ "$m" = unsigned ]; then
    printf '\nTCP under load: 2,000 idle connections + 300 clients asking every 5 s, a new client every 100 ms for 10 s\n'
    printf '%-8s %22s %10s %10s %14s\n' server "new clients answered" "p50 ms" "p99 ms" "idle opened"
    for s in kavling nsd knot; do
      read -r ok all p50 p99 idle <<<"${TCP[$s]}"
      printf '%-8s %22s %10s %10s %14s\n' "$s" "$ok/$all" "$p50" "$p99" "$idle"
    done
  fi
  printf '\nKavling / peer, %s (lower is better for CPU, RSS, latency; higher for q/s)\n' "$m"
  for peer in nsd knot; do
    for f in mixed positive; do
      printf '  vs %-5s %-9s CPU/query %s   q/s %s   latency %s\n' "$peer" "$f" \
        "$(ratio "${CPUQ[kavling$x/$f]}" "${CPUQ[$peer$x/$f]}")" "$(ratio "${QPS[kavling$x/$f]}" "${QPS[$peer$x/$f]}")" "$(ratio "${LAT[kavling$x/$f]}" "${LAT[$peer$x/$f]}")"
    done
    printf '  vs %-5s RSS %s\n' "$peer" "$(ratio "${RSS[kavling$x]}" "${RSS[$peer$x]}")"
  done
}

for m in $MODES; do run_all "$m"; done
for m in $MODES; do report "$m" "$([ "$m" = signed ] && echo -signed || true)"; done
if [[ " $MODES " == *" signed "* ]]; then
  # what signing costs at this size, and what one change costs (signatures reused)
  echo
  cargo run --release --quiet -p kavling-core --example dnssec_sign -- "$N"
fi
# kavling-dns's own share of change → answer at this size (one record added, patched into
# the last build), against building the zone whole as every change did before patching
echo
cargo run --release --quiet -p kavling-dns --example change_at_size -- "$N" 50
