//! `kavling approve` / `kavling reject`: the Dinas's decision as an immutable Approval, in the
//! deciding user's own name.

use clap::Args;
use kavling_core::api::{Approval, Decision, Request};
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};

use crate::whoami;

#[derive(Args, Debug)]
pub struct DecideArgs {
    /// The request to decide on.
    pub request: String,
    /// The request's namespace (tenant-<name>).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Why (required to reject).
    #[arg(long)]
    pub reason: Option<String>,
}

pub async fn run(client: Client, args: DecideArgs, decision: Decision) -> anyhow::Result<()> {
    let reason = args.reason.unwrap_or_default();
    if decision == Decision::Reject && reason.trim().is_empty() {
        anyhow::bail!("--reason is required to reject: the tenant must learn why");
    }
    let (requests, approvals): (Api<Request>, Api<Approval>) = match &args.namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (
            Api::default_namespaced(client.clone()),
            Api::default_namespaced(client.clone()),
        ),
    };
    let req = requests
        .get(&args.request)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read request {}: {e}", args.request))?;
    let violations =
        kavling_core::rules::request::check(&req.spec, chrono::Utc::now().date_naive());
    if decision == Decision::Approve && !violations.is_empty() {
        let lines: Vec<String> = violations.iter().map(|v| format!("  - {v}")).collect();
        anyhow::bail!(
            "request {} breaks these rules; reject it with a reason instead:\n{}",
            args.request,
            lines.join("\n")
        );
    }
    if let Some(d) = req.status.as_ref().and_then(|s| s.decision.as_ref()) {
        anyhow::bail!(
            "request {} was already decided: {:?} by {} ({})",
            args.request,
            d.decision,
            d.approver,
            d.approval
        );
    }
    let me = whoami(&client).await?;
    // The decision binds this exact request (uid and spec digest), and is named after that
    // request instance: a second decision on it is a 409, while a request filed again under the
    // same name (another uid) gets a decision of its own.
    let mut approval = Approval::deciding(&req, decision, &me, &reason);
    let name = approval_name(&req);
    approval.metadata.name = Some(name.clone());
    approvals
        .create(&PostParams::default(), &approval)
        .await
        .map_err(|e| match &e {
            kube::Error::Api(s) if s.code == 409 => anyhow::anyhow!(
                "request {} already has an Approval named {name}; decisions are immutable",
                args.request,
            ),
            _ => anyhow::Error::from(e),
        })?;
    let ns = req.namespace().unwrap_or_default();
    match decision {
        Decision::Approve => println!(
            "approved {ns}/{} as {me}; follow it with: kavling wait -n {ns} {}",
            req.name_any(),
            req.name_any()
        ),
        Decision::Reject => println!("rejected {ns}/{} as {me}", req.name_any()),
    }
    Ok(())
}

/// The Approval's name for one request instance: `<request>-<first 8 of its uid>`.
pub fn approval_name(req: &Request) -> String {
    let uid = req.uid().unwrap_or_default();
    let short: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    let mut name = req.name_any();
    name.truncate(253 - 9);
    format!("{}-{short}", name.trim_end_matches(['-', '.']))
}
