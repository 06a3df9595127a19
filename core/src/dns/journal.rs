//! The zone journal behind IXFR (RFC 1995): the differences between successive snapshots of a
//! zone, so a secondary that is a few serials behind receives what changed instead of the
//! whole zone.
//!
//! Each new snapshot carries the journal of the one it replaces plus one more [`Diff`], trimmed
//! to [`MAX_DIFFS`] and [`MAX_BYTES`]; diffs are shared (`Arc`), never copied. A secondary
//! whose serial the journal does not reach gets the whole zone instead (RFC 1995 §4 allows
//! an AXFR-style answer).

use std::collections::HashSet;
use std::sync::Arc;

use super::wire::TYPE_SOA;
use super::zone::Snapshot;

/// How many changes are kept per zone.
pub const MAX_DIFFS: usize = 64;
/// How many bytes of records the diffs of one zone may hold together.
pub const MAX_BYTES: usize = 8 << 20;

/// The change from serial `from` to serial `to`: every record removed and added, each as its
/// uncompressed owner name followed by its tail (type, class, TTL, length, data). The SOA is
/// not among them: it is `old_soa`/`new_soa` (tails), which open each half of the change.
#[derive(Debug)]
pub struct Diff {
    pub from: u32,
    pub to: u32,
    pub old_soa: Box<[u8]>,
    pub new_soa: Box<[u8]>,
    pub removed: Vec<Box<[u8]>>,
    pub added: Vec<Box<[u8]>>,
}

impl Diff {
    fn bytes(&self) -> usize {
        self.removed
            .iter()
            .chain(&self.added)
            .map(|r| r.len())
            .sum()
    }
}

/// The records of `snap` as owner + tail, the apex SOA left out (RRSIGs and the NSEC3 chain
/// of a signed zone included: they change with the records they cover) — of the nodes in the
/// shards and the links in the chunks `other` does not share: a snapshot patched from another
/// shares all that did not change, so a change costs what it touched, not the zone.
fn records(snap: &Snapshot, other: &Snapshot) -> HashSet<Box<[u8]>> {
    let mut all = HashSet::new();
    for (name, node) in snap.nodes.iter_unshared(&other.nodes) {
        for rrset in &node.rrsets {
            let soa = **name == *snap.apex && rrset.type_ == TYPE_SOA;
            let tails = rrset.tails().filter(|_| !soa);
            for tail in tails.chain(rrset.sigs.iter().map(|s| &s[..])) {
                all.insert([&name[..], tail].concat().into_boxed_slice());
            }
        }
    }
    let empty = super::dnssec::Nsec3Chain::default();
    if let Some(chain) = &snap.nsec3 {
        for link in chain.links_unshared(other.nsec3.as_ref().unwrap_or(&empty)) {
            for tail in link.set.tails().chain(link.set.sigs.iter().map(|s| &s[..])) {
                all.insert(
                    [&link.label[..], &snap.apex[..], tail]
                        .concat()
                        .into_boxed_slice(),
                );
            }
        }
    }
    all
}

/// The journal for `next`, which replaces `prev`: `prev`'s journal and the change between the
/// two (nothing new when the serial did not move). The cost is one pass over what the two do
/// not share; the DNS server only keeps journals for zones that secondaries may transfer.
pub fn extend(prev: &Snapshot, next: &Snapshot) -> Vec<Arc<Diff>> {
    if prev.serial == next.serial {
        return prev.journal.clone();
    }
    let (Some(old_soa), Some(new_soa)) =
        (super::answer::soa_tail(prev), super::answer::soa_tail(next))
    else {
        return Vec::new();
    };
    let (before, after) = (records(prev, next), records(next, prev));
    let mut removed: Vec<Box<[u8]>> = before.difference(&after).cloned().collect();
    let mut added: Vec<Box<[u8]>> = after.difference(&before).cloned().collect();
    // a stable order: the same change reads the same on every replica
    removed.sort_unstable();
    added.sort_unstable();
    let diff = Arc::new(Diff {
        from: prev.serial,
        to: next.serial,
        old_soa: old_soa.into(),
        new_soa: new_soa.into(),
        removed,
        added,
    });
    // the journal continues only if it ends where this change starts
    let mut journal: Vec<Arc<Diff>> = match prev.journal.last() {
        Some(last) if last.to == prev.serial => prev.journal.clone(),
        _ => Vec::new(),
    };
    journal.push(diff);
    let mut bytes: usize = journal.iter().map(|d| d.bytes()).sum();
    while journal.len() > MAX_DIFFS || (bytes > MAX_BYTES && journal.len() > 1) {
        bytes -= journal[0].bytes();
        journal.remove(0);
    }
    if bytes > MAX_BYTES {
        journal.clear(); // one change bigger than the bound: a full transfer is as cheap
    }
    journal
}

/// The changes that bring a secondary at `serial` to the zone's current serial, oldest first;
/// `None` when the journal does not reach back to `serial` (then the whole zone is sent).
pub fn since(snap: &Snapshot, serial: u32) -> Option<&[Arc<Diff>]> {
    let at = snap.journal.iter().position(|d| d.from == serial)?;
    let chain = &snap.journal[at..];
    (chain.last()?.to == snap.serial).then_some(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RecordType;
    use crate::dns::zone::{RecordData, build};

    fn spec() -> crate::api::ZoneSpec {
        serde_json::from_value(serde_json::json!({
            "soa": {"primary": "ns1.kota.go.id", "hostmaster": "h@kota.go.id"},
            "nameservers": ["ns1.kota.go.id"]}))
        .unwrap()
    }

    fn a(label: &str, ip: &str) -> RecordData {
        RecordData {
            name: format!("{label}.kota.go.id"),
            type_: RecordType::A,
            ttl: Some(300),
            values: vec![ip.into()],
        }
    }

    fn snap(serial: u32, recs: &[RecordData], prev: Option<&Snapshot>) -> Snapshot {
        let mut s = build("kota.go.id", &spec(), serial, recs).unwrap();
        if let Some(p) = prev {
            s.journal = extend(p, &s);
        }
        s
    }

    #[test]
    fn each_change_is_one_diff_and_a_chain_reaches_back_to_any_kept_serial() {
        let s1 = snap(1, &[a("www", "10.0.0.1"), a("mail", "10.0.0.2")], None);
        let s2 = snap(2, &[a("www", "10.0.0.9"), a("mail", "10.0.0.2")], Some(&s1));
        let s3 = snap(3, &[a("www", "10.0.0.9"), a("baru", "10.0.0.3")], Some(&s2));
        assert_eq!(s3.journal.len(), 2);
        let d = &s3.journal[0];
        assert_eq!((d.from, d.to, d.removed.len(), d.added.len()), (1, 2, 1, 1));
        assert!(d.removed[0].ends_with(&[10, 0, 0, 1]) && d.added[0].ends_with(&[10, 0, 0, 9]));
        let d = &s3.journal[1];
        assert_eq!((d.from, d.to, d.removed.len(), d.added.len()), (2, 3, 1, 1));
        assert!(d.removed[0].starts_with(b"\x04mail") && d.added[0].starts_with(b"\x04baru"));
        assert_eq!(since(&s3, 1).map(<[_]>::len), Some(2));
        assert_eq!(since(&s3, 2).map(<[_]>::len), Some(1));
        // a serial the journal never had, and the current one (nothing to send)
        assert!(since(&s3, 7).is_none());
        assert!(since(&s3, 3).is_none());
        // the same serial again (a rebuild with nothing new): the journal stays as it is
        let same = snap(3, &[a("www", "10.0.0.9"), a("baru", "10.0.0.3")], Some(&s3));
        assert_eq!(same.journal.len(), 2);
    }

    #[test]
    fn the_journal_is_bounded() {
        let mut prev = snap(1, &[a("x", "10.0.0.1")], None);
        for serial in 2..(MAX_DIFFS as u32 + 10) {
            let ip = format!("10.0.{}.{}", serial / 250, serial % 250);
            prev = snap(serial, &[a("x", &ip)], Some(&prev));
        }
        assert_eq!(prev.journal.len(), MAX_DIFFS);
        assert!(since(&prev, 1).is_none(), "the oldest changes were dropped");
        assert!(since(&prev, prev.serial - 1).is_some());
    }
}
