//! Time from `Approval` created to `Request` Ready (its Subdomain and DnsRecords served), on
//! the local Pusat Data, next to a peer measured in the same run: the API server's own floor
//! (create a ConfigMap → a watch sees it), which no controller can beat.
//!
//! With `storage`, the requests are storage requests (Request Ready = Bucket on Garage, key
//! granted, credentials Secret written) and a second peer is measured: the four Garage admin
//! calls a bucket needs at the least (CreateBucket, UpdateBucket quota, ImportKey,
//! AllowBucketKey) made directly, one after another.
//!
//! Usage: approve-to-ready [subdomain|storage] [N=100] [BURST_CONCURRENCY=10]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kavling::api::*;
use kavling_bench::{ms, pct};
use kavling_e2e::{Stack, wait_for};
use kube::api::PostParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Subdomain,
    Storage,
    /// A subdomain request with `tls: true`; Ready = its Certificate Ready (DNS-01 at Pebble).
    Tls,
    /// A hosting request (template `static`); Ready = the namespace rendered and applied.
    Hosting,
}

fn request(label: &str, zone: &str, i: usize, kind: Kind) -> Request {
    let mut r = subdomain_request(label, zone, i);
    if kind == Kind::Tls
        && let Some(sd) = r.spec.subdomain.as_mut()
    {
        sd.tls = true;
    }
    if kind == Kind::Hosting {
        r.spec.subdomain = None;
        r.spec.hosting = Some(HostingRequest {
            name: label.into(),
            application_name: "bench".into(),
            template: "static".into(),
            cpu: "10m".into(),
            memory: "16Mi".into(),
            disk: "100Mi".into(),
            specification: None,
        });
    }
    if kind == Kind::Storage {
        r.spec.subdomain = None;
        r.spec.storage = Some(StorageRequest {
            name: label.into(),
            data_description: "bench".into(),
            size: "1Gi".into(),
            classification: DataClassification::Publik,
            personal_data: false,
            versioning: false,
        });
    }
    r
}

fn subdomain_request(label: &str, zone: &str, i: usize) -> Request {
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
                wildcard: false,
            }),
            hosting: None,
            storage: None,
        },
    )
}

/// Watches Certificates in `ns` and records when each first turns Ready, by request name
/// (the certificate of request `r7` is `r7.<zone>`).
fn cert_ready_times(api: Api<Certificate>) -> Arc<Mutex<HashMap<String, Instant>>> {
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let s = seen.clone();
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default()).applied_objects();
        futures::pin_mut!(stream);
        while let Ok(Some(c)) = stream.try_next().await {
            let ready = c.status.as_ref().is_some_and(|st| {
                st.conditions
                    .iter()
                    .any(|x| x.type_ == "Ready" && x.status == "True")
            });
            if ready {
                let name = c.name_any();
                let label = name.split('.').next().unwrap_or_default().to_string();
                s.lock().unwrap().entry(label).or_insert_with(Instant::now);
            }
        }
    });
    seen
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
        buckets: n as u32 + 10,
        bucket_bytes: "10Ti".into(),
        hosting_cpu: "100".into(),
        hosting_memory: "100Gi".into(),
        hosting_disk: "100Gi".into(),
    };
    let (_, zone, ns) =
        kavling_e2e::zone_and_rina_tenant(stack, "bench", TenantType::Kabupaten, limits).await?;
    Ok((zone, ns))
}

/// Approves the filed request `req` as ani, noting when; returns its name.
async fn approve(
    ani: &Api<Approval>,
    approved: &Mutex<HashMap<String, Instant>>,
    req: &Request,
) -> anyhow::Result<String> {
    let name = req.name_any();
    approved
        .lock()
        .unwrap()
        .insert(name.clone(), Instant::now());
    ani.create(
        &PostParams::default(),
        &Approval::deciding(req, Decision::Approve, "ani", ""),
    )
    .await?;
    Ok(name)
}

/// Files `n` requests, then approves them `concurrency` at a time; returns approve→Ready latencies.
async fn run(
    stack: &Stack,
    n: usize,
    concurrency: usize,
    kind: Kind,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let (zone, ns) = setup(stack, n).await?;
    let rina: Api<Request> = Api::namespaced(stack.client_as("rina").await?, &ns);
    let ani: Api<Approval> = Api::namespaced(stack.client_as("ani").await?, &ns);
    // what the Dinas approves: each filed request (its uid and spec digest)
    let mut filed = Vec::with_capacity(n);
    for i in 0..n {
        filed.push(
            rina.create(
                &PostParams::default(),
                &request(&format!("r{i}"), &zone, i, kind),
            )
            .await?,
        );
    }
    let filed = &filed;
    let admin = stack.client_as("admin").await?;
    let ready = match kind {
        Kind::Tls => cert_ready_times(Api::namespaced(admin, &ns)),
        _ => ready_times(Api::namespaced(admin, &ns)),
    };
    tokio::time::sleep(Duration::from_millis(500)).await; // let the watch start
    let approved: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let start = Instant::now();
    if concurrency == 1 {
        // Unloaded latency: the next approval only after the previous request is Ready.
        for req in filed {
            let name = approve(&ani, &approved, req).await?;
            wait_for("Ready", Duration::from_secs(30), || async {
                Ok(ready.lock().unwrap().contains_key(&name).then_some(()))
            })
            .await?;
        }
    } else {
        futures::stream::iter(filed)
            .map(|req| approve(&ani, &approved, req))
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

/// Per controller kind: reconciles made and seconds spent in them so far, from the
/// operator's `/metrics` (`kavling_reconcile_total`, `kavling_reconcile_duration_seconds_sum`).
async fn reconcile_work(stack: &Stack) -> std::collections::BTreeMap<String, (f64, f64)> {
    let mut out = std::collections::BTreeMap::<String, (f64, f64)>::new();
    let url = format!("http://{}/metrics", stack.get("KAVLING_OPERATOR_ADDR"));
    let Ok(body) = async { reqwest::get(&url).await?.text().await }.await else {
        return out;
    };
    for line in body.lines() {
        let total = line.starts_with("kavling_reconcile_total{");
        let sum = line.starts_with("kavling_reconcile_duration_seconds_sum{");
        if !(total || sum) {
            continue;
        }
        let kind = line
            .split("kind=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string();
        let v: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let e = out.entry(kind).or_default();
        if total {
            e.0 += v;
        } else {
            e.1 += v;
        }
    }
    out
}

/// The second peer for storage: the Garage admin calls one bucket needs, made directly with
/// the root token (no Kubernetes, no watch), one bucket after another.
async fn garage_floor(stack: &Stack, n: usize) -> anyhow::Result<Vec<Duration>> {
    let token = std::fs::read_to_string(stack.get("KAVLING_GARAGE_ADMIN_TOKEN_FILE"))?;
    let admin = stack.get("KAVLING_GARAGE_ADMIN").to_string();
    let http = reqwest::Client::new();
    let call = |path: &str, q: &[(&str, &str)], body: serde_json::Value| {
        http.post(format!("{admin}/v2/{path}"))
            .query(q)
            .bearer_auth(token.trim())
            .json(&body)
    };
    let prefix = kavling_e2e::unique("floor");
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as u64
        & 0xffff_ffff_ffff;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        // a fresh id per bucket: Garage never re-imports a deleted key id
        let key = format!("GK{run_id:012x}{i:012x}");
        let t = Instant::now();
        let b: serde_json::Value = call(
            "CreateBucket",
            &[],
            serde_json::json!({"globalAlias": name}),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
        let id = b["id"].as_str().unwrap_or_default().to_string();
        call(
            "UpdateBucket",
            &[("id", &id)],
            serde_json::json!({"quotas": {"maxSize": 1u64 << 30}}),
        )
        .send()
        .await?
        .error_for_status()?;
        call("ImportKey", &[], serde_json::json!({"accessKeyId": key, "secretAccessKey": "0".repeat(64), "name": name}))
            .send()
            .await?
            .error_for_status()?;
        call("AllowBucketKey", &[], serde_json::json!({"bucketId": id, "accessKeyId": key, "permissions": {"read": true, "write": true}}))
            .send()
            .await?
            .error_for_status()?;
        out.push(t.elapsed());
        // leave Garage as it was: the key goes, the (empty) bucket goes
        call("DeleteKey", &[("id", &key)], serde_json::json!({}))
            .send()
            .await?
            .error_for_status()?;
        call("DeleteBucket", &[("id", &id)], serde_json::json!({}))
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(out)
}

/// The peer for hosting: the objects the `static` template renders, applied one after
/// another with server-side apply by a plain client — what any controller must at least do.
async fn apply_floor(stack: &Stack, n: usize) -> anyhow::Result<Vec<Duration>> {
    use kavling::hosting::{RenderInput, Templates};
    use kube::api::DeleteParams;
    let admin = stack.client_as("admin").await?;
    let t = Templates::load()?;
    let params = t
        .resolve(AppTemplate::Static, &Default::default(), "p")
        .map_err(|v| anyhow::anyhow!("{v:?}"))?;
    let prefix = kavling_e2e::unique("floor");
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let ns = format!("{prefix}-{i}");
        let objs = t
            .render(&RenderInput {
                tenant: "bench".into(),
                hosting: format!("h{i}"),
                namespace: ns.clone(),
                template: AppTemplate::Static,
                params: params.clone(),
                resources: HostingResources {
                    cpu: "10m".into(),
                    memory: "16Mi".into(),
                    disk: "100Mi".into(),
                    pods: 10,
                },
                domains: vec![],
                wildcard_domains: vec![],
                groups: vec!["kavling:tenant:dinkes".into()],
                suspended: false,
                suspend_reason: String::new(),
                ingress_namespace: "ingress-nginx".into(),
                ingress_class: "nginx".into(),
                images: kavling::hosting::Images::under("registry.pusat-data.local/kavling")
                    .unwrap(),
                source_mirror: None,
            })
            .map_err(anyhow::Error::msg)?;
        let start = Instant::now();
        kavling_e2e::apply_rendered(stack, &ns, &objs).await?;
        out.push(start.elapsed());
        Api::<k8s_openapi::api::core::v1::Namespace>::all(admin.clone())
            .delete(&ns, &DeleteParams::default())
            .await?;
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let kind = match std::env::args().nth(1).as_deref() {
        Some("storage") => Kind::Storage,
        Some("tls") => Kind::Tls,
        Some("hosting") => Kind::Hosting,
        _ => Kind::Subdomain,
    };
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(100);
    let burst = args.get(1).copied().unwrap_or(10);
    let stack = Stack::load()?;

    let mut peer = kavling_e2e::api_watch_floor(&stack, n).await?;
    let mut garage_peer = if kind == Kind::Storage {
        Some(garage_floor(&stack, n).await?)
    } else {
        None
    };
    // for TLS, the same requests without TLS (name served) are the peer: the difference is
    // the whole ACME order
    let mut apply_peer = if kind == Kind::Hosting {
        Some(apply_floor(&stack, n).await?)
    } else {
        None
    };
    let mut plain_peer = if kind == Kind::Tls {
        Some(run(&stack, n, 1, Kind::Subdomain).await?.0)
    } else {
        None
    };
    let (mut seq, _) = run(&stack, n, 1, kind).await?;
    let before = reconcile_work(&stack).await;
    let (mut par, total) = run(&stack, n, burst, kind).await?;
    let work = reconcile_work(&stack)
        .await
        .into_iter()
        .map(|(k, (c, s))| {
            let (c0, s0) = before.get(&k).copied().unwrap_or_default();
            (k, (c - c0, s - s0))
        })
        .filter(|(_, (c, _))| *c > 0.0)
        .collect::<Vec<_>>();
    let (pp50, pp99) = (pct(&mut peer, 0.5), pct(&mut peer, 0.99));
    let what = match kind {
        Kind::Subdomain => "Subdomain and DnsRecords applied",
        Kind::Storage => "Bucket on Garage, key granted, credentials Secret written",
        Kind::Tls => "Certificate issued by Pebble via DNS-01 in our zone, TLS Secret written",
        Kind::Hosting => "namespace rendered from template static, 13 objects applied",
    };
    println!("approve → Request Ready ({what}), {n} requests, local Pusat Data");
    println!(
        "{:<46} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "", "p50", "p95", "p99", "p50/floor", "p99/floor"
    );
    let r = |a: Duration, b: Duration| format!("{:.1}", a.as_secs_f64() / b.as_secs_f64());
    let row = |label: &str, v: &mut Vec<Duration>| {
        let (p50, p95, p99) = (pct(v, 0.5), pct(v, 0.95), pct(v, 0.99));
        println!(
            "{:<46} {:>10} {:>10} {:>10} {:>12} {:>12}",
            label,
            ms(p50),
            ms(p95),
            ms(p99),
            r(p50, pp50),
            r(p99, pp99)
        );
    };
    row("peer: API floor (create ConfigMap → watch)", &mut peer);
    if let Some(g) = garage_peer.as_mut() {
        row("peer: the 4 Garage admin calls, direct", g);
    }
    if let Some(p) = apply_peer.as_mut() {
        row("peer: the same objects applied directly (SSA)", p);
    }
    if let Some(p) = plain_peer.as_mut() {
        row("peer: same requests without TLS (name served)", p);
    }
    row("kavling, one approval at a time", &mut seq);
    row(
        &format!("kavling, burst ({burst} approvals in flight)"),
        &mut par,
    );
    println!(
        "burst throughput: {n} approvals Ready in {} ({:.0}/s)",
        ms(total),
        n as f64 / total.as_secs_f64()
    );
    // where the operator's work went during the burst (its /metrics, before and after)
    println!("burst, per controller: reconciles (per approval), time inside reconcile (sum, mean)");
    for (kind, (count, secs)) in &work {
        println!(
            "  {kind:<12} {count:>7.0} ({:>5.1})  {secs:>8.2} s  {:>8.1} ms",
            count / n as f64,
            secs * 1000.0 / count.max(1.0)
        );
    }
    Ok(())
}
