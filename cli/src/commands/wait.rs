//! `kavling wait REQUEST`: shows each phase until the request is Ready, Failed or Rejected.

use std::time::{Duration, Instant};

use clap::Args;
use kavling_core::api::{Request, RequestPhase};
use kavling_core::status::{get, types};
use kube::{Api, Client};

#[derive(Args, Debug)]
pub struct WaitArgs {
    pub request: String,
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Also return when the request is merely pending a decision.
    #[arg(long)]
    pub until_pending: bool,
}

/// Exit codes: 0 Ready, 1 Failed or Rejected, 2 timed out.
pub async fn run(client: Client, args: WaitArgs) -> anyhow::Result<i32> {
    let api: Api<Request> = match &args.namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::default_namespaced(client),
    };
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let r = api.get(&args.request).await?;
        let st = r.status.unwrap_or_default();
        let msg = get(&st.conditions, types::READY)
            .map(|c| c.message.clone())
            .unwrap_or_else(|| "not looked at yet".into());
        let line = format!("{:?}: {msg}", st.phase);
        if line != last {
            println!("[{:>5.1}s] {line}", start.elapsed().as_secs_f64());
            last = line;
        }
        match st.phase {
            RequestPhase::Ready => return Ok(0),
            RequestPhase::Failed | RequestPhase::Rejected => return Ok(1),
            RequestPhase::Pending if args.until_pending && !st.conditions.is_empty() => {
                return Ok(0);
            }
            _ => {}
        }
        if start.elapsed() > Duration::from_secs(args.timeout) {
            eprintln!(
                "timed out after {}s; the request is still {:?}",
                args.timeout, st.phase
            );
            return Ok(2);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
