//! The chaos run's short form (#23; the long one is `dev/bench.sh chaos`): approvals of all
//! four kinds while the operator is SIGKILLed at random moments, then each dependency — API
//! server, etcd, Garage, Pebble, the audit remote — stopped and started mid-burst. Every
//! invariant is then checked by `kavling_e2e::chaos`: all requests Ready, nothing missing,
//! duplicated or orphaned, each creation recorded once and `kavling audit verify` clean, the
//! DNS serving exactly the API's records.
//! (Its own test binary: cargo runs binaries one after another, so no other test sees the
//! faults. Named to run last, so no other test runs on a stack it has shaken: a restarted
//! Pebble has a new root and forgot the ACME account, the quota of a namespace may still be
//! charged for a create it interrupted, and its certificates, renewed every 40 s under the
//! suite's 60-second validity, once used up the Issuer's order budget before `node.rs` —
//! whose HTTPS sites then waited for budget; dev/test.sh now gives the test Issuer a budget
//! that fits 60-second certificates.)

use std::time::Duration;

use kavling_e2e::Stack;
use kavling_e2e::chaos::{ChaosConfig, run};

#[tokio::test]
async fn kills_and_outages_mid_burst_lose_nothing_duplicate_nothing_orphan_nothing()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let mut cfg = ChaosConfig::new(24, 8);
    cfg.per_outage = 4;
    cfg.outage_hold = Duration::from_secs(3);
    // beyond kube-controller-manager's quota resync (5 min): a create interrupted by a kill or an
    // outage leaves its namespace's quota charged until then (see hosting::quota_refusal)
    cfg.settle = Duration::from_secs(420);
    let report = run(&stack, &cfg).await?;
    println!("{report}");
    let failures = report.failures();
    assert!(
        failures.is_empty(),
        "broken invariants:\n{}",
        failures.join("\n")
    );
    assert_eq!(report.kills, 8);
    assert_eq!(report.outages.len(), 5);
    assert_eq!(report.ready, report.requests);
    // the suite's later tests share this stack: leave no running sites behind
    kavling_e2e::chaos::clean_up(&stack, &report).await?;
    Ok(())
}
