//! The chaos run of #23, long form: N approvals mixing subdomain (with and without TLS),
//! storage and hosting requests while the operator is SIGKILLed at random moments, then the
//! API server, etcd, Garage, Pebble and the audit remote each stopped mid-burst; then every
//! invariant checked by [`kavling_e2e::chaos`]. Exits 1 when one is broken.
//!
//! Usage: chaos [N=200] [KILLS=25] [SEED]

use kavling_e2e::Stack;
use kavling_e2e::chaos::{ChaosConfig, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mut cfg = ChaosConfig::new(
        args.first().copied().unwrap_or(200) as usize,
        args.get(1).copied().unwrap_or(25) as usize,
    );
    if let Some(seed) = args.get(2) {
        cfg.seed = *seed;
    }
    cfg.per_outage = 8;
    let stack = Stack::load()?;
    let start = std::time::Instant::now();
    let report = run(&stack, &cfg).await?;
    print!("{report}");
    println!("whole run {:.0} s", start.elapsed().as_secs_f64());
    let failures = report.failures();
    for f in &failures {
        println!("BROKEN: {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
