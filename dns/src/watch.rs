//! Watches `Zone` and `DnsRecord` objects, folds them into compact per-zone record maps (no
//! whole API objects are kept), and publishes a new catalog whenever a zone changes. The
//! query path only ever sees complete, immutable snapshots.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use futures::{FutureExt, StreamExt};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};

use crate::server;
use k8s_openapi::api::core::v1::Secret;
use kavling_core::api::{DnsRecord, Zone, ZoneSpec};
use kavling_core::dns::answer::Catalog;
use kavling_core::dns::dnssec::{self, KeySet, Rollover, SignatureCache, SigningKey};
use kavling_core::dns::tsig::Key;
use kavling_core::dns::zone::{self, RecordData, Snapshot};

/// What the DNS server knows, folded from the watches.
#[derive(Default)]
pub struct State {
    zones: HashMap<String, (ZoneSpec, u32)>,
    /// zone → DnsRecord object name → what it serves
    records: HashMap<String, HashMap<String, RecordData>>,
    dirty: HashSet<String>,
    /// While a (re-)list of zones is under way: the zones it has shown so far.
    listing_zones: Option<HashSet<String>>,
    /// While a (re-)list of records is under way: the DnsRecord objects it has shown so far.
    listing_records: Option<HashSet<String>>,
    /// zone → the serial last published and a digest of the content it was published with.
    published: HashMap<String, (u32, u64)>,
    /// zone → its DNSSEC keys (from the operator's Secret) and the uid of the Zone object that
    /// Secret is owned by.
    signing: HashMap<String, (Option<String>, Arc<ZoneKeys>)>,
    /// zone → when it must be built again although nothing changed (a ZSK begins signing,
    /// signatures need refreshing), Unix seconds.
    due: HashMap<String, u64>,
    /// zone → the uid of its Zone object: a key is used only if owned by this very object.
    uids: HashMap<String, String>,
    /// zone → the signatures of its last signing, reused while fresh.
    signatures: HashMap<String, SignatureCache>,
    /// zone → owner (lowercase wire name, [`zone::owner_key`]) → the DnsRecord objects with
    /// records there: what a patch renders a changed name from.
    by_owner: HashMap<String, HashMap<Box<[u8]>, Vec<String>>>,
    /// zone → the owners whose records changed since its last build.
    touched: HashMap<String, HashSet<Box<[u8]>>>,
    /// Zones to build whole next time (spec, key or Zone object changed; a re-list; a signing
    /// step due): anything else is patched from the last build.
    whole: HashSet<String>,
    /// zone → a digest of its records, kept as they come and go (order-free: a wrapping sum of
    /// each record's keyed hash), so a change never hashes the whole zone.
    sums: HashMap<String, u64>,
    /// Per-process keys for `sums` (a tenant cannot choose records that cancel out).
    hasher: std::collections::hash_map::RandomState,
    /// zone → the snapshot last built: the base the next change is patched from.
    built: HashMap<String, Arc<Snapshot>>,
}

impl State {
    pub fn zone(&mut self, z: &Zone) {
        let name = z.name_any();
        let serial = z.status.as_ref().map(|s| s.serial).unwrap_or(0);
        let entry = (z.spec.clone(), serial);
        if let Some(uid) = &z.metadata.uid
            && self.uids.get(&name) != Some(uid)
        {
            self.uids.insert(name.clone(), uid.clone());
            self.dirty.insert(name.clone());
            self.whole.insert(name.clone());
        }
        if self.zones.get(&name) != Some(&entry) {
            // a new serial alone is a patch; anything else in the spec rebuilds the zone
            if self
                .zones
                .get(&name)
                .is_none_or(|(spec, _)| *spec != z.spec)
            {
                self.whole.insert(name.clone());
            }
            self.zones.insert(name.clone(), entry);
            self.dirty.insert(name);
        }
    }

    /// A list of zones begins: the first one, or a re-list after the watch lost its place
    /// (the API server restarted, or 410 Gone). Zones deleted meanwhile sent no Delete.
    fn zones_listing(&mut self) {
        self.listing_zones = Some(HashSet::new());
    }

    fn zone_listed(&mut self, z: &Zone) {
        if let Some(seen) = self.listing_zones.as_mut() {
            seen.insert(z.name_any());
        }
        self.zone(z);
    }

    /// The list is complete: a zone it did not show is gone.
    fn zones_listed(&mut self) {
        let Some(seen) = self.listing_zones.take() else {
            return;
        };
        let gone: Vec<String> = self
            .zones
            .keys()
            .filter(|z| !seen.contains(*z))
            .cloned()
            .collect();
        for z in gone {
            self.zone_gone(&z);
        }
    }

    /// A list of records begins (as for zones: after a re-list, records deleted while the
    /// watch was away must not be served on; the chaos run found two ACME challenge TXT
    /// records served for ever after an API server restart).
    fn records_listing(&mut self) {
        self.listing_records = Some(HashSet::new());
    }

    fn record_listed(&mut self, r: &DnsRecord) {
        if let Some(seen) = self.listing_records.as_mut() {
            seen.insert(r.name_any());
        }
        self.record(r);
    }

    /// The list is complete: a record it did not show is gone.
    fn records_listed(&mut self) {
        let Some(seen) = self.listing_records.take() else {
            return;
        };
        let gone: Vec<(String, String)> = self
            .records
            .iter()
            .flat_map(|(zone, recs)| {
                recs.keys()
                    .filter(|obj| !seen.contains(*obj))
                    .map(|obj| (zone.clone(), obj.clone()))
            })
            .collect();
        for (zone, obj) in gone {
            self.remove_record(&zone, &obj);
        }
    }

    fn zone_gone(&mut self, name: &str) {
        self.published.remove(name);
        self.built.remove(name);
        self.whole.insert(name.to_string());
        self.uids.remove(name);
        self.due.remove(name);
        if self.zones.remove(name).is_some() {
            self.dirty.insert(name.to_string());
        }
    }

    pub fn record(&mut self, r: &DnsRecord) {
        let data = RecordData {
            name: r.spec.name.clone(),
            type_: r.spec.type_,
            ttl: r.spec.ttl,
            values: r.spec.values.clone(),
        };
        let obj = r.name_any();
        // a record that moved zones leaves the old one
        let moved: Vec<String> = self
            .records
            .iter()
            .filter(|(zone, recs)| **zone != r.spec.zone && recs.contains_key(&obj))
            .map(|(zone, _)| zone.clone())
            .collect();
        for zone in moved {
            self.remove_record(&zone, &obj);
        }
        let held = self.records.get(&r.spec.zone).and_then(|m| m.get(&obj));
        if held != Some(&data) {
            self.remove_record(&r.spec.zone, &obj);
            self.insert_record(&r.spec.zone, obj, data);
        }
    }

    pub fn record_gone(&mut self, r: &DnsRecord) {
        self.remove_record(&r.spec.zone, &r.name_any());
    }

    fn record_hash(&self, r: &RecordData) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(format!(
            "{}|{:?}|{:?}|{:?}",
            r.name, r.type_, r.ttl, r.values
        ))
    }

    /// Files a record under its zone and owner, marks the owner changed.
    fn insert_record(&mut self, zone: &str, obj: String, data: RecordData) {
        let key = zone::owner_key(&data.name);
        let h = self.record_hash(&data);
        let sum = self.sums.entry(zone.to_string()).or_default();
        *sum = sum.wrapping_add(h);
        self.by_owner
            .entry(zone.to_string())
            .or_default()
            .entry(key.clone())
            .or_default()
            .push(obj.clone());
        self.touched
            .entry(zone.to_string())
            .or_default()
            .insert(key);
        self.records
            .entry(zone.to_string())
            .or_default()
            .insert(obj, data);
        self.dirty.insert(zone.to_string());
    }

    /// Takes a record out of its zone (if held), marks its owner changed.
    fn remove_record(&mut self, zone: &str, obj: &str) {
        let Some(data) = self.records.get_mut(zone).and_then(|m| m.remove(obj)) else {
            return;
        };
        let key = zone::owner_key(&data.name);
        let h = self.record_hash(&data);
        let sum = self.sums.entry(zone.to_string()).or_default();
        *sum = sum.wrapping_sub(h);
        if let Some(owners) = self.by_owner.get_mut(zone)
            && let Some(objs) = owners.get_mut(&key)
        {
            objs.retain(|o| o != obj);
            if objs.is_empty() {
                owners.remove(&key);
            }
        }
        self.touched
            .entry(zone.to_string())
            .or_default()
            .insert(key);
        self.dirty.insert(zone.to_string());
    }

    /// A zone's signing key arrived, changed or went: the zone is built again.
    pub fn signing_key(&mut self, zone: &str, key: Option<(Option<String>, Arc<ZoneKeys>)>) {
        let seen = |s: &Self| {
            s.signing.get(zone).map(|(o, k)| {
                (
                    o.clone(),
                    k.ksk.tag,
                    k.zsks.iter().map(|z| z.0).collect::<Vec<_>>(),
                )
            })
        };
        let before = seen(self);
        match key {
            Some(k) => self.signing.insert(zone.to_string(), k),
            None => self.signing.remove(zone),
        };
        if seen(self) != before {
            self.dirty.insert(zone.to_string());
            self.whole.insert(zone.to_string());
        }
    }

    /// The key to sign `zone` with: its Secret's, if that Secret is owned by this very Zone
    /// object (a Secret planted under the name, or left by a deleted Zone of the same name,
    /// is never used — the operator reports it).
    fn key_for(&self, zone: &str) -> Option<Arc<ZoneKeys>> {
        let (owner, key) = self.signing.get(zone)?;
        (owner.is_some() && owner.as_ref() == self.uids.get(zone)).then(|| key.clone())
    }

    /// Marks the signed zones whose time has come for a rebuild: a ZSK begins signing, or the
    /// periodic pass that refreshes signatures nearing expiry (those still fresh are reused).
    fn tick(&mut self, now: u64) {
        for (zone, at) in &self.due {
            if *at <= now {
                self.dirty.insert(zone.clone());
                self.whole.insert(zone.clone());
            }
        }
    }

    /// Builds snapshots for the dirty zones (pure apart from the clock), signing those that
    /// enable DNSSEC and have their key, and extending the IXFR journal of those that may be
    /// transferred. A zone whose records alone changed is patched from its last build (the
    /// changed names rendered and signed again, the rest shared); otherwise it is built whole.
    pub fn rebuild(&mut self) -> Vec<(String, Option<Arc<Snapshot>>)> {
        let mut out = Vec::new();
        let now = unix_now();
        for name in std::mem::take(&mut self.dirty) {
            let touched = self.touched.remove(&name).unwrap_or_default();
            let whole = self.whole.remove(&name);
            let Some((spec, serial)) = self.zones.get(&name) else {
                self.signatures.remove(&name);
                self.built.remove(&name);
                out.push((name, None));
                continue;
            };
            let keys = self.key_for(&name).filter(|_| spec.dnssec.enabled);
            if spec.dnssec.enabled && keys.is_none() {
                tracing::info!(zone = %name, "DNSSEC enabled; served unsigned until the operator's key arrives");
            }
            let rollover = Rollover::new(
                u64::from(spec.dnssec.zsk_lifetime_seconds),
                spec.default_ttl,
            );
            let key = keys.as_ref().map(|k| k.at(&rollover, now));
            let fingerprint = key.as_ref().map(|k| {
                (
                    k.keys.iter().map(|k| k.tag).collect::<Vec<_>>(),
                    k.zone_signer,
                )
            });
            let digest = content_digest(
                spec,
                self.sums.get(&name).copied().unwrap_or(0),
                fingerprint,
            );
            let cache = self.signatures.entry(name.clone()).or_default();
            // signatures about to be replaced change the zone as much as a record does
            let resigning = key.is_some() && cache.refresh_due(now);
            let base = self.built.get(&name).cloned().filter(|b| {
                !whole && !resigning && !b.nodes.outgrown() && b.nsec3.is_some() == key.is_some()
            });
            if base.is_none() {
                // the signing schedule is looked at again on every whole build
                self.due.remove(&name);
                if let Some(k) = &keys {
                    let next = rollover
                        .next_event(&k.created(), now)
                        .unwrap_or(u64::MAX)
                        .min(now + RESIGN_EVERY.as_secs());
                    self.due.insert(name.clone(), next);
                }
            }
            let last = self.published.get(&name).copied();
            let serial = if resigning {
                serial_to_serve(last.map(|(s, d)| (s, !d)), *serial, digest)
            } else {
                serial_to_serve(last, *serial, digest)
            };
            self.published.insert(name.clone(), (serial, digest));
            let t = Instant::now();
            let made = match &base {
                Some(base) => {
                    let no_objects = Vec::new();
                    let owners_records: Vec<(Box<[u8]>, Vec<&RecordData>)> = touched
                        .into_iter()
                        .map(|owner| {
                            let objs = self
                                .by_owner
                                .get(&name)
                                .and_then(|m| m.get(&owner))
                                .unwrap_or(&no_objects);
                            let recs = objs
                                .iter()
                                .filter_map(|o| self.records.get(&name)?.get(o))
                                .collect();
                            (owner, recs)
                        })
                        .collect();
                    zone::patch(base, spec, serial, &owners_records)
                }
                None => {
                    let none = HashMap::new();
                    let recs = self.records.get(&name).unwrap_or(&none);
                    zone::build(&name, spec, serial, recs.values())
                }
            };
            let mut s = match made {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(zone = %name, error = %e, "zone cannot be served");
                    self.built.remove(&name);
                    out.push((name, None));
                    continue;
                }
            };
            for why in &s.skipped {
                tracing::warn!(zone = %name, "record not served: {why}");
            }
            let cache = self.signatures.entry(name.clone()).or_default();
            if let Some(key) = &key {
                let signed = if base.is_some() {
                    dnssec::sign_changes(&mut s, key, now, cache)
                } else {
                    dnssec::sign(&mut s, key, now, cache)
                };
                match signed {
                    Ok(stats) => tracing::debug!(
                        zone = %name,
                        signed = stats.signed,
                        reused = stats.reused,
                        "zone signed"
                    ),
                    Err(e) => {
                        // never serve a half-signed zone: the last good one stays
                        tracing::error!(zone = %name, error = %e, "zone cannot be signed");
                        // and the next change builds it whole (this one's names are not in
                        // the last good build)
                        self.whole.insert(name.clone());
                        continue;
                    }
                }
            } else {
                cache.clear();
            }
            // IXFR: only zones secondaries may transfer keep a journal
            if let Some(prev) = self.built.get(&name)
                && !s.transfer_allow.is_empty()
            {
                s.journal = kavling_core::dns::journal::extend(prev, &s);
            }
            tracing::debug!(
                zone = %name,
                patched = base.is_some(),
                micros = t.elapsed().as_micros() as u64,
                "zone built"
            );
            let s = Arc::new(s);
            self.built.insert(name.clone(), s.clone());
            out.push((name, Some(s)));
        }
        out
    }
}

/// A digest of what a zone serves apart from its serial: its spec, its signing keys and its
/// records (`records`: the order-free sum [`State`] keeps as records come and go).
fn content_digest(spec: &ZoneSpec, records: u64, key: Option<(Vec<u16>, usize)>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{spec:?}").hash(&mut h);
    key.hash(&mut h);
    records.hash(&mut h);
    h.finish()
}

/// The serial to publish a zone's content under. The operator raises `status.serial` when it
/// sees a record change, but the Zone and DnsRecord watches are separate streams: the raised
/// serial can arrive before the record it counts. Published as it is, the old content goes out
/// under the new serial, and when the record then arrives the content changes while the serial
/// does not — a secondary that already transferred that serial never asks again (Knot kept
/// the old zone in CI). So one serial never carries two contents: a change the operator's
/// serial does not yet cover goes out as the last published serial plus one (RFC 1982
/// arithmetic); the operator's later serials (time-based) pass it again.
fn serial_to_serve(published: Option<(u32, u64)>, status_serial: u32, digest: u64) -> u32 {
    let newer = |a: u32, b: u32| (a.wrapping_sub(b) as i32) > 0;
    match published {
        None => status_serial,
        Some((last, last_digest)) if last_digest == digest => {
            if newer(status_serial, last) {
                status_serial
            } else {
                last
            }
        }
        Some((last, _)) => {
            if newer(status_serial, last) {
                status_serial
            } else {
                last.wrapping_add(1)
            }
        }
    }
}

enum Change {
    Zone(Box<Event<Zone>>),
    Record(Event<DnsRecord>),
    Key(Event<Secret>),
    SigningKey(Event<Secret>),
    /// A few seconds passed: rebuild the signed zones whose time has come ([`State::tick`]).
    Tick,
}

/// A zone's DNSSEC keys as its Secret holds them: the key-signing key and the zone-signing
/// keys by creation time (Unix seconds).
pub struct ZoneKeys {
    pub ksk: Arc<SigningKey>,
    pub zsks: Vec<(u64, Arc<SigningKey>)>,
}

impl ZoneKeys {
    fn created(&self) -> Vec<u64> {
        self.zsks.iter().map(|z| z.0).collect()
    }

    /// The keys to sign with at `now`: the KSK first, every ZSK published, the active one
    /// signing the zone (the KSK itself before any ZSK is active).
    fn at(&self, rollover: &Rollover, now: u64) -> KeySet {
        let active = rollover.active(&self.created(), now);
        let mut keys = vec![self.ksk.clone()];
        let mut zone_signer = 0;
        for (c, k) in &self.zsks {
            if Some(*c) == active {
                zone_signer = keys.len();
            }
            keys.push(k.clone());
        }
        KeySet { keys, zone_signer }
    }
}

/// How often the signed zones' schedules are looked at (a ZSK becoming active is served within
/// this of its time).
const TICK: std::time::Duration = std::time::Duration::from_secs(5);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// How often signed zones are rebuilt to refresh their signatures (a signature has two weeks
/// to run and is replaced in its last week, so a daily pass leaves six days of slack).
const RESIGN_EVERY: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// DNSSEC signing keys from the operator's Secrets (`dnssec.<zone>`, labelled
/// [`dnssec::KEY_LABEL`], the zone in [`dnssec::ZONE_ANNOTATION`]), by zone.
#[derive(Default)]
pub struct SigningKeys {
    /// Secret name → (zone, the Zone uid owning the Secret, key).
    held: HashMap<String, Held>,
    listing: Option<HashMap<String, Held>>,
}

type Held = (String, (Option<String>, Arc<ZoneKeys>));

impl SigningKeys {
    fn from_secret(s: &Secret) -> Option<Held> {
        let name = s.name_any();
        let zone = s.annotations().get(dnssec::ZONE_ANNOTATION)?.clone();
        // only the Secret named for its zone counts: the operator's, never a look-alike
        if dnssec::secret_name(&zone).as_deref() != Some(name.as_str()) {
            tracing::warn!(secret = %name, zone = %zone, "DNSSEC key Secret not named dnssec.<zone>; ignored");
            return None;
        }
        let der = s.data.as_ref().and_then(|d| d.get(dnssec::KEY_DATA))?;
        let owner = s
            .owner_references()
            .iter()
            .find(|o| o.kind == "Zone" && o.name == zone)
            .map(|o| o.uid.clone());
        let mut zsks: Vec<(u64, Arc<SigningKey>)> = Vec::new();
        for (k, v) in s.data.iter().flatten() {
            let Some(created) = k
                .strip_prefix(dnssec::ZSK_PREFIX)
                .and_then(|r| r.strip_suffix(".pk8"))
                .and_then(|c| c.parse().ok())
            else {
                continue;
            };
            match SigningKey::zone_signing_from_pkcs8(&v.0) {
                Ok(z) => zsks.push((created, Arc::new(z))),
                Err(e) => tracing::warn!(secret = %name, key = %k, "zone-signing key ignored: {e}"),
            }
        }
        zsks.sort_by_key(|z| z.0);
        match SigningKey::from_pkcs8(&der.0) {
            Ok(k) => Some((
                zone,
                (
                    owner,
                    Arc::new(ZoneKeys {
                        ksk: Arc::new(k),
                        zsks,
                    }),
                ),
            )),
            Err(e) => {
                tracing::warn!(secret = %name, "DNSSEC key ignored: {e}");
                None
            }
        }
    }

    /// Folds one event into `state`.
    fn event(&mut self, ev: Event<Secret>, state: &mut State) {
        match ev {
            Event::Apply(s) => {
                let name = s.name_any();
                match Self::from_secret(&s) {
                    Some((zone, k)) => {
                        state.signing_key(&zone, Some(k.clone()));
                        self.held.insert(name, (zone, k));
                    }
                    None => {
                        if let Some((zone, _)) = self.held.remove(&name) {
                            state.signing_key(&zone, None);
                        }
                    }
                }
            }
            Event::Delete(s) => {
                if let Some((zone, _)) = self.held.remove(&s.name_any()) {
                    state.signing_key(&zone, None);
                }
            }
            Event::Init => self.listing = Some(HashMap::new()),
            Event::InitApply(s) => {
                if let (Some(l), Some(k)) = (self.listing.as_mut(), Self::from_secret(&s)) {
                    l.insert(s.name_any(), k);
                }
            }
            Event::InitDone => {
                let listed = self.listing.take().unwrap_or_default();
                for (name, (zone, _)) in &self.held {
                    if !listed.contains_key(name) {
                        state.signing_key(zone, None);
                    }
                }
                for (zone, k) in listed.values() {
                    state.signing_key(zone, Some(k.clone()));
                }
                self.held = listed;
            }
        }
    }
}

/// The label that marks a Secret in the keys namespace as a TSIG key.
pub const TSIG_KEY_LABEL: &str = "kavling.go.id/tsig-key";

/// TSIG keys from Secrets (named as the key, the secret in `data.secret`), folded from their
/// watch; a Secret that does not make a usable key is logged and left out.
#[derive(Default)]
pub struct Keys {
    held: HashMap<String, Key>,
    listing: Option<HashMap<String, Key>>,
}

impl Keys {
    fn from_secret(s: &Secret) -> Option<(String, Key)> {
        let name = s.name_any();
        let Some(secret) = s.data.as_ref().and_then(|d| d.get("secret")) else {
            tracing::warn!(secret = %name, "TSIG key Secret has no data.secret; ignored");
            return None;
        };
        match Key::new(&name, &secret.0) {
            Ok(k) => Some((name, k)),
            Err(e) => {
                tracing::warn!(secret = %name, "TSIG key ignored: {e}");
                None
            }
        }
    }

    /// Folds one event; whether the set of keys may have changed.
    pub fn event(&mut self, ev: Event<Secret>) -> bool {
        match ev {
            Event::Apply(s) => {
                let name = s.name_any();
                match Self::from_secret(&s) {
                    Some((n, k)) => self.held.insert(n, k),
                    None => self.held.remove(&name),
                };
                true
            }
            Event::Delete(s) => self.held.remove(&s.name_any()).is_some(),
            Event::Init => {
                self.listing = Some(HashMap::new());
                false
            }
            Event::InitApply(s) => {
                if let (Some(l), Some((n, k))) = (self.listing.as_mut(), Self::from_secret(&s)) {
                    l.insert(n, k);
                }
                false
            }
            Event::InitDone => {
                self.held = self.listing.take().unwrap_or_default();
                true
            }
        }
    }

    /// The keys from flags first, then those from Secrets.
    pub fn all(&self, flags: &[Key]) -> Arc<[Key]> {
        let mut from_secrets: Vec<&Key> = self.held.values().collect();
        from_secrets.sort_by(|a, b| a.name.cmp(&b.name));
        flags
            .iter()
            .chain(from_secrets)
            .cloned()
            .collect::<Vec<_>>()
            .into()
    }
}

/// Published facts for `/metrics` and readiness.
#[derive(Default)]
pub struct Published {
    pub ready: AtomicBool,
    pub last_rebuild_micros: AtomicU64,
    pub rebuilds: AtomicU64,
}

/// Runs until the watches end: folds events, rebuilds dirty zones, swaps the catalog.
/// `keys_namespace`: where TSIG key Secrets are read (labelled [`TSIG_KEY_LABEL`]); the
/// catalog's keys given on the command line are kept ahead of them.
pub async fn run(
    client: Client,
    catalog: Arc<ArcSwap<Catalog>>,
    published: Arc<Published>,
    keys_namespace: String,
) {
    let zones =
        watcher(Api::<Zone>::all(client.clone())).map(|e| e.map(|e| Change::Zone(Box::new(e))));
    let records = watcher(Api::<DnsRecord>::all(client.clone())).map(|e| e.map(Change::Record));
    // only labelled Secrets, only in the keys namespace (kavling-dns may read no others)
    let secrets = watcher::watcher(
        Api::<Secret>::namespaced(client.clone(), &keys_namespace),
        watcher::Config::default().labels(TSIG_KEY_LABEL),
    )
    .default_backoff()
    .map(|e| e.map(Change::Key));
    let signing_secrets = watcher::watcher(
        Api::<Secret>::namespaced(client.clone(), &keys_namespace),
        watcher::Config::default().labels(dnssec::KEY_LABEL),
    )
    .default_backoff()
    .map(|e| e.map(Change::SigningKey));
    let resign = futures::stream::unfold((), |()| async {
        tokio::time::sleep(TICK).await;
        Some((Ok(Change::Tick), ()))
    });
    let mut events = futures::stream::select_all([
        zones.boxed(),
        records.boxed(),
        secrets.boxed(),
        signing_secrets.boxed(),
        resign.boxed(),
    ]);
    let mut signing_keys = SigningKeys::default();
    let flag_keys = catalog.load().keys.clone();
    let mut keys = Keys::default();
    let mut keys_changed = false;
    let mut state = State::default();
    let (mut zones_synced, mut records_synced) = (false, false);
    while let Some(first) = events.next().await {
        // take everything that is already waiting, so a burst becomes one rebuild
        let mut batch = vec![first];
        while let Some(Some(more)) = events.next().now_or_never() {
            batch.push(more);
            if batch.len() >= 10_000 {
                break;
            }
        }
        for ev in batch {
            match ev {
                Err(e) => tracing::warn!(error = %e, "watch error; retrying"),
                Ok(Change::Key(ev)) => keys_changed |= keys.event(ev),
                Ok(Change::SigningKey(ev)) => signing_keys.event(ev, &mut state),
                Ok(Change::Tick) => state.tick(unix_now()),
                Ok(Change::Zone(ev)) => match *ev {
                    Event::Apply(z) => state.zone(&z),
                    Event::InitApply(z) => state.zone_listed(&z),
                    Event::Delete(z) => state.zone_gone(&z.name_any()),
                    Event::Init => state.zones_listing(),
                    Event::InitDone => {
                        state.zones_listed();
                        zones_synced = true
                    }
                },
                Ok(Change::Record(ev)) => match ev {
                    Event::Apply(r) => state.record(&r),
                    Event::InitApply(r) => state.record_listed(&r),
                    Event::Delete(r) => state.record_gone(&r),
                    Event::Init => state.records_listing(),
                    Event::InitDone => {
                        state.records_listed();
                        records_synced = true
                    }
                },
            }
        }
        // Until both initial lists are in, publishing would serve half a zone. Once they are,
        // publish even when nothing is dirty: an empty catalog is a ready one.
        if keys_changed && !(zones_synced && records_synced) {
            // keys alone, before the zones are in: publish them into the current catalog
            let old = catalog.load_full();
            catalog.store(Arc::new(Catalog {
                zones: old.zones.clone(),
                complete: old.complete,
                identity: old.identity.clone(),
                keys: keys.all(&flag_keys),
            }));
            keys_changed = false;
        }
        if !(zones_synced && records_synced)
            || (state.dirty.is_empty() && !keys_changed && published.ready.load(Ordering::Relaxed))
        {
            continue;
        }
        let t = Instant::now();
        let built = state.rebuild();
        let new_keys = keys_changed.then(|| keys.all(&flag_keys));
        keys_changed = false;
        let to_notify = publish(&catalog, built, new_keys);
        // NOTIFY only once the new serial is what we serve: a secondary asking at once must
        // not transfer the old zone
        let keys = catalog.load().keys.clone();
        for s in to_notify {
            let key = server::notify_key(&s, &keys);
            tokio::spawn(server::notify(s, key));
        }
        published
            .last_rebuild_micros
            .store(t.elapsed().as_micros() as u64, Ordering::Relaxed);
        published.rebuilds.fetch_add(1, Ordering::Relaxed);
        published.ready.store(true, Ordering::Relaxed);
    }
}

/// Swaps the rebuilt zones (and new TSIG keys, if any) into the catalog the query path reads.
/// Returns the
/// zones whose serial changed and that have secondaries to NOTIFY — sent by the caller only
/// after this, so a secondary asking at once transfers the new zone, not the old.
pub fn publish(
    catalog: &ArcSwap<Catalog>,
    built: Vec<(String, Option<Arc<Snapshot>>)>,
    keys: Option<Arc<[Key]>>,
) -> Vec<Arc<Snapshot>> {
    let old = catalog.load_full();
    let mut next = Catalog {
        zones: old.zones.clone(),
        complete: true,
        identity: old.identity.clone(),
        keys: keys.unwrap_or_else(|| old.keys.clone()),
    };
    let mut to_notify = Vec::new();
    for (name, snap) in built {
        let Ok(apex) = kavling_core::dns::wire::name(&name) else {
            continue;
        };
        let apex = apex.into_boxed_slice();
        match snap {
            Some(s) => {
                let serial_changed = old.zones.get(&apex).is_none_or(|o| o.serial != s.serial);
                if serial_changed && !s.notify.is_empty() {
                    to_notify.push(s.clone());
                }
                next.zones.insert(apex, s);
            }
            None => {
                next.zones.remove(&apex);
            }
        }
    }
    catalog.store(Arc::new(next));
    to_notify
}

fn watcher<K>(api: Api<K>) -> impl futures::Stream<Item = Result<Event<K>, watcher::Error>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher::watcher(api, watcher::Config::default()).default_backoff()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavling_core::api::{DnsRecordSpec, RecordType};

    fn zone(name: &str) -> Zone {
        use kavling_core::api::{NamingPolicy, Soa, Transfer};
        let spec = ZoneSpec {
            soa: Soa {
                primary: format!("ns1.{name}"),
                hostmaster: format!("h@{name}"),
                refresh: 3600,
                retry: 600,
                expire: 1209600,
                negative_ttl: 300,
            },
            nameservers: vec![format!("ns1.{name}")],
            default_ttl: 300,
            transfer: Transfer::default(),
            policy: NamingPolicy::default(),
            tenants: vec![],
            dnssec: Default::default(),
        };
        Zone::new(name, spec)
    }

    fn record(zone: &str, label: &str) -> DnsRecord {
        let name = format!("{label}.{zone}");
        DnsRecord::new(
            &format!("a.{name}"),
            DnsRecordSpec {
                zone: zone.into(),
                name,
                type_: RecordType::A,
                ttl: None,
                values: vec!["10.0.0.1".into()],
            },
        )
    }

    fn served(state: &State, zone: &str) -> Vec<String> {
        let mut v: Vec<String> = state
            .records
            .get(zone)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// What a snapshot serves: every name, and every record as owner + tail.
    fn serving(snap: &Snapshot) -> std::collections::BTreeSet<Vec<u8>> {
        let mut all = std::collections::BTreeSet::new();
        for (name, node) in snap.nodes.iter() {
            all.insert(name.to_vec());
            // (not the SOA: its serial differs between a patched server and a fresh one)
            for set in node.rrsets.iter().filter(|s| s.type_ != 6) {
                for t in set.tails() {
                    all.insert([&name[..], t].concat());
                }
            }
        }
        all
    }

    /// Records changed one event at a time — added, changed, deleted, moved to another zone,
    /// dropped by a re-list — are patched into the last build (not built whole), and each
    /// patched zone serves what a server that saw only the end state builds whole.
    #[test]
    fn patched_zones_serve_what_the_records_say() {
        let mut s = State::default();
        for z in ["x.go.id", "y.go.id"] {
            s.zone(&zone(z));
        }
        for l in ["a", "b", "c.d", "e"] {
            s.record(&record("x.go.id", l));
        }
        s.rebuild();
        let with = |zone: &str, label: &str, value: &str| {
            let mut r = record(zone, label);
            r.spec.values = vec![value.into()];
            r
        };
        type Event<'a> = Box<dyn Fn(&mut State) + 'a>;
        let events: Vec<Event> = vec![
            Box::new(|s| s.record(&record("x.go.id", "f.g.h"))),
            Box::new(|s| s.record(&with("x.go.id", "a", "10.0.0.9"))),
            Box::new(|s| s.record_gone(&record("x.go.id", "c.d"))),
            // the same object now in the other zone (its old name gone from x.go.id)
            Box::new(|s| {
                let mut r = record("y.go.id", "moved");
                r.metadata.name = Some("a.b.x.go.id".into());
                s.record(&r)
            }),
            Box::new(|s| {
                s.records_listing();
                for l in ["a", "f.g.h"] {
                    s.record_listed(&record("x.go.id", l));
                }
                s.record_listed(&with("x.go.id", "a", "10.0.0.9"));
                s.records_listed();
            }),
        ];
        for (k, ev) in events.iter().enumerate() {
            ev(&mut s);
            let patched = s
                .rebuild()
                .into_iter()
                .filter_map(|(z, snap)| Some((z, snap?)))
                .collect::<Vec<_>>();
            for (z, snap) in &patched {
                assert!(
                    snap.changed.is_some(),
                    "event {k}: {z} was built whole, not patched"
                );
            }
            // a server that saw only the end state, building whole
            let mut fresh = State::default();
            for z in ["x.go.id", "y.go.id"] {
                fresh.zone(&zone(z));
            }
            for (z, recs) in &s.records {
                for (obj, r) in recs {
                    let mut d = DnsRecord::new(
                        obj,
                        DnsRecordSpec {
                            zone: z.clone(),
                            name: r.name.clone(),
                            type_: r.type_,
                            ttl: r.ttl,
                            values: r.values.clone(),
                        },
                    );
                    d.metadata.name = Some(obj.clone());
                    fresh.record(&d);
                }
            }
            let whole: HashMap<String, Arc<Snapshot>> = fresh
                .rebuild()
                .into_iter()
                .filter_map(|(z, snap)| Some((z, snap?)))
                .collect();
            for (z, snap) in &patched {
                assert_eq!(serving(snap), serving(&whole[z]), "event {k}: {z}");
            }
        }
        assert_eq!(served(&s, "x.go.id"), ["a.a.x.go.id", "a.f.g.h.x.go.id"]);
        assert_eq!(served(&s, "y.go.id"), Vec::<String>::new());
    }

    /// The watch lost its place (the API server restarted) while `b` was deleted: the re-list
    /// does not show `b`, and no Delete ever comes for it.
    #[test]
    fn a_relist_drops_records_deleted_while_the_watch_was_away() {
        let mut s = State::default();
        s.zones_listing();
        s.zone_listed(&zone("x.go.id"));
        s.zones_listed();
        s.records_listing();
        for l in ["a", "b", "c"] {
            s.record_listed(&record("x.go.id", l));
        }
        s.records_listed();
        s.rebuild();
        assert_eq!(served(&s, "x.go.id").len(), 3);

        s.records_listing();
        s.record_listed(&record("x.go.id", "a"));
        // mid-list nothing is dropped yet: the rest of the list may still come
        assert_eq!(served(&s, "x.go.id").len(), 3);
        s.record_listed(&record("x.go.id", "c"));
        s.records_listed();
        assert_eq!(served(&s, "x.go.id"), ["a.a.x.go.id", "a.c.x.go.id"]);
        assert!(s.dirty.contains("x.go.id"), "the zone is rebuilt");
    }

    #[test]
    fn a_relist_drops_zones_deleted_while_the_watch_was_away() {
        let mut s = State::default();
        s.zones_listing();
        s.zone_listed(&zone("x.go.id"));
        s.zone_listed(&zone("y.go.id"));
        s.zones_listed();
        s.rebuild();
        s.zones_listing();
        s.zone_listed(&zone("y.go.id"));
        s.zones_listed();
        assert!(!s.zones.contains_key("x.go.id"));
        assert!(s.zones.contains_key("y.go.id"));
        let built = s.rebuild();
        assert!(
            built
                .iter()
                .any(|(z, snap)| z == "x.go.id" && snap.is_none()),
            "x is unpublished"
        );
    }

    fn soa_serial(state: &mut State, zone: &str) -> u32 {
        let built = state.rebuild();
        let (_, snap) = built.iter().find(|(z, _)| z == zone).expect("rebuilt");
        snap.as_ref().expect("served").serial
    }

    /// The operator's raised serial arrives before the record it counts: the record must not
    /// then go out under the serial already published without it.
    #[test]
    fn a_record_arriving_after_its_serial_still_raises_the_served_serial() {
        let mut s = State::default();
        let mut z = zone("x.go.id");
        z.status = Some(kavling_core::api::ZoneStatus {
            serial: 100,
            ..Default::default()
        });
        s.zone(&z);
        s.record(&record("x.go.id", "awal"));
        assert_eq!(soa_serial(&mut s, "x.go.id"), 100);
        // the serial for "baru" first, with the old content
        z.status.as_mut().unwrap().serial = 101;
        s.zone(&z);
        assert_eq!(soa_serial(&mut s, "x.go.id"), 101);
        // then "baru" itself: new content, so a new serial
        s.record(&record("x.go.id", "baru"));
        assert_eq!(soa_serial(&mut s, "x.go.id"), 102);
        // the operator's next serial passes ours again
        z.status.as_mut().unwrap().serial = 200;
        s.zone(&z);
        assert_eq!(soa_serial(&mut s, "x.go.id"), 200);
        // an unchanged zone rebuilt keeps its serial
        s.dirty.insert("x.go.id".into());
        assert_eq!(soa_serial(&mut s, "x.go.id"), 200);
    }

    #[test]
    fn serials_wrap_as_rfc_1982_says() {
        assert_eq!(serial_to_serve(Some((u32::MAX, 1)), u32::MAX, 2), 0);
        assert_eq!(serial_to_serve(Some((u32::MAX, 1)), 5, 2), 5);
        assert_eq!(serial_to_serve(Some((10, 1)), 9, 1), 10);
        assert_eq!(serial_to_serve(None, 7, 1), 7);
    }

    /// Changes between lists (Apply, Delete) are not a list: nothing is dropped by them.
    #[test]
    fn watch_events_outside_a_list_drop_nothing_else() {
        let mut s = State::default();
        s.zone(&zone("x.go.id"));
        s.record(&record("x.go.id", "a"));
        s.record(&record("x.go.id", "b"));
        s.records_listed(); // a stray InitDone without Init
        assert_eq!(served(&s, "x.go.id").len(), 2);
        s.record_gone(&record("x.go.id", "a"));
        assert_eq!(served(&s, "x.go.id"), ["a.b.x.go.id"]);
    }

    fn key_secret(name: &str, secret: &[u8]) -> Secret {
        Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(
                [(
                    "secret".to_string(),
                    k8s_openapi::ByteString(secret.to_vec()),
                )]
                .into(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn tsig_keys_follow_their_secrets_and_a_relist_drops_the_deleted() {
        let flag = Key::new("flag.go.id", &[1; 32]).unwrap();
        let mut k = Keys::default();
        assert!(k.event(Event::Apply(key_secret("transfer.a.go.id", &[2; 32]))));
        // too short to be a key: left out, and it replaces nothing
        assert!(k.event(Event::Apply(key_secret("pendek.go.id", b"short"))));
        let names = |k: &Keys| -> Vec<String> {
            k.all(std::slice::from_ref(&flag))
                .iter()
                .map(|k| String::from_utf8_lossy(&k.name).into_owned())
                .collect()
        };
        assert_eq!(
            names(&k),
            [
                "\x04flag\x02go\x02id\x00",
                "\x08transfer\x01a\x02go\x02id\x00"
            ]
        );
        // a re-list that no longer shows it (deleted while the watch was away)
        k.event(Event::Init);
        k.event(Event::InitApply(key_secret("transfer.b.go.id", &[3; 32])));
        assert!(k.event(Event::InitDone));
        assert_eq!(names(&k)[1], "\x08transfer\x01b\x02go\x02id\x00");
        assert!(k.event(Event::Delete(key_secret("transfer.b.go.id", &[3; 32]))));
        assert_eq!(names(&k).len(), 1);
    }

    fn signing_secret(zone: &str, owner_uid: Option<&str>) -> Secret {
        use kavling_core::dns::dnssec::{Algorithm, KEY_DATA, KEY_LABEL, ZONE_ANNOTATION};
        let der = SigningKey::generate(Algorithm::EcdsaP256Sha256).unwrap();
        let mut s = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(format!("dnssec.{zone}")),
                namespace: Some("kavling-tsig".into()),
                labels: Some([(KEY_LABEL.to_string(), "true".to_string())].into()),
                annotations: Some([(ZONE_ANNOTATION.to_string(), zone.to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        s.data = Some(std::collections::BTreeMap::from([(
            KEY_DATA.to_string(),
            k8s_openapi::ByteString(der),
        )]));
        if let Some(uid) = owner_uid {
            s.metadata.owner_references = Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                    api_version: "kavling.go.id/v1alpha1".into(),
                    kind: "Zone".into(),
                    name: zone.into(),
                    uid: uid.into(),
                    ..Default::default()
                },
            ]);
        }
        s
    }

    #[test]
    fn a_zone_is_signed_only_with_a_key_its_own_zone_object_owns() {
        let mut state = State::default();
        let mut keys = SigningKeys::default();
        let mut z = zone("kota.go.id");
        z.spec.dnssec.enabled = true;
        z.metadata.uid = Some("uid-1".into());
        state.zone(&z);
        // planted: no owner
        keys.event(Event::Apply(signing_secret("kota.go.id", None)), &mut state);
        assert!(state.key_for("kota.go.id").is_none());
        // left by an earlier Zone of the same name
        keys.event(
            Event::Apply(signing_secret("kota.go.id", Some("uid-0"))),
            &mut state,
        );
        assert!(state.key_for("kota.go.id").is_none());
        // the operator's, for this Zone
        keys.event(
            Event::Apply(signing_secret("kota.go.id", Some("uid-1"))),
            &mut state,
        );
        assert!(state.key_for("kota.go.id").is_some());
        let built = state.rebuild();
        let snap = built[0].1.as_ref().expect("built");
        assert!(snap.nsec3.is_some(), "signed");
        // named for another zone: ignored
        let mut other = signing_secret("kota.go.id", Some("uid-1"));
        other.metadata.name = Some("dnssec.lain.go.id".into());
        assert!(SigningKeys::from_secret(&other).is_none());
        // the Secret goes: the zone is rebuilt unsigned
        keys.event(
            Event::Delete(signing_secret("kota.go.id", Some("uid-1"))),
            &mut state,
        );
        let built = state.rebuild();
        assert!(built[0].1.as_ref().expect("built").nsec3.is_none());
    }
}
