//! Time from `Approval` created to `Request` Ready (its Subdomain and DnsRecords served), on
//! the local Pusat Data, next to a peer measured in the same run: the API server's own floor
//! (create a ConfigMap → a watch sees it), which no controller can beat.
//!
//! Usage: approve-to-ready [N=100] [BURST_CONCURRENCY=10]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kavling::api::*;
use kavling_e2e::{Stack, wait_for};
use kube::api::PostParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn request(label: &str, zone: &str, i: usize) -> Request {
    Request::new(
        label,
        RequestSpec {
            requested_by: "rina".into(),
            letter: Letter {
                number: format!("B/{label}"),
                date: "2026-11-01".into(),
                subject: None,
                signer: Signer {
                    name: "A".into(),
                    position: "B".into(),
                    identity: Identity {
                        nip: Some("197805122005012003".into()),
                        nik: None,
                    },
                },
            },
            subdomain: Some(SubdomainRequest {
                zone: zone.into(),
                label: label.into(),
                application_name: "bench".into(),
                description: "bench".into(),
                business_process: "bench".into(),
                website: false,
                tls: false,
                target: Target {
                    addresses: vec![format!("10.40.{}.{}", i / 250, i % 250 + 1)],
                    ..Default::default()
                },
            }),
            hosting: None,
            storage: None,
        },
    )
}

/// Watches Requests in `ns` and records when each first turns Ready.
fn ready_times(api: Api<Request>) -> Arc<Mutex<HashMap<String, Instant>>> {
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let s = seen.clone();
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default()).applied_objects();
        futures::pin_mut!(stream);
        while let Ok(Some(r)) = stream.try_next().await {
            if r.status
                .as_ref()
                .is_some_and(|st| st.phase == RequestPhase::Ready)
            {
                s.lock()
                    .unwrap()
                    .entry(r.name_any())
                    .or_insert_with(Instant::now);
            }
        }
    });
    seen
}

async fn setup(stack: &Stack, n: usize) -> anyhow::Result<(String, String)> {
    let limits = TenantLimits {
        subdomains: n as u32 + 10,
        websites: 5,
        ..Default::default()
    };
    let (_, zone, ns) =
        kavling_e2e::zone_and_rina_tenant(stack, "bench", TenantType::Kabupaten, limits).await?;
    Ok((zone, ns))
}

/// Approves request `r<i>` as ani, noting when; returns its name.
async fn approve(
    ani: &Api<Approval>,
    approved: &Mutex<HashMap<String, Instant>>,
    i: usize,
) -> anyhow::Result<String> {
    let name = format!("r{i}");
    let spec = ApprovalSpec {
        request: name.clone(),
        decision: Decision::Approve,
        approver: "ani".into(),
        reason: String::new(),
    };
    approved
        .lock()
        .unwrap()
        .insert(name.clone(), Instant::now());
    ani.create(&PostParams::default(), &Approval::new(&name, spec))
        .await?;
    Ok(name)
}

/// Files `n` requests, then approves them `concurrency` at a time; returns approve→Ready latencies.
async fn run(
    stack: &Stack,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let (zone, ns) = setup(stack, n).await?;
    let rina: Api<Request> = Api::namespaced(stack.client_as("rina").await?, &ns);
    let ani: Api<Approval> = Api::namespaced(stack.client_as("ani").await?, &ns);
    for i in 0..n {
        rina.create(&PostParams::default(), &request(&format!("r{i}"), &zone, i))
            .await?;
    }
    let ready = ready_times(Api::namespaced(stack.client_as("admin").await?, &ns));
    tokio::time::sleep(Duration::from_millis(500)).await; // let the watch start
    let approved: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let start = Instant::now();
    if concurrency == 1 {
        // Unloaded latency: the next approval only after the previous request is Ready.
        for i in 0..n {
            let name = approve(&ani, &approved, i).await?;
            wait_for("Ready", Duration::from_secs(30), || async {
                Ok(ready.lock().unwrap().contains_key(&name).then_some(()))
            })
            .await?;
        }
    } else {
        futures::stream::iter(0..n)
            .map(|i| approve(&ani, &approved, i))
            .buffer_unordered(concurrency)
            .try_collect::<Vec<_>>()
            .await?;
    }
    wait_for("all Ready", Duration::from_secs(120), || async {
        Ok((ready.lock().unwrap().len() == n).then_some(()))
    })
    .await?;
    let total = start.elapsed();
    let (ready, approved) = (ready.lock().unwrap(), approved.lock().unwrap());
    Ok((
        approved
            .iter()
            .map(|(k, t)| ready[k].saturating_duration_since(*t))
            .collect(),
        total,
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(100);
    let burst = args.get(1).copied().unwrap_or(10);
    let stack = Stack::load()?;

    let mut peer = kavling_e2e::api_watch_floor(&stack, n).await?;
    let (mut seq, _) = run(&stack, n, 1).await?;
    let (mut par, total) = run(&stack, n, burst).await?;
    let (pp50, pp99) = (pct(&mut peer, 0.5), pct(&mut peer, 0.99));
    let (s50, s99) = (pct(&mut seq, 0.5), pct(&mut seq, 0.99));
    let (b50, b99) = (pct(&mut par, 0.5), pct(&mut par, 0.99));
    println!(
        "approve → Request Ready (Subdomain and DnsRecords applied), {n} requests, local Pusat Data"
    );
    println!(
        "{:<46} {:>10} {:>10} {:>12} {:>12}",
        "", "p50", "p99", "p50/floor", "p99/floor"
    );
    println!(
        "{:<46} {:>10} {:>10} {:>12} {:>12}",
        "peer: API floor (create ConfigMap → watch)",
        ms(pp50),
        ms(pp99),
        "1.0",
        "1.0"
    );
    let r = |a: Duration, b: Duration| format!("{:.1}", a.as_secs_f64() / b.as_secs_f64());
    println!(
        "{:<46} {:>10} {:>10} {:>12} {:>12}",
        "kavling, one approval at a time",
        ms(s50),
        ms(s99),
        r(s50, pp50),
        r(s99, pp99)
    );
    println!(
        "{:<46} {:>10} {:>10} {:>12} {:>12}",
        format!("kavling, burst ({burst} approvals in flight)"),
        ms(b50),
        ms(b99),
        r(b50, pp50),
        r(b99, pp99)
    );
    println!(
        "burst throughput: {n} approvals Ready in {} ({:.0}/s)",
        ms(total),
        n as f64 / total.as_secs_f64()
    );
    Ok(())
}
