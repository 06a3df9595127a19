//! `kavling request subdomain`: file a request from flags or a file, checked by the same rules
//! the operator applies before it is sent.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kavling_core::api::{Identity, Letter, Request, RequestSpec, Signer, SubdomainRequest, Target};
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};

use crate::whoami;

#[derive(Subcommand, Debug)]
pub enum RequestCmd {
    /// Ask for a subdomain of a zone (permohonan subdomain).
    Subdomain(Box<SubdomainArgs>),
    /// File any request from a YAML file (subdomain, hosting or storage).
    File {
        /// The Request YAML.
        #[arg(short, long)]
        file: PathBuf,
        #[arg(short, long)]
        namespace: Option<String>,
    },
}

/// The request letter (surat permohonan), required for every request.
#[derive(Args, Debug)]
pub struct LetterArgs {
    /// Letter number, e.g. 045/123/Diskes/2026.
    #[arg(long)]
    pub letter_number: String,
    /// Letter date, YYYY-MM-DD.
    #[arg(long)]
    pub letter_date: String,
    /// Name of the signer.
    #[arg(long)]
    pub signer_name: String,
    /// Position of the signer (jabatan).
    #[arg(long)]
    pub signer_position: String,
    /// The signer's NIP (18 digits).
    #[arg(
        long,
        conflicts_with = "signer_nik",
        required_unless_present = "signer_nik"
    )]
    pub signer_nip: Option<String>,
    /// The signer's NIK (16 digits), for officials without NIP.
    #[arg(long)]
    pub signer_nik: Option<String>,
}

#[derive(Args, Debug)]
pub struct SubdomainArgs {
    /// Zone to claim the name in, e.g. bukittinggikota.go.id.
    #[arg(long)]
    pub zone: String,
    /// Proposed label, e.g. dinkes → dinkes.bukittinggikota.go.id.
    #[arg(long)]
    pub label: String,
    /// Application or website name.
    #[arg(long = "app")]
    pub application_name: String,
    /// What it is for.
    #[arg(long)]
    pub description: String,
    /// The business process it supports.
    #[arg(long)]
    pub business_process: String,
    /// This is the tenant's website (a PD has at most one).
    #[arg(long)]
    pub website: bool,
    /// Point the name at these addresses (repeatable).
    #[arg(long = "address", conflicts_with = "alias")]
    pub addresses: Vec<String>,
    /// Point the name at another name in a zone Kavling serves.
    #[arg(long)]
    pub alias: Option<String>,
    /// Do not ask for a TLS certificate.
    #[arg(long)]
    pub no_tls: bool,
    /// Also answer for every name under it (`*.<label>.<zone>`), with the same target and,
    /// with TLS, a certificate that covers them. Only in zones whose policy allows wildcards.
    #[arg(long)]
    pub wildcard: bool,
    /// Name of the Request object (default: the label).
    #[arg(long)]
    pub name: Option<String>,
    /// Your tenant's home namespace (default: your kubeconfig's namespace).
    #[arg(short, long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub letter: LetterArgs,
}

pub async fn run(client: Client, cmd: RequestCmd) -> anyhow::Result<()> {
    let (req, ns) = match cmd {
        RequestCmd::Subdomain(a) => {
            let a = *a;
            let me = whoami(&client).await?;
            let spec = RequestSpec {
                requested_by: me,
                letter: Letter {
                    number: a.letter.letter_number,
                    date: a.letter.letter_date,
                    subject: None,
                    signer: Signer {
                        name: a.letter.signer_name,
                        position: a.letter.signer_position,
                        identity: Identity {
                            nip: a.letter.signer_nip,
                            nik: a.letter.signer_nik,
                        },
                    },
                },
                subdomain: Some(SubdomainRequest {
                    zone: a.zone,
                    label: a.label.clone(),
                    application_name: a.application_name,
                    description: a.description,
                    business_process: a.business_process,
                    website: a.website,
                    tls: !a.no_tls,
                    target: Target {
                        addresses: a.addresses,
                        alias: a.alias,
                        hosting: None,
                    },
                    wildcard: a.wildcard,
                }),
                hosting: None,
                storage: None,
            };
            (Request::new(&a.name.unwrap_or(a.label), spec), a.namespace)
        }
        RequestCmd::File { file, namespace } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let req: Request = serde_norway::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: not a Request: {e}", file.display()))?;
            let ns = namespace.or_else(|| req.namespace());
            (req, ns)
        }
    };
    // The same rules the operator applies, before anything is sent.
    let violations =
        kavling_core::rules::request::check(&req.spec, chrono::Utc::now().date_naive());
    if !violations.is_empty() {
        let lines: Vec<String> = violations.iter().map(|v| format!("  - {v}")).collect();
        anyhow::bail!(
            "the request breaks these rules and was not sent:\n{}",
            lines.join("\n")
        );
    }
    let api: Api<Request> = match &ns {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::default_namespaced(client),
    };
    let mut req = req;
    req.metadata.namespace = None;
    let created = api.create(&PostParams::default(), &req).await?;
    let ns = created.namespace().unwrap_or_default();
    println!(
        "request {ns}/{} filed ({}); a Dinas engineer decides with: kavling approve -n {ns} {}",
        created.name_any(),
        created.spec.kind(),
        created.name_any()
    );
    println!(
        "follow it with: kavling wait -n {ns} {}",
        created.name_any()
    );
    Ok(())
}
