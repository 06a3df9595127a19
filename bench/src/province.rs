//! The size of a province on the local Pusat Data: T tenants, S subdomain requests filed by
//! them (C of them with TLS, issued by Pebble over DNS-01) and approved by the Dinas, then R
//! DnsRecords in the province's zone — and what it costs.
//!
//! Reports, per phase, the time to converge and the time per 1,000 objects as the count grows
//! (a path that is O(n) per event shows as a slope that climbs); approve → Ready p50/p99 for a
//! request made *at* that size, once the audit trail has drained, against the same probe on the
//! empty stack (the peer: the same
//! operator before it holds anything); resident memory of the operator, kavling-dns, the API
//! server and etcd; when the audit trail has recorded everything, its size and
//! `kavling audit verify` time (against `git fsck` of the same repository, the peer); an
//! operator restart at that size (time to ready, and no new audit commit: nothing changed).
//!
//! The Issuer's rate limits are raised for the run (a Pusat Data's own CA has none).
//!
//! Usage: province [TENANTS=1000] [SUBDOMAINS=10000] [CERTIFICATES=2000] [RECORDS=100000]
//!                 [CONCURRENCY=16]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kavling::api::*;
use kavling_bench::{files_under, ms, pct, repository_size, rss_mib, secs};
use kavling_e2e::{Stack, unique, wait_for, zone_spec};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};

/// The processes whose memory is sampled, by their pid files' names.
const PROCESSES: [&str; 4] = ["kavling-operator", "kavling-dns", "kube-apiserver", "etcd"];

/// Sequential approvals made on the empty stack and again at size.
const PROBES: usize = 20;

/// How long any one phase may take before the run fails saying where it stuck.
const PHASE_LIMIT: Duration = Duration::from_secs(3600);

/// Peak and last resident memory of each sampled process.
#[derive(Default)]
struct Memory {
    peak: HashMap<&'static str, f64>,
}

/// Samples every process's memory each second until the run ends.
fn sample_memory(stack_dir: PathBuf) -> Arc<Mutex<Memory>> {
    let memory = Arc::new(Mutex::new(Memory::default()));
    let m = memory.clone();
    tokio::spawn(async move {
        loop {
            for p in PROCESSES {
                if let Some(r) = rss_mib(&stack_dir, p) {
                    let mut m = m.lock().unwrap();
                    let peak = m.peak.entry(p).or_default();
                    *peak = peak.max(r);
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    memory
}

/// When each object of kind `K` (by `namespace/name`) was first seen passing `done`.
type FirstSeen = Arc<Mutex<HashMap<String, Instant>>>;

fn first_seen<K>(api: Api<K>, done: fn(&K) -> bool) -> FirstSeen
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let seen: FirstSeen = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects();
        futures::pin_mut!(stream);
        while let Ok(Some(o)) = stream.try_next().await {
            if done(&o) {
                let key = format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any());
                s.lock().unwrap().entry(key).or_insert_with(Instant::now);
            }
        }
    });
    seen
}

fn ready_condition(conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Waits until `count()` reaches `n`, noting when it passed each 1,000; fails after
/// [`PHASE_LIMIT`] saying how far it got.
async fn marks<F, Fut>(what: &str, n: usize, start: Instant, mut count: F) -> anyhow::Result<Marks>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut marks = Marks::default();
    loop {
        let have = count().await.unwrap_or(0);
        while (marks.at.len() + 1) * 1000 <= have.min(n) {
            marks.at.push(start.elapsed());
        }
        if have >= n {
            marks.done = start.elapsed();
            return Ok(marks);
        }
        anyhow::ensure!(
            start.elapsed() < PHASE_LIMIT,
            "{what}: {have} of {n} after {}",
            secs(start.elapsed())
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// When a count passed each 1,000, and when it was complete (from the phase's start).
#[derive(Default)]
struct Marks {
    at: Vec<Duration>,
    done: Duration,
}

impl Marks {
    /// The seconds each 1,000 took: flat when nothing is O(n) per object.
    fn slope(&self) -> String {
        let mut prev = Duration::ZERO;
        self.at
            .iter()
            .map(|t| {
                let d = t.saturating_sub(prev);
                prev = *t;
                format!("{:.1}", d.as_secs_f64())
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The last 1,000's time over the first's (1.0 = flat).
    fn growth(&self) -> f64 {
        match self.at.as_slice() {
            [first, .., prev, last] if !first.is_zero() => {
                (last.saturating_sub(*prev)).as_secs_f64() / first.as_secs_f64()
            }
            _ => f64::NAN,
        }
    }
}

fn tenant_spec(name: &str, subdomains: u32) -> TenantSpec {
    TenantSpec {
        display_name: name.into(),
        type_: TenantType::Kabupaten,
        code: "13.06".into(),
        parent: None,
        contacts: vec![],
        // rina files for every tenant of the run (as a Dinas help desk would)
        groups: vec!["kavling:tenant:dinkes".into()],
        limits: TenantLimits {
            subdomains,
            websites: 1,
            buckets: 1,
            bucket_bytes: "1Gi".into(),
            hosting_cpu: "1".into(),
            hosting_memory: "1Gi".into(),
            hosting_disk: "1Gi".into(),
        },
        suspend: None,
    }
}

fn subdomain_request(label: &str, zone: &str, i: usize, tls: bool) -> Request {
    Request::new(
        label,
        RequestSpec {
            requested_by: "rina".into(),
            letter: kavling_e2e::letter(),
            subdomain: Some(SubdomainRequest {
                zone: zone.into(),
                label: label.into(),
                application_name: "province".into(),
                description: "province".into(),
                business_process: "province".into(),
                website: false,
                tls,
                target: Target {
                    addresses: vec![format!("10.40.{}.{}", (i / 250) % 250, i % 250 + 1)],
                    ..Default::default()
                },
                wildcard: false,
            }),
            hosting: None,
            storage: None,
        },
    )
}

/// The clients and names the phases share.
struct Run {
    stack: Stack,
    admin: kube::Client,
    rina: kube::Client,
    ani: kube::Client,
    zone: String,
    /// Requests (by `namespace/name`) first seen Ready.
    requests_ready: FirstSeen,
    /// Certificates (by `namespace/name`) first seen Ready.
    certificates_ready: FirstSeen,
}

impl Run {
    /// Approves the filed request as ani; returns its `namespace/name`.
    async fn approve(&self, ns: &str, filed: &Request) -> anyhow::Result<String> {
        Api::<Approval>::namespaced(self.ani.clone(), ns)
            .create(
                &PostParams::default(),
                &Approval::deciding(filed, Decision::Approve, "ani", ""),
            )
            .await?;
        Ok(format!("{ns}/{}", filed.name_any()))
    }

    /// `PROBES` subdomain requests in tenant `ns`, each approved only once the previous one is
    /// Ready: approve → Request Ready, unloaded.
    async fn probe(&self, ns: &str, tag: &str) -> anyhow::Result<Vec<Duration>> {
        let mut out = Vec::with_capacity(PROBES);
        for i in 0..PROBES {
            let label = format!("probe-{tag}-{i}");
            let filed = Api::<Request>::namespaced(self.rina.clone(), ns)
                .create(
                    &PostParams::default(),
                    &subdomain_request(&label, &self.zone, 60000 + i, false),
                )
                .await?;
            let t = Instant::now();
            let key = self.approve(ns, &filed).await?;
            let ready = wait_for(&key, Duration::from_secs(120), || async {
                Ok(self.requests_ready.lock().unwrap().get(&key).copied())
            })
            .await?;
            out.push(ready.saturating_duration_since(t));
        }
        Ok(out)
    }

    /// Creates tenants `names` (bounded) and waits until each is Ready with rina able to file.
    async fn tenants(
        &self,
        names: &[String],
        per_tenant: u32,
        conc: usize,
    ) -> anyhow::Result<Marks> {
        let tenants: Api<Tenant> = Api::all(self.admin.clone());
        let start = Instant::now();
        futures::stream::iter(names)
            .map(|name| {
                let tenants = tenants.clone();
                async move {
                    tenants
                        .create(
                            &PostParams::default(),
                            &Tenant::new(name, tenant_spec(name, per_tenant)),
                        )
                        .await
                }
            })
            .buffer_unordered(conc)
            .try_collect::<Vec<_>>()
            .await?;
        let marks = marks("tenants Ready", names.len(), start, || async {
            Ok(tenants
                .list(&Default::default())
                .await?
                .items
                .iter()
                .filter(|t| names.contains(&t.name_any()))
                .filter(|t| {
                    t.status
                        .as_ref()
                        .is_some_and(|s| ready_condition(&s.conditions))
                })
                .count())
        })
        .await?;
        // Ready means the RoleBindings are written; make sure the API server applies them
        let last = home_namespace(names.last().expect("at least one tenant"));
        let rina: Api<Request> = Api::namespaced(self.rina.clone(), &last);
        wait_for("tenant RBAC", Duration::from_secs(60), || async {
            Ok(rina.list(&Default::default()).await.ok().map(|_| ()))
        })
        .await?;
        Ok(marks)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let arg = |i: usize, d: usize| args.get(i).copied().unwrap_or(d);
    let (n_tenants, n_subdomains, n_certs, n_records, conc) = (
        arg(0, 1000).max(1),
        arg(1, 10000),
        arg(2, 2000),
        arg(3, 100000),
        arg(4, 16).max(1),
    );
    anyhow::ensure!(
        n_certs <= n_subdomains,
        "CERTIFICATES ({n_certs}) must not exceed SUBDOMAINS ({n_subdomains})"
    );
    let stack = Stack::load()?;
    let stack_dir = PathBuf::from(stack.get("KAVLING_STACK_DIR"));
    let admin = stack.client_as("admin").await?;
    let run = Run {
        rina: stack.client_as("rina").await?,
        ani: stack.client_as("ani").await?,
        zone: format!("{}.go.id", unique("prov")),
        requests_ready: first_seen(Api::<Request>::all(admin.clone()), |r| {
            r.status
                .as_ref()
                .is_some_and(|s| s.phase == RequestPhase::Ready)
        }),
        certificates_ready: first_seen(Api::<Certificate>::all(admin.clone()), |c| {
            c.status
                .as_ref()
                .is_some_and(|s| ready_condition(&s.conditions))
        }),
        admin,
        stack,
    };
    let memory = sample_memory(stack_dir.clone());
    let audit = kavling_e2e::audit_local(&run.stack);

    // a Pusat Data's own CA has no Let's Encrypt budget
    Api::<Issuer>::all(run.admin.clone())
        .patch(
            "pusat-data",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"limits": {
                "certificatesPerRegisteredDomainPerWeek": 1_000_000,
                "newOrdersPerThreeHours": 1_000_000}}})),
        )
        .await?;
    Api::<Zone>::all(run.admin.clone())
        .create(
            &PostParams::default(),
            &Zone::new(&run.zone, zone_spec(&run.zone)),
        )
        .await?;
    let run_id = unique("t");
    let probe_tenant = format!("{run_id}-probe");
    run.tenants(
        std::slice::from_ref(&probe_tenant),
        2 * PROBES as u32 + 10,
        1,
    )
    .await?;
    let probe_ns = home_namespace(&probe_tenant);
    let empty_rss = rss_mib(&stack_dir, "kavling-operator");
    let mut on_empty = run.probe(&probe_ns, "empty").await?;
    let everything = Instant::now();

    // 1. tenants
    let names: Vec<String> = (0..n_tenants).map(|i| format!("{run_id}-{i}")).collect();
    let per_tenant = (n_subdomains.div_ceil(n_tenants) + 5) as u32;
    let tenants = run.tenants(&names, per_tenant, conc).await?;
    println!("tenants: {n_tenants} Ready in {}", secs(tenants.done));

    // 2. subdomain requests, every n_subdomains/n_certs-th with TLS, filed then approved
    let start = Instant::now();
    let tls_every = n_subdomains
        .checked_div(n_certs)
        .unwrap_or(usize::MAX)
        .max(1);
    let filed: Vec<(String, Request)> = futures::stream::iter(0..n_subdomains)
        .map(|i| {
            let run = &run;
            let ns = home_namespace(&names[i % n_tenants]);
            let tls = i % tls_every == 0 && i / tls_every < n_certs;
            async move {
                let req = subdomain_request(&format!("s{i}"), &run.zone, i, tls);
                let filed = Api::<Request>::namespaced(run.rina.clone(), &ns)
                    .create(&PostParams::default(), &req)
                    .await?;
                anyhow::Ok((ns, filed))
            }
        })
        .buffer_unordered(conc)
        .try_collect()
        .await?;
    let filed_in = start.elapsed();
    let start = Instant::now();
    futures::stream::iter(&filed)
        .map(|(ns, req)| run.approve(ns, req))
        .buffer_unordered(conc)
        .try_collect::<Vec<_>>()
        .await?;
    let approved_in = start.elapsed();
    let subdomain_ready = |set: &FirstSeen| {
        set.lock()
            .unwrap()
            .keys()
            .filter(|k| !k.contains("/probe-"))
            .count()
    };
    let requests = marks("requests Ready", n_subdomains, start, || async {
        Ok(subdomain_ready(&run.requests_ready))
    })
    .await?;
    let certificates = marks("certificates Ready", n_certs, start, || async {
        Ok(run.certificates_ready.lock().unwrap().len())
    })
    .await?;
    println!(
        "subdomains: {n_subdomains} filed in {}, approved in {}, Ready {} after the first approval; {n_certs} certificates Ready at {}",
        secs(filed_in),
        secs(approved_in),
        secs(requests.done),
        secs(certificates.done)
    );

    // 3. DnsRecords straight into the zone (as `kavling restore` or a zone import would)
    let zones: Api<Zone> = Api::all(run.admin.clone());
    let zone_count = || async {
        anyhow::Ok(
            zones
                .get(&run.zone)
                .await?
                .status
                .map(|s| s.records as usize)
                .unwrap_or(0),
        )
    };
    let base = zone_count().await?;
    // (only Kavling writes DnsRecords: the restore identity is the one allowed besides the
    // operator, as zone-fill uses it)
    let records: Api<DnsRecord> = Api::all(run.stack.client_as("kavling-restore").await?);
    let start = Instant::now();
    let published = tokio::spawn({
        let zones = zones.clone();
        let zone = run.zone.clone();
        async move {
            marks("records published", n_records, start, || async {
                Ok(zones
                    .get(&zone)
                    .await?
                    .status
                    .map(|s| (s.records as usize).saturating_sub(base))
                    .unwrap_or(0))
            })
            .await
        }
    });
    futures::stream::iter(0..n_records)
        .map(|i| {
            let records = records.clone();
            let zone = run.zone.clone();
            async move {
                let fqdn = format!("r{i}.rec.{zone}");
                let rr = kavling_bench::numbered_a_record(zone, fqdn, i);
                records.create(&PostParams::default(), &rr).await
            }
        })
        .buffer_unordered(conc * 2)
        .try_collect::<Vec<_>>()
        .await?;
    let records_created = start.elapsed();
    let published = published.await??;
    let converged = everything.elapsed();
    println!(
        "records: {n_records} created in {}, published at {}",
        secs(records_created),
        secs(published.done)
    );

    // 3b. the audit trail catches up: every record and subdomain on main, commits at rest
    let audit_start = Instant::now();
    let expected_records = n_records + n_subdomains + PROBES;
    audit_at_rest(&audit, expected_records).await?;
    let audit_drained = audit_start
        .elapsed()
        .saturating_sub(Duration::from_secs(15));
    let repo = repository_size(&audit);
    // 4. a request made at this size once the operator is at rest (the audit trail drained),
    // against the same on the empty stack
    let mut at_size = run.probe(&probe_ns, "full").await?;
    let answered = dig_answers(
        &run.stack,
        &format!("r{}.rec.{}", n_records.max(1) - 1, run.zone),
    );

    let memory_at_rest: Vec<(&str, Option<f64>)> = PROCESSES
        .iter()
        .map(|p| (*p, rss_mib(&stack_dir, p)))
        .collect();
    let t = Instant::now();
    let (code, _, err) = kavling_e2e::kavling_cli(
        &run.stack,
        Some("admin"),
        &["audit", "verify", "--repo", &audit],
    );
    let verify = t.elapsed();
    anyhow::ensure!(code == 0, "kavling audit verify failed: {err}");
    let t = Instant::now();
    let fsck = std::process::Command::new("git")
        .args([
            "--git-dir",
            &audit,
            "fsck",
            "--no-dangling",
            "--connectivity-only",
        ])
        .output()?;
    let fsck_took = t.elapsed();
    anyhow::ensure!(fsck.status.success(), "git fsck failed");

    // 6. an operator restart at this size, once the probes' commits are in
    audit_at_rest(&audit, expected_records + PROBES).await?;
    let before_restart = repository_size(&audit).commits;
    let t = Instant::now();
    kavling_e2e::stack_script(&run.stack, &["operator", "restart"]);
    let restart_ready = t.elapsed();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let rss_restarted = rss_mib(&stack_dir, "kavling-operator");
    let commits_after = repository_size(&audit).commits;

    report(&mut Report {
        sizes: (n_tenants, n_subdomains, n_certs, n_records),
        tenants: &tenants,
        requests: &requests,
        certificates: &certificates,
        published: &published,
        records_created,
        converged,
        on_empty: &mut on_empty,
        at_size: &mut at_size,
        empty_rss,
        memory: &memory.lock().unwrap(),
        memory_at_rest: &memory_at_rest,
        answered,
        audit_drained,
        repo,
        verify,
        fsck_took,
        restart_ready,
        rss_restarted,
        new_commits: commits_after.saturating_sub(before_restart),
    });
    anyhow::ensure!(
        commits_after == before_restart,
        "a restart with nothing changed made {} audit commits",
        commits_after.saturating_sub(before_restart)
    );
    anyhow::ensure!(answered, "kavling-dns does not answer the last record");
    Ok(())
}

/// Waits until `main` holds `records` DnsRecord files and no commit came for 15 s.
async fn audit_at_rest(audit: &str, records: usize) -> anyhow::Result<()> {
    let mut last = (0, Instant::now());
    wait_for("the audit trail at rest", PHASE_LIMIT, || {
        let now = repository_size(audit).commits;
        if now != last.0 {
            last = (now, Instant::now());
        }
        let quiet = last.1.elapsed() > Duration::from_secs(15);
        async move { Ok((quiet && files_under(audit, "dnsrecords") >= records).then_some(())) }
    })
    .await
}

/// Does kavling-dns answer `name` with an A record (the real `dig`)?
fn dig_answers(stack: &Stack, name: &str) -> bool {
    let addr = stack.get("KAVLING_DNS_ADDR");
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "53"));
    std::process::Command::new("dig")
        .args([
            &format!("@{host}"),
            "-p",
            port,
            "+short",
            "+norecurse",
            name,
            "A",
        ])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.trim_ascii().is_empty())
}

struct Report<'a> {
    sizes: (usize, usize, usize, usize),
    tenants: &'a Marks,
    requests: &'a Marks,
    certificates: &'a Marks,
    published: &'a Marks,
    records_created: Duration,
    converged: Duration,
    on_empty: &'a mut Vec<Duration>,
    at_size: &'a mut Vec<Duration>,
    empty_rss: Option<f64>,
    memory: &'a Memory,
    memory_at_rest: &'a [(&'a str, Option<f64>)],
    answered: bool,
    audit_drained: Duration,
    repo: kavling_bench::RepoSize,
    verify: Duration,
    fsck_took: Duration,
    restart_ready: Duration,
    rss_restarted: Option<f64>,
    new_commits: u64,
}

fn report(r: &mut Report) {
    let (t, s, c, n) = r.sizes;
    let mib = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0} MiB"));
    println!();
    println!("province: {t} tenants, {s} subdomains ({c} with TLS), {n} DnsRecords in one zone");
    println!("  converged in {} from the first tenant", secs(r.converged));
    println!("  per 1,000 (seconds each; growth = last 1,000 / first 1,000, flat = 1.0):");
    for (what, m) in [
        ("tenants Ready", r.tenants),
        ("requests Ready", r.requests),
        ("certificates Ready", r.certificates),
        ("records published", r.published),
    ] {
        println!(
            "    {what:<19} done at {:>8}  growth {:>5.2}  [{}]",
            secs(m.done),
            m.growth(),
            m.slope()
        );
    }
    println!(
        "    (the records' creates themselves took {}: the API server is the floor)",
        secs(r.records_created)
    );
    let (e50, e99) = (pct(r.on_empty, 0.5), pct(r.on_empty, 0.99));
    let (s50, s99) = (pct(r.at_size, 0.5), pct(r.at_size, 0.99));
    println!(
        "  approve → Ready, {PROBES} one at a time: empty stack p50 {} p99 {}; at size p50 {} p99 {} ({:.2}× / {:.2}×)",
        ms(e50),
        ms(e99),
        ms(s50),
        ms(s99),
        s50.as_secs_f64() / e50.as_secs_f64(),
        s99.as_secs_f64() / e99.as_secs_f64()
    );
    println!("  memory (RSS):             peak      at rest");
    for (p, rest) in r.memory_at_rest {
        println!(
            "    {p:<20} {:>10} {:>12}",
            mib(r.memory.peak.get(p).copied()),
            mib(*rest)
        );
    }
    println!(
        "    (operator on the empty stack: {}; 30 s after a restart at size: {})",
        mib(r.empty_rss),
        mib(r.rss_restarted)
    );
    println!(
        "  kavling-dns answers the last record: {}",
        if r.answered { "yes" } else { "NO" }
    );
    println!(
        "  audit: at rest {} after the last create; {} commits, {} packs ({:.1} MiB), {} loose objects ({:.1} MiB)",
        secs(r.audit_drained),
        r.repo.commits,
        r.repo.packs,
        r.repo.pack_bytes as f64 / 1048576.0,
        r.repo.loose_objects,
        r.repo.loose_bytes as f64 / 1048576.0
    );
    println!(
        "  kavling audit verify: {} ({:.0} µs per commit); peer git fsck --connectivity-only: {} ({:.2}×)",
        secs(r.verify),
        r.verify.as_secs_f64() * 1e6 / r.repo.commits.max(1) as f64,
        secs(r.fsck_took),
        r.verify.as_secs_f64() / r.fsck_took.as_secs_f64()
    );
    println!(
        "  operator restart at size: ready in {}; {} new audit commits (nothing changed: must be 0)",
        secs(r.restart_ready),
        r.new_commits
    );
}
