//! Two operator replicas and one Lease: only the leader reconciles and writes the audit
//! trail; when the leader is killed the standby takes over once the lease runs out, continues
//! the audit history from the remote's head (nothing recorded twice, nothing refused), and a
//! leader stopped cleanly hands over at once. Prints the failover and handover times.

use std::time::Duration;

use kavling::api::Zone;
use kavling_e2e::{GitCommit, Stack, audit_history, git, stack_script, unique, wait_for};
use kube::Api;

const T: Duration = Duration::from_secs(60);
/// For a commit to reach the remote: a push stuck on the stack's git daemon is abandoned
/// after 20 s and tried again.
const PUSHED: Duration = Duration::from_secs(120);

async fn metrics(addr: &str) -> anyhow::Result<String> {
    Ok(reqwest::get(format!("http://{addr}/metrics"))
        .await?
        .error_for_status()?
        .text()
        .await?)
}

async fn leads(addr: &str) -> bool {
    metrics(addr)
        .await
        .is_ok_and(|m| m.lines().any(|l| l == "kavling_leader 1"))
}

/// The history of the audit remote (what auditors read), fetched into a scratch repository.
fn remote_history(stack: &Stack, scratch: &std::path::Path) -> anyhow::Result<Vec<GitCommit>> {
    let dir = scratch.to_str().unwrap();
    if !scratch.exists() {
        git(&["init", "-q", "--bare", dir])?;
    }
    git(&[
        "--git-dir",
        dir,
        "fetch",
        "-q",
        stack.get("KAVLING_AUDIT_REPO"),
        "+main:main",
    ])?;
    audit_history(dir)
}

fn commits_of(history: &[GitCommit], object: &str) -> usize {
    history
        .iter()
        .filter(|c| c.trailers.get("Object").map(String::as_str) == Some(object))
        .count()
}

async fn reconciled_zone(zones: &Api<Zone>, prefix: &str) -> anyhow::Result<(String, Duration)> {
    kavling_e2e::reconciled_zone(zones, prefix, T).await
}

#[tokio::test]
async fn the_standby_takes_over_a_killed_leader_and_the_audit_history_stays_one()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let leader = stack.get("KAVLING_OPERATOR_ADDR").to_string();
    let standby = stack.get("KAVLING_STANDBY_ADDR").to_string();
    let zones: Api<Zone> = Api::all(stack.client_as("admin").await?);
    let scratch = std::env::temp_dir().join(unique("audit-remote-copy"));

    assert!(leads(&leader).await, "the stack's operator leads");
    stack_script(&stack, &["operator-standby", "start"]);
    // the standby is ready but idle: it reconciles nothing
    let m = metrics(&standby).await?;
    assert!(m.lines().any(|l| l == "kavling_leader 0"), "{m}");
    assert!(
        !m.contains("kavling_reconcile_total{"),
        "a standby reconciles nothing: {m}"
    );

    // a change recorded by the first leader, pushed — its create and its Ready both (a push
    // between the two once counted only the create, and the Ready that followed looked like
    // a second recording)
    let (before, _) = reconciled_zone(&zones, "sebelum").await?;
    wait_for(
        "the first leader's commits (created, Ready) reach the remote",
        PUSHED,
        || async {
            let h = remote_history(&stack, &scratch)?;
            let ready = h.iter().any(|c| {
                c.trailers.get("Object").map(String::as_str) == Some(before.as_str())
                    && c.trailers.get("Change").map(String::as_str) == Some("status")
            });
            Ok(ready.then_some(()))
        },
    )
    .await?;
    let recorded_before = commits_of(&remote_history(&stack, &scratch)?, &before);

    // the leader dies without a word; the standby must wait out the lease, then lead
    stack_script(&stack, &["operator", "kill"]);
    let (after, failover) = reconciled_zone(&zones, "sesudah").await?;
    assert!(leads(&standby).await, "the standby leads now");
    println!(
        "failover: leader killed → first reconcile by the new leader in {:.1} s (lease 15 s)",
        failover.as_secs_f64()
    );
    assert!(failover < Duration::from_secs(30), "{failover:?}");

    // the new leader's commits continue the remote's history: the push is accepted (the
    // remote refuses anything but a fast-forward), and what was recorded is not recorded again
    let history = wait_for(
        "the new leader's commit reaches the remote",
        PUSHED,
        || async {
            let h = remote_history(&stack, &scratch)?;
            Ok((commits_of(&h, &after) > 0).then_some(h))
        },
    )
    .await?;
    assert_eq!(
        commits_of(&history, &before),
        recorded_before,
        "the new leader recorded again what the old one had"
    );
    let parents = git(&[
        "--git-dir",
        scratch.to_str().unwrap(),
        "rev-list",
        "--min-parents=2",
        "main",
    ])?;
    assert!(parents.trim().is_empty(), "one line of history, no merges");

    // the old leader comes back as a standby; the current leader stopped cleanly hands the
    // lease back at once (it releases it rather than letting it run out)
    stack_script(&stack, &["operator", "start"]);
    assert!(
        !leads(&leader).await,
        "a restarted replica stands by while another leads"
    );
    stack_script(&stack, &["operator-standby", "stop"]);
    let (_, handover) = reconciled_zone(&zones, "serah").await?;
    println!(
        "handover: leader stopped → first reconcile by the next in {:.1} s",
        handover.as_secs_f64()
    );
    assert!(leads(&leader).await, "the stack's operator leads again");
    assert!(handover < Duration::from_secs(10), "{handover:?}");
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
