//! A patched snapshot is the snapshot built whole: after every step of a long run of random
//! changes (names added, replaced and removed, deep names with empty non-terminals, wildcards,
//! delegations with glue), [`zone::patch`] + [`dnssec::sign_changes`] serve exactly
//! what [`zone::build`] + [`dnssec::sign`] serve — every record, signature and NSEC3 link,
//! byte for byte (the whole signing reuses the patch's signatures, so the bytes compare) — and
//! the IXFR diff from the previous snapshot is the same.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::dnssec::{self, Algorithm, KeySet, SignatureCache, SigningKey};
use super::journal;
use super::zone::{self, RecordData, Snapshot};
use crate::api::{RecordType, ZoneSpec};

/// The query tests' zone, open to transfers (so the IXFR diff is checked too).
fn spec() -> ZoneSpec {
    let mut spec = super::tests::spec();
    spec.transfer.allow = vec!["10.0.0.0/8".into()];
    spec
}

/// A small deterministic generator (no dependency for a test).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

const OWNERS: &[&str] = &[
    "kota.go.id",
    "www.kota.go.id",
    "a.b.c.kota.go.id",
    "b.c.kota.go.id",
    "x.c.kota.go.id",
    "*.w.kota.go.id",
    "y.*.w.kota.go.id",
    "w.kota.go.id",
    "deep.e.f.g.kota.go.id",
    "desa.kota.go.id",
    "ns.desa.kota.go.id",
    "under.desa.kota.go.id",
    "Mixed.Case.kota.go.id",
    "mixed.case.kota.go.id",
];

fn random_record(g: &mut Lcg) -> RecordData {
    let name = OWNERS[g.next(OWNERS.len())];
    let (type_, values): (RecordType, Vec<String>) = match g.next(5) {
        0 => (RecordType::TXT, vec![format!("t{}", g.next(3))]),
        1 if name.starts_with("desa.") => (
            RecordType::NS,
            vec!["ns.desa.kota.go.id".into(), "ns.example.org".into()][..1 + g.next(2)].to_vec(),
        ),
        2 => (
            RecordType::MX,
            vec![format!("{} mail.kota.go.id", g.next(3))],
        ),
        _ => (RecordType::A, vec![format!("10.0.0.{}", g.next(4))]),
    };
    RecordData {
        name: name.into(),
        type_,
        ttl: [None, Some(60)][g.next(2)],
        values,
    }
}

/// Everything a snapshot serves, as owner + tail (records, RRSIGs, NSEC3 links), and its
/// structure: every name with its children count, cut flag and types.
/// Every name with its children count, cut flag and types.
type Structure = BTreeMap<Vec<u8>, (u32, bool, Vec<u16>)>;

fn content(s: &Snapshot) -> (BTreeSet<Vec<u8>>, Structure) {
    let mut all = BTreeSet::new();
    let mut names = BTreeMap::new();
    for (name, node) in s.nodes.iter() {
        let mut types = Vec::new();
        for set in &node.rrsets {
            types.push(set.type_);
            for t in set.tails().chain(set.sigs.iter().map(|s| &s[..])) {
                all.insert([&name[..], t].concat());
            }
        }
        types.sort();
        names.insert(name.to_vec(), (node.children, node.cut, types));
    }
    if let Some(chain) = &s.nsec3 {
        for l in chain.links() {
            for t in l.set.tails().chain(l.set.sigs.iter().map(|s| &s[..])) {
                all.insert([&l.label[..], &s.apex[..], t].concat());
            }
        }
    }
    for t in &s.negative_soa_sigs {
        all.insert([b"negative".as_slice(), t].concat());
    }
    (all, names)
}

fn run(signed: bool, seed: u64) {
    let key =
        SigningKey::from_pkcs8(&SigningKey::generate(Algorithm::EcdsaP256Sha256).unwrap()).unwrap();
    let keys = KeySet::single(Arc::new(key));
    let now = 1_796_000_000;
    let mut cache = SignatureCache::default();
    let mut g = Lcg(seed);
    let mut records: BTreeMap<usize, RecordData> = BTreeMap::new();
    let mut serial = 1;
    let mut prev = zone::build("kota.go.id", &spec(), serial, records.values()).unwrap();
    if signed {
        dnssec::sign(&mut prev, &keys, now, &mut cache).unwrap();
    }
    let mut patched_steps = 0;
    for step in 0..300 {
        // one to three records change
        let mut touched = BTreeSet::new();
        for _ in 0..1 + g.next(3) {
            let obj = g.next(24);
            if let Some(old) = records.remove(&obj) {
                touched.insert(zone::owner_key(&old.name));
            }
            if g.next(3) > 0 {
                let r = random_record(&mut g);
                touched.insert(zone::owner_key(&r.name));
                records.insert(obj, r);
            }
        }
        serial += 1;
        let owners: Vec<(Box<[u8]>, Vec<&RecordData>)> = touched
            .into_iter()
            .map(|k| {
                let recs = records
                    .values()
                    .filter(|r| zone::owner_key(&r.name) == k)
                    .collect();
                (k, recs)
            })
            .collect();
        let mut patched = zone::patch(&prev, &spec(), serial, &owners).unwrap();
        if signed {
            dnssec::sign_changes(&mut patched, &keys, now, &mut cache).unwrap();
        }
        if patched.changed.as_ref().is_some_and(|c| !c.cuts_moved) {
            patched_steps += 1;
        }
        let mut whole = zone::build("kota.go.id", &spec(), serial, records.values()).unwrap();
        if signed {
            let stats = dnssec::sign(&mut whole, &keys, now, &mut cache).unwrap();
            assert_eq!(
                stats.signed, 0,
                "step {step}: the patch signed everything the whole build needs"
            );
        }
        let (pc, wc) = (content(&patched), content(&whole));
        assert_eq!(pc.1, wc.1, "step {step}: the names differ");
        assert_eq!(pc.0, wc.0, "step {step}: the records differ");
        assert_eq!(
            (
                patched.rrsets,
                patched.has_cuts(),
                patched.has_wildcards(),
                patched.cuts,
                patched.wildcards
            ),
            (
                whole.rrsets,
                whole.has_cuts(),
                whole.has_wildcards(),
                whole.cuts,
                whole.wildcards
            ),
            "step {step}: the counts differ"
        );
        // (skipped records are logged: a patch lists those of the changed names only)
        // the IXFR diff from the previous snapshot: the same whichever way it was built
        patched.journal = journal::extend(&prev, &patched);
        whole.journal = journal::extend(&prev, &whole);
        let (dp, dw) = (
            patched.journal.last().unwrap(),
            whole.journal.last().unwrap(),
        );
        assert_eq!(
            (&dp.removed, &dp.added),
            (&dw.removed, &dw.added),
            "step {step}: the IXFR diffs differ"
        );
        prev = patched;
    }
    assert!(
        patched_steps > 200,
        "only {patched_steps} steps were patched, not built whole"
    );
}

#[test]
fn a_patched_unsigned_zone_serves_what_a_whole_build_serves() {
    run(false, 7);
    run(false, 2026);
}

#[test]
fn a_patched_signed_zone_serves_what_a_whole_build_and_signing_serve() {
    run(true, 11);
    run(true, 1205);
}
