//! `kavling`: the command line of the Kavling platform — file requests, decide on them, follow
//! them, and see what the Pusat Data serves.

mod commands;
mod errors;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kavling_core::api::Decision;
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use commands::{
    apply, audit, decide, describe, get, ondemand, plan, request, restore, suspend, validate, wait,
    zone,
};

/// Kavling: go.id subdomains, DNS, TLS, hosting and storage for the Pusat Data, each made only
/// after the Dinas approves a written request.
///
/// Typical flow:
///   kavling request subdomain --zone bukittinggikota.go.id --label dinkes ...   (tenant)
///   kavling get requests -A                                                     (Dinas)
///   kavling approve -n tenant-dinkes dinkes                                     (Dinas)
///   kavling wait -n tenant-dinkes dinkes                                        (anyone)
///
/// Uses your kubeconfig like kubectl (KUBECONFIG, --kubeconfig, --context).
#[derive(Parser, Debug)]
#[command(name = "kavling", version, verbatim_doc_comment)]
struct Cli {
    /// Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    context: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// File a request (permohonan) for a subdomain, hosting or storage.
    #[command(subcommand)]
    Request(request::RequestCmd),
    /// List Kavling objects: requests, approvals, tenants, zones, subdomains, records.
    Get(get::GetArgs),
    /// Show one object in full, with its conditions and events.
    Describe(describe::DescribeArgs),
    /// Approve a request (Dinas only; recorded in your name).
    Approve(decide::DecideArgs),
    /// Reject a request with a reason (Dinas only; recorded in your name).
    Reject(decide::DecideArgs),
    /// Follow a request until it is Ready, Failed or Rejected.
    Wait(wait::WaitArgs),
    /// Suspend a subdomain, hosting or bucket (Dinas only), with a reason and an optional end date.
    Suspend(suspend::SuspendArgs),
    /// Resume a suspended subdomain, hosting or bucket (Dinas only).
    Resume(suspend::SuspendArgs),
    /// Renew a certificate now instead of at its renewal time (Dinas only; audited):
    /// `kavling renew certificate NAME -n NAMESPACE`.
    Renew(ondemand::OnDemandArgs),
    /// Make a bucket's new access key now (Dinas only; audited); the old key keeps working for
    /// the rotation grace period: `kavling rotate bucket NAME -n NAMESPACE`.
    Rotate(ondemand::OnDemandArgs),
    /// Print the CustomResourceDefinitions (or write one file each with --dir).
    Crds {
        /// Write one file per CRD into this directory instead of printing.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Check Kavling YAML offline (pull-request CI): CEL rules, types, regulation rules.
    Validate(validate::ValidateArgs),
    /// What approving each request would create, and what would block it (--cluster).
    Plan(plan::PlanArgs),
    /// Server-side apply Kavling files (files requests; never approves).
    Apply(apply::ApplyArgs),
    /// Show who the API server thinks you are, and your groups.
    Whoami,
    /// The audit trail: log, show, verify, allowed-signers (every change is one signed commit).
    Audit(audit::AuditArgs),
    /// Rebuild Tenants, Zones, Subdomains, records, hostings, buckets and certificates from the
    /// audit repository into a cluster (disaster recovery); says what needs a person after.
    Restore(restore::RestoreArgs),
    /// Zones: import the master file an office serves today as a Zone and its DnsRecords.
    #[command(subcommand)]
    Zone(zone::ZoneCmd),
}

async fn client(cli: &Cli) -> anyhow::Result<Client> {
    Ok(Client::try_from(config(cli).await?)?)
}

async fn config(cli: &Cli) -> anyhow::Result<Config> {
    let options = KubeConfigOptions {
        context: cli.context.clone(),
        ..Default::default()
    };
    let config = match &cli.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &options).await?
        }
        None => Config::from_kubeconfig(&options)
            .await
            .or_else(|_| Config::incluster())
            .context("no kubeconfig found: set KUBECONFIG or pass --kubeconfig")?,
    };
    Ok(config)
}

/// The user name the API server sees for this client.
pub async fn whoami(client: &Client) -> anyhow::Result<String> {
    Ok(whoami_full(client).await?.0)
}

async fn whoami_full(client: &Client) -> anyhow::Result<(String, Vec<String>)> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .context("cannot ask the API server who you are")?;
    let info = review.status.and_then(|s| s.user_info).unwrap_or_default();
    Ok((
        info.username.unwrap_or_default(),
        info.groups.unwrap_or_default(),
    ))
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    if let Command::Crds { dir } = &cli.command {
        match dir {
            None => print!("{}", kavling_core::crds::all_yaml()),
            Some(d) => {
                std::fs::create_dir_all(d)?;
                for crd in kavling_core::crds::all() {
                    let path = d.join(kavling_core::crds::file_name(&crd));
                    std::fs::write(&path, kavling_core::crds::to_yaml(&crd))?;
                    println!("wrote {}", path.display());
                }
            }
        }
        return Ok(0);
    }
    if let Command::Zone(_) = &cli.command {
        let Command::Zone(cmd) = cli.command else {
            unreachable!()
        };
        return zone::run(cmd);
    }
    if let Command::Validate(args) = &cli.command {
        let c = if args.cluster {
            Some(client(&cli).await?)
        } else {
            None
        };
        let Command::Validate(args) = cli.command else {
            unreachable!()
        };
        return validate::run(c, args).await;
    }
    if let Command::Plan(args) = &cli.command {
        let c = if args.cluster {
            Some(client(&cli).await?)
        } else {
            None
        };
        let Command::Plan(args) = cli.command else {
            unreachable!()
        };
        return plan::run(c, args).await;
    }
    if let Command::Audit(args) = &cli.command {
        let c = if args.needs_cluster() {
            Some(client(&cli).await?)
        } else {
            None
        };
        let Command::Audit(args) = cli.command else {
            unreachable!()
        };
        return audit::run(c, args).await;
    }
    if let Command::Restore(_) = &cli.command {
        let config = config(&cli).await?;
        let Command::Restore(args) = cli.command else {
            unreachable!()
        };
        return restore::run(config, args).await;
    }
    let client = client(&cli).await?;
    match cli.command {
        Command::Request(cmd) => request::run(client, cmd).await?,
        Command::Get(args) => get::run(client, args).await?,
        Command::Describe(args) => describe::run(client, args).await?,
        Command::Approve(args) => decide::run(client, args, Decision::Approve).await?,
        Command::Reject(args) => decide::run(client, args, Decision::Reject).await?,
        Command::Wait(args) => return wait::run(client, args).await,
        Command::Suspend(args) => suspend::run(client, args, true).await?,
        Command::Resume(args) => suspend::run(client, args, false).await?,
        Command::Renew(args) => ondemand::run(client, args, ondemand::Ask::Renew).await?,
        Command::Rotate(args) => ondemand::run(client, args, ondemand::Ask::Rotate).await?,
        Command::Whoami => {
            let (user, groups) = whoami_full(&client).await?;
            println!("user:   {user}\ngroups: {}", groups.join(", "));
        }
        Command::Apply(args) => return apply::run(client, args).await,
        Command::Crds { .. }
        | Command::Validate(_)
        | Command::Plan(_)
        | Command::Audit(_)
        | Command::Restore(_)
        | Command::Zone(_) => {
            unreachable!("handled above")
        }
    }
    Ok(0)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {}", errors::explain(&e));
            ExitCode::from(1)
        }
    }
}
