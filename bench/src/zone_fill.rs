//! Filling one zone: N DnsRecords created through the API (bounded concurrency), then how
//! long the operator takes to accept every record (each `Ready`) and publish the zone's record
//! count, how that time grows per 1,000 records, and the operator's memory. A path that scans
//! every record per event shows here as a per-1,000 time that grows with the count.
//!
//! Peer in the same run: the API server itself — how long the creates took (the operator
//! cannot converge before the last create) — reported as a ratio.
//!
//! Usage: zone-fill [N=5000] [CONCURRENCY=32]

use std::time::{Duration, Instant};

use futures::StreamExt;
use kavling::api::*;
use kavling_e2e::{Stack, unique, wait_for};
use kube::Api;
use kube::api::{ListParams, PostParams};

/// The operator's resident memory, from the stack's pid file.
fn operator_rss_mib(stack_dir: &std::path::Path) -> Option<f64> {
    let pid = std::fs::read_to_string(stack_dir.join("run/kavling-operator.pid")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

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

    // create, bounded; note when each 1,000th create returned
    let start = Instant::now();
    let mut created_at = vec![Duration::ZERO; n];
    let mut done = futures::stream::iter(0..n)
        .map(|i| {
            let records = records.clone();
            let zone = zone.clone();
            async move {
                let fqdn = format!("r{i}.{zone}");
                let rr = DnsRecord::new(
                    &record_object_name(&fqdn, RecordType::A),
                    DnsRecordSpec {
                        zone,
                        name: fqdn,
                        type_: RecordType::A,
                        ttl: None,
                        values: vec![format!(
                            "10.{}.{}.{}",
                            64 + i / 62500,
                            (i / 250) % 250,
                            i % 250 + 1
                        )],
                    },
                );
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

    // the zone's record count, sampled: when did it pass each 1,000?
    let mut marks: Vec<(usize, Duration)> = vec![];
    let mut peak_rss = rss_before.unwrap_or(0.0);
    let deadline = Instant::now() + Duration::from_secs(1800);
    let published = loop {
        let have = zones
            .get(&zone)
            .await?
            .status
            .map(|s| s.records as usize)
            .unwrap_or(0);
        while (marks.len() + 1) * 1000 <= have.min(n) {
            marks.push(((marks.len() + 1) * 1000, start.elapsed()));
        }
        if let Some(r) = operator_rss_mib(&stack_dir) {
            peak_rss = peak_rss.max(r);
        }
        if have >= n {
            break start.elapsed();
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the zone counts {have} of {n} records after 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let all_ready = wait_for("every record Ready", Duration::from_secs(1800), || {
        let records = records.clone();
        let zone = zone.clone();
        async move { Ok((ready_count(&records, &zone).await? >= n).then(|| start.elapsed())) }
    })
    .await?;
    let rss_after = operator_rss_mib(&stack_dir);

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
        "  operator RSS: {:.0} MiB before, peak {:.0} MiB, {:.0} MiB after",
        rss_before.unwrap_or(f64::NAN),
        peak_rss,
        rss_after.unwrap_or(f64::NAN)
    );
    Ok(())
}
