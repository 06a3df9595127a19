//! `kavling-dns`: Kavling's authoritative DNS server. Watches Zones and DnsRecords through the
//! API server and answers from in-memory snapshots; run as many replicas as you like, each
//! reports the serial it serves in `/metrics`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use clap::Parser;
use kavling_core::dns::answer::Catalog;
use kavling_core::dns::dnssec::{self, KeySet, SignatureCache, SigningKey};
use kavling_dns::server::{self, QTYPE_BUCKETS, Stats};
use kavling_dns::tcp::{Limits, Sessions};
use kavling_dns::watch::{self, Published};

/// Kavling's authoritative DNS server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address for DNS over UDP and TCP.
    #[arg(long, env = "KAVLING_DNS_LISTEN", default_value = "127.0.0.1:5353")]
    listen: SocketAddr,
    /// Address of /healthz, /readyz (ready once every zone is loaded) and /metrics.
    #[arg(long, env = "KAVLING_DNS_HTTP", default_value = "127.0.0.1:8053")]
    http: SocketAddr,
    /// UDP worker threads (default: one per CPU).
    #[arg(long, env = "KAVLING_DNS_UDP_WORKERS")]
    udp_workers: Option<usize>,
    /// Also serve a static zone from a master file: DOMAIN=PATH (repeatable; used by the
    /// benchmark to serve the same file as NSD and Knot).
    #[arg(long = "zone-file", value_name = "DOMAIN=PATH")]
    zone_files: Vec<String>,
    /// Serve only the --zone-file zones; do not watch an API server.
    #[arg(long)]
    no_api: bool,
    /// On SIGTERM, keep answering this long (seconds) with /readyz failing before exiting.
    /// Behind a Service (the chart sets 5): queries reach a terminating replica until every
    /// kube-proxy has seen it go, so a replica that exited at once would drop the queries
    /// already on their way and a rolling upgrade would lose answers. 0 for a host process.
    #[arg(long, env = "KAVLING_DNS_DRAIN_SECONDS", default_value_t = 0)]
    drain_seconds: u64,
    /// TCP connections held at once. A new client is always accepted; when this many are
    /// open, the one quiet for longest is closed to make room (RFC 7766 §6.2.3).
    #[arg(long, env = "KAVLING_DNS_TCP_SESSIONS", default_value_t = Limits::default().sessions)]
    tcp_sessions: usize,
    /// TCP connections one address may hold; past it, that address's quietest one is closed.
    #[arg(long, env = "KAVLING_DNS_TCP_PER_SOURCE", default_value_t = Limits::default().per_source)]
    tcp_per_source: usize,
    /// What `id.server` and `hostname.bind` (class CH) answer, so a person can tell which
    /// replica answered (`dig @ns1 id.server CH TXT`). Default: the host name (in a pod, the
    /// pod's name).
    #[arg(long, env = "KAVLING_DNS_IDENTITY")]
    identity: Option<String>,
    /// Response rate limiting over UDP: answers per second to one client network (IPv4 /24,
    /// IPv6 /56) for one name (NXDOMAIN and errors: for any name). 0 (the default) is off —
    /// behind a NAT or kube-proxy's SNAT every client may share one address. 5–20 is usual
    /// where replicas see client addresses. Benchmarks leave it off.
    #[arg(long, env = "KAVLING_DNS_RRL_RATE", default_value_t = 0)]
    rrl_rate: u32,
    /// Of the answers over the rate, every Nth is sent truncated (TC) so a real client retries
    /// over TCP; the rest are dropped. 0: drop all.
    #[arg(long, env = "KAVLING_DNS_RRL_SLIP", default_value_t = 2)]
    rrl_slip: u32,
    /// A TSIG key (HMAC-SHA256) as NAME=BASE64-SECRET, the way Knot and NSD are given one
    /// (repeatable). From the API, keys are Secrets labelled kavling.go.id/tsig-key instead.
    #[arg(long = "tsig-key", value_name = "NAME=BASE64")]
    tsig_keys: Vec<String>,
    /// Where TSIG keys are read from: Secrets labelled kavling.go.id/tsig-key, each named as
    /// its key with the secret in data.secret. A namespace of their own, as kavling-dns may
    /// read every Secret there.
    #[arg(
        long,
        env = "KAVLING_DNS_KEYS_NAMESPACE",
        default_value = "kavling-tsig"
    )]
    keys_namespace: String,
    /// For --zone-file zones: an address or CIDR range allowed to transfer them (repeatable).
    #[arg(long = "transfer-allow", value_name = "CIDR")]
    transfer_allow: Vec<String>,
    /// For --zone-file zones: a key one of which must sign a transfer request (repeatable).
    #[arg(long = "transfer-key", value_name = "NAME")]
    transfer_keys: Vec<String>,
    /// Sign a --zone-file zone with DNSSEC: DOMAIN=PATH to a PKCS#8 private key, ECDSA P-256
    /// or Ed25519, PEM or DER (`openssl genpkey -algorithm EC -pkeyopt
    /// ec_paramgen_curve:P-256 -out zone.key`). The DS record to send to the parent is logged
    /// at start. Signatures are refreshed daily, only those with less than a week left.
    #[arg(long = "dnssec-key", value_name = "DOMAIN=PATH")]
    dnssec_keys: Vec<String>,
}

/// A `--zone-file` zone as served: loaded, given the transfer settings, signed when it has a
/// key (`cache` keeps the signatures of what did not change between loads).
struct FileZone {
    domain: String,
    path: String,
    transfer_allow: Vec<kavling_core::rules::naming::Cidr>,
    transfer_keys: Vec<Box<[u8]>>,
    key: Option<Arc<SigningKey>>,
    cache: SignatureCache,
}

impl FileZone {
    fn load(&mut self) -> anyhow::Result<kavling_core::dns::zone::Snapshot> {
        let t = std::time::Instant::now();
        let text = std::fs::read_to_string(&self.path)
            .with_context(|| format!("cannot read {}", self.path))?;
        let mut snap = kavling_core::dns::zonefile::load(&self.domain, &text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.path))?;
        snap.transfer_allow = self.transfer_allow.clone();
        snap.transfer_keys = self.transfer_keys.clone();
        let loaded_ms = t.elapsed().as_millis() as u64;
        if let Some(key) = &self.key {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let stats = dnssec::sign(
                &mut snap,
                &KeySet::single(key.clone()),
                now,
                &mut self.cache,
            )
            .map_err(|e| anyhow::anyhow!("{}: cannot sign: {e}", self.domain))?;
            tracing::info!(
                zone = %self.domain,
                signed = stats.signed,
                reused = stats.reused,
                nsec3 = stats.nsec3,
                sign_ms = t.elapsed().as_millis() as u64 - loaded_ms,
                ds = %format!("{}. IN DS {}", self.domain.trim_end_matches('.'), key.ds_text(&snap.apex)),
                "zone signed (send the DS to the parent zone's registry)"
            );
        }
        tracing::info!(
            zone = %self.domain,
            rrsets = snap.rrsets,
            load_ms = loaded_ms,
            "static zone loaded"
        );
        Ok(snap)
    }
}

/// `NAME=BASE64` as a key.
fn parse_key(spec: &str) -> anyhow::Result<kavling_core::dns::tsig::Key> {
    use base64::Engine as _;
    let (name, secret) = spec
        .split_once('=')
        .with_context(|| format!("--tsig-key {spec}: expected NAME=BASE64-SECRET"))?;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .with_context(|| format!("--tsig-key {name}: the secret is not base64"))?;
    kavling_core::dns::tsig::Key::new(name, &secret).map_err(anyhow::Error::msg)
}

/// This instance's name: `--identity`, else `$HOSTNAME`, else /etc/hostname.
fn identity(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kavling-dns".into())
}

/// Waits for SIGTERM (the kubelet stopping a pod) or SIGINT (Ctrl-C).
async fn stop_requested() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => Ok("SIGTERM"),
        r = tokio::signal::ctrl_c() => r.map(|_| "SIGINT").map_err(Into::into),
    }
}

/// Stops gracefully: not ready any more, still answering for `drain`, then done.
async fn drain(ready: &std::sync::atomic::AtomicBool, signal: &str, drain: std::time::Duration) {
    ready.store(false, Ordering::Relaxed);
    tracing::info!(
        signal,
        drain_seconds = drain.as_secs(),
        "stopping: still answering while the Service lets go of this replica"
    );
    tokio::time::sleep(drain).await;
    tracing::info!("stopped");
}

/// `# HELP` and `# TYPE` of one family (promtool checks every family has both).
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One family with a single unlabelled sample.
fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

fn render(
    catalog: &ArcSwap<Catalog>,
    stats: &Stats,
    published: &Published,
    sessions: &Sessions,
) -> String {
    let mut out = String::new();
    metric(
        &mut out,
        "kavling_dns_tcp_sessions",
        "gauge",
        "TCP connections open now.",
        sessions.len() as u64,
    );
    metric(
        &mut out,
        "kavling_dns_tcp_evicted_total",
        "counter",
        "TCP connections closed to make room for a new client (the quietest first).",
        sessions.evicted.load(Ordering::Relaxed),
    );
    family(
        &mut out,
        "kavling_dns_queries_total",
        "counter",
        "Queries answered, by query type.",
    );
    for (i, (_, name)) in QTYPE_BUCKETS.iter().enumerate() {
        let _ = writeln!(
            out,
            "kavling_dns_queries_total{{qtype=\"{name}\"}} {}",
            stats.qtype[i].load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "kavling_dns_queries_total{{qtype=\"other\"}} {}",
        stats.qtype[QTYPE_BUCKETS.len()].load(Ordering::Relaxed)
    );
    family(
        &mut out,
        "kavling_dns_responses_total",
        "counter",
        "Responses sent, by RCODE (numeric).",
    );
    for (rcode, n) in stats.rcode.iter().enumerate() {
        let n = n.load(Ordering::Relaxed);
        if n > 0 {
            let _ = writeln!(out, "kavling_dns_responses_total{{rcode=\"{rcode}\"}} {n}");
        }
    }
    metric(
        &mut out,
        "kavling_dns_dropped_total",
        "counter",
        "UDP packets dropped unanswered (unparseable, or a transfer asked over UDP).",
        stats.dropped.load(Ordering::Relaxed),
    );
    metric(
        &mut out,
        "kavling_dns_rrl_dropped_total",
        "counter",
        "UDP answers not sent: over the response rate limit (--rrl-rate).",
        stats.rrl_dropped.load(Ordering::Relaxed),
    );
    metric(
        &mut out,
        "kavling_dns_rrl_slipped_total",
        "counter",
        "UDP answers over the rate limit sent truncated (TC) so a real client retries over TCP.",
        stats.rrl_slipped.load(Ordering::Relaxed),
    );
    metric(
        &mut out,
        "kavling_dns_transfers_total",
        "counter",
        "Zone transfers (AXFR) served.",
        stats.transfers.load(Ordering::Relaxed),
    );
    family(
        &mut out,
        "kavling_dns_snapshot_rebuild_seconds",
        "gauge",
        "How long the last rebuild of the served snapshot took.",
    );
    let _ = writeln!(
        out,
        "kavling_dns_snapshot_rebuild_seconds {}",
        published.last_rebuild_micros.load(Ordering::Relaxed) as f64 / 1e6
    );
    family(
        &mut out,
        "kavling_dns_snapshot_rebuilds_total",
        "counter",
        "Rebuilds of the served snapshot (one per batch of API changes).",
    );
    let _ = writeln!(
        out,
        "kavling_dns_snapshot_rebuilds_total {}",
        published.rebuilds.load(Ordering::Relaxed)
    );
    let cat = catalog.load();
    let mut zones: Vec<_> = cat.zones.values().collect();
    zones.sort_by(|a, b| a.domain.cmp(&b.domain));
    family(
        &mut out,
        "kavling_dns_zone_serial",
        "gauge",
        "The SOA serial this replica serves, by zone (compare kavling_zone_serial, the API's).",
    );
    for z in &zones {
        let _ = writeln!(
            out,
            "kavling_dns_zone_serial{{zone=\"{}\"}} {}",
            z.domain, z.serial
        );
    }
    family(
        &mut out,
        "kavling_dns_zone_rrsets",
        "gauge",
        "RRsets this replica serves, by zone.",
    );
    for z in &zones {
        let _ = writeln!(
            out,
            "kavling_dns_zone_rrsets{{zone=\"{}\"}} {}",
            z.domain, z.rrsets
        );
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    kavling_core::logging::init();
    let args = Args::parse();
    // with --zone-file the catalog is complete from the start; from the API, once both
    // initial lists are in (dns::watch)
    let mut initial = Catalog {
        complete: args.no_api,
        identity: identity(args.identity.clone()).into(),
        keys: args
            .tsig_keys
            .iter()
            .map(|k| parse_key(k))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into(),
        ..Default::default()
    };
    let file_transfer_allow = args
        .transfer_allow
        .iter()
        .map(|a| {
            kavling_core::dns::zone::transfer_range(a).with_context(|| {
                format!("--transfer-allow {a}: expected an address or a CIDR range")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let file_transfer_keys = args
        .transfer_keys
        .iter()
        .map(|k| {
            anyhow::ensure!(
                initial
                    .keys
                    .iter()
                    .any(|h| *h.name == *kavling_core::dns::wire::name(k).unwrap_or_default()),
                "--transfer-key {k}: no --tsig-key of that name"
            );
            Ok(kavling_core::dns::wire::name(k)?.into_boxed_slice())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut signing_keys = std::collections::HashMap::new();
    for spec in &args.dnssec_keys {
        let (domain, path) = spec
            .split_once('=')
            .with_context(|| format!("--dnssec-key {spec}: expected DOMAIN=PATH"))?;
        let doc = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
        let key = SigningKey::from_pkcs8(&doc)
            .map_err(|e| anyhow::anyhow!("--dnssec-key {domain}: {path}: {e}"))?;
        signing_keys.insert(
            domain.trim_end_matches('.').to_ascii_lowercase(),
            Arc::new(key),
        );
    }
    let mut file_zones = Vec::new();
    for spec in &args.zone_files {
        let (domain, path) = spec
            .split_once('=')
            .with_context(|| format!("--zone-file {spec}: expected DOMAIN=PATH"))?;
        let mut zone = FileZone {
            domain: domain.to_string(),
            path: path.to_string(),
            transfer_allow: file_transfer_allow.clone(),
            transfer_keys: file_transfer_keys.clone(),
            key: signing_keys.remove(&domain.trim_end_matches('.').to_ascii_lowercase()),
            cache: SignatureCache::default(),
        };
        let snap = zone.load()?;
        initial.zones.insert(snap.apex.clone(), Arc::new(snap));
        file_zones.push(zone);
    }
    if let Some(domain) = signing_keys.keys().next() {
        anyhow::bail!("--dnssec-key {domain}: no --zone-file for that domain");
    }
    let catalog = Arc::new(ArcSwap::from_pointee(initial));
    // signed static zones: re-read and re-signed daily so no signature nears its expiry
    file_zones.retain(|z| z.key.is_some());
    if !file_zones.is_empty() {
        let catalog = catalog.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(86_400)).await;
                for z in file_zones.iter_mut() {
                    match z.load() {
                        Ok(snap) => {
                            let old = catalog.load_full();
                            let mut zones = old.zones.clone();
                            zones.insert(snap.apex.clone(), Arc::new(snap));
                            catalog.store(Arc::new(Catalog {
                                zones,
                                complete: old.complete,
                                identity: old.identity.clone(),
                                keys: old.keys.clone(),
                            }));
                        }
                        Err(e) => {
                            tracing::error!(zone = %z.domain, error = %e, "re-signing failed; the last signed zone is still served")
                        }
                    }
                }
            }
        });
    }
    let stats = Arc::new(Stats::default());
    let published = Arc::new(Published::default());

    let udp = std::net::UdpSocket::bind(args.listen)
        .with_context(|| format!("cannot listen on udp {}", args.listen))?;
    let tcp = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on tcp {}", args.listen))?;
    let http = tokio::net::TcpListener::bind(args.http)
        .await
        .with_context(|| format!("cannot listen on {}", args.http))?;
    let workers = args.udp_workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let rrl = Arc::new(kavling_dns::rrl::RateLimiter::new(
        args.rrl_rate,
        args.rrl_slip,
    ));
    server::spawn_udp(udp, workers, catalog.clone(), stats.clone(), rrl)?;
    let sessions = Sessions::new(Limits {
        sessions: args.tcp_sessions.max(1),
        per_source: args.tcp_per_source.max(1),
        ..Limits::default()
    });
    tokio::spawn(server::serve_tcp(
        tcp,
        catalog.clone(),
        stats.clone(),
        sessions.clone(),
    ));
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (c, s, p, t) = (
        catalog.clone(),
        stats.clone(),
        published.clone(),
        sessions.clone(),
    );
    tokio::spawn(kavling_core::health::serve(
        http,
        Arc::new(move || render(&c, &s, &p, &t)),
        ready.clone(),
    ));
    let p = published.clone();
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (r, s) = (ready.clone(), stopping.clone());
    tokio::spawn(async move {
        // ready once the first complete catalog is published (and not once stopping)
        while !p.ready.load(Ordering::Relaxed) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if !s.load(Ordering::Relaxed) {
            r.store(true, Ordering::Relaxed);
        }
    });
    let drain_for = std::time::Duration::from_secs(args.drain_seconds);
    tracing::info!(listen = %args.listen, http = %args.http, workers, "kavling-dns serving");
    if args.no_api {
        published.ready.store(true, Ordering::Relaxed);
        let signal = stop_requested().await?;
        stopping.store(true, Ordering::Relaxed);
        drain(&ready, signal, drain_for).await;
        return Ok(());
    }
    let client = kube::Client::try_default()
        .await
        .context("no usable kubeconfig or in-cluster configuration")?;
    let watches = tokio::spawn(watch::run(
        client,
        catalog,
        published,
        args.keys_namespace.clone(),
    ));
    tokio::select! {
        _ = watches => tracing::warn!("watches ended"),
        signal = stop_requested() => {
            stopping.store(true, Ordering::Relaxed);
            // the watches go on during the drain: answers stay current to the last query
            drain(&ready, signal?, drain_for).await;
        }
    }
    Ok(())
}
