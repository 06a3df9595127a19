//! Issue #22, DNSSEC: kavling-dns signs a zone, and real validators judge it — Unbound
//! resolving through it with the DS kavling-dns printed as its trust anchor, and ldns's
//! `ldns-verify-zone` over the zone as transferred.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kavling_e2e::unique;

const T: Duration = Duration::from_secs(30);

/// A server process started by a test: killed when the handle drops.
struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A zone with each shape a validator must be able to prove: an apex, a CNAME, a wildcard,
/// an empty non-terminal, an insecure delegation with glue, a dangling alias.
const ZONE: &str = r#"$ORIGIN kota.go.id.
$TTL 3600
@        IN SOA ns1 hostmaster 2026120501 7200 3600 1209600 300
@        IN NS  ns1
@        IN NS  ns2
ns1      IN A   127.0.0.1
ns2      IN A   127.0.0.2
@        IN A   10.0.0.1
www      IN CNAME @
*.wild   IN A   10.0.0.9
mail     IN MX  10 mx
mx       IN A   10.0.0.3
a.b.c    IN TXT "deep"
desa     IN NS  ns.desa
ns.desa  IN A   10.0.0.5
alias    IN CNAME nowhere
"#;

/// kavling-dns serving [`ZONE`] signed with a key openssl made, and where it logged the DS.
struct Signed {
    _server: Killed,
    dir: PathBuf,
    port: u16,
}

impl Signed {
    /// `algorithm`: openssl's name for the key (`EC` for P-256, `ED25519`).
    fn start(algorithm: &str, slot: u16) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(unique("dnssec"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("zone.db"), ZONE)?;
        let mut genpkey = Command::new("openssl");
        genpkey.args(["genpkey", "-algorithm", algorithm]);
        if algorithm == "EC" {
            genpkey.args(["-pkeyopt", "ec_paramgen_curve:P-256"]);
        }
        let made = genpkey
            .args(["-out", &dir.join("zone.key").to_string_lossy()])
            .output()?;
        anyhow::ensure!(made.status.success(), "openssl genpkey failed: {made:?}");
        // ports away from the stacks' (18000+, 19000+) and the master-file tests' (24000+)
        let port = 30000 + slot * 1000 + (std::process::id() % 400) as u16 * 2;
        let server = Killed(
            Command::new(kavling_e2e::workspace_bin("kavling-dns"))
                .args(["--no-api", "--listen", &format!("127.0.0.1:{port}")])
                .args(["--http", &format!("127.0.0.1:{}", port + 1)])
                .args([
                    "--zone-file",
                    &format!("kota.go.id={}", dir.join("zone.db").display()),
                ])
                .args([
                    "--dnssec-key",
                    &format!("kota.go.id={}", dir.join("zone.key").display()),
                ])
                .args(["--transfer-allow", "127.0.0.1"])
                .stdout(std::fs::File::create(dir.join("kavling-dns.log"))?)
                .stderr(Stdio::null())
                .spawn()?,
        );
        let signed = Self {
            _server: server,
            dir,
            port,
        };
        let started = Instant::now();
        while signed.ds().is_none() || kdig(port, &["kota.go.id", "SOA"]).is_empty() {
            anyhow::ensure!(
                started.elapsed() < T,
                "kavling-dns not answering with a DS logged: {}",
                std::fs::read_to_string(signed.dir.join("kavling-dns.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(signed)
    }

    /// The DS record kavling-dns logged for the parent (`kota.go.id. IN DS <tag> 13 2 <hex>`).
    fn ds(&self) -> Option<String> {
        let log = std::fs::read_to_string(self.dir.join("kavling-dns.log")).ok()?;
        let at = log.find(" ds=")? + 4;
        Some(log[at..].lines().next()?.trim().to_string())
    }
}

impl Drop for Signed {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn kdig(port: u16, args: &[&str]) -> String {
    let out = Command::new("kdig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=2", "+retry=1"])
        .args(args)
        .output()
        .expect("kdig");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Unbound as a validating resolver for kota.go.id: sent to kavling-dns, trusting `anchor`.
fn unbound(dir: &Path, port: u16, upstream: u16, anchor: &str) -> anyhow::Result<Killed> {
    std::fs::write(dir.join("anchor.txt"), format!("{anchor}\n"))?;
    let conf = format!(
        "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  use-syslog: no\n  logfile: \"{d}/unbound.log\"\n  verbosity: 1\n  val-log-level: 2\n  do-not-query-localhost: no\n  trust-anchor-file: \"{d}/anchor.txt\"\n  module-config: \"validator iterator\"\n  qname-minimisation: no\nstub-zone:\n  name: \"kota.go.id\"\n  stub-addr: 127.0.0.1@{upstream}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("unbound.conf"), conf)?;
    let child = Killed(
        Command::new("unbound")
            .args(["-c", &dir.join("unbound.conf").to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let started = Instant::now();
    while !kdig(port, &["kota.go.id", "SOA"]).contains("status:") {
        anyhow::ensure!(started.elapsed() < T, "unbound not answering");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child)
}

/// `NOERROR ad` / `NXDOMAIN -` / `SERVFAIL -`: the status and whether Unbound set AD.
fn verdict(port: u16, name: &str, t: &str) -> String {
    let out = kdig(port, &["+dnssec", name, t]);
    let status = out
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .map(|s| s.split(';').next().unwrap_or(s).trim().to_string())
        .unwrap_or_else(|| "no answer".into());
    let ad = out
        .lines()
        .find(|l| l.starts_with(";; Flags:"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == "ad" || f == "ad;"));
    format!("{status} {}", if ad { "ad" } else { "-" })
}

/// Every kind of answer from a zone kavling-dns signed validates in Unbound (AD set) —
/// positive, through a CNAME, a wildcard expansion, NXDOMAIN, NODATA at a name, at an empty
/// non-terminal, at a wildcard, the DS absence at an insecure delegation — with the DS the
/// server printed as the only trust anchor. A DS of another key makes every answer bogus
/// (SERVFAIL), so the AD flags are earned.
fn every_answer_validates(algorithm: &str, slot: u16) -> anyhow::Result<()> {
    let zone = Signed::start(algorithm, slot)?;
    let ds = zone.ds().expect("a DS was logged");
    let resolver = unbound(&zone.dir, zone.port + 2, zone.port, &ds)?;
    let port = zone.port + 2;
    for (name, t, want) in [
        ("kota.go.id", "A", "NOERROR ad"),
        ("kota.go.id", "DNSKEY", "NOERROR ad"),
        ("www.kota.go.id", "A", "NOERROR ad"),
        ("mail.kota.go.id", "MX", "NOERROR ad"),
        ("a.b.c.kota.go.id", "TXT", "NOERROR ad"),
        ("x.wild.kota.go.id", "A", "NOERROR ad"),
        ("y.x.wild.kota.go.id", "A", "NOERROR ad"),
        ("nx.kota.go.id", "A", "NXDOMAIN ad"),
        ("alias.kota.go.id", "A", "NXDOMAIN ad"),
        ("kota.go.id", "TXT", "NOERROR ad"),
        ("b.c.kota.go.id", "A", "NOERROR ad"),
        ("wild.kota.go.id", "A", "NOERROR ad"),
        ("x.wild.kota.go.id", "TXT", "NOERROR ad"),
        ("desa.kota.go.id", "DS", "NOERROR ad"),
    ] {
        assert_eq!(verdict(port, name, t), want, "{name} {t} ({algorithm})");
    }
    drop(resolver);

    // the control: a trust anchor for another key
    let other = Signed::start(algorithm, slot + 1)?;
    let wrong = other.ds().expect("a DS was logged");
    assert_ne!(wrong, ds);
    let _bogus = unbound(&zone.dir, zone.port + 3, zone.port, &wrong)?;
    assert_eq!(
        verdict(zone.port + 3, "kota.go.id", "A"),
        "SERVFAIL -",
        "a zone signed with another key than the anchor's must not validate"
    );
    Ok(())
}

#[test]
fn a_zone_signed_with_ecdsa_p256_validates_in_unbound() -> anyhow::Result<()> {
    every_answer_validates("EC", 0)
}

#[test]
fn a_zone_signed_with_ed25519_validates_in_unbound() -> anyhow::Result<()> {
    every_answer_validates("ED25519", 2)
}

/// The zone as a secondary receives it (AXFR: DNSKEY, RRSIGs, the NSEC3 chain) verifies with
/// ldns-verify-zone: every signature, the chain complete and closed.
#[test]
fn the_transferred_signed_zone_verifies_with_ldns() -> anyhow::Result<()> {
    let zone = Signed::start("EC", 4)?;
    let axfr = kdig(zone.port, &["AXFR", "kota.go.id"]);
    let records: String = axfr
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    for t in ["DNSKEY", "NSEC3PARAM", "NSEC3", "RRSIG"] {
        assert!(
            records
                .lines()
                .any(|l| l.split_whitespace().nth(3) == Some(t)),
            "the transfer has no {t}:\n{records}"
        );
    }
    let file = zone.dir.join("axfr.zone");
    std::fs::write(&file, &records)?;
    let out = Command::new("ldns-verify-zone").arg(&file).output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ldns-verify-zone: {said}");
    assert!(said.contains("Zone is verified and complete"), "{said}");

    // and a zone with one signature broken does not verify (the check can fail)
    let mut tampered = 0;
    let broken: String = records
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if tampered == 0 && f.get(3) == Some(&"RRSIG") && f.get(4) == Some(&"A") {
                // one character of the signature (the last field) changed
                tampered += 1;
                let sig = f[f.len() - 1];
                let k = sig.len() / 2;
                let c = if &sig[k..k + 1] == "A" { "B" } else { "A" };
                let sig = format!("{}{c}{}", &sig[..k], &sig[k + 1..]);
                format!("{} {sig}\n", f[..f.len() - 1].join(" "))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_eq!(
        tampered, 1,
        "no RRSIG over an A record to break:\n{records}"
    );
    std::fs::write(&file, broken)?;
    let out = Command::new("ldns-verify-zone").arg(&file).output()?;
    assert!(!out.status.success(), "a broken signature verified");
    Ok(())
}
