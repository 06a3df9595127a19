//! `kavling-operator`: runs Kavling's controllers against the current kubeconfig or in-cluster
//! service account.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kavling::controllers::{self, Context};
use kavling::leader;

/// Kavling operator: turns approved requests into subdomains and DNS records.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address of the health and metrics endpoint (/healthz, /readyz, /metrics).
    #[arg(long, env = "KAVLING_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Garage admin API (v2) base URL; without it Buckets wait with the reason NoObjectStore.
    #[arg(long, env = "KAVLING_GARAGE_ADMIN")]
    garage_admin: Option<String>,
    /// File holding the Garage admin token — a scoped one (`garage admin-token create --scope`,
    /// see `kavling::objectstore::garage::SCOPE`), not the root token.
    #[arg(long, env = "KAVLING_GARAGE_TOKEN_FILE")]
    garage_token_file: Option<std::path::PathBuf>,
    /// The S3 endpoint tenants are given in their credentials Secret.
    #[arg(long, env = "KAVLING_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// The S3 region tenants are given (Garage's `s3_region`).
    #[arg(long, env = "KAVLING_S3_REGION", default_value = "garage")]
    s3_region: String,
    /// Namespace for the operator's own state (ACME account keys).
    #[arg(long, env = "KAVLING_NAMESPACE", default_value = "kavling-system")]
    namespace: String,
    /// Where DNSSEC signing keys are kept, one Secret per signed Zone (`dnssec.<zone>`): the
    /// namespace kavling-dns reads its keys from (its --keys-namespace).
    #[arg(long, env = "KAVLING_KEYS_NAMESPACE", default_value = "kavling-tsig")]
    keys_namespace: String,
    /// A Kavling DNS server (IP:port); repeat for every replica. ACME challenges are handed
    /// to the CA only when every one of them answers.
    #[arg(
        long = "dns-server",
        env = "KAVLING_DNS_SERVERS",
        value_delimiter = ','
    )]
    dns_servers: Vec<SocketAddr>,
    /// A headless Service in --namespace whose ready endpoints are every kavling-dns replica
    /// (the chart's `kavling-dns-replicas`, port `dns-udp`): read at every check, so a rollout
    /// is followed. May be combined with --dns-server.
    #[arg(long, env = "KAVLING_DNS_SERVICE")]
    dns_service: Option<String>,
    /// The Issuer used for Subdomains that want TLS.
    #[arg(long, env = "KAVLING_DEFAULT_ISSUER", default_value = "pusat-data")]
    default_issuer: String,
    /// The ingress controller's namespace: hosting namespaces admit traffic only from it.
    #[arg(
        long,
        env = "KAVLING_INGRESS_NAMESPACE",
        default_value = "ingress-nginx"
    )]
    ingress_namespace: String,
    /// The IngressClass hosting Ingresses use.
    #[arg(long, env = "KAVLING_INGRESS_CLASS", default_value = "nginx")]
    ingress_class: String,
    /// The Pusat Data's own registry prefix (host[:port]/path): every image a hosting runs
    /// comes from there — the catalog in templates/images.yaml, and tenants' own images.
    #[arg(
        long,
        env = "KAVLING_IMAGE_REGISTRY",
        default_value = controllers::DEFAULT_IMAGE_REGISTRY
    )]
    image_registry: String,
    /// The Pusat Data's read-only git mirror of application sources, by IP address
    /// (git://IP[:PORT], http(s)://IP[:PORT]/path): OpenSID is fetched from <mirror>/opensid.git
    /// and a hosting's NetworkPolicy admits exactly that address.
    #[arg(long, env = "KAVLING_SOURCE_MIRROR")]
    source_mirror: Option<kavling::hosting::SourceMirror>,
    /// The ingress controller's public address(es): what subdomains of hostings point at.
    #[arg(
        long = "ingress-address",
        env = "KAVLING_INGRESS_ADDRESSES",
        value_delimiter = ','
    )]
    ingress_addresses: Vec<std::net::IpAddr>,
    /// The cluster's own service and pod ranges (e.g. 10.96.0.0/12,10.244.0.0/16): a
    /// Subdomain's addresses may not point into them. Repeat or separate with commas.
    #[arg(
        long = "denied-target-cidr",
        env = "KAVLING_DENIED_TARGET_CIDRS",
        value_delimiter = ','
    )]
    denied_target_cidrs: Vec<kavling::rules::naming::Cidr>,
    /// The audit repository (a bare git repository on durable storage; made if missing).
    /// Every change of every Kavling object becomes one signed commit there.
    #[arg(long, env = "KAVLING_AUDIT_REPO")]
    audit_repo: Option<std::path::PathBuf>,
    /// Where the audit branch is pushed (git://, http:// or file://). While it is unreachable
    /// commits wait in --audit-repo and are pushed in order later.
    #[arg(long, env = "KAVLING_AUDIT_REMOTE")]
    audit_remote: Option<String>,
    /// Leader election: replicas stand by until they hold the Lease `kavling-operator` in
    /// --namespace; only the leader reconciles and writes the audit trail. `false` only for a
    /// single process that must never wait.
    #[arg(long, env = "KAVLING_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Seconds a leader's lease lasts unrenewed: how long a standby waits after the leader
    /// died before taking over (renewals every 2 s; a leader that cannot renew for 2/3 of
    /// this stops leading first).
    /// The longest wait (seconds) between two asks for a certificate's suggested renewal
    /// window (ARI, RFC 9773); the CA's Retry-After is honoured below it.
    #[arg(long, env = "KAVLING_ARI_POLL_SECONDS", default_value_t = 6 * 3600, value_parser = clap::value_parser!(u64).range(1..))]
    ari_poll_seconds: u64,
    #[arg(long, env = "KAVLING_LEASE_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(3..=300))]
    lease_seconds: u64,
}

/// The object store from the arguments, when configured.
fn object_store(args: &Args) -> anyhow::Result<Option<Arc<dyn kavling::objectstore::ObjectStore>>> {
    let Some(admin) = &args.garage_admin else {
        return Ok(None);
    };
    let token_file = args
        .garage_token_file
        .as_ref()
        .context("--garage-admin needs --garage-token-file")?;
    let token = std::fs::read_to_string(token_file)
        .with_context(|| format!("cannot read the Garage token from {}", token_file.display()))?
        .trim()
        .to_string();
    let s3 = args
        .s3_endpoint
        .clone()
        .context("--garage-admin needs --s3-endpoint (the endpoint tenants are given)")?;
    let garage =
        kavling::objectstore::garage::Garage::new(admin, token, s3, args.s3_region.clone())?;
    Ok(Some(Arc::new(garage)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    kavling::logging::init();
    let args = Args::parse();
    let client = kube::Client::try_default()
        .await
        .context("no usable kubeconfig or in-cluster configuration")?;
    let store = object_store(&args)?;
    let dns = kavling::acme::replicas::DnsReplicas {
        fixed: args.dns_servers.clone(),
        service: args.dns_service.clone(),
    };
    if dns.is_empty() {
        tracing::warn!(
            "no --dns-server or --dns-service given: ACME challenges cannot be checked before the CA is told, so certificates will wait"
        );
    }
    let settings = controllers::Settings {
        namespace: args.namespace.clone(),
        dns,
        default_issuer: args.default_issuer.clone(),
        ingress_namespace: args.ingress_namespace.clone(),
        ingress_class: args.ingress_class.clone(),
        ingress_addresses: args
            .ingress_addresses
            .iter()
            .map(|a| a.to_string())
            .collect(),
        denied_target_ranges: args.denied_target_cidrs.clone(),
        images: kavling::hosting::Images::under(&args.image_registry)?,
        source_mirror: args.source_mirror.clone(),
        ari_poll_max: Duration::from_secs(args.ari_poll_seconds),
        keys_namespace: args.keys_namespace.clone(),
    };
    let ctx = Context::with(client.clone(), store, settings);
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let metrics_ctx = ctx.clone();
    let audit_metrics = Arc::new(kavling_audit::writer::Metrics::default());
    let audit_render = audit_metrics.clone();
    let leading = Arc::new(AtomicBool::new(false));
    let leading_render = leading.clone();
    tokio::spawn(kavling::health::serve(
        listener,
        Arc::new(move || {
            let mut out = String::new();
            kavling::metrics::header(&mut out, "kavling_leader");
            out += &format!(
                "kavling_leader {}\n",
                u8::from(leading_render.load(Ordering::Relaxed))
            );
            out + &metrics_ctx.render_metrics() + &audit_render.render()
        }),
        ready.clone(),
    ));

    let version = client
        .apiserver_version()
        .await
        .context("the API server did not answer")?;
    tracing::info!(server = %version.git_version, listen = %args.listen, "kavling-operator starting");
    controllers::ensure_namespace(&client, &args.namespace)
        .await
        .context("cannot make the operator's namespace")?;
    // A standby is healthy and ready (it serves /metrics, and a rollout can proceed); it
    // only does not reconcile.
    ready.store(true, Ordering::Relaxed);
    let mut elector = args.leader_elect.then(|| {
        let secs = args.lease_seconds;
        leader::Elector::new(
            client.clone(),
            &args.namespace,
            "kavling-operator",
            leader::identity(),
            leader::Timings {
                lease_duration: Duration::from_secs(secs),
                renew_deadline: Duration::from_secs(secs * 2 / 3),
                retry: Duration::from_secs((secs / 7).max(1)),
            },
        )
    });
    if let Some(e) = elector.as_mut() {
        tracing::info!(identity = %e.identity(), "waiting for the leader lease");
        tokio::select! {
            _ = e.acquire() => {}
            _ = shutdown_signal() => return Ok(()),
        }
        tracing::info!(identity = %e.identity(), "leading: reconciling and writing the audit trail");
    }
    leading.store(true, Ordering::Relaxed);
    match args.audit_repo.clone() {
        Some(repo) => {
            let settings = kavling_audit::writer::Settings {
                repo,
                remote: args.audit_remote.clone(),
                namespace: args.namespace.clone(),
            };
            let client = client.clone();
            tokio::spawn(async move {
                if let Err(e) = kavling_audit::writer::run(client, settings, audit_metrics).await {
                    // Without its audit trail the platform must not carry on silently.
                    tracing::error!(error = %e, "the audit writer cannot run; stopping");
                    std::process::exit(1);
                }
            });
        }
        None => tracing::warn!(
            "no --audit-repo given: changes are NOT recorded in an audit trail (set it in production)"
        ),
    }

    let lost = async {
        match elector.as_mut() {
            Some(e) => e.hold().await,
            None => futures::future::pending().await,
        }
    };
    tokio::select! {
        _ = controllers::run_all(ctx) => tracing::info!("controllers stopped"),
        _ = shutdown_signal() => tracing::info!("asked to stop"),
        why = lost => {
            // Another replica may lead already: stop at once rather than write beside it.
            tracing::error!(?why, "lost the leader lease; stopping (a restart stands by)");
            std::process::exit(1);
        }
    }
    leading.store(false, Ordering::Relaxed);
    if let Some(e) = elector.as_mut()
        && let Err(err) = e.release().await
    {
        tracing::warn!(error = %err, "could not release the leader lease; it expires by itself");
    }
    tracing::info!("kavling-operator stopped");
    Ok(())
}

/// SIGTERM (a pod being stopped) or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
