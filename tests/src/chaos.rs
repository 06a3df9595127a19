//! The chaos run (#23): a burst of approvals mixing subdomain (with and without TLS), storage
//! and hosting requests while the operator is killed with SIGKILL at random moments, then each
//! dependency (API server, etcd, Garage, Pebble, the audit remote) stopped and started in the
//! middle of a further burst. Afterwards a program — not a person — checks the invariants:
//! every request decided, nothing missing, nothing duplicated, nothing orphaned (in the API,
//! on the object store, among namespaces), the audit trail records each object's creation
//! exactly once and verifies, and the DNS serves exactly what the API holds.
//!
//! One implementation for both forms: the long run `dev/bench.sh chaos` (release build, many
//! kills) and the short one the e2e suite runs in CI (`tests/tests/zz_chaos_last.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use kavling::api::*;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};

use crate::{Stack, stack_script, wait_for};

/// What to do: how many requests, how many kills, which outages.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// Requests filed and approved while the operator is being killed.
    pub requests: usize,
    /// SIGKILLs of the operator, spread over those requests.
    pub kills: usize,
    /// Dependencies stopped and started, one after another (`dev/stack.sh NAME stop|start`).
    pub outages: Vec<&'static str>,
    /// Requests filed and approved just before each outage.
    pub per_outage: usize,
    /// How long each dependency stays down.
    pub outage_hold: Duration,
    /// How long the run may take to settle after the last fault.
    pub settle: Duration,
    /// The random moments come from this seed (printed, so a run can be repeated).
    pub seed: u64,
}

/// Every dependency an outage can hit.
pub const ALL_OUTAGES: &[&str] = &["apiserver", "etcd", "garage", "pebble", "audit-remote"];

impl ChaosConfig {
    pub fn new(requests: usize, kills: usize) -> Self {
        Self {
            requests,
            kills,
            outages: ALL_OUTAGES.to_vec(),
            per_outage: 4,
            outage_hold: Duration::from_secs(5),
            // beyond kube-controller-manager's quota resync (5 min; see hosting::quota_refusal)
            settle: Duration::from_secs(480),
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1),
        }
    }
}

/// A small deterministic generator (xorshift64*): the moments of the faults.
struct Moments(u64);

impl Moments {
    fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A duration in `[lo, hi)` milliseconds.
    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo).max(1))
    }
}

/// The label tying an ACME challenge DnsRecord to its Certificate (`<namespace>.<name>`).
const CERT_LABEL: &str = kavling::controllers::certificate::CERT_LABEL;

/// The four request kinds, in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mix {
    Subdomain,
    SubdomainTls,
    Storage,
    Hosting,
}

impl Mix {
    fn of(i: usize) -> Mix {
        [
            Mix::Subdomain,
            Mix::SubdomainTls,
            Mix::Storage,
            Mix::Hosting,
        ][i % 4]
    }
}

/// What the checks counted. Every field but the first block must be zero (or equal to what
/// was asked) for the run to pass; [`ChaosReport::failures`] says which are not.
#[derive(Debug, Default, Clone)]
pub struct ChaosReport {
    pub seed: u64,
    /// The run's tenant and its home namespace (for [`clean_up`]).
    pub tenant: String,
    pub namespace: String,
    pub requests: usize,
    pub kills: usize,
    /// (dependency, seconds down)
    pub outages: Vec<(String, f64)>,
    pub settle_secs: f64,
    /// When the operator exited by itself (lost its lease in an outage) and was restarted, as
    /// the kubelet restarts a pod.
    pub operator_exits: Vec<String>,
    pub by_mix: BTreeMap<String, usize>,
    pub ready: usize,
    /// Failed with the message a person reads.
    pub failed: Vec<(String, String)>,
    pub undecided: Vec<String>,
    /// `what: expected → found`, for every count that differs.
    pub missing_or_duplicate: Vec<String>,
    /// Objects nothing of Kavling's owns.
    pub orphans: Vec<String>,
    /// ACME challenge records still in the zone after every certificate is issued.
    pub challenge_records: usize,
    pub certificates_ready: usize,
    /// Audit: an object created twice without a delete between.
    pub duplicate_creates: Vec<String>,
    /// Audit: live objects whose creation is not in the trail.
    pub unrecorded: Vec<String>,
    /// Audit: objects the trail says exist that the API does not have.
    pub ghosts: Vec<String>,
    pub audit_commits: usize,
    /// `kavling audit verify`'s verdict (None: clean).
    pub audit_verify: Option<String>,
    /// (API records, served records, differences)
    pub dns: (usize, usize, Vec<String>),
}

impl ChaosReport {
    /// What broke an invariant, one line each; empty when the run passed.
    pub fn failures(&self) -> Vec<String> {
        let mut out = vec![];
        let mut list = |what: &str, v: &[String]| {
            if !v.is_empty() {
                out.push(format!("{what} ({}): {}", v.len(), shorten(v)));
            }
        };
        list("requests not decided", &self.undecided);
        list("missing or duplicated", &self.missing_or_duplicate);
        list("orphans", &self.orphans);
        list("created twice in the audit trail", &self.duplicate_creates);
        list("not recorded in the audit trail", &self.unrecorded);
        list("in the audit trail but gone", &self.ghosts);
        list("DNS differs from the API", &self.dns.2);
        let failed: Vec<String> = self
            .failed
            .iter()
            .map(|(n, m)| format!("{n}: {m}"))
            .collect();
        list("requests Failed", &failed);
        if self.challenge_records > 0 {
            out.push(format!(
                "{} ACME challenge records left",
                self.challenge_records
            ));
        }
        if let Some(v) = &self.audit_verify {
            out.push(format!("kavling audit verify: {v}"));
        }
        out
    }
}

fn shorten(v: &[String]) -> String {
    let mut s = v.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
    if v.len() > 5 {
        s.push_str(&format!("; … {} more", v.len() - 5));
    }
    s
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mix = self
            .by_mix
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(f, "chaos run (seed {})", self.seed)?;
        writeln!(f, "  requests            {} ({mix})", self.requests)?;
        writeln!(f, "  operator SIGKILLs   {}", self.kills)?;
        for (dep, secs) in &self.outages {
            writeln!(f, "  outage              {dep} down {secs:.1} s mid-burst")?;
        }
        if !self.operator_exits.is_empty() {
            writeln!(
                f,
                "  operator exits      {} (lost its lease during: {}; restarted as a pod would be)",
                self.operator_exits.len(),
                self.operator_exits.join(", ")
            )?;
        }
        writeln!(
            f,
            "  settled             {:.1} s after the last fault",
            self.settle_secs
        )?;
        let row =
            |f: &mut fmt::Formatter<'_>, what: &str, n: usize| writeln!(f, "  {what:<42} {n:>6}");
        writeln!(f, "invariant                                     count")?;
        row(f, "requests Ready", self.ready)?;
        row(f, "requests Failed", self.failed.len())?;
        row(f, "requests undecided", self.undecided.len())?;
        row(f, "certificates Ready", self.certificates_ready)?;
        row(
            f,
            "objects missing or duplicated",
            self.missing_or_duplicate.len(),
        )?;
        row(
            f,
            "orphans (API, object store, namespaces)",
            self.orphans.len(),
        )?;
        row(f, "ACME challenge records left", self.challenge_records)?;
        row(f, "audit commits of this run", self.audit_commits)?;
        row(
            f,
            "audit: creations recorded twice",
            self.duplicate_creates.len(),
        )?;
        row(f, "audit: live objects unrecorded", self.unrecorded.len())?;
        row(f, "audit: recorded objects gone", self.ghosts.len())?;
        writeln!(
            f,
            "  {:<42} {:>6}",
            "kavling audit verify",
            if self.audit_verify.is_none() {
                "clean"
            } else {
                "FAILED"
            }
        )?;
        writeln!(
            f,
            "  {:<42} {:>6}",
            format!(
                "DNS (AXFR) vs API: {} served, {} in API, differences",
                self.dns.1, self.dns.0
            ),
            self.dns.2.len()
        )
    }
}

/// The run's tenant, zone and clients.
struct Scene {
    tenant: String,
    zone: String,
    ns: String,
    rina: Api<Request>,
    ani: Api<Approval>,
    filed: Vec<(String, Mix)>,
}

/// The suite's valid letter ([`crate::letter`]) under this request's own number.
fn letter_for(label: &str) -> Letter {
    Letter {
        number: format!("B/{label}/2026"),
        ..crate::letter()
    }
}

fn request(label: &str, zone: &str, i: usize, mix: Mix) -> Request {
    let mut spec = RequestSpec {
        requested_by: "rina".into(),
        letter: letter_for(label),
        subdomain: None,
        hosting: None,
        storage: None,
    };
    match mix {
        Mix::Subdomain | Mix::SubdomainTls => {
            spec.subdomain = Some(SubdomainRequest {
                zone: zone.into(),
                label: label.into(),
                application_name: "chaos".into(),
                description: "chaos".into(),
                business_process: "chaos".into(),
                website: false,
                tls: mix == Mix::SubdomainTls,
                target: Target {
                    addresses: vec![format!("10.44.{}.{}", i / 250, i % 250 + 1)],
                    ..Default::default()
                },
                wildcard: false,
            })
        }
        Mix::Storage => {
            spec.storage = Some(StorageRequest {
                name: label.into(),
                data_description: "chaos".into(),
                size: "1Gi".into(),
                classification: DataClassification::Publik,
                personal_data: false,
                versioning: false,
            })
        }
        Mix::Hosting => {
            spec.hosting = Some(HostingRequest {
                name: label.into(),
                application_name: "chaos".into(),
                template: "static".into(),
                cpu: "10m".into(),
                memory: "16Mi".into(),
                disk: "100Mi".into(),
                specification: None,
            })
        }
    }
    Request::new(label, spec)
}

/// Retries an API call while the API server (or etcd behind it) is coming back: connection
/// errors and 5xx/429 are retried for up to a minute, anything else is returned.
async fn retrying<T, F, Fut>(what: &str, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let start = Instant::now();
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let transient = match crate::api_code(&e) {
                    Some(c) => c >= 500 || c == 429,
                    None => true,
                };
                if !transient || start.elapsed() > Duration::from_secs(60) {
                    return Err(anyhow::anyhow!("{what}: {e}"));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

impl Scene {
    /// Files request `i` as rina and approves it as ani. Idempotent across a lost answer: an
    /// existing request or approval of the same name is taken as made.
    async fn file_and_approve(&mut self, i: usize) -> anyhow::Result<()> {
        let mix = Mix::of(i);
        let label = format!("c{i}");
        let req = request(&label, &self.zone, i, mix);
        let filed = retrying("file", || async {
            match self.rina.create(&PostParams::default(), &req).await {
                Err(e) if crate::api_code(&e) == Some(409) => self.rina.get(&label).await,
                r => r,
            }
        })
        .await?;
        let approval = Approval::deciding(&filed, Decision::Approve, "ani", "");
        retrying("approve", || async {
            match self.ani.create(&PostParams::default(), &approval).await {
                Err(e) if crate::api_code(&e) == Some(409) => Ok(approval.clone()),
                r => r,
            }
        })
        .await?;
        self.filed.push((label, mix));
        Ok(())
    }

    fn count(&self, mix: Mix) -> usize {
        self.filed.iter().filter(|(_, m)| *m == mix).count()
    }
}

/// Runs the faults and the checks; prints progress to stderr as it goes.
pub async fn run(stack: &Stack, cfg: &ChaosConfig) -> anyhow::Result<ChaosReport> {
    let mut moments = Moments(cfg.seed);
    let total = cfg.requests + cfg.per_outage * cfg.outages.len();
    let limits = TenantLimits {
        subdomains: total as u32 + 10,
        websites: 5,
        buckets: total as u32 + 10,
        bucket_bytes: "10Ti".into(),
        hosting_cpu: "100".into(),
        hosting_memory: "100Gi".into(),
        hosting_disk: "100Gi".into(),
    };
    let (tenant, zone, ns) =
        crate::zone_and_rina_tenant(stack, "chaos", TenantType::Kabupaten, limits).await?;
    let admin = stack.client_as("admin").await?;
    // the zone may be transferred to the checker (127.0.0.1): AXFR is how "the DNS serves
    // exactly the API's content" is compared
    Api::<Zone>::all(admin.clone())
        .patch(
            &zone,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"transfer": {"allow": ["127.0.0.1"]}}})),
        )
        .await?;
    let mut scene = Scene {
        tenant,
        zone,
        ns: ns.clone(),
        rina: Api::namespaced(stack.client_as("rina").await?, &ns),
        ani: Api::namespaced(stack.client_as("ani").await?, &ns),
        filed: vec![],
    };
    let mut report = ChaosReport {
        seed: cfg.seed,
        tenant: scene.tenant.clone(),
        namespace: scene.ns.clone(),
        ..Default::default()
    };

    // operator kills, spread over the requests: a batch approved, a random moment, SIGKILL,
    // a random moment, start again (the next kill may land while it is still starting up)
    let kills = cfg.kills.max(1);
    let mut next = 0;
    for k in 0..kills {
        let upto = cfg.requests * (k + 1) / kills;
        while next < upto {
            scene.file_and_approve(next).await?;
            next += 1;
        }
        tokio::time::sleep(moments.ms(0, 1500)).await;
        stack_script(stack, &["operator", "kill"]);
        report.kills += 1;
        tokio::time::sleep(moments.ms(0, 500)).await;
        stack_script(stack, &["operator", "start"]);
        eprintln!("chaos: kill {}/{kills} after {next} requests", k + 1);
    }
    // each dependency down in the middle of a burst
    for dep in &cfg.outages {
        for _ in 0..cfg.per_outage {
            scene.file_and_approve(next).await?;
            next += 1;
        }
        tokio::time::sleep(moments.ms(100, 1000)).await;
        let t = Instant::now();
        stack_script(stack, &[dep, "stop"]);
        tokio::time::sleep(cfg.outage_hold).await;
        stack_script(stack, &[dep, "start"]);
        let down = t.elapsed().as_secs_f64();
        report.outages.push((dep.to_string(), down));
        // the operator stops leading (and exits) when it cannot renew its lease for 10 s:
        // give it the time to, then restart it as the kubelet would restart its pod
        tokio::time::sleep(Duration::from_secs(3)).await;
        let restarted = supervise(stack, &mut report, dep);
        eprintln!(
            "chaos: {dep} was down {down:.1} s{}",
            if restarted {
                "; the operator had exited (lost its lease) and was restarted"
            } else {
                ""
            }
        );
    }
    report.requests = scene.filed.len();
    for (_, m) in &scene.filed {
        *report.by_mix.entry(format!("{m:?}")).or_default() += 1;
    }

    // settle: until every check passes, or the time is up (then the report says what did not)
    let settled = Instant::now();
    let mut said = Instant::now();
    let checked = loop {
        supervise(stack, &mut report, "settling");
        let r = check(stack, &scene, report.clone()).await?;
        let failures = r.failures();
        if failures.is_empty() || settled.elapsed() > cfg.settle {
            break r;
        }
        if said.elapsed() > Duration::from_secs(30) {
            said = Instant::now();
            eprintln!(
                "chaos: settling for {:.0} s; not yet: {}",
                settled.elapsed().as_secs_f64(),
                failures.join(" | ")
            );
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    let mut checked = checked;
    checked.settle_secs = settled.elapsed().as_secs_f64();
    Ok(checked)
}

/// The kubelet's part on the local stack, where the operator is a plain process: when it
/// has exited (it does so on losing its lease), start it again and note why. True if it did.
fn supervise(stack: &Stack, report: &mut ChaosReport, during: &str) -> bool {
    let pid_file =
        std::path::Path::new(stack.get("KAVLING_STACK_DIR")).join("run/kavling-operator.pid");
    let alive = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
    if alive {
        return false;
    }
    report.operator_exits.push(during.to_string());
    stack_script(stack, &["operator", "start"]);
    true
}

/// One pass of every check over the scene's tenant and zone.
async fn check(
    stack: &Stack,
    scene: &Scene,
    mut report: ChaosReport,
) -> anyhow::Result<ChaosReport> {
    let admin = stack.client_as("admin").await?;
    let ns = &scene.ns;
    let zone = &scene.zone;
    let lp = ListParams::default();

    // requests: each decided
    let requests = Api::<Request>::namespaced(admin.clone(), ns)
        .list(&lp)
        .await?;
    for r in &requests.items {
        let st = r.status.clone().unwrap_or_default();
        match st.phase {
            RequestPhase::Ready => report.ready += 1,
            RequestPhase::Failed => {
                let msg = st
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Ready")
                    .map(|c| c.message.clone())
                    .unwrap_or_default();
                report.failed.push((r.name_any(), msg));
            }
            p => report.undecided.push(format!("{} ({p:?})", r.name_any())),
        }
    }

    // what exists for them, counted against what was asked
    let subdomains: Vec<Subdomain> = Api::<Subdomain>::all(admin.clone())
        .list(&ListParams::default().labels(&format!("{}={}", labels::TENANT, scene.tenant)))
        .await?
        .items;
    let buckets = Api::<Bucket>::namespaced(admin.clone(), ns)
        .list(&lp)
        .await?
        .items;
    let hostings = Api::<Hosting>::namespaced(admin.clone(), ns)
        .list(&lp)
        .await?
        .items;
    let certs = Api::<Certificate>::namespaced(admin.clone(), ns)
        .list(&lp)
        .await?
        .items;
    // by spec, not by label: an ACME challenge record is as much the zone's as any other
    let records: Vec<DnsRecord> = Api::<DnsRecord>::all(admin.clone())
        .list(&lp)
        .await?
        .items
        .into_iter()
        .filter(|r| r.spec.zone == *zone)
        .collect();
    let prefix = format!("{}{}", scene.tenant, kavling::rules::derived::SEPARATOR);
    let known_buckets: BTreeSet<String> = buckets
        .iter()
        .filter_map(|b| b.status.as_ref()?.bucket_name.clone())
        .collect();
    let names = scene.count(Mix::Subdomain) + scene.count(Mix::SubdomainTls);
    let mut expect = |what: &str, want: usize, got: usize| {
        if want != got {
            report
                .missing_or_duplicate
                .push(format!("{what}: {want} asked, {got} exist"));
        }
    };
    expect("Subdomains", names, subdomains.len());
    expect("Buckets", scene.count(Mix::Storage), buckets.len());
    expect("Hostings", scene.count(Mix::Hosting), hostings.len());
    expect("Certificates", scene.count(Mix::SubdomainTls), certs.len());
    let a_records = records
        .iter()
        .filter(|r| r.spec.type_ == RecordType::A)
        .count();
    expect("A RRsets", names, a_records);
    expect(
        "Garage buckets named in Bucket status",
        scene.count(Mix::Storage),
        known_buckets.len(),
    );
    let mut per_rrset: HashMap<(String, RecordType), usize> = HashMap::new();
    for r in &records {
        *per_rrset
            .entry((r.spec.name.to_ascii_lowercase(), r.spec.type_))
            .or_default() += 1;
    }
    for ((name, t), n) in per_rrset.into_iter().filter(|(_, n)| *n > 1) {
        report
            .missing_or_duplicate
            .push(format!("{n} DnsRecords for {name} {t:?}"));
    }
    report.certificates_ready = certs
        .iter()
        .filter(|c| {
            c.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|x| x.type_ == "Ready" && x.status == "True")
            })
        })
        .count();

    // orphans in the API: records and certificates whose owner is gone
    let owners: BTreeSet<String> = subdomains
        .iter()
        .filter_map(|s| s.uid())
        .chain(certs.iter().filter_map(|c| c.uid()))
        .collect();
    let cert_keys: BTreeSet<String> = certs
        .iter()
        .map(|c| {
            kavling::outputs::label_value(&format!(
                "{}.{}",
                c.namespace().unwrap_or_default(),
                c.name_any()
            ))
        })
        .collect();
    for r in &records {
        if r.spec.name.starts_with("_acme-challenge.") {
            report.challenge_records += 1;
        }
        // a challenge record is cluster-scoped and its Certificate namespaced, so it is tied
        // by label, not by an owner reference
        let owned = match r.labels().get(CERT_LABEL) {
            Some(cert) => cert_keys.contains(cert),
            None => r.owner_references().iter().any(|o| owners.contains(&o.uid)),
        };
        if !owned {
            report
                .orphans
                .push(format!("DnsRecord {} (owner gone)", r.name_any()));
        }
    }
    let sd_uids: BTreeSet<String> = subdomains.iter().filter_map(|s| s.uid()).collect();
    for c in &certs {
        if !c
            .owner_references()
            .iter()
            .any(|o| sd_uids.contains(&o.uid))
        {
            report.orphans.push(format!(
                "Certificate {} (no Subdomain owns it)",
                c.name_any()
            ));
        }
    }
    // on the object store: buckets and keys of this tenant that no Bucket names
    let known_keys: BTreeSet<String> = buckets
        .iter()
        .filter_map(|b| b.status.as_ref())
        .flat_map(|s| {
            s.access_key_id
                .clone()
                .into_iter()
                .chain(s.retiring_key.as_ref().map(|r| r.access_key_id.clone()))
        })
        .collect();
    for alias in garage_aliases(stack).await? {
        match alias {
            Some(a) if a.starts_with(&prefix) && !known_buckets.contains(&a) => {
                report.orphans.push(format!("Garage bucket {a}"))
            }
            None => report.orphans.push("Garage bucket without alias".into()),
            _ => {}
        }
    }
    let key_label = format!("kavling {ns}/");
    for (id, name) in crate::garage_keys(stack).await? {
        if name.starts_with(&key_label) && !known_keys.contains(&id) {
            report.orphans.push(format!("Garage key {id} ({name})"));
        }
    }
    // namespaces of this tenant's hostings that no Hosting owns
    let hosting_ns: BTreeSet<String> = hostings
        .iter()
        .map(|h| kavling::rules::derived::hosting_namespace(&scene.tenant, &h.name_any()))
        .collect();
    let namespaces = Api::<k8s_openapi::api::core::v1::Namespace>::all(admin.clone())
        .list(&lp)
        .await?;
    for n in &namespaces.items {
        let name = n.name_any();
        let terminating = n.metadata.deletion_timestamp.is_some();
        if name.starts_with(&prefix) && !hosting_ns.contains(&name) && !terminating {
            report.orphans.push(format!("namespace {name}"));
        }
    }
    for h in &hosting_ns {
        if !namespaces.items.iter().any(|n| &n.name_any() == h) {
            report
                .missing_or_duplicate
                .push(format!("namespace {h}: its Hosting exists, it does not"));
        }
    }

    // the audit trail: each object's creation recorded once, every live object recorded
    let mut live: BTreeSet<(String, String)> = BTreeSet::new();
    let key = |ns: Option<String>, name: String| match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name,
    };
    for r in &requests.items {
        live.insert(("Request".into(), key(r.namespace(), r.name_any())));
    }
    for a in Api::<Approval>::namespaced(admin.clone(), ns)
        .list(&lp)
        .await?
        .items
    {
        live.insert(("Approval".into(), key(a.namespace(), a.name_any())));
    }
    for s in &subdomains {
        live.insert(("Subdomain".into(), s.name_any()));
    }
    for r in &records {
        live.insert(("DnsRecord".into(), r.name_any()));
    }
    for b in &buckets {
        live.insert(("Bucket".into(), key(b.namespace(), b.name_any())));
    }
    for h in &hostings {
        live.insert(("Hosting".into(), key(h.namespace(), h.name_any())));
    }
    for c in &certs {
        live.insert(("Certificate".into(), key(c.namespace(), c.name_any())));
    }
    let mine = |kind: &str, object: &str| match kind {
        "Subdomain" | "DnsRecord" => object.ends_with(&format!(".{zone}")),
        _ => object.starts_with(&format!("{ns}/")),
    };
    let history = crate::audit_history(&crate::audit_local(stack))?;
    let mut alive: BTreeMap<(String, String), bool> = BTreeMap::new();
    report.audit_commits = 0;
    for c in &history {
        let (Some(kind), Some(object), Some(change)) = (
            c.trailers.get("Kind"),
            c.trailers.get("Object"),
            c.trailers.get("Change"),
        ) else {
            continue;
        };
        if !mine(kind, object) {
            continue;
        }
        report.audit_commits += 1;
        let k = (kind.clone(), object.clone());
        let was = alive.get(&k).copied().unwrap_or(false);
        match change.as_str() {
            "create" if was => report
                .duplicate_creates
                .push(format!("{kind} {object} at {}", &c.id[..12])),
            "create" => {
                alive.insert(k, true);
            }
            "delete" => {
                alive.insert(k, false);
            }
            _ => {}
        }
    }
    for k in &live {
        if !alive.get(k).copied().unwrap_or(false) {
            report.unrecorded.push(format!("{} {}", k.0, k.1));
        }
    }
    for (k, a) in &alive {
        if *a && !live.contains(k) {
            report.ghosts.push(format!("{} {}", k.0, k.1));
        }
    }
    let (code, out, err) = crate::kavling_cli(
        stack,
        Some("admin"),
        &["audit", "verify", "--repo", &crate::audit_local(stack)],
    );
    report.audit_verify = (code != 0).then(|| format!("exit {code}: {}{}", out.trim(), err.trim()));

    // the DNS serves exactly the API's records (AXFR from kavling-dns)
    report.dns = compare_dns(stack, zone, &records);
    Ok(report)
}

/// Every bucket's global alias on Garage (None: a bucket without one), root admin token.
async fn garage_aliases(stack: &Stack) -> anyhow::Result<Vec<Option<String>>> {
    Ok(crate::garage_admin_get(stack, "ListBuckets")
        .await?
        .iter()
        .map(|b| {
            b["globalAliases"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(|a| a.as_str())
                .map(str::to_string)
        })
        .collect())
}

/// (records in the API, records served, differences): the zone transferred from kavling-dns
/// with `dig AXFR`, compared RR by RR with the DnsRecords (the apex SOA and NS come from the
/// Zone, not from records, and are left out).
fn compare_dns(stack: &Stack, zone: &str, records: &[DnsRecord]) -> (usize, usize, Vec<String>) {
    let want: BTreeSet<String> = records
        .iter()
        .flat_map(|r| {
            r.spec
                .values
                .iter()
                .map(move |v| rr_key(&r.spec.name, r.spec.type_.as_str(), v.trim_matches('"')))
        })
        .collect();
    let addr = stack.get("KAVLING_DNS_ADDR");
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "53"));
    let out = std::process::Command::new("dig")
        .args([&format!("@{host}"), "-p", port, "+time=5", "+tries=2"])
        .args([zone, "AXFR"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let apex = format!("{zone}.");
    let got: BTreeSet<String> = out
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (name, t) = (*f.first()?, *f.get(3)?);
            if name.eq_ignore_ascii_case(&apex) && (t == "SOA" || t == "NS") {
                return None;
            }
            let data = f.get(4..)?.join(" ");
            Some(rr_key(name, t, data.trim_matches('"')))
        })
        .collect();
    let mut diff: Vec<String> = want
        .difference(&got)
        .map(|k| format!("not served: {k}"))
        .chain(
            got.difference(&want)
                .map(|k| format!("served, not in the API: {k}")),
        )
        .collect();
    if got.is_empty() {
        diff.push(format!("AXFR of {zone} from {addr} gave nothing"));
    }
    (want.len(), got.len(), diff)
}

fn rr_key(name: &str, t: &str, data: &str) -> String {
    format!(
        "{} {t} {}",
        name.trim_end_matches('.').to_ascii_lowercase(),
        data.trim_end_matches('.').to_ascii_lowercase()
    )
}

/// Decommissions the run's hostings (their namespaces and pods go), so a shared stack is not
/// left carrying a dozen running sites for the tests after it; waits (bounded) until they are
/// gone.
pub async fn clean_up(stack: &Stack, report: &ChaosReport) -> anyhow::Result<()> {
    // the Dinas decommissions (an admission policy lets only Kavling and the Dinas change
    // hostings, not even cluster-admin)
    let hostings: Api<Hosting> = Api::namespaced(stack.client_as("ani").await?, &report.namespace);
    let admin = stack.client_as("admin").await?;
    let decommission = kavling::controllers::hosting::DECOMMISSION;
    for h in hostings.list(&ListParams::default()).await?.items {
        let name = h.name_any();
        hostings
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(
                    serde_json::json!({"metadata": {"annotations": {decommission: "true"}}}),
                ),
            )
            .await?;
        hostings.delete(&name, &Default::default()).await?;
    }
    let prefix = format!("{}{}", report.tenant, kavling::rules::derived::SEPARATOR);
    let namespaces = Api::<k8s_openapi::api::core::v1::Namespace>::all(admin);
    wait_for(
        "the run's hosting namespaces gone",
        Duration::from_secs(180),
        || async {
            let left = namespaces
                .list(&ListParams::default())
                .await?
                .items
                .iter()
                .filter(|n| n.name_any().starts_with(&prefix))
                .count();
            Ok((left == 0).then_some(()))
        },
    )
    .await
}
