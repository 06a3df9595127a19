//! Filling one zone: N DnsRecords created through the API (bounded concurrency), then how
//! long the operator takes to accept every record (each `Ready`) and publish the zone's record
//! count, how that time grows per 1,000 records, and the operator's memory. A path that scans
//! every record per event shows here as a per-1,000 time that grows with the count.
//!
//! Peer in the same run: the API server itself — how long the creates took (the operator
//! cannot converge before the last create) — reported as a ratio.
//!
//! Then how long the audit trail takes to record every record Ready, the operator's memory
//! meanwhile, and the local repository's size (loose objects and packs).
//!
//! Usage: zone-fill [N=5000] [CONCURRENCY=32]

use std::time::{Duration, Instant};

use futures::StreamExt;
use kavling::api::*;
use kavling_bench::{operator_rss_mib, repository_size};
use kavling_e2e::{Stack, unique, wait_for};
use kube::Api;
use kube::api::{ListParams, PostParams};

async fn ready_count(api: &Api<DnsRecord>, zone: &str) -> anyhow::Result<usize> {
    let mut n = 0;
    let mut lp = ListParams::default().limit(2000);
    loop {
        let page = api.list(&lp).await?;
        n += page
            .items
            .iter()
            .filter(|r| r.spec.zone == zone)
            .filter(|r| {
                r.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                })
            })
            .count();
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    Ok(n)
}

/// Polls `count` every `every` until it reaches `n` (at most 30 minutes), handing each count
/// to `seen` and sampling the operator's RSS; the peak RSS, starting from `peak`.
async fn poll_count<F, Fut>(
    what: &str,
    n: usize,
    every: Duration,
    stack_dir: &std::path::Path,
    mut peak: f64,
    mut count: F,
    mut seen: impl FnMut(usize),
) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let have = count().await?;
        seen(have);
        if let Some(r) = operator_rss_mib(stack_dir) {
            peak = peak.max(r);
        }
        if have >= n {
            return Ok(peak);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what}: {have} of {n} after 30 minutes"
        );
        tokio::time::sleep(every).await;
    }
}

/// How many of the zone's records the audit trail's `main` holds with `ready: true`.
fn audited_ready(git_dir: &str, zone: &str) -> anyhow::Result<usize> {
    let out = std::process::Command::new("git")
        .args(["--git-dir", git_dir, "grep", "-l", "--all-match", "-F"])
        .args(["-e", &format!("zone: {zone}"), "-e", "ready: true"])
        .args(["main", "--", "dnsrecords/"])
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().count())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let conc: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let stack = Stack::load()?;
    let stack_dir = std::path::PathBuf::from(stack.get("KAVLING_STACK_DIR"));
    let admin = stack.client_as("kavling-restore").await?;
    let zone = format!("{}.go.id", unique("fill"));
    let zones: Api<Zone> = Api::all(admin.clone());
    zones
        .create(
            &PostParams::default(),
            &Zone::new(&zone, kavling_e2e::zone_spec(&zone)),
        )
        .await?;
    let rss_before = operator_rss_mib(&stack_dir);
    let records: Api<DnsRecord> = Api::all(admin);

    let start = Instant::now();
    // the zone's record count, sampled while the creates run: when did it pass each 1,000?
    let sampler = tokio::spawn({
        let zones = zones.clone();
        let zone = zone.clone();
        let stack_dir = stack_dir.clone();
        async move {
            let mut marks: Vec<(usize, Duration)> = vec![];
            let peak_rss = poll_count(
                "the zone's record count",
                n,
                Duration::from_millis(200),
                &stack_dir,
                rss_before.unwrap_or(0.0),
                || async {
                    Ok(zones
                        .get(&zone)
                        .await?
                        .status
                        .map(|s| s.records as usize)
                        .unwrap_or(0))
                },
                |have| {
                    while (marks.len() + 1) * 1000 <= have.min(n) {
                        marks.push(((marks.len() + 1) * 1000, start.elapsed()));
                    }
                },
            )
            .await?;
            anyhow::Ok((marks, start.elapsed(), peak_rss))
        }
    });
    // create, bounded; note when each create returned
    let mut created_at = vec![Duration::ZERO; n];
    let mut done = futures::stream::iter(0..n)
        .map(|i| {
            let records = records.clone();
            let zone = zone.clone();
            async move {
                let fqdn = format!("r{i}.{zone}");
                let rr = kavling_bench::numbered_a_record(zone, fqdn, i);
                records.create(&PostParams::default(), &rr).await.map(|_| i)
            }
        })
        .buffer_unordered(conc);
    let mut count = 0;
    while let Some(r) = done.next().await {
        created_at[r?] = start.elapsed();
        count += 1;
    }
    let creates = start.elapsed();
    assert_eq!(count, n);

    let (marks, published, peak_rss) = sampler.await??;
    let all_ready = wait_for("every record Ready", Duration::from_secs(1800), || {
        let records = records.clone();
        let zone = zone.clone();
        async move { Ok((ready_count(&records, &zone).await? >= n).then(|| start.elapsed())) }
    })
    .await?;
    let rss_after = operator_rss_mib(&stack_dir);

    // the audit trail: when does the local repository hold every record, Ready? (the writer
    // commits each create, then each Ready, in the order it saw them)
    let audit = kavling_e2e::audit_local(&stack);
    let audit_peak_rss = poll_count(
        "the audit trail's records Ready",
        n,
        Duration::from_secs(2),
        &stack_dir,
        rss_after.unwrap_or(0.0),
        || async { Ok(audited_ready(&audit, &zone).unwrap_or(0)) },
        |_| {},
    )
    .await?;
    let audited = start.elapsed();
    let rss_audited = operator_rss_mib(&stack_dir);
    let repo = repository_size(&audit);

    // an operator restart at this size: time until ready, memory once it has listed
    // everything again, and no new audit commit — nothing changed
    let t = Instant::now();
    kavling_e2e::stack_script(&stack, &["operator", "restart"]);
    let restart_ready = t.elapsed();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let rss_restarted = operator_rss_mib(&stack_dir);
    let commits_after_restart = repository_size(&audit).commits;

    let s = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    println!("zone fill: {n} DnsRecords in one zone, {conc} creates in flight");
    println!("  peer: the API server took {} for the creates", s(creates));
    println!(
        "  operator: zone count published at {} (ratio {:.2}), every record Ready at {} (ratio {:.2})",
        s(published),
        published.as_secs_f64() / creates.as_secs_f64(),
        s(all_ready),
        all_ready.as_secs_f64() / creates.as_secs_f64()
    );
    println!("  per 1,000 records (zone count passes the mark; lag behind its 1,000th create):");
    let mut prev = Duration::ZERO;
    for (k, t) in &marks {
        let lag = t.saturating_sub(created_at[k - 1]);
        println!(
            "    {k:>7}: at {:>8}  (+{:>6} for these 1,000; lag {:>6})",
            s(*t),
            s(t.saturating_sub(prev)),
            s(lag)
        );
        prev = *t;
    }
    println!(
        "  operator RSS: {:.0} MiB before, peak {:.0} MiB, {:.0} MiB when every record was Ready",
        rss_before.unwrap_or(f64::NAN),
        peak_rss,
        rss_after.unwrap_or(f64::NAN)
    );
    println!(
        "  audit: every record recorded Ready at {} ({} after the last create; ratio {:.2} to the creates); operator RSS peak {:.0} MiB while it drained, {:.0} MiB after",
        s(audited),
        s(audited.saturating_sub(creates)),
        audited.as_secs_f64() / creates.as_secs_f64(),
        audit_peak_rss,
        rss_audited.unwrap_or(f64::NAN)
    );
    println!(
        "  audit repository: {} commits, {} loose objects ({:.1} MiB), {} packs ({:.1} MiB)",
        repo.commits,
        repo.loose_objects,
        repo.loose_bytes as f64 / 1048576.0,
        repo.packs,
        repo.pack_bytes as f64 / 1048576.0
    );
    println!(
        "  operator restart at this size: ready in {}; {:.0} MiB RSS 30 s later; {} new audit commits (nothing changed: must be 0)",
        s(restart_ready),
        rss_restarted.unwrap_or(f64::NAN),
        commits_after_restart.saturating_sub(repo.commits)
    );
    anyhow::ensure!(
        commits_after_restart == repo.commits,
        "a restart with nothing changed made {} audit commits",
        commits_after_restart.saturating_sub(repo.commits)
    );
    Ok(())
}
