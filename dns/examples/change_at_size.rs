//! Change → servable at size: kavling-dns's own work between a DnsRecord event arriving and
//! the new answer being in the catalog the query path reads — the watch fold, the zone
//! rebuild (and re-signing), the IXFR journal, the swap — for one record added to a zone that
//! already holds N records. Runs the server's own code ([`State`], [`publish`]) in-process:
//! the API server's share (create → watch event) is measured by `dev/bench.sh dns-change`.
//!
//! Peer in the same run: the first build of the same zone from nothing — what every change
//! cost when each rebuilt the whole zone.
//!
//! Usage: cargo run --release -p kavling-dns --example change_at_size -- [N=100000] [CHANGES=50]
//! (`SHOW_EACH=1` prints each change's fold and rebuild times; bench/dns.sh runs it.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use kavling_core::api::{
    DnsRecord, DnsRecordSpec, Dnssec, NamingPolicy, RecordType, Soa, Transfer, Zone, ZoneSpec,
    record_object_name,
};
use kavling_core::dns::answer::Catalog;
use kavling_core::dns::dnssec::{Algorithm, SigningKey};
use kavling_dns::watch::{State, ZoneKeys, publish};

const ZONE: &str = "bench.go.id";

fn zone(signed: bool, transfer: bool) -> Zone {
    let spec = ZoneSpec {
        soa: Soa {
            primary: format!("ns1.{ZONE}"),
            hostmaster: format!("hostmaster@{ZONE}"),
            refresh: 3600,
            retry: 600,
            expire: 1209600,
            negative_ttl: 300,
        },
        nameservers: vec![format!("ns1.{ZONE}"), format!("ns2.{ZONE}")],
        default_ttl: 3600,
        transfer: Transfer {
            allow: if transfer {
                vec!["10.0.0.0/8".into()]
            } else {
                vec![]
            },
            ..Transfer::default()
        },
        policy: NamingPolicy::default(),
        tenants: vec![],
        dnssec: Dnssec {
            enabled: signed,
            ..Dnssec::default()
        },
    };
    let mut z = Zone::new(ZONE, spec);
    z.metadata.uid = Some("bench-zone-uid".into());
    z
}

fn record(i: usize) -> DnsRecord {
    let name = format!("h{i}.{ZONE}");
    DnsRecord::new(
        &record_object_name(&name, RecordType::A),
        DnsRecordSpec {
            zone: ZONE.into(),
            name,
            type_: RecordType::A,
            ttl: None,
            values: vec![format!(
                "10.{}.{}.{}",
                (i >> 16) & 255,
                (i >> 8) & 255,
                i & 255
            )],
        },
    )
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn run(n: usize, changes: usize, signed: bool, transfer: bool) -> anyhow::Result<()> {
    let mut state = State::default();
    state.zone(&zone(signed, transfer));
    if signed {
        let key = |a| {
            SigningKey::from_pkcs8(&SigningKey::generate(a).map_err(anyhow::Error::msg)?)
                .map_err(anyhow::Error::msg)
        };
        let keys = ZoneKeys {
            ksk: Arc::new(key(Algorithm::EcdsaP256Sha256)?),
            zsks: vec![],
        };
        state.signing_key(ZONE, Some((Some("bench-zone-uid".into()), Arc::new(keys))));
    }
    for i in 0..n {
        state.record(&record(i));
    }
    let catalog = ArcSwap::from_pointee(Catalog::default());
    let t = Instant::now();
    let built = state.rebuild();
    anyhow::ensure!(
        built.iter().all(|b| b.1.is_some()),
        "the zone did not build"
    );
    publish(&catalog, built, None);
    let first = t.elapsed();

    let mut lat = Vec::with_capacity(changes);
    for c in 0..changes {
        let t = Instant::now();
        state.record(&record(n + c));
        let t1 = t.elapsed();
        let built = state.rebuild();
        let t2 = t.elapsed();
        publish(&catalog, built, None);
        lat.push(t.elapsed());
        if std::env::var_os("SHOW_EACH").is_some() {
            eprintln!(
                "change {c}: {} (fold {}, rebuild {})",
                ms(t.elapsed()),
                ms(t1),
                ms(t2 - t1)
            );
        }
    }
    // the last change is served
    let apex = kavling_core::dns::wire::name(ZONE)?;
    let snap = catalog.load().zones[&apex[..]].clone();
    let last = kavling_core::dns::wire::name(&format!("h{}.{ZONE}", n + changes - 1))?;
    anyhow::ensure!(snap.node(&last).is_some(), "the last change is not served");
    if signed {
        let chain = snap.nsec3.as_ref().expect("signed");
        anyhow::ensure!(
            chain.matching(&last).is_some(),
            "no NSEC3 for the last change"
        );
    }
    let (p50, p99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
    println!(
        "{:<34} {:>11} {:>11} {:>11}   first/p50 {:>6.0}×",
        format!(
            "{}{}",
            if signed { "signed" } else { "unsigned" },
            if transfer { ", with IXFR journal" } else { "" }
        ),
        ms(first),
        ms(p50),
        ms(p99),
        first.as_secs_f64() / p50.as_secs_f64()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let changes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    println!(
        "one record added to a zone of {n} records, {changes} times; kavling-dns's share of change → answer"
    );
    println!(
        "{:<34} {:>11} {:>11} {:>11}",
        "zone", "whole build", "change p50", "change p99"
    );
    for (signed, transfer) in [(false, false), (false, true), (true, false), (true, true)] {
        run(n, changes, signed, transfer)?;
    }
    Ok(())
}
