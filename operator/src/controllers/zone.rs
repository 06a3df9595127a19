//! Zone → SOA serial that increases on every change of the zone or its records; status shows
//! the record count and the serial.
//!
//! Records are folded into the shared DnsRecord watch's store and its [`RecordIndex`], which
//! keeps a running digest per zone: a reconcile reads it in O(1), not by hashing every record
//! of the zone (which made feeding a zone of n records O(n²)).

use std::sync::Arc;

use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use super::record_index::RecordIndex;
use super::shared::SharedWatch;
use super::status::{self, reasons, types};
use super::zone_key::KeyState;
use super::{Context, Result, SAFETY_REQUEUE};
use crate::api::{DnsRecord, Zone, ZoneStatus};
use std::future::Future;

/// The next serial: one more than the last, or the current Unix time if that is larger, so
/// serials stay monotonic across restarts and are roughly readable as a time (pure).
pub fn next_serial(previous: u32, now_unix: u32) -> u32 {
    previous.saturating_add(1).max(now_unix)
}

struct ZoneCtx {
    ctx: Arc<Context>,
    records: Store<DnsRecord>,
    index: Arc<RecordIndex>,
}

impl super::harness::Shared for ZoneCtx {
    fn context(&self) -> &Context {
        &self.ctx
    }
}

async fn reconcile(zone: Arc<Zone>, zc: Arc<ZoneCtx>) -> Result<Action> {
    let name = zone.name_any();
    // read (from the watch cache, once it has synced: an empty cache would publish a bogus serial)
    if let Some(wait) = super::requeue_unless_synced(&zc.records).await {
        return Ok(wait);
    }
    let (count, d) = zc.index.digest(&name, &zone.spec);

    // build
    let mut st = zone.status.clone().unwrap_or_default();
    let changed = st.records_digest.as_deref() != Some(d.as_str());
    if changed {
        let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(u32::MAX);
        st.serial = next_serial(st.serial, now);
        st.records_digest = Some(d);
    }
    st.records = count as u32;
    // a signed zone: its key (made once), and the DS for the parent
    let mut refused = None;
    let mut next_roll = None;
    st.dnssec = None;
    if zone.spec.dnssec.enabled {
        match super::zone_key::ensure(&zc.ctx, &zone).await? {
            KeyState::Ready(k, next) => {
                st.dnssec = Some(k);
                next_roll = next;
            }
            KeyState::Refused(why) => refused = Some(why),
        }
    }
    let ready = match &refused {
        Some(why) => status::condition(
            types::READY,
            false,
            reasons::KEY_REFUSED,
            format!(
                "serial {} with {} RRsets, not signed: {why}",
                st.serial, st.records
            ),
            zone.metadata.generation,
        ),
        None => status::condition(
            types::READY,
            true,
            reasons::SERIAL_PUBLISHED,
            match &st.dnssec {
                Some(k) => format!(
                    "serial {} with {} RRsets, signed with key {} (register the DS with the parent: kavling describe zone {name})",
                    st.serial, st.records, k.key_tag
                ),
                None => format!("serial {} with {} RRsets", st.serial, st.records),
            },
            zone.metadata.generation,
        ),
    };
    status::set(&mut st.conditions, ready);
    st.observed_generation = zone.metadata.generation;

    // report
    let api: Api<Zone> = Api::all(zc.ctx.client.clone());
    report(&api, &zone, st).await?;
    // back when the key rollover has its next step, if sooner than the safety net
    Ok(Action::requeue(
        next_roll.map_or(SAFETY_REQUEUE, |n| n.min(SAFETY_REQUEUE)),
    ))
}

async fn report(api: &Api<Zone>, zone: &Zone, st: ZoneStatus) -> Result<()> {
    if zone.status.as_ref() != Some(&st) {
        super::apply_status_with(api, zone, &st).await?;
    }
    Ok(())
}

/// Runs the Zone controller until shutdown.
pub fn run(
    ctx: Arc<Context>,
    records: &mut SharedWatch<DnsRecord>,
    index: Arc<RecordIndex>,
) -> impl Future<Output = ()> + use<> {
    let client = ctx.client.clone();
    let zc = Arc::new(ZoneCtx {
        ctx,
        records: records.store(),
        index,
    });
    let controller = Controller::new(Api::<Zone>::all(client), watcher::Config::default())
        .watches_stream(records.subscribe(), |r: DnsRecord| {
            Some(ObjectRef::<Zone>::new(&r.spec.zone))
        });
    let store = controller.store();
    zc.ctx.metrics.collect_with(Box::new(move || {
        store
            .state()
            .iter()
            .filter_map(|z| {
                let serial = z.status.as_ref()?.serial;
                Some((
                    "kavling_zone_serial",
                    vec![("zone", z.name_any())],
                    f64::from(serial),
                ))
            })
            .collect()
    }));
    super::harness::run(controller, zc, reconcile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_is_monotonic_and_tracks_time() {
        assert_eq!(next_serial(5, 1_700_000_000), 1_700_000_000);
        assert_eq!(next_serial(1_800_000_000, 1_700_000_000), 1_800_000_001);
        assert_eq!(next_serial(u32::MAX, 0), u32::MAX);
    }
}
