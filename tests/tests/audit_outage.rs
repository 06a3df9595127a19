//! The audit trail when things fail: the operator killed at random points between a change
//! and its commit, and the audit remote down while changes keep coming. (Its own test binary:
//! it kills the operator, which no other test should see.)

use std::time::{Duration, Instant};

use kavling::api::*;
use kavling_e2e::{Stack, audit_history, audit_local, git, stack_script, wait_for};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

/// The zone's default TTL in each commit that created or changed its spec (status commits,
/// such as the zone becoming Ready, are not changes of ours).
fn recorded_ttls(dir: &str, zone: &str) -> anyhow::Result<Vec<u64>> {
    let path = format!("zones/{zone}.yaml");
    let format = "--format=%H %(trailers:key=Change,valueonly,separator=)";
    let log = git(&[
        "--git-dir",
        dir,
        "log",
        "--reverse",
        format,
        "main",
        "--",
        &path,
    ])?;
    let mut ttls = Vec::new();
    for line in log.lines() {
        let Some((id, change)) = line.split_once(' ') else {
            continue;
        };
        if change.trim() == "status" {
            continue;
        }
        let Ok(doc) = git(&["--git-dir", dir, "show", &format!("{id}:{path}")]) else {
            continue;
        };
        let v: serde_json::Value = serde_norway::from_str(&doc)?;
        if let Some(t) = v["spec"]["defaultTtl"].as_u64() {
            ttls.push(t);
        }
    }
    Ok(ttls)
}

async fn set_ttl(zones: &Api<Zone>, zone: &str, ttl: u32) -> anyhow::Result<()> {
    zones
        .patch(
            zone,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"defaultTtl": ttl}})),
        )
        .await?;
    Ok(())
}

/// A small deterministic pseudo-random sequence (xorshift), seeded from the clock.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::test]
async fn kills_and_remote_outages_lose_and_duplicate_nothing() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let admin = stack.client_as("admin").await?;
    let zones: Api<Zone> = Api::all(admin);
    let zone = format!("{}.go.id", kavling_e2e::unique("kill"));
    let mut spec = kavling_e2e::zone_spec(&zone);
    spec.default_ttl = 1000;
    zones
        .create(&PostParams::default(), &Zone::new(&zone, spec))
        .await?;
    let dir = audit_local(&stack);
    let wait_ttl = |ttl: u64| {
        let (dir, zone) = (dir.clone(), zone.clone());
        async move {
            wait_for(
                &format!("the commit of defaultTtl {ttl}"),
                Duration::from_secs(60),
                move || {
                    let r = recorded_ttls(&dir, &zone).map(|t| t.contains(&ttl).then_some(()));
                    async move { r }
                },
            )
            .await
        }
    };
    wait_ttl(1000).await?;

    // 1. Kill -9 the operator at a random point after each change, 100 times.
    let mut rng = Rng(Instant::now().elapsed().as_nanos() as u64 | 0x9e37_79b9_7f4a_7c15);
    let kills = 100;
    let started = Instant::now();
    for i in 1..=kills {
        let ttl = 1000 + i;
        set_ttl(&zones, &zone, ttl as u32).await?;
        // 0–30 ms: before the watch event arrives, during the commit, or after it.
        tokio::time::sleep(Duration::from_micros(rng.next() % 30_000)).await;
        stack_script(&stack, &["operator", "kill"]);
        stack_script(&stack, &["operator", "start"]);
        wait_ttl(ttl).await?;
    }
    let ttls = recorded_ttls(&dir, &zone)?;
    let expected: Vec<u64> = (1000..=1000 + kills).collect();
    assert_eq!(ttls, expected, "exactly one commit per change, in order");
    eprintln!("{kills} kills in {:.0} s", started.elapsed().as_secs_f64());

    // 2. The remote down during 50 changes: they wait locally, then all arrive, in order.
    let remote = stack.get("KAVLING_AUDIT_REPO").to_string();
    stack_script(&stack, &["audit-remote", "stop"]);
    let down = async {
        for i in 1..=50u64 {
            set_ttl(&zones, &zone, (2000 + i) as u32).await?;
            wait_ttl(2000 + i).await?;
        }
        anyhow::ensure!(
            git(&["ls-remote", &remote]).is_err(),
            "the remote should be down"
        );
        Ok(())
    };
    let r: anyhow::Result<()> = down.await;
    stack_script(&stack, &["audit-remote", "start"]);
    r?;
    let head = git(&["--git-dir", &dir, "rev-parse", "main"])?
        .trim()
        .to_string();
    wait_for("the remote to catch up", Duration::from_secs(90), || {
        let r = git(&["ls-remote", &remote, "refs/heads/main"])
            .map(|o| o.starts_with(&head).then_some(()));
        async move { Ok(r.ok().flatten()) }
    })
    .await?;
    let copy = std::env::temp_dir().join(kavling_e2e::unique("remote"));
    git(&["clone", "-q", "--bare", &remote, copy.to_str().unwrap()])?;
    let pushed = recorded_ttls(copy.to_str().unwrap(), &zone)?;
    let tail: Vec<u64> = pushed.iter().copied().filter(|t| *t > 2000).collect();
    assert_eq!(
        tail,
        (2001..=2050).collect::<Vec<u64>>(),
        "all 50 arrive, in order"
    );
    assert_eq!(
        audit_history(copy.to_str().unwrap())?.len(),
        audit_history(&dir)?.len()
    );
    Ok(())
}
