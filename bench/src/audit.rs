//! Audit trail benchmarks (dev/bench.sh audit):
//!
//! 1. `audit cluster N`: N concurrent spec changes against the bench stack; per change, the
//!    delay from the API server's answer to the signed commit in the operator's repository,
//!    against the delay until a plain watch sees the same change (the floor every controller
//!    pays).
//! 2. `audit repo N`: N changes through the writer's own code into a fresh repository (no
//!    cluster): commit rate, repository size loose, packed by the writer's packing and by `git gc`, and `kavling audit
//!    verify` in-process, against real `git verify-commit` per commit on a sample.
//! 3. `audit drain N`: N DnsRecords created and then marked ready (2N commits, as the
//!    operator's writer sees a zone being filled) with the writer's packing between commits
//!    (no cluster): seconds per 1,000 commits in each tenth (flat means linear), time spent
//!    packing, the most packs at once and the final size — against the same fill packed by
//!    the rule before (everything into one pack every 8 packs).
//! 4. `audit layout N`: N DnsRecords created one commit each (a zone being filled), filed
//!    spread over 256 subdirectories as the writer does, against the same into one flat
//!    directory (the layout before): commit time as the count grows and bytes written.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kavling::api::Zone;
use kavling::audit::document::AuditedKind;
use kavling::audit::message::Trailers;
use kavling::audit::repo::{AuditRepo, Entry};
use kavling::audit::signing::Signer;
use kavling::audit::{history, signing};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn du(path: &Path) -> u64 {
    walk(path)
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn walk(path: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The zones' recorded default TTLs, read from the repository's head (fast path: one tree read
/// per poll).
fn recorded(repo: &git2::Repository, zones: &[String]) -> Vec<Option<u64>> {
    let Ok(head) = repo.refname_to_id("refs/heads/main") else {
        return vec![None; zones.len()];
    };
    zones
        .iter()
        .map(|z| {
            kavling::audit::repo::read_at(repo, head, &format!("zones/{z}.yaml"))
                .and_then(|y| serde_norway::from_str::<serde_json::Value>(&y).ok())
                .and_then(|v| v["spec"]["defaultTtl"].as_u64())
        })
        .collect()
}

async fn cluster(n: usize) -> anyhow::Result<()> {
    let stack = kavling_e2e::Stack::load()?;
    let admin = stack.client_as("admin").await?;
    let api: Api<Zone> = Api::all(admin);
    let id = kavling_e2e::unique("bench");
    let zones: Vec<String> = (0..n).map(|i| format!("z{i}-{id}.go.id")).collect();
    for z in &zones {
        api.create(
            &PostParams::default(),
            &Zone::new(z, kavling_e2e::zone_spec(z)),
        )
        .await?;
    }
    let repo = git2::Repository::open_bare(stack.get("KAVLING_AUDIT_LOCAL"))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while recorded(&repo, &zones).iter().any(Option::is_none) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "zones never reached the audit repository"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A plain watch on the same objects: when it sees each change.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::<
        String,
        Instant,
    >::new()));
    let watch = {
        let (api, seen) = (api.clone(), seen.clone());
        tokio::spawn(async move {
            let mut s = watcher(api, watcher::Config::default())
                .applied_objects()
                .boxed();
            while let Some(Ok(z)) = s.next().await {
                if z.spec.default_ttl == 777 {
                    let name = kube::ResourceExt::name_any(&z);
                    seen.lock()
                        .unwrap()
                        .entry(name)
                        .or_insert_with(Instant::now);
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answered: Vec<Instant> = futures::future::try_join_all(zones.iter().map(|z| {
        let api = api.clone();
        async move {
            api.patch(
                z,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"defaultTtl": 777}})),
            )
            .await?;
            Ok::<_, kube::Error>(Instant::now())
        }
    }))
    .await?;
    let mut committed = vec![None; n];
    let deadline = Instant::now() + Duration::from_secs(120);
    while committed.iter().any(Option::is_none) {
        anyhow::ensure!(Instant::now() < deadline, "changes never committed");
        let now = Instant::now();
        for (i, ttl) in recorded(&repo, &zones).into_iter().enumerate() {
            if ttl == Some(777) && committed[i].is_none() {
                committed[i] = Some(now);
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    watch.abort();
    let seen = seen.lock().unwrap().clone();
    let mut commit_delay: Vec<Duration> = (0..n)
        .map(|i| committed[i].unwrap().saturating_duration_since(answered[i]))
        .collect();
    let mut watch_delay: Vec<Duration> = zones
        .iter()
        .enumerate()
        .filter_map(|(i, z)| {
            seen.get(z)
                .map(|t| t.saturating_duration_since(answered[i]))
        })
        .collect();
    let (c50, c99) = (pct(&mut commit_delay, 0.5), pct(&mut commit_delay, 0.99));
    let (w50, w99) = (pct(&mut watch_delay, 0.5), pct(&mut watch_delay, 0.99));
    println!("audit: {n} concurrent spec changes → signed commit in the operator's repository");
    println!("  commit delay        p50 {}   p99 {}", ms(c50), ms(c99));
    println!(
        "  peer: watch sees it p50 {}   p99 {}   ({} of {n} seen)",
        ms(w50),
        ms(w99),
        watch_delay.len()
    );
    println!(
        "  ratio p99 commit/watch: {:.1}×",
        c99.as_secs_f64() / w99.as_secs_f64().max(1e-6)
    );
    Ok(())
}

fn document(i: usize, change: usize) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "kavling.go.id/v1alpha1",
        "kind": "Subdomain",
        "metadata": {"name": format!("app{i}.kab-agam.go.id"), "labels": {"kavling.go.id/tenant": format!("t{}", i % 40), "kavling.go.id/zone": "kab-agam.go.id"},
                     "annotations": {"kavling.go.id/request": format!("tenant-t{}/req-{i}", i % 40)}},
        "spec": {"zone": "kab-agam.go.id", "label": format!("app{i}"), "tenant": format!("t{}", i % 40),
                 "target": {"addresses": [format!("10.20.{}.{}", i / 250, i % 250)]}, "ttl": 300 + change},
        "status": {"ready": change.is_multiple_of(2)}
    })
}

fn repo_bench(n: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(kavling_e2e::unique("audit-bench"));
    let signer = Signer::generate();
    let allowed_line = signer.allowed_signers_line();
    let mut repo = AuditRepo::open_or_init(&dir, signer)?;
    let kind = AuditedKind::by_kind("Subdomain").expect("audited");
    let objects = (n / 20).max(1);
    let mut per_commit = Vec::with_capacity(n);
    let started = Instant::now();
    for c in 0..n {
        let i = c % objects;
        let entry = Entry {
            kind,
            namespace: None,
            name: format!("app{i}.kab-agam.go.id"),
            document: Some(document(i, c / objects)),
            trailers: Trailers {
                actor: Some("kavling-operator".into()),
                approver: Some("ani".into()),
                request: Some(format!("tenant-t{}/req-{i}", i % 40)),
                letter: Some("045/123/Diskes/2026".into()),
                ..Default::default()
            },
        };
        let t = Instant::now();
        anyhow::ensure!(repo.record(&entry)?.is_some(), "every change must commit");
        per_commit.push(t.elapsed());
    }
    let total = started.elapsed();
    let loose = du(&dir);
    // Packing: the writer's own (kavling_audit::pack, libgit2's pack builder), and as the peer
    // `git gc` on a copy of the same loose repository.
    let peer_dir = dir.with_extension("gc");
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(&dir)
        .arg(&peer_dir)
        .status()?;
    anyhow::ensure!(cp.success(), "copying the repository failed");
    let t = Instant::now();
    let ours = kavling::audit::pack::pack_all(repo.repository())?;
    let pack_time = t.elapsed();
    let packed = du(&dir);
    let t = Instant::now();
    let gc = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(&peer_dir)
        .args(["gc", "-q"])
        .status()?;
    anyhow::ensure!(gc.success(), "git gc failed");
    let gc_time = t.elapsed();
    let gc_packed = du(&peer_dir);
    std::fs::remove_dir_all(&peer_dir)?;
    anyhow::ensure!(
        kavling::audit::pack::loose_objects(repo.repository()).is_empty(),
        "loose objects remain after packing"
    );
    let head = repo.head().expect("commits");
    let keys = signing::parse_allowed_signers(&allowed_line);
    let r = git2::Repository::open_bare(&dir)?;
    let t = Instant::now();
    let v = history::verify(&r, head, &keys).map_err(|e| anyhow::anyhow!("{e}"))?;
    let verify = t.elapsed();
    anyhow::ensure!(v.commits == n, "verified {} of {n}", v.commits);

    // Peer: real git verifying a sample of commits one by one (as `git verify-commit` in a loop
    // or `git log --show-signature` does: one ssh-keygen per commit).
    let signers = dir.join("allowed_signers");
    std::fs::write(&signers, format!("{allowed_line}\n"))?;
    let sample = 200.min(n);
    let ids: Vec<git2::Oid> = history::log(&r, head)?
        .into_iter()
        .rev()
        .take(sample)
        .map(|c| c.id)
        .collect();
    let t = Instant::now();
    for id in &ids {
        let ok = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&dir)
            .args(["-c", "gpg.format=ssh", "-c"])
            .arg(format!("gpg.ssh.allowedSignersFile={}", signers.display()))
            .args(["verify-commit", &id.to_string()])
            .stderr(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(ok.success(), "git verify-commit {id} failed");
    }
    let git_per_commit = t.elapsed() / sample as u32;
    let ours_per_commit = verify / n as u32;
    println!("audit repository: {n} changes of {objects} objects through the writer (no cluster)");
    println!(
        "  commits: {:.0}/s; per commit p50 {} p99 {}",
        n as f64 / total.as_secs_f64(),
        ms(pct(&mut per_commit, 0.5)),
        ms(pct(&mut per_commit, 0.99))
    );
    println!(
        "  size: {:.1} MiB loose; the writer's pack: {:.1} MiB ({:.0} bytes per change, {} objects) in {:.2} s",
        loose as f64 / 1048576.0,
        packed as f64 / 1048576.0,
        packed as f64 / n as f64,
        ours.objects,
        pack_time.as_secs_f64()
    );
    println!(
        "  peer: git gc: {:.1} MiB in {:.2} s → ours is {:.2}× its size, {:.2}× its time (verify below reads our pack)",
        gc_packed as f64 / 1048576.0,
        gc_time.as_secs_f64(),
        packed as f64 / gc_packed.max(1) as f64,
        pack_time.as_secs_f64() / gc_time.as_secs_f64().max(1e-9)
    );
    println!(
        "  kavling audit verify (all {n}): {:.2} s = {:.0} µs per commit",
        verify.as_secs_f64(),
        ours_per_commit.as_secs_f64() * 1e6
    );
    println!(
        "  peer: git verify-commit per commit ({sample} sampled): {:.1} ms → {:.0}× ours; all {n} would take ≈ {:.0} s",
        git_per_commit.as_secs_f64() * 1000.0,
        git_per_commit.as_secs_f64() / ours_per_commit.as_secs_f64().max(1e-9),
        git_per_commit.as_secs_f64() * n as f64
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// One DnsRecord of a zone being filled, as the writer records it.
fn dns_entry(kind: &'static AuditedKind, i: usize, ready: bool) -> Entry {
    let name = format!("app{i}-kab-agam-go-id-a");
    Entry {
        kind,
        namespace: None,
        name: name.clone(),
        document: Some(serde_json::json!({
            "apiVersion": "kavling.go.id/v1alpha1", "kind": "DnsRecord",
            "metadata": {"name": name, "labels": {"kavling.go.id/zone": "kab-agam.go.id"}},
            "spec": {"zone": "kab-agam.go.id", "name": format!("app{i}"), "type": "A",
                     "values": [format!("10.20.{}.{}", i / 250, i % 250)], "ttl": 300},
            "status": {"ready": ready}
        })),
        trailers: Trailers {
            actor: Some("kavling-operator".into()),
            ..Default::default()
        },
    }
}

/// How a fill packs between commits.
#[derive(Clone, Copy)]
enum PackRule {
    /// The writer's: [`kavling::audit::pack::maybe_pack`] (a geometric progression of packs).
    Writer,
    /// The rule before: a pack per 1,000 commits, everything into one once 8 packs exist.
    AllIntoOneAtEight,
}

/// What one drain fill measured.
struct Drain {
    slopes: Vec<f64>,
    total: Duration,
    packing: Duration,
    passes: usize,
    most_packs: usize,
    bytes: u64,
}

fn drain_fill(n: usize, rule: PackRule) -> anyhow::Result<Drain> {
    use kavling::audit::pack;
    let dir = std::env::temp_dir().join(kavling_e2e::unique("audit-drain"));
    let mut repo = AuditRepo::open_or_init(&dir, Signer::generate())?;
    let kind = AuditedKind::by_kind("DnsRecord").expect("audited");
    let commits = 2 * n;
    let tenth = (commits / 10).max(1);
    let (mut slopes, mut packing, mut passes, mut most_packs) = (Vec::new(), Duration::ZERO, 0, 0);
    let mut since_pack = 0;
    let started = Instant::now();
    let mut t = Instant::now();
    for c in 0..commits {
        // every record created, then every record marked ready, in the order the zone filled
        let entry = dns_entry(kind, c % n, c >= n);
        anyhow::ensure!(repo.record(&entry)?.is_some(), "every change must commit");
        since_pack += 1;
        if since_pack >= pack::LOOSE_COMMITS_PER_PACK {
            let p = Instant::now();
            match rule {
                PackRule::Writer => {
                    pack::maybe_pack(repo.repository(), since_pack)?;
                }
                PackRule::AllIntoOneAtEight => {
                    let known = pack::known_packs(repo.repository()).len();
                    let keep = if known + 1 >= 8 { 0 } else { known };
                    pack::pack_since(repo.repository(), keep)?;
                }
            }
            repo.reopen()?;
            if std::env::var_os("KAVLING_BENCH_VERBOSE").is_some() {
                let sizes: Vec<usize> = pack::known_packs(repo.repository())
                    .iter()
                    .map(|k| k.objects)
                    .collect();
                eprintln!(
                    "    pass at commit {}: {:.2} s, packs {sizes:?}",
                    c + 1,
                    p.elapsed().as_secs_f64()
                );
            }
            packing += p.elapsed();
            passes += 1;
            since_pack = 0;
            most_packs = most_packs.max(pack::packs(repo.repository()).len());
        }
        if (c + 1) % tenth == 0 {
            slopes.push(t.elapsed().as_secs_f64() * 1000.0 / tenth as f64);
            t = Instant::now();
        }
    }
    let total = started.elapsed();
    let bytes = du(&dir);
    std::fs::remove_dir_all(&dir)?;
    Ok(Drain {
        slopes,
        total,
        packing,
        passes,
        most_packs,
        bytes,
    })
}

fn drain_bench(n: usize) -> anyhow::Result<()> {
    println!(
        "audit drain: {n} DnsRecords created then marked ready ({} signed commits), packing between commits (no cluster)",
        2 * n
    );
    let mut results = Vec::new();
    for (label, rule) in [
        ("writer (geometric)", PackRule::Writer),
        ("peer: all into one at 8 packs", PackRule::AllIntoOneAtEight),
    ] {
        let d = drain_fill(n, rule)?;
        let shown: Vec<String> = d.slopes.iter().map(|s| format!("{s:.2}")).collect();
        println!(
            "  {label:<30} total {:>6.1} s (packing {:>6.1} s in {} passes), at most {} packs, {:>6.1} MiB; s per 1,000 commits by tenth: {}",
            d.total.as_secs_f64(),
            d.packing.as_secs_f64(),
            d.passes,
            d.most_packs,
            d.bytes as f64 / 1048576.0,
            shown.join(" ")
        );
        results.push(d);
    }
    let (w, p) = (&results[0], &results[1]);
    let growth =
        |d: &Drain| d.slopes.last().unwrap_or(&0.0) / d.slopes.first().unwrap_or(&1.0).max(1e-9);
    println!(
        "  ratio rule-before/writer: total {:.2}×, packing {:.2}×, size {:.2}×; slope growth first→last tenth: writer {:.2}×, rule before {:.2}×",
        p.total.as_secs_f64() / w.total.as_secs_f64(),
        p.packing.as_secs_f64() / w.packing.as_secs_f64().max(1e-9),
        p.bytes as f64 / w.bytes.max(1) as f64,
        growth(w),
        growth(p)
    );
    Ok(())
}

/// Creates `n` DnsRecords, one commit each, filed as `kind` says: seconds per 1,000 commits
/// in each tenth of the run, the loose bytes written, and the total time.
fn fill(kind: &'static AuditedKind, n: usize) -> anyhow::Result<(Vec<f64>, u64, Duration)> {
    let dir = std::env::temp_dir().join(kavling_e2e::unique("audit-layout"));
    let mut repo = AuditRepo::open_or_init(&dir, Signer::generate())?;
    let tenth = (n / 10).max(1);
    let mut slopes = Vec::new();
    let started = Instant::now();
    let mut t = Instant::now();
    for i in 0..n {
        let entry = dns_entry(kind, i, true);
        anyhow::ensure!(repo.record(&entry)?.is_some(), "every create must commit");
        if (i + 1) % tenth == 0 {
            slopes.push(t.elapsed().as_secs_f64() * 1000.0 / tenth as f64);
            t = Instant::now();
        }
    }
    let total = started.elapsed();
    let bytes = du(&dir);
    std::fs::remove_dir_all(&dir)?;
    Ok((slopes, bytes, total))
}

fn layout_bench(n: usize) -> anyhow::Result<()> {
    let spread = AuditedKind::by_kind("DnsRecord").expect("audited");
    anyhow::ensure!(spread.spread, "DnsRecords are filed spread");
    let flat: &'static AuditedKind = Box::leak(Box::new(AuditedKind {
        spread: false,
        ..*spread
    }));
    println!("audit layout: {n} DnsRecords created, one signed commit each (no cluster)");
    let mut results = Vec::new();
    for (label, kind) in [("spread (256 dirs)", spread), ("peer: one flat dir", flat)] {
        let (slopes, bytes, total) = fill(kind, n)?;
        let shown: Vec<String> = slopes.iter().map(|s| format!("{s:.2}")).collect();
        println!(
            "  {label:<20} total {:>6.1} s, {:>7.1} MiB loose ({:>6.0} bytes/commit); s per 1,000 commits by tenth: {}",
            total.as_secs_f64(),
            bytes as f64 / 1048576.0,
            bytes as f64 / n as f64,
            shown.join(" ")
        );
        results.push((slopes, bytes, total));
    }
    let (s, f) = (&results[0], &results[1]);
    println!(
        "  ratio flat/spread: time {:.1}×, bytes {:.1}×, last tenth's slope {:.1}×; slope growth first→last tenth: spread {:.1}×, flat {:.1}×",
        f.2.as_secs_f64() / s.2.as_secs_f64(),
        f.1 as f64 / s.1 as f64,
        f.0.last().unwrap_or(&0.0) / s.0.last().unwrap_or(&1.0).max(1e-9),
        s.0.last().unwrap_or(&0.0) / s.0.first().unwrap_or(&1.0).max(1e-9),
        f.0.last().unwrap_or(&0.0) / f.0.first().unwrap_or(&1.0).max(1e-9),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("repo");
    let n: usize = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(match what {
            "cluster" => 100,
            "layout" => 4_000,
            "drain" => 20_000,
            _ => 10_000,
        });
    match what {
        "cluster" => cluster(n).await,
        "repo" => tokio::task::spawn_blocking(move || repo_bench(n)).await?,
        "layout" => tokio::task::spawn_blocking(move || layout_bench(n)).await?,
        "drain" => tokio::task::spawn_blocking(move || drain_bench(n)).await?,
        _ => anyhow::bail!("usage: audit cluster|repo|drain|layout [N]"),
    }
}
