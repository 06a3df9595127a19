//! DNSSEC signing cost at size: kavling-dns's signing of an N-record zone (first signing, then
//! a rebuild after one record changed, which reuses the signatures of what did not change),
//! against ldns-signzone signing the same master file (ECDSA P-256, NSEC3 without extra
//! iterations or salt) — a signer that signs the whole zone every time.
//!
//! Usage: cargo run --release -p kavling-core --example dnssec_sign -- [N=100000]
//! (bench/dns.sh runs it in its signed mode.)

use std::process::Command;
use std::time::Instant;

use kavling_core::dns::dnssec::{self, Algorithm, SignatureCache, SigningKey};
use kavling_core::dns::zonefile;

fn zone_text(n: usize, changed: bool) -> String {
    // a change raises the serial too, as kavling-dns does: the SOA is signed again
    let serial = if changed { 2026120502 } else { 2026120501 };
    let mut t = format!(
        "$ORIGIN bench.go.id.\n$TTL 3600\n@ IN SOA ns1 hostmaster {serial} 3600 600 1209600 300\n  IN NS ns1\n  IN NS ns2\nns1 A 10.255.0.1\nns2 A 10.255.0.2\n"
    );
    for i in 0..n {
        let last = if changed && i == n / 2 { 254 } else { i & 255 };
        t.push_str(&format!(
            "h{i} A 10.{}.{}.{last}\n",
            (i >> 16) & 255,
            (i >> 8) & 255
        ));
    }
    t
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let key = SigningKey::from_pkcs8(
        &SigningKey::generate(Algorithm::EcdsaP256Sha256).map_err(anyhow::Error::msg)?,
    )
    .map_err(anyhow::Error::msg)?;
    let set = dnssec::KeySet::single(std::sync::Arc::new(key));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let (before, after) = (zone_text(n, false), zone_text(n, true));

    let t = Instant::now();
    let mut snap = zonefile::load("bench.go.id", &before).map_err(anyhow::Error::msg)?;
    let build = t.elapsed();
    let mut cache = SignatureCache::default();
    let t = Instant::now();
    let first = dnssec::sign(&mut snap, &set, now, &mut cache).map_err(anyhow::Error::msg)?;
    let sign_first = t.elapsed();
    let t = Instant::now();
    let mut snap = zonefile::load("bench.go.id", &after).map_err(anyhow::Error::msg)?;
    let again = dnssec::sign(&mut snap, &set, now + 60, &mut cache).map_err(anyhow::Error::msg)?;
    let rebuild = t.elapsed();

    // peer: ldns-signzone on the same file
    let dir = std::env::temp_dir().join(format!("dnssec-sign-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("bench.zone"), &before)?;
    let keygen = Command::new("ldns-keygen")
        .args(["-a", "ECDSAP256SHA256", "-k", "bench.go.id"])
        .current_dir(&dir)
        .output()?;
    anyhow::ensure!(keygen.status.success(), "ldns-keygen: {keygen:?}");
    let base = String::from_utf8(keygen.stdout)?.trim().to_string();
    let t = Instant::now();
    let signed = Command::new("ldns-signzone")
        .args([
            "-n",
            "-t",
            "0",
            "-s",
            "",
            "-o",
            "bench.go.id",
            "-f",
            "bench.signed",
        ])
        .args(["bench.zone", &base])
        .current_dir(&dir)
        .output()?;
    let ldns = t.elapsed();
    anyhow::ensure!(signed.status.success(), "ldns-signzone: {signed:?}");
    let _ = std::fs::remove_dir_all(&dir);

    let s = |d: std::time::Duration| format!("{:.2} s", d.as_secs_f64());
    println!(
        "DNSSEC signing, {n} A records (ECDSA P-256, NSEC3 0 iterations, no salt), {} threads",
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(1)
    );
    println!(
        "{:<56} {:>9}",
        "kavling: build the snapshot (unsigned)",
        s(build)
    );
    println!(
        "{:<56} {:>9}   {} signatures, {} NSEC3",
        "kavling: sign it (first time)",
        s(sign_first),
        first.signed,
        first.nsec3
    );
    println!(
        "{:<56} {:>9}   {} signed anew, {} reused",
        "kavling: one record changed → build + sign again",
        s(rebuild),
        again.signed,
        again.reused
    );
    println!(
        "{:<56} {:>9}",
        "peer: ldns-signzone, the same file",
        s(ldns)
    );
    println!(
        "ratios to ldns-signzone: first signing {:.2}, after one change {:.2}",
        sign_first.as_secs_f64() / ldns.as_secs_f64(),
        rebuild.as_secs_f64() / ldns.as_secs_f64()
    );
    Ok(())
}
