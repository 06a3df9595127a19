//! `kavling get KIND [NAME]`: tables of Kavling objects, or YAML/JSON with `-o`.

use clap::{Args, ValueEnum};
use kavling_core::api::{
    Approval, Bucket, Certificate, DnsRecord, Hosting, Issuer, Request, Subdomain, Tenant, Zone,
};
use kavling_core::status::{get as cond, types};
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::output::{Format, age, structured, table};

/// Kinds the CLI knows, with kubectl-style aliases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    #[value(alias = "request", alias = "req")]
    Requests,
    #[value(alias = "approval", alias = "apv")]
    Approvals,
    #[value(alias = "tenant", alias = "tn")]
    Tenants,
    #[value(alias = "zone", alias = "zn")]
    Zones,
    #[value(alias = "subdomain", alias = "sd")]
    Subdomains,
    #[value(
        alias = "record",
        alias = "dnsrecords",
        alias = "dnsrecord",
        alias = "rr"
    )]
    Records,
    #[value(alias = "bucket", alias = "bkt")]
    Buckets,
    #[value(
        alias = "certificate",
        alias = "cert",
        alias = "certs",
        alias = "tlscertificates",
        alias = "tlscertificate",
        alias = "tlscert"
    )]
    Certificates,
    #[value(
        alias = "issuer",
        alias = "iss",
        alias = "acme",
        alias = "acmeissuers",
        alias = "acmeissuer"
    )]
    Issuers,
    #[value(alias = "hosting", alias = "host")]
    Hostings,
}

#[derive(Args, Debug)]
pub struct GetArgs {
    /// What to list: requests, approvals, tenants, zones, subdomains, records, buckets,
    /// certificates, issuers, hostings.
    pub kind: Kind,
    /// One object by name (for subdomains and zones, the domain name).
    pub name: Option<String>,
    /// Namespace of requests, approvals, buckets and certificates (default: your kubeconfig's
    /// namespace).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Requests, approvals, buckets and certificates in every namespace you can read.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

fn ready(conds: &[kavling_core::api::Condition]) -> String {
    cond(conds, types::READY)
        .map(|c| c.status.clone())
        .unwrap_or_else(|| "-".into())
}

fn message(conds: &[kavling_core::api::Condition]) -> String {
    cond(conds, types::READY)
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

async fn fetch<K>(api: Api<K>, name: &Option<String>) -> anyhow::Result<Vec<K>>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    Ok(match name {
        Some(n) => vec![api.get(n).await?],
        None => api.list(&ListParams::default()).await?.items,
    })
}

fn namespaced<K>(client: &Client, args: &GetArgs) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    if args.all_namespaces && args.name.is_none() {
        Api::all(client.clone())
    } else {
        match &args.namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::default_namespaced(client.clone()),
        }
    }
}

pub async fn run(client: Client, args: GetArgs) -> anyhow::Result<()> {
    let wide = args.output == Format::Wide;
    let structured_out = matches!(args.output, Format::Yaml | Format::Json);
    macro_rules! emit {
        ($items:expr, $headers:expr, $row:expr) => {{
            let items = $items;
            if structured_out {
                return structured(&items, args.output);
            }
            if items.is_empty() {
                eprintln!("no {:?} found", args.kind);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = items.iter().map($row).collect();
            table(&$headers, &rows);
        }};
    }
    match args.kind {
        Kind::Requests => {
            let items: Vec<Request> = fetch(namespaced(&client, &args), &args.name).await?;
            let mut h = vec!["NAMESPACE", "NAME", "TYPE", "LETTER", "BY", "PHASE", "AGE"];
            if wide {
                h.extend(["OUTPUTS", "MESSAGE"]);
            }
            emit!(items, h, |r: &Request| {
                let st = r.status.clone().unwrap_or_default();
                let mut row = vec![
                    r.namespace().unwrap_or_default(),
                    r.name_any(),
                    r.spec.kind().into(),
                    r.spec.letter.number.clone(),
                    r.spec.requested_by.clone(),
                    format!("{:?}", st.phase),
                    age(r.creation_timestamp().as_ref()),
                ];
                if wide {
                    row.push(
                        st.outputs
                            .iter()
                            .map(|o| format!("{}/{}", o.kind, o.name))
                            .collect::<Vec<_>>()
                            .join(","),
                    );
                    row.push(message(&st.conditions));
                }
                row
            })
        }
        Kind::Approvals => {
            let items: Vec<Approval> = fetch(namespaced(&client, &args), &args.name).await?;
            emit!(
                items,
                [
                    "NAMESPACE",
                    "NAME",
                    "REQUEST",
                    "DECISION",
                    "APPROVER",
                    "REASON",
                    "AGE"
                ],
                |a: &Approval| vec![
                    a.namespace().unwrap_or_default(),
                    a.name_any(),
                    a.spec.request.clone(),
                    format!("{:?}", a.spec.decision),
                    a.spec.approver.clone(),
                    a.spec.reason.clone(),
                    age(a.creation_timestamp().as_ref()),
                ]
            )
        }
        Kind::Tenants => {
            let items: Vec<Tenant> = fetch(Api::all(client), &args.name).await?;
            emit!(
                items,
                [
                    "NAME",
                    "TYPE",
                    "CODE",
                    "NAMESPACE",
                    "SUBDOMAINS",
                    "WEBSITES",
                    "READY",
                    "AGE"
                ],
                |t: &Tenant| {
                    let st = t.status.clone().unwrap_or_default();
                    vec![
                        t.name_any(),
                        format!("{:?}", t.spec.type_),
                        t.spec.code.clone(),
                        st.namespace.unwrap_or_default(),
                        format!("{}/{}", st.usage.subdomains, t.spec.limits.subdomains),
                        format!("{}/{}", st.usage.websites, t.spec.limits.websites),
                        ready(&st.conditions),
                        age(t.creation_timestamp().as_ref()),
                    ]
                }
            )
        }
        Kind::Zones => {
            let items: Vec<Zone> = fetch(Api::all(client), &args.name).await?;
            emit!(
                items,
                ["NAME", "SERIAL", "RECORDS", "NAMESERVERS", "READY", "AGE"],
                |z: &Zone| {
                    let st = z.status.clone().unwrap_or_default();
                    vec![
                        z.name_any(),
                        st.serial.to_string(),
                        st.records.to_string(),
                        z.spec.nameservers.join(","),
                        ready(&st.conditions),
                        age(z.creation_timestamp().as_ref()),
                    ]
                }
            )
        }
        Kind::Subdomains => {
            let items: Vec<Subdomain> = fetch(Api::all(client), &args.name).await?;
            let mut h = vec![
                "NAME",
                "TENANT",
                "WEBSITE",
                "TARGET",
                "READY",
                "SUSPENDED",
                "AGE",
            ];
            if wide {
                h.extend(["RECORDS", "MESSAGE"]);
            }
            emit!(items, h, |s: &Subdomain| {
                let st = s.status.clone().unwrap_or_default();
                let t = &s.spec.target;
                let target = t
                    .alias
                    .clone()
                    .map(|a| format!("alias {a}"))
                    .or_else(|| t.hosting.clone().map(|h| format!("hosting {h}")))
                    .unwrap_or_else(|| t.addresses.join(","));
                let mut row = vec![
                    s.name_any(),
                    s.spec.tenant.clone(),
                    s.spec.website.to_string(),
                    target,
                    ready(&st.conditions),
                    cond(&st.conditions, types::SUSPENDED)
                        .map(|c| c.status.clone())
                        .unwrap_or_else(|| "-".into()),
                    age(s.creation_timestamp().as_ref()),
                ];
                if wide {
                    row.push(st.records.join(","));
                    row.push(message(&st.conditions));
                }
                row
            })
        }
        Kind::Buckets => {
            let items: Vec<Bucket> = fetch(namespaced(&client, &args), &args.name).await?;
            let mut h = vec![
                "NAMESPACE",
                "NAME",
                "BUCKET",
                "SIZE",
                "USED",
                "CLASS",
                "READY",
                "SUSPENDED",
                "AGE",
            ];
            if wide {
                h.extend(["SECRET", "KEY", "NEXT ROTATION", "MESSAGE"]);
            }
            emit!(items, h, |b: &Bucket| {
                let st = b.status.clone().unwrap_or_default();
                let used = st
                    .usage
                    .as_ref()
                    .map(|u| {
                        format!(
                            "{} ({} obj)",
                            kavling_core::rules::storage::human_bytes(u.bytes),
                            u.objects
                        )
                    })
                    .unwrap_or_else(|| "-".into());
                let mut row = vec![
                    b.namespace().unwrap_or_default(),
                    b.name_any(),
                    st.bucket_name.clone().unwrap_or_else(|| "-".into()),
                    b.spec.size.clone(),
                    used,
                    format!("{:?}", b.spec.classification),
                    ready(&st.conditions),
                    cond(&st.conditions, types::SUSPENDED)
                        .map(|c| c.status.clone())
                        .unwrap_or_else(|| "-".into()),
                    age(b.creation_timestamp().as_ref()),
                ];
                if wide {
                    row.push(st.secret_name.clone().unwrap_or_default());
                    row.push(st.access_key_id.clone().unwrap_or_default());
                    row.push(st.next_rotation.clone().unwrap_or_default());
                    row.push(message(&st.conditions));
                }
                row
            })
        }
        Kind::Certificates => {
            let items: Vec<Certificate> = fetch(namespaced(&client, &args), &args.name).await?;
            let mut h = vec![
                "NAMESPACE",
                "NAME",
                "NAMES",
                "ISSUER",
                "EXPIRES",
                "STEP",
                "READY",
                "AGE",
            ];
            if wide {
                h.extend(["SECRET", "RENEWS", "MESSAGE"]);
            }
            emit!(items, h, |c: &Certificate| {
                let st = c.status.clone().unwrap_or_default();
                let mut row = vec![
                    c.namespace().unwrap_or_default(),
                    c.name_any(),
                    c.spec.dns_names.join(","),
                    c.spec.issuer.clone(),
                    st.not_after.clone().unwrap_or_else(|| "-".into()),
                    format!("{:?}", st.step),
                    ready(&st.conditions),
                    age(c.creation_timestamp().as_ref()),
                ];
                if wide {
                    row.push(c.spec.secret_name.clone());
                    row.push(st.renewal_time.clone().unwrap_or_default());
                    row.push(message(&st.conditions));
                }
                row
            })
        }
        Kind::Hostings => {
            let items: Vec<Hosting> = fetch(namespaced(&client, &args), &args.name).await?;
            let mut h = vec![
                "NAMESPACE",
                "NAME",
                "TEMPLATE",
                "HOSTING NS",
                "CPU",
                "MEMORY",
                "DISK",
                "READY",
                "SUSPENDED",
                "AGE",
            ];
            if wide {
                h.extend(["ENDPOINTS", "MESSAGE"]);
            }
            emit!(items, h, |x: &Hosting| {
                let st = x.status.clone().unwrap_or_default();
                let r = &x.spec.resources;
                let mut row = vec![
                    x.namespace().unwrap_or_default(),
                    x.name_any(),
                    x.spec.template.as_str().to_string(),
                    st.namespace.clone().unwrap_or_else(|| "-".into()),
                    r.cpu.clone(),
                    r.memory.clone(),
                    r.disk.clone(),
                    ready(&st.conditions),
                    cond(&st.conditions, types::SUSPENDED)
                        .map(|c| c.status.clone())
                        .unwrap_or_else(|| "-".into()),
                    age(x.creation_timestamp().as_ref()),
                ];
                if wide {
                    row.push(st.endpoints.join(","));
                    row.push(message(&st.conditions));
                }
                row
            })
        }
        Kind::Issuers => {
            let items: Vec<Issuer> = fetch(Api::all(client), &args.name).await?;
            emit!(
                items,
                ["NAME", "DIRECTORY", "ACCOUNT", "READY", "AGE"],
                |i: &Issuer| {
                    let st = i.status.clone().unwrap_or_default();
                    vec![
                        i.name_any(),
                        i.spec.directory.clone(),
                        st.account.clone().unwrap_or_else(|| "-".into()),
                        ready(&st.conditions),
                        age(i.creation_timestamp().as_ref()),
                    ]
                }
            )
        }
        Kind::Records => {
            let items: Vec<DnsRecord> = fetch(Api::all(client), &args.name).await?;
            emit!(
                items,
                ["ZONE", "NAME", "TYPE", "TTL", "VALUES", "READY", "AGE"],
                |r: &DnsRecord| {
                    let st = r.status.clone().unwrap_or_default();
                    vec![
                        r.spec.zone.clone(),
                        r.spec.name.clone(),
                        r.spec.type_.as_str().into(),
                        r.spec
                            .ttl
                            .map(|t| t.to_string())
                            .unwrap_or_else(|| "zone".into()),
                        r.spec.values.join(" "),
                        ready(&st.conditions),
                        age(r.creation_timestamp().as_ref()),
                    ]
                }
            )
        }
    }
    Ok(())
}
