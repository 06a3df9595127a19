//! `kavling suspend subdomain FQDN --reason` / `kavling resume subdomain FQDN`.

use clap::{Args, ValueEnum};
use kavling::api::Subdomain;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SuspendKind {
    #[value(alias = "sd", alias = "subdomains")]
    Subdomain,
}

#[derive(Args, Debug)]
pub struct SuspendArgs {
    /// What to suspend (subdomain; hosting and buckets follow in later releases).
    pub kind: SuspendKind,
    /// Its name (for a subdomain, the FQDN).
    pub name: String,
    /// Why (shown to the tenant and kept in the audit trail).
    #[arg(long)]
    pub reason: Option<String>,
    /// End of the suspension: YYYY-MM-DD or an RFC 3339 time. Without it, until resumed.
    #[arg(long)]
    pub until: Option<String>,
}

pub async fn run(client: kube::Client, args: SuspendArgs, suspend: bool) -> anyhow::Result<()> {
    let api: Api<Subdomain> = Api::all(client);
    api.get(&args.name).await?;
    let patch = if suspend {
        let reason = args
            .reason
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("--reason is required: say why the subdomain is suspended")
            })?;
        if let Some(u) = &args.until
            && kavling::controllers::subdomain::parse_until(u).is_none()
        {
            anyhow::bail!("--until '{u}' is neither a date YYYY-MM-DD nor an RFC 3339 time");
        }
        json!({"spec": {"suspend": {"reason": reason, "until": args.until}}})
    } else {
        json!({"spec": {"suspend": null}})
    };
    api.patch(&args.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    println!(
        "{} {} {}",
        match args.kind {
            SuspendKind::Subdomain => "subdomain",
        },
        args.name,
        if suspend { "suspended" } else { "resumed" }
    );
    Ok(())
}
