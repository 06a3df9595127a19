//! `kavling-operator`: runs Kavling's controllers against the current kubeconfig or in-cluster
//! service account.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use clap::Parser;
use kavling::controllers::{self, Context};

/// Kavling operator: turns approved requests into subdomains and DNS records.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address of the health and metrics endpoint (/healthz, /readyz, /metrics).
    #[arg(long, env = "KAVLING_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    kavling::logging::init();
    let args = Args::parse();
    let client = kube::Client::try_default()
        .await
        .context("no usable kubeconfig or in-cluster configuration")?;
    let ctx = Context::new(client.clone());
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let metrics_ctx = ctx.clone();
    tokio::spawn(kavling::health::serve(
        listener,
        Arc::new(move || metrics_ctx.render_metrics()),
        ready.clone(),
    ));

    let version = client
        .apiserver_version()
        .await
        .context("the API server did not answer")?;
    tracing::info!(server = %version.git_version, listen = %args.listen, "kavling-operator starting");
    ready.store(true, Ordering::Relaxed);

    tokio::join!(
        controllers::tenant::run(ctx.clone()),
        controllers::zone::run(ctx.clone()),
        controllers::request::run(ctx.clone()),
        controllers::subdomain::run(ctx.clone()),
        controllers::dnsrecord::run(ctx.clone()),
    );
    tracing::info!("kavling-operator stopped");
    Ok(())
}
