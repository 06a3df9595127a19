//! `kavling plan PATH... --cluster`: what approving each request would create or change, and
//! whether a rule that needs live state (name already claimed, one website, limits, the zone)
//! would stop it — as a table for a terminal or Markdown for a pull-request comment.
//!
//! The cluster is read once (five LIST calls, read-only credentials suffice); every request
//! is then planned in memory by `kavling_core::plan::plan` — the function the operator runs
//! at approval time — so thousands of files plan in seconds and the plan cannot drift from
//! what approval does.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use kavling_core::api::{Bucket, Hosting, Request, Subdomain, Tenant, Zone};
use kavling_core::hosting::Templates;
use kavling_core::plan::{ClusterView, Existing};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use serde::Serialize;

use super::validate::{collect, documents};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Table,
    /// GitHub/GitLab-flavoured Markdown, for a pull-request comment.
    Markdown,
    Json,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Request files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Read the cluster (current kubeconfig) for names already claimed, limits and zones.
    /// Without it the plan shows what would be created but cannot say what would block it.
    #[arg(long)]
    pub cluster: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Reads what planning needs from the cluster: five LISTs, read-only credentials suffice.
pub async fn read_view(client: Client) -> anyhow::Result<ClusterView> {
    let lp = ListParams::default();
    let (za, ta, sa, ha, ba) = (
        Api::<Zone>::all(client.clone()),
        Api::<Tenant>::all(client.clone()),
        Api::<Subdomain>::all(client.clone()),
        Api::<Hosting>::all(client.clone()),
        Api::<Bucket>::all(client),
    );
    let (zones, tenants, sds, hostings, buckets) = tokio::try_join!(
        za.list(&lp),
        ta.list(&lp),
        sa.list(&lp),
        ha.list(&lp),
        ba.list(&lp)
    )?;
    Ok(ClusterView::from_lists(
        zones.items,
        tenants.items,
        sds.items,
        hostings.items,
        buckets.items,
    ))
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Plan {
    pub file: String,
    pub request: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub creates: Vec<String>,
    pub blocked: Vec<String>,
}

/// Plans one request against the cluster view: the operator's own planner, shown as lines a
/// person reads.
pub fn plan(
    file: &str,
    req: &Request,
    view: &ClusterView,
    templates: &Templates,
    today: chrono::NaiveDate,
) -> Plan {
    let d = kavling_core::plan::plan(req, view, templates, today);
    let creates = match &d.existing {
        Existing::Ours { .. } => {
            let what = d.output.as_ref().map(|o| format!("{} {}", o.kind, o.name));
            vec![format!(
                "nothing: {} was already made for this request",
                what.unwrap_or_default()
            )]
        }
        _ => d.effects.clone(),
    };
    let mut blocked: Vec<String> = d
        .refusals()
        .map(|v| match v.rule {
            // whose the name is, in the words approval uses
            "name-taken" => v.message.clone(),
            _ => v.to_string(),
        })
        .collect();
    blocked.dedup();
    Plan {
        file: file.into(),
        request: format!("{}/{}", req.namespace().unwrap_or_default(), req.name_any()),
        type_: d.type_.into(),
        creates,
        blocked,
    }
}

/// Plans every Request under `paths`, on every core.
pub fn plan_all(paths: &[PathBuf], view: &ClusterView, today: chrono::NaiveDate) -> Vec<Plan> {
    let templates = Templates::load().expect("the compiled-in templates load (unit-tested)");
    let templates = &templates;
    let mut docs = Vec::new();
    for f in collect(paths) {
        if let Ok(text) = std::fs::read_to_string(&f) {
            docs.extend(documents(&f.display().to_string(), &text));
        }
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = docs.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = docs
            .chunks(chunk)
            .map(|c| {
                scope.spawn(move || {
                    c.iter()
                        .filter_map(|d| {
                            serde_norway::from_str::<Request>(&d.text)
                                .ok()
                                .map(|r| plan(&d.file, &r, view, templates, today))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("plan thread"))
            .collect()
    })
}

/// The Markdown of a pull-request comment.
pub fn markdown(plans: &[Plan], live: bool) -> String {
    let mut out = String::from("### Kavling plan\n\n");
    if !live {
        out.push_str(
            "_Planned without the cluster: names already claimed and limits were not checked._\n\n",
        );
    }
    out.push_str(
        "| file | request | type | approving it creates | status |\n|---|---|---|---|---|\n",
    );
    for p in plans {
        let status = if p.blocked.is_empty() {
            "✅ ready for a Dinas decision".to_string()
        } else {
            format!("⛔ {}", p.blocked.join("<br>"))
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} |\n",
            p.file,
            p.request,
            p.type_,
            p.creates.join("<br>"),
            status.replace('|', "\\|")
        ));
    }
    let blocked = plans.iter().filter(|p| !p.blocked.is_empty()).count();
    out.push_str(&format!(
        "\n{} request(s), {} would be refused. Merging files the requests; it never approves them — each is decided by a Dinas member (`kavling approve -n <namespace> <request>`).\n",
        plans.len(),
        blocked
    ));
    out
}

pub async fn run(client: Option<Client>, args: PlanArgs) -> anyhow::Result<i32> {
    let view = match client {
        Some(c) => read_view(c).await?,
        None => ClusterView::default(),
    };
    let plans = plan_all(&args.paths, &view, chrono::Utc::now().date_naive());
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&plans)?),
        Format::Markdown => print!("{}", markdown(&plans, view.live)),
        Format::Table => {
            for p in &plans {
                println!("{}  {}  ({})", p.request, p.type_, p.file);
                for c in &p.creates {
                    println!("    + {c}");
                }
                for b in &p.blocked {
                    println!("    ! {b}");
                }
            }
            if !view.live {
                eprintln!(
                    "(planned without --cluster: names already claimed and limits were not checked)"
                );
            }
        }
    }
    Ok(if plans.iter().any(|p| !p.blocked.is_empty()) {
        1
    } else {
        0
    })
}
