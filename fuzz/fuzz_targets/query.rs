//! Any bytes as a DNS query, over UDP and TCP: never a panic, and every reply echoes the ID,
//! has QR set and, over UDP, fits the size we promise.
#![no_main]

use std::sync::{Arc, OnceLock};

use kavling::api::{NamingPolicy, RecordType, Soa, Transfer, ZoneSpec};
use kavling_core::dns::answer::{Catalog, MAX_UDP, Outcome, Transport, answer};
use kavling_core::dns::zone::{RecordData, build};
use libfuzzer_sys::fuzz_target;

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| {
        let spec = ZoneSpec {
            soa: Soa { primary: "ns1.kota.go.id".into(), hostmaster: "h@kota.go.id".into(), refresh: 1, retry: 1, expire: 3600, negative_ttl: 60 },
            nameservers: vec!["ns1.kota.go.id".into()],
            default_ttl: 300,
            transfer: Transfer::default(),
            policy: NamingPolicy::default(),
            tenants: vec![],
        };
        let r = |n: &str, t: RecordType, v: &[&str]| RecordData { name: n.into(), type_: t, ttl: None, values: v.iter().map(|s| s.to_string()).collect() };
        let big = "x".repeat(250);
        let recs = vec![
            r("a.kota.go.id", RecordType::A, &["10.0.0.1"]),
            r("c.kota.go.id", RecordType::CNAME, &["d.kota.go.id"]),
            r("d.kota.go.id", RecordType::CNAME, &["c.kota.go.id"]),
            r("sub.kota.go.id", RecordType::NS, &["ns.sub.kota.go.id"]),
            r("ns.sub.kota.go.id", RecordType::A, &["10.0.0.2"]),
            r("t.kota.go.id", RecordType::TXT, &[&big, &big, &big, &big, &big, &big]),
        ];
        let snap = build("kota.go.id", &spec, 1, &recs).expect("fixture builds");
        let mut c = Catalog {
            complete: true,
            ..Default::default()
        };
        c.zones.insert(snap.apex.clone(), Arc::new(snap));
        c
    })
}

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    for t in [Transport::Udp, Transport::Tcp] {
        if let Outcome::Reply { .. } = answer(catalog(), data, t, &mut out) {
            assert!(out.len() >= 12 && out[0..2] == data[0..2] && out[2] & 0x80 != 0);
            if t == Transport::Udp {
                assert!(out.len() <= MAX_UDP.max(512));
            }
        }
    }
});
