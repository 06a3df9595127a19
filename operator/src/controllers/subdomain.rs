//! Subdomain → its DnsRecords (addresses or an in-zone alias), owned by the Subdomain.
//! `spec.suspend` withdraws or redirects the records per the zone's suspension policy;
//! removing it restores them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};

use super::record_index::RecordIndex;
use super::shared::SharedWatch;
use super::status::{self, reasons, types};
use super::{Context, MANAGER, Result, SAFETY_REQUEUE, label_value};
use crate::api::{
    DnsRecord, DnsRecordSpec, RecordType, Subdomain, SubdomainStatus, SuspensionMode, Zone,
    ZoneSpec, labels, record_object_name,
};
use crate::rules;
use std::future::Future;

/// Whether the suspension is in force at `now` (an `until` in the past ends it).
pub fn suspended_now(sd: &Subdomain, now: chrono::DateTime<chrono::Utc>) -> bool {
    suspension_in_force(sd.spec.suspend.as_ref(), now)
}

/// Whether a suspension (of any kind) is in force at `now`: set, and its `until` not passed.
pub fn suspension_in_force(
    s: Option<&crate::api::Suspension>,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    let Some(s) = s else {
        return false;
    };
    match s.until.as_deref().and_then(parse_until) {
        Some(until) => now < until,
        None => true,
    }
}

pub use crate::api::common::parse_until;

/// The RRsets a subdomain should have (pure). `hosting` is the ingress addresses when the
/// target is a hosting that is served; `None` when the target is a hosting that is not (yet,
/// or no longer) served — then the name has no records (no dangling name). A wildcard
/// subdomain gets the same RRsets at `*.<fqdn>` while its zone allows wildcards, so
/// suspension withdraws or redirects every name under it with it.
pub fn build_records(
    sd: &Subdomain,
    zone: &ZoneSpec,
    suspended: bool,
    hosting: Option<&[String]>,
) -> Option<Vec<DnsRecord>> {
    let fqdn = sd.fqdn();
    let ttl = sd.spec.ttl;
    let rrsets: Vec<(RecordType, Vec<String>)> = if suspended {
        match zone.policy.suspension.mode {
            SuspensionMode::Withdraw => return Some(vec![]),
            SuspensionMode::Redirect => by_family(zone.policy.suspension.addresses.clone()),
        }
    } else if let Some(alias) = &sd.spec.target.alias {
        vec![(
            RecordType::CNAME,
            vec![alias.trim_end_matches('.').to_string()],
        )]
    } else if sd.spec.target.hosting.is_some() {
        by_family(hosting?.to_vec())
    } else {
        by_family(sd.spec.target.addresses.clone())
    };
    let mut owners = vec![fqdn.clone()];
    if wildcard_served(sd, zone) {
        owners.push(format!("*.{fqdn}"));
    }
    Some(
        owners
            .iter()
            .flat_map(|owner| {
                rrsets
                    .iter()
                    .map(move |(t, values)| record(sd, owner, *t, ttl, values.clone()))
            })
            .collect(),
    )
}

/// Whether `*.<fqdn>` is answered for `sd`: it asks, and its zone allows wildcards now.
pub fn wildcard_served(sd: &Subdomain, zone: &ZoneSpec) -> bool {
    sd.spec.wildcard && zone.policy.allow_wildcards
}

/// Addresses as an A RRset and an AAAA RRset (each only when it has any).
fn by_family(addresses: Vec<String>) -> Vec<(RecordType, Vec<String>)> {
    let (v4, v6): (Vec<String>, Vec<String>) = addresses
        .into_iter()
        .partition(|a| matches!(a.parse::<IpAddr>(), Ok(IpAddr::V4(_))));
    [(RecordType::A, v4), (RecordType::AAAA, v6)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn record(
    sd: &Subdomain,
    fqdn: &str,
    type_: RecordType,
    ttl: Option<u32>,
    values: Vec<String>,
) -> DnsRecord {
    let owner = OwnerReference {
        api_version: Subdomain::api_version(&()).into(),
        kind: Subdomain::kind(&()).into(),
        name: sd.name_any(),
        uid: sd.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let mut rr = DnsRecord::new(
        &record_object_name(fqdn, type_),
        DnsRecordSpec {
            zone: sd.spec.zone.clone(),
            name: fqdn.to_string(),
            type_,
            ttl,
            values,
        },
    );
    rr.metadata = ObjectMeta {
        name: Some(record_object_name(fqdn, type_)),
        labels: Some(BTreeMap::from([
            // the Subdomain's own name, also on its `*.` records: it finds (and withdraws)
            // every record it published by this label
            (labels::SUBDOMAIN.into(), label_value(&sd.fqdn())),
            (labels::ZONE.into(), label_value(&sd.spec.zone)),
            (labels::TENANT.into(), sd.spec.tenant.clone()),
            (labels::MANAGED_BY.into(), labels::MANAGER.into()),
        ])),
        owner_references: Some(vec![owner]),
        ..Default::default()
    };
    rr
}

fn owned_by(rr: &DnsRecord, sd: &Subdomain) -> bool {
    rr.owner_references()
        .iter()
        .any(|o| Some(&o.uid) == sd.uid().as_ref() && o.controller == Some(true))
}

/// What a Subdomain's decision needs, read before anything is decided (the only reads
/// besides the apply step's own checks).
pub struct Observed {
    pub zones: Vec<Zone>,
    /// The ingress addresses when the target is a hosting that is served; else why not.
    pub hosting: (Option<Vec<String>>, String),
    /// Who holds the alias target, when it is a name inside a zone Kavling serves:
    /// `Some(None)` — nobody.
    pub alias_holder: Option<Option<String>>,
}

/// What a Subdomain should be (pure), from [`decide`].
#[derive(Debug)]
pub enum Desired {
    /// The zone is gone: the name cannot be served.
    ZoneMissing(String),
    /// The target breaks a rule: Failed.
    Invalid(String),
    /// Publish nothing (a hosting not served, an alias not held): withdraw what was published.
    Withdraw { reason: &'static str, why: String },
    /// Publish these records.
    Publish {
        records: Vec<DnsRecord>,
        suspended: bool,
        suspension_mode: SuspensionMode,
    },
}

/// validate → build (pure): what `sd` should publish, given what was read and the time.
pub fn decide(
    sd: &Subdomain,
    o: &Observed,
    denied: &[rules::naming::Cidr],
    now: chrono::DateTime<chrono::Utc>,
) -> Desired {
    let served: Vec<String> = o.zones.iter().map(|z| z.name_any()).collect();
    let Some(zone) = o.zones.iter().find(|z| z.name_any() == sd.spec.zone) else {
        return Desired::ZoneMissing(format!(
            "zone {} does not exist; the name cannot be served",
            sd.spec.zone
        ));
    };
    let violations = rules::naming::check_target(
        "spec.target",
        &sd.spec.target,
        &sd.spec.zone,
        &zone.spec,
        &served,
        &sd.spec.label,
        denied,
    );
    if !violations.is_empty() {
        return Desired::Invalid(rules::summarize(&violations));
    }
    // An alias inside our zones is published only while its target is the same tenant's: a
    // target that changes hands (or is withdrawn) takes the alias with it.
    if let (Some(alias), Some(holder)) = (sd.spec.target.alias.as_deref(), &o.alias_holder)
        && let Some(v) = rules::naming::check_alias_holder(
            "spec.target",
            alias.trim_end_matches('.'),
            &sd.spec.tenant,
            holder.as_deref(),
        )
    {
        return Desired::Withdraw {
            reason: reasons::ALIAS_NOT_HELD,
            why: v.to_string(),
        };
    }
    let suspended = suspended_now(sd, now);
    match build_records(sd, &zone.spec, suspended, o.hosting.0.as_deref()) {
        Some(records) => Desired::Publish {
            records,
            suspended,
            suspension_mode: zone.spec.policy.suspension.mode,
        },
        None => Desired::Withdraw {
            reason: reasons::HOSTING_PENDING,
            why: o.hosting.1.clone(),
        },
    }
}

/// dereference: the zones, the hosting's addresses, the alias target's holder.
async fn dereference(sd: &Subdomain, ctx: &Context) -> Result<Observed> {
    let zones = Api::<Zone>::all(ctx.client.clone())
        .list(&super::cached())
        .await?
        .items;
    let hosting = match &sd.spec.target.hosting {
        Some(h) => super::hosting::served_addresses(ctx, &sd.spec.tenant, h).await?,
        None => (None, String::new()),
    };
    let alias_holder = match sd
        .spec
        .target
        .alias
        .as_deref()
        .map(|a| a.trim_end_matches('.'))
    {
        Some(a)
            if zones
                .iter()
                .any(|z| rules::naming::in_zone(a, &z.name_any())) =>
        {
            Some(
                Api::<Subdomain>::all(ctx.client.clone())
                    .get_opt(a)
                    .await?
                    .map(|h| h.spec.tenant),
            )
        }
        _ => None,
    };
    Ok(Observed {
        zones,
        hosting,
        alias_holder,
    })
}

/// The Subdomain controller's context: the operator's, and the shared DnsRecord store with
/// its index, where a subdomain's own records are looked up.
struct SubdomainCtx {
    ctx: Arc<Context>,
    records: Store<DnsRecord>,
    index: Arc<RecordIndex>,
}

impl std::ops::Deref for SubdomainCtx {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl super::harness::Shared for SubdomainCtx {
    fn context(&self) -> &Context {
        &self.ctx
    }
}

/// dereference → [`decide`] → apply the records → report.
async fn reconcile(sd: Arc<Subdomain>, ctx: Arc<SubdomainCtx>) -> Result<Action> {
    // the store answers which records exist; until it has listed once it knows none
    if let Some(wait) = super::requeue_unless_synced(&ctx.records).await {
        return Ok(wait);
    }
    let fqdn = sd.name_any();
    let gen_ = sd.metadata.generation;
    let subdomains: Api<Subdomain> = Api::all(ctx.client.clone());
    let records: Api<DnsRecord> = Api::all(ctx.client.clone());
    let mut st = sd.status.clone().unwrap_or_default();
    let now = chrono::Utc::now();

    let observed = dereference(&sd, &ctx).await?;
    // the records labelled for this subdomain, from the shared store through its index (a
    // label-selector LIST here made the API server filter every DnsRecord per reconcile);
    // one just created and not yet seen is found by the next reconcile its event triggers
    let existing: Vec<DnsRecord> = ctx
        .index
        .of_subdomain(&label_value(&fqdn))
        .iter()
        .filter_map(|o| ctx.records.get(&ObjectRef::new(o)))
        .map(|r| r.as_ref().clone())
        .collect();
    let (desired, suspended, suspension_mode) =
        match decide(&sd, &observed, &ctx.settings.denied_target_ranges, now) {
            Desired::ZoneMissing(msg) => {
                status::set(
                    &mut st.conditions,
                    status::condition(types::READY, false, reasons::ZONE_MISSING, msg, gen_),
                );
                return report(&subdomains, &sd, st).await;
            }
            Desired::Invalid(msg) => {
                status::set(
                    &mut st.conditions,
                    status::condition(
                        types::READY,
                        false,
                        reasons::INVALID_SPEC,
                        msg.clone(),
                        gen_,
                    ),
                );
                status::set(
                    &mut st.conditions,
                    status::condition(types::FAILED, true, reasons::INVALID_SPEC, msg, gen_),
                );
                return report(&subdomains, &sd, st).await;
            }
            Desired::Withdraw { reason, why } => {
                // a name never points at a missing hosting or a target that changed hands
                for old in existing.iter().filter(|r| owned_by(r, &sd)) {
                    match records
                        .delete(&old.name_any(), &DeleteParams::default())
                        .await
                    {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                st.records.clear();
                status::set(
                    &mut st.conditions,
                    status::condition(types::READY, false, reason, why, gen_),
                );
                return report(&subdomains, &sd, st).await;
            }
            Desired::Publish {
                records,
                suspended,
                suspension_mode,
            } => (records, suspended, suspension_mode),
        };

    // apply: the records, never one Kavling did not make for this subdomain (invariant 3)
    let keep = match publish(&records, &sd, &desired, &existing).await? {
        Ok(keep) => keep,
        Err(conflict) => {
            return super::harness::refuse(
                &ctx,
                sd.as_ref(),
                sd.status.as_ref(),
                reasons::RECORD_CONFLICT,
                conflict,
            )
            .await;
        }
    };

    // TLS: the Certificate follows spec.tls (it keeps its certificate while suspended)
    let wildcard = observed
        .zones
        .iter()
        .find(|z| z.name_any() == sd.spec.zone)
        .is_some_and(|z| wildcard_served(&sd, &z.spec));
    super::certificate::sync_for_subdomain(&ctx, &sd, wildcard).await?;

    // report
    let (st, events) = ready_status(&sd, st, keep, suspended, suspension_mode);
    for (reason, action, note) in events {
        ctx.event(sd.as_ref(), EventType::Normal, reason, action, note)
            .await;
    }
    let action = report(&subdomains, &sd, st).await?;
    // A suspension with an end date resumes by itself: look again when it ends.
    if suspended
        && let Some(until) = sd
            .spec
            .suspend
            .as_ref()
            .and_then(|s| s.until.as_deref())
            .and_then(parse_until)
    {
        let wait = (until - now).to_std().unwrap_or_default() + std::time::Duration::from_secs(1);
        return Ok(Action::requeue(wait.min(SAFETY_REQUEUE)));
    }
    Ok(action)
}

/// Applies `desired` and removes what this subdomain published before and no longer wants.
/// `Err` names a record that exists and is not this subdomain's: it is left alone.
async fn publish(
    records: &Api<DnsRecord>,
    sd: &Subdomain,
    desired: &[DnsRecord],
    existing: &[DnsRecord],
) -> Result<std::result::Result<Vec<String>, String>> {
    for rr in desired {
        let rr_name = rr.name_any();
        if let Some(cur) = records.get_opt(&rr_name).await?
            && !owned_by(&cur, sd)
        {
            return Ok(Err(format!(
                "DnsRecord {rr_name} already exists and does not belong to this subdomain; it is left alone"
            )));
        }
        records
            .patch(
                &rr_name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(rr),
            )
            .await?;
    }
    let keep: Vec<String> = desired.iter().map(|r| r.name_any()).collect();
    for old in existing
        .iter()
        .filter(|r| owned_by(r, sd) && !keep.contains(&r.name_any()))
    {
        match records
            .delete(&old.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Ok(keep))
}

/// The status of a published (or suspended) subdomain (pure), and the Events its
/// transitions deserve.
fn ready_status(
    sd: &Subdomain,
    mut st: SubdomainStatus,
    keep: Vec<String>,
    suspended: bool,
    suspension_mode: SuspensionMode,
) -> (SubdomainStatus, Vec<(&'static str, &'static str, String)>) {
    let gen_ = sd.metadata.generation;
    let fqdn = sd.name_any();
    let mut events = vec![];
    let was_suspended = status::is_true(&st.conditions, types::SUSPENDED);
    status::remove(&mut st.conditions, types::FAILED);
    st.records = keep;
    if let (true, Some(s)) = (suspended, sd.spec.suspend.as_ref()) {
        let msg = format!(
            "suspended by the Dinas: {}{}; records {}",
            s.reason,
            s.until
                .as_ref()
                .map(|u| format!(" (until {u})"))
                .unwrap_or_default(),
            match suspension_mode {
                SuspensionMode::Withdraw => "withdrawn",
                SuspensionMode::Redirect => "redirected to the notice page",
            }
        );
        status::set(
            &mut st.conditions,
            status::condition(
                types::SUSPENDED,
                true,
                reasons::SUSPENDED,
                msg.clone(),
                gen_,
            ),
        );
        status::set(
            &mut st.conditions,
            status::condition(types::READY, false, reasons::SUSPENDED, msg.clone(), gen_),
        );
        if !was_suspended {
            events.push(("Suspended", "Suspend", msg));
        }
    } else {
        status::set(
            &mut st.conditions,
            status::condition(
                types::SUSPENDED,
                false,
                reasons::ACTIVE,
                "not suspended",
                gen_,
            ),
        );
        let msg = format!("{fqdn} published as {}", st.records.join(", "));
        let became_ready = !status::is_true(&st.conditions, types::READY);
        status::set(
            &mut st.conditions,
            status::condition(types::READY, true, reasons::PROVISIONED, msg.clone(), gen_),
        );
        if was_suspended {
            events.push(("Resumed", "Resume", format!("resumed; {msg}")));
        } else if became_ready {
            events.push((reasons::PROVISIONED, "Provision", msg));
        }
    }
    (st, events)
}

async fn report(api: &Api<Subdomain>, sd: &Subdomain, mut st: SubdomainStatus) -> Result<Action> {
    st.observed_generation = sd.metadata.generation;
    if sd.status.as_ref() != Some(&st) {
        super::apply_status_with(api, sd, &st).await?;
    }
    Ok(Action::requeue(SAFETY_REQUEUE))
}

/// Runs the Subdomain controller until shutdown.
/// Which Subdomains alias which name (pure): fed with every Subdomain the watch sees, it
/// answers "who points at X" in one lookup instead of a scan.
#[derive(Default, Debug)]
pub struct AliasIndex {
    by_target: std::collections::HashMap<String, std::collections::BTreeSet<String>>,
    target_of: std::collections::HashMap<String, String>,
}

impl AliasIndex {
    /// Records that `fqdn` now aliases `alias` (or nothing).
    pub fn record(&mut self, fqdn: &str, alias: Option<&str>) {
        if let Some(old) = self.target_of.remove(fqdn)
            && let Some(set) = self.by_target.get_mut(&old)
        {
            set.remove(fqdn);
            if set.is_empty() {
                self.by_target.remove(&old);
            }
        }
        if let Some(a) = alias {
            let a = a.trim_end_matches('.').to_ascii_lowercase();
            self.by_target
                .entry(a.clone())
                .or_default()
                .insert(fqdn.to_string());
            self.target_of.insert(fqdn.to_string(), a);
        }
    }

    /// The Subdomains whose alias is `target`.
    pub fn aliases_of(&self, target: &str) -> Vec<String> {
        self.by_target
            .get(target)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Which Subdomains each zone holds, and the naming policy each zone was last seen with (pure):
/// a Zone event re-reconciles its Subdomains only when its policy changed (wildcards allowed
/// or not, the suspension mode) — its status changes with every record and must not fan out.
#[derive(Default, Debug)]
pub struct ZonePolicyIndex {
    names: std::collections::HashMap<String, std::collections::BTreeSet<String>>,
    policy: std::collections::HashMap<String, crate::api::NamingPolicy>,
}

impl ZonePolicyIndex {
    /// A Subdomain seen by the watch.
    pub fn subdomain(&mut self, zone: &str, fqdn: &str) {
        self.names
            .entry(zone.to_string())
            .or_default()
            .insert(fqdn.to_string());
    }

    /// A Zone seen by the watch: the Subdomains to look at again (none if its policy is as
    /// it was).
    pub fn zone(&mut self, zone: &str, policy: &crate::api::NamingPolicy) -> Vec<String> {
        if self.policy.get(zone) == Some(policy) {
            return vec![];
        }
        self.policy.insert(zone.to_string(), policy.clone());
        self.names
            .get(zone)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

pub fn run(
    ctx: Arc<Context>,
    records: &mut SharedWatch<DnsRecord>,
    index: Arc<RecordIndex>,
) -> impl Future<Output = ()> + use<> {
    let client = ctx.client.clone();
    let ctx = Arc::new(SubdomainCtx {
        ctx,
        records: records.store(),
        index,
    });
    let zones = Arc::new(std::sync::Mutex::new(ZonePolicyIndex::default()));
    let zone_policies = zones.clone();
    super::harness::run(
        Controller::new(
            Api::<Subdomain>::all(client.clone()),
            watcher::Config::default(),
        )
        .owns_stream(records.subscribe())
        .watches(
            Api::<Subdomain>::all(client.clone()),
            watcher::Config::default(),
            {
                // a name changing (claimed, withdrawn, changing hands) re-reconciles the aliases
                // that point at it, so an alias never outlives its target's holder
                let index = Arc::new(std::sync::Mutex::new(AliasIndex::default()));
                let zones = zones.clone();
                move |sd: Subdomain| {
                    zones
                        .lock()
                        .expect("zone policy index lock")
                        .subdomain(&sd.spec.zone, &sd.name_any());
                    let mut index = index.lock().expect("alias index lock");
                    index.record(&sd.name_any(), sd.spec.target.alias.as_deref());
                    index
                        .aliases_of(&sd.name_any())
                        .into_iter()
                        .map(|a| ObjectRef::<Subdomain>::new(&a))
                        .collect::<Vec<_>>()
                }
            },
        )
        .watches(
            Api::<Zone>::all(client.clone()),
            watcher::Config::default(),
            move |z: Zone| {
                // a policy change (wildcards, suspension) changes what its names publish
                let names = zone_policies
                    .lock()
                    .expect("zone policy index lock")
                    .zone(&z.name_any(), &z.spec.policy);
                names
                    .iter()
                    .map(|n| ObjectRef::<Subdomain>::new(n))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<crate::api::Hosting>::all(client.clone()),
            watcher::Config::default(),
            |h: crate::api::Hosting| {
                // a hosting's domains (spec) are Subdomains named by their FQDN
                h.spec
                    .domains
                    .iter()
                    .chain(h.status.iter().flat_map(|s| s.domains.iter()))
                    .map(|d| ObjectRef::<Subdomain>::new(d))
                    .collect::<Vec<_>>()
            },
        ),
        ctx,
        reconcile,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_fans_out_to_its_names_only_when_its_policy_changes() {
        let mut i = ZonePolicyIndex::default();
        i.subdomain("k.go.id", "a.k.go.id");
        i.subdomain("k.go.id", "b.k.go.id");
        i.subdomain("l.go.id", "c.l.go.id");
        let mut p = NamingPolicy::default();
        assert_eq!(i.zone("k.go.id", &p), ["a.k.go.id", "b.k.go.id"]);
        assert!(i.zone("k.go.id", &p).is_empty(), "a status update");
        p.allow_wildcards = true;
        assert_eq!(i.zone("k.go.id", &p), ["a.k.go.id", "b.k.go.id"]);
        assert!(i.zone("m.go.id", &p).is_empty());
    }

    #[test]
    fn the_alias_index_follows_retargeting() {
        let mut i = AliasIndex::default();
        i.record("a.k.go.id", Some("x.k.go.id."));
        i.record("b.k.go.id", Some("x.k.go.id"));
        assert_eq!(i.aliases_of("x.k.go.id"), ["a.k.go.id", "b.k.go.id"]);
        i.record("a.k.go.id", Some("y.k.go.id"));
        i.record("b.k.go.id", None);
        assert!(i.aliases_of("x.k.go.id").is_empty());
        assert_eq!(i.aliases_of("y.k.go.id"), ["a.k.go.id"]);
    }
    use crate::api::{
        NamingPolicy, Soa, SubdomainSpec, Suspension, SuspensionPolicy, Target, Transfer,
    };

    fn zone(mode: SuspensionMode) -> ZoneSpec {
        ZoneSpec {
            soa: Soa {
                primary: "ns1.k.go.id".into(),
                hostmaster: "h@k.go.id".into(),
                refresh: 3600,
                retry: 600,
                expire: 1209600,
                negative_ttl: 300,
            },
            nameservers: vec!["ns1.k.go.id".into()],
            default_ttl: 3600,
            transfer: Transfer::default(),
            policy: NamingPolicy {
                suspension: SuspensionPolicy {
                    mode,
                    addresses: vec!["10.0.0.99".into()],
                },
                ..Default::default()
            },
            tenants: vec![],
            dnssec: Default::default(),
        }
    }

    fn sd(target: Target) -> Subdomain {
        Subdomain::new(
            "portal.k.go.id",
            SubdomainSpec {
                zone: "k.go.id".into(),
                label: "portal".into(),
                tenant: "dinkes".into(),
                application_name: None,
                website: true,
                tls: false,
                ttl: Some(300),
                target,
                suspend: None,
                wildcard: false,
            },
        )
    }

    #[test]
    fn addresses_split_into_a_and_aaaa() {
        let s = sd(Target {
            addresses: vec!["10.0.0.1".into(), "2001:db8::1".into(), "10.0.0.2".into()],
            ..Default::default()
        });
        let rr = build_records(&s, &zone(SuspensionMode::Withdraw), false, None).unwrap();
        assert_eq!(rr.len(), 2);
        assert_eq!(rr[0].name_any(), "a.portal.k.go.id");
        assert_eq!(rr[0].spec.values, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(rr[1].spec.type_, RecordType::AAAA);
        assert_eq!(rr[1].spec.ttl, Some(300));
    }

    #[test]
    fn alias_is_one_cname_and_suspension_withdraws_or_redirects() {
        let s = sd(Target {
            alias: Some("web.k.go.id.".into()),
            ..Default::default()
        });
        let rr = build_records(&s, &zone(SuspensionMode::Withdraw), false, None).unwrap();
        assert_eq!(
            (rr.len(), rr[0].spec.type_, rr[0].spec.values[0].as_str()),
            (1, RecordType::CNAME, "web.k.go.id")
        );
        assert!(
            build_records(&s, &zone(SuspensionMode::Withdraw), true, None)
                .unwrap()
                .is_empty()
        );
        let red = build_records(&s, &zone(SuspensionMode::Redirect), true, None).unwrap();
        assert_eq!(
            (red[0].spec.type_, red[0].spec.values[0].as_str()),
            (RecordType::A, "10.0.0.99")
        );
    }

    #[test]
    fn a_wildcard_gets_the_same_records_only_while_the_zone_allows_it() {
        let mut s = sd(Target {
            addresses: vec!["10.0.0.1".into(), "2001:db8::1".into()],
            ..Default::default()
        });
        s.spec.wildcard = true;
        let mut z = zone(SuspensionMode::Redirect);
        let names = |rr: Vec<DnsRecord>| -> Vec<(String, String, Vec<String>)> {
            rr.into_iter()
                .map(|r| (r.name_any(), r.spec.name, r.spec.values))
                .collect()
        };
        // the zone's policy is off: the name alone
        let rr = build_records(&s, &z, false, None).unwrap();
        assert_eq!(rr.len(), 2);
        z.policy.allow_wildcards = true;
        let rr = names(build_records(&s, &z, false, None).unwrap());
        assert_eq!(rr.len(), 4);
        assert_eq!(
            rr[2],
            (
                "a.w.portal.k.go.id".to_string(),
                "*.portal.k.go.id".to_string(),
                vec!["10.0.0.1".to_string()]
            )
        );
        assert_eq!(rr[3].1, "*.portal.k.go.id");
        // labelled as the Subdomain's, so withdrawing finds them
        let labelled = build_records(&s, &z, false, None).unwrap();
        assert!(
            labelled
                .iter()
                .all(|r| r.labels().get(labels::SUBDOMAIN) == Some(&label_value("portal.k.go.id")))
        );
        // suspended: every name under it goes to the notice, none to the tenant's addresses
        let red = names(build_records(&s, &z, true, None).unwrap());
        assert_eq!(red.len(), 2);
        assert!(red.iter().all(|(_, _, v)| v == &["10.0.0.99"]));
        // and withdrawn, nothing is left under it
        z.policy.suspension.mode = SuspensionMode::Withdraw;
        assert!(build_records(&s, &z, true, None).unwrap().is_empty());
        // an alias target: one CNAME at each
        s.spec.target = Target {
            alias: Some("web.k.go.id".into()),
            ..Default::default()
        };
        let rr = names(build_records(&s, &z, false, None).unwrap());
        assert_eq!(rr[1].0, "cname.w.portal.k.go.id");
    }

    #[test]
    fn suspension_ends_at_until() {
        let mut s = sd(Target {
            addresses: vec!["10.0.0.1".into()],
            ..Default::default()
        });
        let t = parse_until("2026-12-01").unwrap();
        s.spec.suspend = Some(Suspension {
            reason: "audit".into(),
            until: Some("2026-12-01".into()),
        });
        assert!(suspended_now(&s, t - chrono::Duration::seconds(1)));
        assert!(!suspended_now(&s, t));
        s.spec.suspend = Some(Suspension {
            reason: "audit".into(),
            until: None,
        });
        assert!(suspended_now(&s, t));
    }

    fn observed(hosting: Option<Vec<String>>, alias_holder: Option<Option<String>>) -> Observed {
        Observed {
            zones: vec![Zone::new("k.go.id", zone(SuspensionMode::Withdraw))],
            hosting: (hosting, "hosting 'web' is not Ready".into()),
            alias_holder,
        }
    }

    #[test]
    fn decide_settles_zone_target_alias_and_hosting_without_the_api() {
        let now = parse_until("2026-12-01").unwrap();
        let addr = sd(Target {
            addresses: vec!["10.0.0.1".into()],
            ..Default::default()
        });
        let no_zone = Observed {
            zones: vec![],
            ..observed(None, None)
        };
        assert!(matches!(
            decide(&addr, &no_zone, &[], now),
            Desired::ZoneMissing(_)
        ));
        // the operator's denied ranges make the target invalid
        let denied = ["10.0.0.0/24".parse().unwrap()];
        assert!(matches!(
            decide(&addr, &observed(None, None), &denied, now),
            Desired::Invalid(m) if m.contains("spec.target")
        ));
        assert!(matches!(
            decide(&addr, &observed(None, None), &[], now),
            Desired::Publish { records, suspended: false, .. } if records.len() == 1
        ));
        // an in-zone alias held by another tenant is withdrawn, by its own tenant published
        let alias = sd(Target {
            alias: Some("web.k.go.id".into()),
            ..Default::default()
        });
        assert!(matches!(
            decide(&alias, &observed(None, Some(Some("lain".into()))), &[], now),
            Desired::Withdraw {
                reason: reasons::ALIAS_NOT_HELD,
                ..
            }
        ));
        assert!(matches!(
            decide(
                &alias,
                &observed(None, Some(Some("dinkes".into()))),
                &[],
                now
            ),
            Desired::Publish { .. }
        ));
        // a hosting target: nothing until the hosting is served, then its addresses
        let hosted = sd(Target {
            hosting: Some("web".into()),
            ..Default::default()
        });
        assert!(matches!(
            decide(&hosted, &observed(None, None), &[], now),
            Desired::Withdraw { reason: reasons::HOSTING_PENDING, why } if why.contains("not Ready")
        ));
        assert!(matches!(
            decide(&hosted, &observed(Some(vec!["192.0.2.10".into()]), None), &[], now),
            Desired::Publish { records, .. } if records[0].spec.values == ["192.0.2.10"]
        ));
    }

    #[test]
    fn ready_status_says_published_then_suspended_then_resumed_once_each() {
        let s = sd(Target {
            addresses: vec!["10.0.0.1".into()],
            ..Default::default()
        });
        let keep = vec!["a.portal.k.go.id".to_string()];
        let (st, ev) = ready_status(
            &s,
            Default::default(),
            keep.clone(),
            false,
            SuspensionMode::Withdraw,
        );
        assert!(status::is_true(&st.conditions, types::READY));
        assert_eq!(ev.len(), 1);
        let (st, ev) = ready_status(&s, st, keep.clone(), false, SuspensionMode::Withdraw);
        assert!(ev.is_empty(), "no news, no Event");
        let mut held = s.clone();
        held.spec.suspend = Some(Suspension {
            reason: "audit".into(),
            until: None,
        });
        let (st, ev) = ready_status(&held, st, vec![], true, SuspensionMode::Redirect);
        assert!(!status::is_true(&st.conditions, types::READY));
        assert!(ev[0].2.contains("redirected to the notice page"), "{ev:?}");
        let (_, ev) = ready_status(&s, st, keep, false, SuspensionMode::Withdraw);
        assert_eq!(ev[0].0, "Resumed");
    }
}
