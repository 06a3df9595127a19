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
use kavling_core::api::{DnsRecord, Zone, ZoneSpec};
use kavling_core::dns::answer::Catalog;
use kavling_core::dns::zone::{self, RecordData, Snapshot};

/// What the DNS server knows, folded from the watches.
#[derive(Default)]
pub struct State {
    zones: HashMap<String, (ZoneSpec, u32)>,
    /// zone → DnsRecord object name → what it serves
    records: HashMap<String, HashMap<String, RecordData>>,
    dirty: HashSet<String>,
}

impl State {
    fn zone(&mut self, z: &Zone) {
        let name = z.name_any();
        let serial = z.status.as_ref().map(|s| s.serial).unwrap_or(0);
        let entry = (z.spec.clone(), serial);
        if self.zones.get(&name) != Some(&entry) {
            self.zones.insert(name.clone(), entry);
            self.dirty.insert(name);
        }
    }

    fn zone_gone(&mut self, name: &str) {
        if self.zones.remove(name).is_some() {
            self.dirty.insert(name.to_string());
        }
    }

    fn record(&mut self, r: &DnsRecord) {
        let data = RecordData {
            name: r.spec.name.clone(),
            type_: r.spec.type_,
            ttl: r.spec.ttl,
            values: r.spec.values.clone(),
        };
        let obj = r.name_any();
        // a record that moved zones leaves the old one
        for (zone, recs) in self.records.iter_mut() {
            if *zone != r.spec.zone && recs.remove(&obj).is_some() {
                self.dirty.insert(zone.clone());
            }
        }
        let recs = self.records.entry(r.spec.zone.clone()).or_default();
        if recs.get(&obj) != Some(&data) {
            recs.insert(obj, data);
            self.dirty.insert(r.spec.zone.clone());
        }
    }

    fn record_gone(&mut self, r: &DnsRecord) {
        if let Some(recs) = self.records.get_mut(&r.spec.zone)
            && recs.remove(&r.name_any()).is_some()
        {
            self.dirty.insert(r.spec.zone.clone());
        }
    }

    /// Builds snapshots for the dirty zones (pure apart from the clock).
    fn rebuild(&mut self) -> Vec<(String, Option<Snapshot>)> {
        let mut out = Vec::new();
        for name in std::mem::take(&mut self.dirty) {
            let Some((spec, serial)) = self.zones.get(&name) else {
                out.push((name, None));
                continue;
            };
            let recs: Vec<RecordData> = self
                .records
                .get(&name)
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            match zone::build(&name, spec, *serial, &recs) {
                Ok(s) => {
                    for why in &s.skipped {
                        tracing::warn!(zone = %name, "record not served: {why}");
                    }
                    out.push((name, Some(s)));
                }
                Err(e) => {
                    tracing::error!(zone = %name, error = %e, "zone cannot be served");
                    out.push((name, None));
                }
            }
        }
        out
    }
}

enum Change {
    Zone(Event<Zone>),
    Record(Event<DnsRecord>),
}

/// Published facts for `/metrics` and readiness.
#[derive(Default)]
pub struct Published {
    pub ready: AtomicBool,
    pub last_rebuild_micros: AtomicU64,
    pub rebuilds: AtomicU64,
}

/// Runs until the watches end: folds events, rebuilds dirty zones, swaps the catalog.
pub async fn run(client: Client, catalog: Arc<ArcSwap<Catalog>>, published: Arc<Published>) {
    let zones = watcher(Api::<Zone>::all(client.clone())).map(|e| e.map(Change::Zone));
    let records = watcher(Api::<DnsRecord>::all(client)).map(|e| e.map(Change::Record));
    let mut events = futures::stream::select(zones, records).boxed();
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
                Ok(Change::Zone(ev)) => match ev {
                    Event::Apply(z) | Event::InitApply(z) => state.zone(&z),
                    Event::Delete(z) => state.zone_gone(&z.name_any()),
                    Event::Init => {}
                    Event::InitDone => zones_synced = true,
                },
                Ok(Change::Record(ev)) => match ev {
                    Event::Apply(r) | Event::InitApply(r) => state.record(&r),
                    Event::Delete(r) => state.record_gone(&r),
                    Event::Init => {}
                    Event::InitDone => records_synced = true,
                },
            }
        }
        // Until both initial lists are in, publishing would serve half a zone. Once they are,
        // publish even when nothing is dirty: an empty catalog is a ready one.
        if !(zones_synced && records_synced)
            || (state.dirty.is_empty() && published.ready.load(Ordering::Relaxed))
        {
            continue;
        }
        let t = Instant::now();
        let built = state.rebuild();
        let old = catalog.load_full();
        let mut next = Catalog {
            zones: old.zones.clone(),
            complete: true,
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
                    let s = Arc::new(s);
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
        // NOTIFY only once the new serial is what we serve: a secondary asking at once must
        // not transfer the old zone
        for s in to_notify {
            tokio::spawn(server::notify(s));
        }
        published
            .last_rebuild_micros
            .store(t.elapsed().as_micros() as u64, Ordering::Relaxed);
        published.rebuilds.fetch_add(1, Ordering::Relaxed);
        published.ready.store(true, Ordering::Relaxed);
    }
}

fn watcher<K>(api: Api<K>) -> impl futures::Stream<Item = Result<Event<K>, watcher::Error>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher::watcher(api, watcher::Config::default()).default_backoff()
}
