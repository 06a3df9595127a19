//! `kavling plan PATH... --cluster`: what approving each request would create or change, and
//! whether a rule that needs live state (name already claimed, one website, limits, the zone)
//! would stop it — as a table for a terminal or Markdown for a pull-request comment.
//!
//! The cluster is read once (three LIST calls, read-only credentials suffice); every request
//! is then planned in memory, so thousands of files plan in seconds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use kavling::api::{Request, Subdomain, Tenant, TenantType, Zone, tenant_of_namespace};
use kavling::rules::{self, naming};
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

/// What the cluster holds, as far as planning needs it.
#[derive(Default)]
pub struct ClusterState {
    pub zones: HashMap<String, Zone>,
    pub tenants: HashMap<String, Tenant>,
    /// FQDN → (tenant, website, request that claimed it)
    pub subdomains: HashMap<String, (String, bool, String)>,
    pub live: bool,
}

impl ClusterState {
    pub async fn read(client: Client) -> anyhow::Result<Self> {
        let lp = ListParams::default();
        let (za, ta, sa) = (
            Api::<Zone>::all(client.clone()),
            Api::<Tenant>::all(client.clone()),
            Api::<Subdomain>::all(client),
        );
        let (zones, tenants, sds) = tokio::try_join!(za.list(&lp), ta.list(&lp), sa.list(&lp))?;
        Ok(Self {
            zones: zones.items.into_iter().map(|z| (z.name_any(), z)).collect(),
            tenants: tenants
                .items
                .into_iter()
                .map(|t| (t.name_any(), t))
                .collect(),
            subdomains: sds
                .items
                .into_iter()
                .map(|s| {
                    let req = s
                        .annotations()
                        .get(kavling::controllers::REQUEST_ANNOTATION)
                        .cloned()
                        .unwrap_or_default();
                    (s.name_any(), (s.spec.tenant.clone(), s.spec.website, req))
                })
                .collect(),
            live: true,
        })
    }
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

/// Plans one request against the cluster state (pure).
pub fn plan(file: &str, req: &Request, state: &ClusterState, today: chrono::NaiveDate) -> Plan {
    let ns = req.namespace().unwrap_or_default();
    let tenant = tenant_of_namespace(&ns).unwrap_or("").to_string();
    let mut p = Plan {
        file: file.into(),
        request: format!("{ns}/{}", req.name_any()),
        type_: req.spec.kind().into(),
        creates: vec![],
        blocked: vec![],
    };
    p.blocked.extend(
        rules::request::check(&req.spec, today)
            .iter()
            .map(ToString::to_string),
    );
    if state.live && !state.tenants.contains_key(&tenant) {
        p.blocked
            .push(format!("tenant '{tenant}' (namespace {ns}) does not exist"));
    }
    if let Some(s) = &req.spec.subdomain {
        let fqdn = format!("{}.{}", s.label, s.zone);
        p.creates.push(format!(
            "Subdomain {fqdn}{}",
            if s.website { " (website)" } else { "" }
        ));
        let t = &s.target;
        let (v4, v6): (Vec<&String>, Vec<&String>) = t
            .addresses
            .iter()
            .partition(|a| matches!(a.parse::<IpAddr>(), Ok(IpAddr::V4(_))));
        if !v4.is_empty() {
            p.creates.push(format!(
                "A {fqdn} → {}",
                v4.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        if !v6.is_empty() {
            p.creates.push(format!(
                "AAAA {fqdn} → {}",
                v6.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(a) = &t.alias {
            p.creates.push(format!("CNAME {fqdn} → {a}"));
        }
        if let Some(h) = &t.hosting {
            p.creates
                .push(format!("name → hosting {h} (once it is served)"));
        }
        if s.tls {
            p.creates.push(format!(
                "TLS certificate for {fqdn} (requested when certificate issuance lands)"
            ));
        }
        if state.live {
            if let Some((_, _, by)) = state.subdomains.get(&fqdn)
                && *by == p.request
            {
                p.creates = vec![format!("nothing: {fqdn} was already made for this request")];
            } else if let Some((holder, _, by)) = state.subdomains.get(&fqdn) {
                p.blocked.push(format!(
                    "{fqdn} is already held by tenant '{holder}'{}",
                    if by.is_empty() {
                        String::new()
                    } else {
                        format!(" ({by})")
                    }
                ));
            } else {
                let held: Vec<&(String, bool, String)> = state
                    .subdomains
                    .values()
                    .filter(|(t, _, _)| *t == tenant)
                    .collect();
                let t = state.tenants.get(&tenant);
                let limits = t.map(|t| t.spec.limits.clone()).unwrap_or_default();
                let served: Vec<String> = state.zones.keys().cloned().collect();
                let claim = naming::Claim {
                    label: &s.label,
                    zone_name: &s.zone,
                    zone: state.zones.get(&s.zone).map(|z| &z.spec),
                    served_zones: &served,
                    tenant: &tenant,
                    tenant_type: t
                        .map(|t| t.spec.type_)
                        .unwrap_or(TenantType::PerangkatDaerah),
                    limits: &limits,
                    held: naming::Holdings {
                        subdomains: held.len() as u32,
                        websites: held.iter().filter(|(_, w, _)| *w).count() as u32,
                    },
                    website: s.website,
                    target: &s.target,
                    alias_holder: match s
                        .target
                        .alias
                        .as_deref()
                        .and_then(|a| state.subdomains.get(a.trim_end_matches('.')))
                    {
                        Some((holder, _, _)) => naming::Holder::Tenant(holder),
                        None => naming::Holder::Nobody,
                    },
                    // the operator's --denied-target-cidr is not visible from here; approval
                    // applies it
                    denied_ranges: &[],
                };
                p.blocked
                    .extend(naming::check_claim(&claim).into_iter().map(|mut v| {
                        v.field = format!("spec.subdomain.{}", v.field);
                        v.to_string()
                    }));
            }
        }
    }
    if let Some(h) = &req.spec.hosting {
        p.creates.push(format!(
            "namespace {tenant}-{} from template {} with quota cpu {}, memory {}, disk {}",
            h.name, h.template, h.cpu, h.memory, h.disk
        ));
    }
    if let Some(s) = &req.spec.storage {
        p.creates.push(format!(
            "bucket {tenant}-{} with quota {} ({:?}{}), credentials Secret in {ns}",
            s.name,
            s.size,
            s.classification,
            if s.personal_data {
                ", personal data"
            } else {
                ""
            }
        ));
    }
    p.blocked.dedup();
    p
}

/// Plans every Request under `paths`, on every core.
pub fn plan_all(paths: &[PathBuf], state: &ClusterState, today: chrono::NaiveDate) -> Vec<Plan> {
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
                                .map(|r| plan(&d.file, &r, state, today))
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
    let state = match client {
        Some(c) => ClusterState::read(c).await?,
        None => ClusterState::default(),
    };
    let plans = plan_all(&args.paths, &state, chrono::Utc::now().date_naive());
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&plans)?),
        Format::Markdown => print!("{}", markdown(&plans, state.live)),
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
            if !state.live {
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
