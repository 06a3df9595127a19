//! DnsRecord → accepted into its zone (Ready) or refused with a reason: the zone must exist and
//! a CNAME cannot share its name with any other RRset (RFC 1034 §3.6.2).

use std::sync::Arc;

use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Api, ResourceExt};

use super::record_index::RecordIndex;
use super::shared::SharedWatch;
use super::status::{self, reasons, types};
use super::{Context, Result, SAFETY_REQUEUE};
use crate::api::{DnsRecord, DnsRecordStatus, RecordType, Zone};
use std::future::Future;

/// Whether `rr` breaks CNAME exclusivity given the other RRsets (pure).
pub fn cname_conflict<'a>(
    rr: &DnsRecord,
    mut others: impl Iterator<Item = &'a DnsRecord>,
) -> Option<String> {
    others.find(|o| conflicts(rr, o)).map(|o| {
        format!(
            "{} {} cannot coexist with {} {} ({}): a CNAME must be the only RRset at its name",
            rr.spec.name,
            rr.spec.type_.as_str(),
            o.spec.name,
            o.spec.type_.as_str(),
            o.name_any()
        )
    })
}

/// Whether `o` breaks CNAME exclusivity with `rr` (pure, no allocation: this runs for every
/// record of the store on every reconcile).
fn conflicts(rr: &DnsRecord, o: &DnsRecord) -> bool {
    (rr.spec.type_ == RecordType::CNAME || o.spec.type_ == RecordType::CNAME)
        && o.spec.zone == rr.spec.zone
        && o.spec.name.eq_ignore_ascii_case(&rr.spec.name)
        && o.metadata.name != rr.metadata.name
}

struct RecordCtx {
    ctx: Arc<Context>,
    records: Store<DnsRecord>,
    zones: Store<Zone>,
    index: Arc<RecordIndex>,
}

impl super::harness::Shared for RecordCtx {
    fn context(&self) -> &Context {
        &self.ctx
    }
}

async fn reconcile(rr: Arc<DnsRecord>, rc: Arc<RecordCtx>) -> Result<Action> {
    if let Some(wait) = super::requeue_unless_synced(&rc.records).await {
        return Ok(wait);
    }
    if let Some(wait) = super::requeue_unless_synced(&rc.zones).await {
        return Ok(wait);
    }
    let gen_ = rr.metadata.generation;
    let mut st = rr.status.clone().unwrap_or_default();
    let zone_known = rc.zones.get(&ObjectRef::new(&rr.spec.zone)).is_some();
    let cond = if !zone_known {
        status::condition(
            types::READY,
            false,
            reasons::ZONE_MISSING,
            format!(
                "zone {} does not exist; nothing serves this record",
                rr.spec.zone
            ),
            gen_,
        )
    } else if let Some(msg) = {
        // only the RRsets at this name (the index), not every record in the store
        let same_name: Vec<Arc<DnsRecord>> = rc
            .index
            .at_name(&rr.spec.zone, &rr.spec.name)
            .iter()
            .filter_map(|o| rc.records.get(&ObjectRef::new(o)))
            .collect();
        cname_conflict(&rr, same_name.iter().map(AsRef::as_ref))
    } {
        status::condition(types::READY, false, reasons::RECORD_CONFLICT, msg, gen_)
    } else {
        status::condition(
            types::READY,
            true,
            reasons::ACCEPTED,
            format!("served in zone {}", rr.spec.zone),
            gen_,
        )
    };
    status::set(&mut st.conditions, cond);
    st.observed_generation = gen_;
    let api: Api<DnsRecord> = Api::all(rc.ctx.client.clone());
    report(&api, &rr, st).await?;
    Ok(Action::requeue(SAFETY_REQUEUE))
}

async fn report(api: &Api<DnsRecord>, rr: &DnsRecord, st: DnsRecordStatus) -> Result<()> {
    if rr.status.as_ref() != Some(&st) {
        match super::apply_status_with(api, rr, &st).await {
            Ok(_) => {}
            // deleted meanwhile (e.g. withdrawn by its subdomain): nothing to report
            Err(super::Error::Kube(kube::Error::Api(s))) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Runs the DnsRecord controller until shutdown.
pub fn run(
    ctx: Arc<Context>,
    records: &mut SharedWatch<DnsRecord>,
    index: Arc<RecordIndex>,
) -> impl Future<Output = ()> + use<> {
    let client = ctx.client.clone();
    let (zones, zw) = reflector::store::<Zone>();
    // Only a zone's spec (generation) matters to its records, not its status: without this
    // filter every serial bump re-checked every record of the zone — O(n²) while a zone fills.
    let zone_stream = reflector::reflector(
        zw,
        watcher(Api::<Zone>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff()
    .touched_objects()
    .predicate_filter(predicates::generation, Default::default());
    let store = records.store();
    let rc = Arc::new(RecordCtx {
        ctx,
        records: store.clone(),
        zones,
        index: index.clone(),
    });
    let by_name = index.clone();
    let by_zone = index;
    // Records sharing a name re-check each other; a zone appearing re-checks its records.
    let controller = Controller::for_stream(records.subscribe(), store)
        .watches_stream(records.subscribe(), move |r: DnsRecord| {
            by_name
                .at_name(&r.spec.zone, &r.spec.name)
                .into_iter()
                .map(|o| ObjectRef::<DnsRecord>::new(&o))
                .collect::<Vec<_>>()
        })
        .watches_stream(zone_stream, move |z: Zone| {
            by_zone
                .in_zone(&z.name_any())
                .into_iter()
                .map(|o| ObjectRef::<DnsRecord>::new(&o))
                .collect::<Vec<_>>()
        });
    super::harness::run(controller, rc, reconcile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DnsRecordSpec, record_object_name};

    fn rr(name: &str, t: RecordType) -> DnsRecord {
        DnsRecord::new(
            &record_object_name(name, t),
            DnsRecordSpec {
                zone: "k.go.id".into(),
                name: name.into(),
                type_: t,
                ttl: None,
                values: vec!["x".into()],
            },
        )
    }

    #[test]
    fn cname_must_be_alone_at_its_name() {
        let c = rr("w.k.go.id", RecordType::CNAME);
        let a = rr("w.k.go.id", RecordType::A);
        let mx = rr("m.k.go.id", RecordType::MX);
        let txt = rr("m.k.go.id", RecordType::TXT);
        assert!(cname_conflict(&c, [&a].into_iter()).is_some());
        assert!(cname_conflict(&a, [&c].into_iter()).is_some());
        assert!(cname_conflict(&mx, [&txt, &c].into_iter()).is_none());
        assert!(cname_conflict(&c, [&c].into_iter()).is_none());
    }
}
