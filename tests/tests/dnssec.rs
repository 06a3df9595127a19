//! Issue #22, DNSSEC: kavling-dns signs a zone, and real validators judge it — Unbound
//! resolving through it with the DS kavling-dns printed as its trust anchor, and ldns's
//! `ldns-verify-zone` over the zone as transferred.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kavling_e2e::unique;
use kavling_e2e::validator::{Killed, kdig, unbound, verdict};

const T: Duration = Duration::from_secs(30);

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

/// Every kind of answer from a zone kavling-dns signed validates in Unbound (AD set) —
/// positive, through a CNAME, a wildcard expansion, NXDOMAIN, NODATA at a name, at an empty
/// non-terminal, at a wildcard, the DS absence at an insecure delegation — with the DS the
/// server printed as the only trust anchor. A DS of another key makes every answer bogus
/// (SERVFAIL), so the AD flags are earned.
fn every_answer_validates(algorithm: &str, slot: u16) -> anyhow::Result<()> {
    let zone = Signed::start(algorithm, slot)?;
    let ds = zone.ds().expect("a DS was logged");
    let resolver = unbound(&zone.dir, zone.port + 2, "kota.go.id", zone.port, &ds)?;
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
    let _bogus = unbound(&zone.dir, zone.port + 3, "kota.go.id", zone.port, &wrong)?;
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

/// Issue #22, DNSSEC from the API: a Zone with `dnssec.enabled` gets a key the operator makes
/// (a Secret in kavling-tsig, owned by the Zone, unreadable by a tenant); its status shows the
/// DS; Unbound trusting only that DS validates the zone's answers, a record added afterwards
/// included. A Secret planted under the key's name beforehand is not adopted: that zone
/// reports KeyRefused and is served unsigned.
#[tokio::test]
async fn a_zone_signed_from_the_api_validates_with_the_ds_its_status_shows() -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Secret;
    use kavling::api::*;
    use kavling_e2e::{Stack, wait_for};
    use kube::Api;
    use kube::api::PostParams;

    let stack = Stack::load()?;
    let admin = stack.client_as("admin").await?;
    let dns_port: u16 = stack
        .get("KAVLING_DNS_ADDR")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()?;
    let zone = format!("{}.go.id", unique("signed"));
    let mut spec = kavling_e2e::zone_spec(&zone);
    spec.dnssec = Dnssec {
        enabled: true,
        algorithm: DnssecAlgorithm::EcdsaP256Sha256,
        ..Default::default()
    };
    let zones: Api<Zone> = Api::all(admin.clone());
    zones
        .create(&PostParams::default(), &Zone::new(&zone, spec.clone()))
        .await?;
    let records: Api<DnsRecord> = Api::all(stack.client_as("kavling-restore").await?);
    let record = |label: &str, value: &str| {
        DnsRecord::new(
            &record_object_name(&format!("{label}.{zone}"), RecordType::A),
            DnsRecordSpec {
                zone: zone.clone(),
                name: format!("{label}.{zone}"),
                type_: RecordType::A,
                ttl: Some(60),
                values: vec![value.into()],
            },
        )
    };
    records
        .create(&PostParams::default(), &record("portal", "10.7.0.1"))
        .await?;
    let status = wait_for("the zone's DS in its status", T, || async {
        Ok(zones.get(&zone).await?.status.and_then(|s| s.dnssec))
    })
    .await?;
    assert!(
        status
            .ds
            .starts_with(&format!("{zone}. IN DS {} 13 2 ", status.key_tag))
    );
    // the key is where the status says, and a tenant cannot read it
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "kavling-tsig");
    let secret = secrets.get(&status.secret).await?;
    assert!(
        secret
            .metadata
            .owner_references
            .is_some_and(|o| o[0].kind == "Zone")
    );
    let rina: Api<Secret> = Api::namespaced(stack.client_as("rina").await?, "kavling-tsig");
    let denied = rina
        .get(&status.secret)
        .await
        .expect_err("rina reads a DNSSEC key");
    assert_eq!(kavling_e2e::api_code(&denied), Some(403));

    // served signed: the DNSKEY kavling-dns gives is the one whose DS the status shows
    wait_for("DNSKEY served", T, || async {
        Ok(kdig(dns_port, &["+short", &zone, "DNSKEY"])
            .contains("257 3 13")
            .then_some(()))
    })
    .await?;
    let dir = std::env::temp_dir().join(unique("unbound-api"));
    std::fs::create_dir_all(&dir)?;
    let resolver_port = dns_port + 16;
    let _unbound = unbound(&dir, resolver_port, &zone, dns_port, &status.ds)?;
    assert_eq!(
        verdict(resolver_port, &format!("portal.{zone}"), "A"),
        "NOERROR ad"
    );
    assert_eq!(
        verdict(resolver_port, &format!("nx.{zone}"), "A"),
        "NXDOMAIN ad"
    );
    assert_eq!(verdict(resolver_port, &zone, "TXT"), "NOERROR ad");
    // a record added now is signed too
    records
        .create(&PostParams::default(), &record("baru", "10.7.0.2"))
        .await?;
    let baru = format!("baru.{zone}");
    wait_for("the new record served", T, || async {
        Ok(kdig(dns_port, &["+short", &baru, "A"])
            .contains("10.7.0.2")
            .then_some(()))
    })
    .await?;
    wait_for("the new record validates", T, || async {
        Ok((verdict(resolver_port, &baru, "A") == "NOERROR ad").then_some(()))
    })
    .await?;

    // never adopted by name: a Secret planted under the next zone's key name
    let planted_zone = format!("{}.go.id", unique("planted"));
    let der = kavling::dns::dnssec::SigningKey::generate(
        kavling::dns::dnssec::Algorithm::EcdsaP256Sha256,
    )
    .map_err(anyhow::Error::msg)?;
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {
                    "name": format!("dnssec.{planted_zone}"),
                    "labels": {"kavling.go.id/dnssec-key": "true"},
                    "annotations": {"kavling.go.id/zone": planted_zone}
                },
                "data": {"private.pk8": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der)}
            }))?,
        )
        .await?;
    let mut spec = kavling_e2e::zone_spec(&planted_zone);
    spec.dnssec.enabled = true;
    zones
        .create(&PostParams::default(), &Zone::new(&planted_zone, spec))
        .await?;
    let refused = wait_for("the planted key refused", T, || async {
        let z = zones.get(&planted_zone).await?;
        Ok(z.status.and_then(|s| {
            s.conditions
                .into_iter()
                .find(|c| c.type_ == "Ready" && c.reason == "KeyRefused")
        }))
    })
    .await?;
    assert!(
        refused.message.contains("not made for this Zone"),
        "{}",
        refused.message
    );
    assert!(
        kdig(dns_port, &["+short", &planted_zone, "DNSKEY"])
            .trim()
            .is_empty(),
        "a zone whose key was planted is signed with it"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The key tag of the RRSIG kavling-dns serves over `name`'s A record (DO set).
fn signer_of(port: u16, name: &str) -> Option<u16> {
    kdig(port, &["+dnssec", "+norec", name, "A"])
        .lines()
        .filter(|l| !l.starts_with(';'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(3) == Some(&"RRSIG") && f.get(4) == Some(&"A"))
        .and_then(|f| f.get(10)?.parse().ok())
}

/// Issue #22, automatic key rollover: with a two-minute zone-signing key lifetime, the zone is
/// signed first by its key-signing key, then by a first ZSK, then by its successor, each
/// published ahead and the retired one removed — while Unbound, trusting only the DS, validates
/// every answer throughout (one query every 2 s for three minutes).
#[tokio::test]
async fn zone_signing_keys_roll_over_while_every_answer_keeps_validating() -> anyhow::Result<()> {
    use kavling::api::*;
    use kavling_e2e::{Stack, wait_for};
    use kube::Api;
    use kube::api::PostParams;

    let stack = Stack::load()?;
    let admin = stack.client_as("admin").await?;
    let dns_port: u16 = stack
        .get("KAVLING_DNS_ADDR")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()?;
    let zone = format!("{}.go.id", unique("roll"));
    let mut spec = kavling_e2e::zone_spec(&zone);
    spec.default_ttl = 30;
    spec.dnssec = Dnssec {
        enabled: true,
        zsk_lifetime_seconds: 120,
        ..Default::default()
    };
    let zones: Api<Zone> = Api::all(admin.clone());
    zones
        .create(&PostParams::default(), &Zone::new(&zone, spec))
        .await?;
    let name = format!("portal.{zone}");
    Api::<DnsRecord>::all(stack.client_as("kavling-restore").await?)
        .create(
            &PostParams::default(),
            &DnsRecord::new(
                &record_object_name(&name, RecordType::A),
                DnsRecordSpec {
                    zone: zone.clone(),
                    name: name.clone(),
                    type_: RecordType::A,
                    ttl: Some(30),
                    values: vec!["10.7.1.1".into()],
                },
            ),
        )
        .await?;
    let status = wait_for("the zone's DS", T, || async {
        Ok(zones.get(&zone).await?.status.and_then(|s| s.dnssec))
    })
    .await?;
    let ksk = status.key_tag;
    wait_for("signed answers", T, || async {
        Ok(signer_of(dns_port, &name).map(|_| ()))
    })
    .await?;
    let dir = std::env::temp_dir().join(unique("unbound-roll"));
    std::fs::create_dir_all(&dir)?;
    let resolver = dns_port + 17;
    let _unbound = unbound(&dir, resolver, &zone, dns_port, &status.ds)?;

    let started = std::time::Instant::now();
    let mut signers: Vec<u16> = Vec::new();
    let mut removed_seen = false;
    while started.elapsed() < Duration::from_secs(200) {
        assert_eq!(
            verdict(resolver, &name, "A"),
            "NOERROR ad",
            "after {:?}; signers so far {signers:?}",
            started.elapsed()
        );
        assert_eq!(verdict(resolver, &format!("nx.{zone}"), "A"), "NXDOMAIN ad");
        if let Some(tag) = signer_of(dns_port, &name)
            && signers.last() != Some(&tag)
        {
            signers.push(tag);
        }
        let st = zones.get(&zone).await?.status.and_then(|s| s.dnssec);
        let keys = st.map(|s| s.zone_keys).unwrap_or_default();
        // the first ZSK gone from the status once retired long enough
        if signers.len() >= 3 && keys.iter().all(|k| Some(&k.key_tag) != signers.get(1)) {
            removed_seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert_eq!(
        signers.first(),
        Some(&ksk),
        "the KSK signs before any ZSK is active: {signers:?}"
    );
    assert!(
        signers.len() >= 3,
        "KSK, then a first ZSK, then its successor: {signers:?}"
    );
    assert!(
        removed_seen,
        "the retired ZSK was removed: signers {signers:?}"
    );
    // the DS never changed: the parent has nothing to do
    let after = zones
        .get(&zone)
        .await?
        .status
        .and_then(|s| s.dnssec)
        .unwrap();
    assert_eq!(after.ds, status.ds);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
