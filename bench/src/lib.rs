//! What several benchmarks read off the local Pusat Data: a process's memory from the stack's
//! pid files, the audit repository's size, percentiles.

use std::path::Path;
use std::time::Duration;

/// Resident memory in MiB of one of the stack's processes (`kavling-operator`, `kavling-dns`,
/// `kube-apiserver`, `etcd`…), from its pid file under `<stack dir>/run`.
pub fn rss_mib(stack_dir: &Path, process: &str) -> Option<f64> {
    let pid = std::fs::read_to_string(stack_dir.join(format!("run/{process}.pid"))).ok()?;
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

/// The operator's resident memory.
pub fn operator_rss_mib(stack_dir: &Path) -> Option<f64> {
    rss_mib(stack_dir, "kavling-operator")
}

/// The local audit repository: commits on `main`, loose and packed bytes.
#[derive(Default, Debug, Clone, Copy)]
pub struct RepoSize {
    pub commits: u64,
    pub loose_objects: u64,
    pub loose_bytes: u64,
    pub packs: u64,
    pub pack_bytes: u64,
}

/// Measures the repository at `git_dir` (commits counted by the real `git`).
pub fn repository_size(git_dir: &str) -> RepoSize {
    let mut size = RepoSize::default();
    if let Ok(out) = std::process::Command::new("git")
        .args(["--git-dir", git_dir, "rev-list", "--count", "main"])
        .output()
    {
        size.commits = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
    }
    let objects = Path::new(git_dir).join("objects");
    for dir in std::fs::read_dir(&objects).into_iter().flatten().flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if name.len() == 2 {
                size.loose_objects += 1;
                size.loose_bytes += len;
            } else if name == "pack" {
                size.pack_bytes += len;
                if f.path().extension().is_some_and(|x| x == "pack") {
                    size.packs += 1;
                }
            }
        }
    }
    size
}

/// How many files `main` holds under `dir` (e.g. `dnsrecords`), by the real `git`.
pub fn files_under(git_dir: &str, dir: &str) -> usize {
    std::process::Command::new("git")
        .args([
            "--git-dir",
            git_dir,
            "ls-tree",
            "-r",
            "--name-only",
            "main",
            "--",
        ])
        .arg(dir)
        .output()
        .map(|o| o.stdout.iter().filter(|b| **b == b'\n').count())
        .unwrap_or(0)
}

/// The `p` quantile (0..=1) of `v`, nearest rank; zero when empty.
pub fn pct(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Seconds with one decimal, for reports.
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Milliseconds with one decimal, for reports.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The `i`-th A record of a fill: `fqdn` in `zone`, each with its own address in 10.64.0.0/10.
pub fn numbered_a_record(zone: String, fqdn: String, i: usize) -> kavling::api::DnsRecord {
    use kavling::api::{DnsRecord, DnsRecordSpec, RecordType, record_object_name};
    DnsRecord::new(
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
    )
}
