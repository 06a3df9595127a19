//! An index of every DnsRecord by (zone, name) and by zone, and a running digest per zone,
//! kept by the shared DnsRecord watch as events arrive. It turns the per-event scans of the
//! whole store — the DnsRecord controller's "records sharing this name" mapper and conflict
//! check, and the Zone controller's digest over every record — into lookups: O(records at
//! that name) and O(1) instead of O(all records), so feeding a zone of n records costs O(n),
//! not O(n²).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::RwLock;

use kube::ResourceExt;
use sha2::{Digest, Sha256};

use crate::api::{DnsRecord, ZoneSpec};

const SUBDOMAIN_LABEL: &str = crate::api::labels::SUBDOMAIN;

/// Where one record is filed, and what it adds to its zone's digest.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    zone: String,
    name: String,
    hash: u128,
    /// Its `kavling.go.id/subdomain` label: the Subdomain that published it (or whose
    /// certificate's challenge it is).
    subdomain: Option<String>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    by_name: HashMap<(String, String), BTreeSet<String>>,
    by_zone: HashMap<String, ZoneSum>,
    by_subdomain: HashMap<String, BTreeSet<String>>,
    /// Objects seen since the last (re)list began; at its end the others are gone.
    relist: Option<HashSet<String>>,
}

#[derive(Default)]
struct ZoneSum {
    objects: BTreeSet<String>,
    /// Wrapping sum of the records' hashes: order-free, updated in O(1) per change.
    sum: u128,
}

/// The index; cheap to share (`Arc`), safe to read from any controller.
#[derive(Default)]
pub struct RecordIndex {
    inner: RwLock<Inner>,
}

/// What a record contributes to its zone's digest: name, type, TTL and values.
fn record_hash(rr: &DnsRecord) -> u128 {
    let mut h = Sha256::new();
    h.update(rr.spec.name.to_ascii_lowercase().as_bytes());
    h.update([0]);
    h.update(rr.spec.type_.as_str().as_bytes());
    h.update([0]);
    h.update(format!("{:?}", rr.spec.ttl).as_bytes());
    for v in &rr.spec.values {
        h.update([0x1f]);
        h.update(v.as_bytes());
    }
    u128::from_be_bytes(h.finalize()[..16].try_into().expect("16 bytes"))
}

/// A zone's digest from its spec and the sum of its records' hashes (pure).
pub fn zone_digest(spec: &ZoneSpec, count: usize, sum: u128) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(spec).unwrap_or_default());
    h.update(count.to_be_bytes());
    h.update(sum.to_be_bytes());
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Inner {
    fn remove(&mut self, object: &str) {
        let Some(e) = self.entries.remove(object) else {
            return;
        };
        let key = (e.zone.clone(), e.name.clone());
        if let Some(set) = self.by_name.get_mut(&key) {
            set.remove(object);
            if set.is_empty() {
                self.by_name.remove(&key);
            }
        }
        if let Some(label) = &e.subdomain
            && let Some(set) = self.by_subdomain.get_mut(label)
        {
            set.remove(object);
            if set.is_empty() {
                self.by_subdomain.remove(label);
            }
        }
        if let Some(z) = self.by_zone.get_mut(&e.zone) {
            z.objects.remove(object);
            z.sum = z.sum.wrapping_sub(e.hash);
            if z.objects.is_empty() {
                self.by_zone.remove(&e.zone);
            }
        }
    }
}

impl RecordIndex {
    /// A record was created or changed.
    pub fn apply(&self, rr: &DnsRecord) {
        let object = rr.name_any();
        let entry = Entry {
            zone: rr.spec.zone.clone(),
            name: rr.spec.name.trim_end_matches('.').to_ascii_lowercase(),
            hash: record_hash(rr),
            subdomain: rr.labels().get(SUBDOMAIN_LABEL).cloned(),
        };
        let mut i = self.inner.write().expect("record index lock");
        if let Some(seen) = i.relist.as_mut() {
            seen.insert(object.clone());
        }
        if i.entries.get(&object) == Some(&entry) {
            return;
        }
        i.remove(&object);
        i.by_name
            .entry((entry.zone.clone(), entry.name.clone()))
            .or_default()
            .insert(object.clone());
        if let Some(label) = &entry.subdomain {
            i.by_subdomain
                .entry(label.clone())
                .or_default()
                .insert(object.clone());
        }
        let z = i.by_zone.entry(entry.zone.clone()).or_default();
        z.objects.insert(object.clone());
        z.sum = z.sum.wrapping_add(entry.hash);
        i.entries.insert(object, entry);
    }

    /// A record was deleted.
    pub fn delete(&self, rr: &DnsRecord) {
        self.inner
            .write()
            .expect("record index lock")
            .remove(&rr.name_any());
    }

    /// A (re)list begins: what it does not list again is gone when it ends.
    pub fn begin_relist(&self) {
        self.inner.write().expect("record index lock").relist = Some(HashSet::new());
    }

    /// The (re)list is complete: drop the records it did not see.
    pub fn finish_relist(&self) {
        let mut i = self.inner.write().expect("record index lock");
        let Some(seen) = i.relist.take() else {
            return;
        };
        let gone: Vec<String> = i
            .entries
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            i.remove(&k);
        }
    }

    /// The objects of every RRset at `name` in `zone` (case-insensitive).
    pub fn at_name(&self, zone: &str, name: &str) -> Vec<String> {
        let key = (
            zone.to_string(),
            name.trim_end_matches('.').to_ascii_lowercase(),
        );
        self.inner
            .read()
            .expect("record index lock")
            .by_name
            .get(&key)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The objects labelled with `label` as their subdomain (`label_value` of its FQDN): what
    /// the Subdomain controller used to ask the API server for with a label selector — a LIST
    /// that filters every DnsRecord, per reconcile.
    pub fn of_subdomain(&self, label: &str) -> Vec<String> {
        self.inner
            .read()
            .expect("record index lock")
            .by_subdomain
            .get(label)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The objects of every record in `zone`.
    pub fn in_zone(&self, zone: &str) -> Vec<String> {
        self.inner
            .read()
            .expect("record index lock")
            .by_zone
            .get(zone)
            .map(|z| z.objects.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// How many records `zone` has and its digest with `spec`.
    pub fn digest(&self, zone: &str, spec: &ZoneSpec) -> (usize, String) {
        let i = self.inner.read().expect("record index lock");
        let (count, sum) = i
            .by_zone
            .get(zone)
            .map(|z| (z.objects.len(), z.sum))
            .unwrap_or((0, 0));
        (count, zone_digest(spec, count, sum))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DnsRecordSpec, RecordType};

    fn rr(object: &str, zone: &str, name: &str, t: RecordType, v: &str) -> DnsRecord {
        DnsRecord::new(
            object,
            DnsRecordSpec {
                zone: zone.into(),
                name: name.into(),
                type_: t,
                ttl: None,
                values: vec![v.into()],
            },
        )
    }

    fn spec() -> ZoneSpec {
        serde_json::from_value(serde_json::json!({
            "soa": {"primary": "ns1.k.go.id", "hostmaster": "h@k.go.id"},
            "nameservers": ["ns1.k.go.id"]}))
        .unwrap()
    }

    fn labelled(mut r: DnsRecord, subdomain: &str) -> DnsRecord {
        r.labels_mut()
            .insert(SUBDOMAIN_LABEL.into(), subdomain.into());
        r
    }

    #[test]
    fn a_subdomains_records_follow_their_label() {
        let i = RecordIndex::default();
        let a1 = labelled(
            rr("a1", "k.go.id", "a.k.go.id", RecordType::A, "10.0.0.1"),
            "a.k.go.id",
        );
        let a2 = labelled(
            rr("a2", "k.go.id", "a.k.go.id", RecordType::TXT, "x"),
            "a.k.go.id",
        );
        let b = labelled(
            rr("b", "k.go.id", "b.k.go.id", RecordType::A, "10.0.0.2"),
            "b.k.go.id",
        );
        let plain = rr("p", "k.go.id", "a.k.go.id", RecordType::MX, "10 m.k.go.id");
        for r in [&a1, &a2, &b, &plain] {
            i.apply(r);
        }
        assert_eq!(i.of_subdomain("a.k.go.id"), ["a1", "a2"]);
        assert_eq!(i.of_subdomain("b.k.go.id"), ["b"]);
        // relabelled (the same content otherwise): moves
        i.apply(&labelled(a2.clone(), "b.k.go.id"));
        assert_eq!(i.of_subdomain("a.k.go.id"), ["a1"]);
        assert_eq!(i.of_subdomain("b.k.go.id"), ["a2", "b"]);
        i.delete(&a1);
        assert!(i.of_subdomain("a.k.go.id").is_empty());
        // a relist that does not see b drops it from the label's set too
        i.begin_relist();
        i.apply(&labelled(a2, "b.k.go.id"));
        i.finish_relist();
        assert_eq!(i.of_subdomain("b.k.go.id"), ["a2"]);
    }

    #[test]
    fn lookups_follow_applies_deletes_and_renames() {
        let i = RecordIndex::default();
        let a = rr(
            "a.www.k.go.id",
            "k.go.id",
            "www.k.go.id",
            RecordType::A,
            "192.0.2.1",
        );
        let c = rr(
            "cname.WWW.k.go.id",
            "k.go.id",
            "WWW.k.go.id.",
            RecordType::CNAME,
            "x.k.go.id",
        );
        i.apply(&a);
        i.apply(&c);
        assert_eq!(i.at_name("k.go.id", "www.k.go.id").len(), 2);
        assert_eq!(i.in_zone("k.go.id").len(), 2);
        // the same object moved to another name
        let moved = rr(
            "a.www.k.go.id",
            "k.go.id",
            "mail.k.go.id",
            RecordType::A,
            "192.0.2.1",
        );
        i.apply(&moved);
        assert_eq!(i.at_name("k.go.id", "www.k.go.id"), ["cname.WWW.k.go.id"]);
        assert_eq!(i.at_name("k.go.id", "mail.k.go.id"), ["a.www.k.go.id"]);
        i.delete(&c);
        assert!(i.at_name("k.go.id", "www.k.go.id").is_empty());
        assert_eq!(i.in_zone("k.go.id"), ["a.www.k.go.id"]);
    }

    #[test]
    fn the_zone_digest_depends_on_content_not_on_order_and_returns_when_content_does() {
        let s = spec();
        let (x, y) = (
            rr(
                "a.x.k.go.id",
                "k.go.id",
                "x.k.go.id",
                RecordType::A,
                "192.0.2.1",
            ),
            rr(
                "a.y.k.go.id",
                "k.go.id",
                "y.k.go.id",
                RecordType::A,
                "192.0.2.2",
            ),
        );
        let one = RecordIndex::default();
        one.apply(&x);
        one.apply(&y);
        let two = RecordIndex::default();
        two.apply(&y);
        two.apply(&x);
        assert_eq!(one.digest("k.go.id", &s), two.digest("k.go.id", &s));
        let before = one.digest("k.go.id", &s);
        let changed = rr(
            "a.x.k.go.id",
            "k.go.id",
            "x.k.go.id",
            RecordType::A,
            "192.0.2.9",
        );
        one.apply(&changed);
        assert_ne!(one.digest("k.go.id", &s), before);
        one.apply(&x);
        assert_eq!(one.digest("k.go.id", &s), before);
        one.apply(&x); // the same again changes nothing
        assert_eq!(one.digest("k.go.id", &s).0, 2);
    }

    #[test]
    fn a_relist_drops_what_it_did_not_see() {
        let i = RecordIndex::default();
        let (x, y) = (
            rr(
                "a.x.k.go.id",
                "k.go.id",
                "x.k.go.id",
                RecordType::A,
                "192.0.2.1",
            ),
            rr(
                "a.y.k.go.id",
                "k.go.id",
                "y.k.go.id",
                RecordType::A,
                "192.0.2.2",
            ),
        );
        i.apply(&x);
        i.apply(&y);
        i.begin_relist();
        i.apply(&x);
        i.finish_relist();
        assert_eq!(i.in_zone("k.go.id"), ["a.x.k.go.id"]);
        assert!(i.at_name("k.go.id", "y.k.go.id").is_empty());
    }
}
