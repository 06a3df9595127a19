//! Bucket → a bucket on the object store, its quota, one working access key at all times, and
//! the credentials Secret in the tenant's home namespace.
//!
//! Key rotation never leaves a moment without a working key: the new key is made and granted,
//! the Secret switched to it, and only then is the old key given an end (its grace period) —
//! enforced by the object store itself (Garage key expiry), and removed by us afterwards. Key
//! ids are derived from the Bucket's uid and the key's serial ([`keys::key_id`]), so a
//! reconcile killed at any line and retried finds the key it made instead of making another.
//!
//! Deletion (finalizer): `Retain` revokes the keys and leaves the bucket and its data;
//! `Delete` removes the bucket, and refuses while objects remain unless `purge` is set.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};

use super::status::{self, reasons, types};
use super::{Context, Error, MANAGER, Result};
use crate::api::{
    Bucket, BucketStatus, BucketUsage, DeletionPolicy, RetiringKey, Tenant, labels,
    tenant_of_namespace,
};
use crate::objectstore::{KeyPair, ObjectStore, keys, purge};
use crate::rules::{self, Violation, storage};

/// Finalizer: the object store's keys (and, with `Delete`, the bucket) go before the Bucket.
pub const FINALIZER: &str = "kavling.go.id/bucket";

/// How often usage is refreshed while nothing else is due.
const USAGE_REFRESH: Duration = Duration::from_secs(120);

/// A time long past: a key set to expire then is disabled (Garage checks expiry on every
/// request), and setting it back to "never" re-enables it without touching anything else.
fn disabled_since() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).expect("2000-01-01 is a valid time")
}

pub use crate::rules::storage::secret_name;

/// The credentials Secret (pure): for SDKs (`AWS_*`, usable with `envFrom`) and for people.
pub fn build_secret(
    b: &Bucket,
    backend_name: &str,
    endpoint: (&str, &str),
    key: &KeyPair,
) -> Secret {
    let (url, region) = endpoint;
    let data: BTreeMap<String, ByteString> = [
        ("endpoint", url),
        ("region", region),
        ("bucket", backend_name),
        ("accessKeyId", key.access_key_id.as_str()),
        ("secretAccessKey", key.secret_access_key.as_str()),
        ("AWS_ENDPOINT_URL", url),
        ("AWS_REGION", region),
        ("AWS_ACCESS_KEY_ID", key.access_key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", key.secret_access_key.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
    .collect();
    let tenant = b
        .namespace()
        .as_deref()
        .and_then(tenant_of_namespace)
        .unwrap_or_default()
        .to_string();
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(&b.name_any())),
            namespace: b.namespace(),
            labels: Some(BTreeMap::from([
                (labels::TENANT.into(), tenant),
                (labels::MANAGED_BY.into(), labels::MANAGER.into()),
            ])),
            owner_references: b.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    }
}

/// Whether the Bucket's suspension is in force at `now`.
pub fn suspended_at(b: &Bucket, now: DateTime<Utc>) -> bool {
    super::subdomain::suspension_in_force(b.spec.suspend.as_ref(), now)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Rules that need the live state (the tenant and its other buckets) and the backend.
async fn live_violations(
    ctx: &Context,
    b: &Bucket,
    tenant: &str,
    store: &dyn ObjectStore,
) -> Result<Vec<Violation>> {
    let mut v = vec![];
    let caps = store.capabilities();
    if b.spec.versioning && !caps.versioning {
        v.push(Violation::new(
            "spec.versioning",
            "versioning-unsupported",
            format!(
                "the Pusat Data's object store ({}) cannot keep object versions; set versioning: false or ask the Dinas for a store that can",
                store.name()
            ),
        ));
    }
    if b.spec.max_objects.is_some() && !caps.object_quota {
        v.push(Violation::new(
            "spec.maxObjects",
            "object-quota-unsupported",
            format!(
                "{} has no object-count quota; remove maxObjects",
                store.name()
            ),
        ));
    }
    let Some(t) = Api::<Tenant>::all(ctx.client.clone())
        .get_opt(tenant)
        .await?
    else {
        v.push(Violation::new(
            "metadata.namespace",
            "tenant-exists",
            format!("tenant '{tenant}' does not exist"),
        ));
        return Ok(v);
    };
    let ns = b.namespace().unwrap_or_default();
    let others: Vec<u64> = Api::<Bucket>::namespaced(ctx.client.clone(), &ns)
        .list(&super::cached())
        .await?
        .items
        .iter()
        .filter(|o| o.name_any() != b.name_any() && o.meta().deletion_timestamp.is_none())
        .map(|o| storage::size_bytes(&o.spec.size).unwrap_or(0))
        .collect();
    if let Some(size) = storage::size_bytes(&b.spec.size) {
        v.extend(storage::check_budget(
            "spec.size",
            &t.spec.limits,
            &others,
            size,
        ));
    }
    Ok(v)
}

async fn reconcile(b: Arc<Bucket>, ctx: Arc<Context>) -> Result<Action> {
    let ns = b
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<Bucket> = Api::namespaced(ctx.client.clone(), &ns);
    let out = finalizer::finalizer(&api, FINALIZER, b.clone(), |event| async {
        match event {
            Finalizer::Apply(b) => apply(&b, &ctx).await,
            Finalizer::Cleanup(b) => cleanup(&b, &ctx).await,
        }
    })
    .await
    .map_err(super::harness::from_finalizer);
    if let Err(Error::Store(e)) = &out {
        // tell a person why it waits; the error policy backs off
        let mut st = b.status.clone().unwrap_or_default();
        let gen_ = b.metadata.generation;
        status::set(
            &mut st.conditions,
            status::condition(
                types::READY,
                false,
                reasons::OBJECT_STORE_UNAVAILABLE,
                format!("{e}; retrying with backoff"),
                gen_,
            ),
        );
        let _ = patch_status(&ctx, &b, &st).await;
    }
    out
}

/// A Bucket's gauges: its quota and what it holds (for the "near quota" alert).
fn gauges(b: &Bucket) -> Vec<crate::metrics::Sample> {
    let labels = crate::metrics::object(&b.namespace().unwrap_or_default(), &b.name_any());
    let mut out = Vec::new();
    if let Some(size) = storage::size_bytes(&b.spec.size) {
        out.push(("kavling_bucket_quota_bytes", labels.clone(), size as f64));
    }
    if let Some(u) = b.status.as_ref().and_then(|s| s.usage.as_ref()) {
        out.push(("kavling_bucket_used_bytes", labels, u.bytes as f64));
    }
    out
}

async fn patch_status(ctx: &Context, b: &Bucket, st: &BucketStatus) -> Result<()> {
    if b.status.as_ref() == Some(st) {
        return Ok(());
    }
    super::apply_status(&ctx.client, b, st).await
}

/// Reports a spec or rule problem: nothing is created or changed.
async fn refuse(
    ctx: &Context,
    b: &Bucket,
    reason: &'static str,
    message: String,
) -> Result<Action> {
    super::harness::refuse(ctx, b, b.status.as_ref(), reason, message).await
}

/// A Bucket's spec, checked and parsed (pure).
#[derive(Debug, PartialEq)]
pub struct Validated {
    /// `<tenant>--<name>` on the object store.
    pub backend_name: String,
    pub size: u64,
    pub period: chrono::Duration,
    pub grace: chrono::Duration,
}

/// validate (pure): the backend name and the spec's rules, parsed once.
pub fn validate(b: &Bucket, tenant: &str) -> std::result::Result<Validated, String> {
    let backend_name = storage::backend_name(tenant, &b.name_any());
    let mut violations = storage::check_bucket_name("metadata.name", &backend_name);
    violations.extend(storage::check_bucket(&b.spec));
    let parsed = (
        storage::size_bytes(&b.spec.size),
        keys::parse_duration(&b.spec.rotation.period),
        keys::parse_duration(&b.spec.rotation.grace),
    );
    match (violations.is_empty(), parsed) {
        (true, (Some(size), Some(period), Some(grace))) => Ok(Validated {
            backend_name,
            size,
            period,
            grace,
        }),
        // check_bucket names every unparsable field, so the summary is never empty here
        _ => Err(rules::summarize(&violations)),
    }
}

/// What one reconcile works with once validated: the Bucket, its store, the time.
struct Run<'a> {
    ctx: &'a Context,
    b: &'a Bucket,
    store: &'a dyn ObjectStore,
    now: DateTime<Utc>,
}

/// validate → live rules → keys → bucket → Secret → rotation → report.
async fn apply(b: &Bucket, ctx: &Context) -> Result<Action> {
    let now = Utc::now();
    let ns = b.namespace().unwrap_or_default();
    let name = b.name_any();
    let Some(tenant) = tenant_of_namespace(&ns) else {
        return refuse(
            ctx,
            b,
            reasons::INVALID_SPEC,
            format!("metadata.namespace: buckets live in a tenant's home namespace (tenant-<name>), not {ns}"),
        )
        .await;
    };
    let Validated {
        backend_name,
        size,
        period,
        grace,
    } = match validate(b, tenant) {
        Ok(v) => v,
        Err(why) => return refuse(ctx, b, reasons::INVALID_SPEC, why).await,
    };
    let Some(store) = ctx.store.clone() else {
        return refuse(
            ctx,
            b,
            reasons::NO_OBJECT_STORE,
            "the operator has no object store configured (--garage-admin); ask the Dinas".into(),
        )
        .await;
    };
    let live = live_violations(ctx, b, tenant, store.as_ref()).await?;
    if !live.is_empty() {
        return refuse(ctx, b, reasons::RULE_BROKEN, rules::summarize(&live)).await;
    }
    let uid = b.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let run = Run {
        ctx,
        b,
        store: store.as_ref(),
        now,
    };

    // keys first — the bucket is made with its first key granted in one call
    let old = b.status.clone().unwrap_or_default();
    let mut st = old.clone();
    let suspended = suspended_at(b, now);
    let retiring_until = old
        .retiring_key
        .as_ref()
        .and_then(|r| parse_time(Some(&r.until)));
    let requested = b
        .annotations()
        .get(crate::api::annotations::ROTATE_REQUESTED_AT)
        .and_then(|t| parse_time(Some(t)));
    let plan = keys::plan(
        now,
        old.key_serial,
        parse_time(old.last_rotation.as_deref()),
        retiring_until,
        period,
        suspended,
        requested,
    );
    if plan.retire_now
        && let Some(r) = &old.retiring_key
    {
        retire(&run, r).await?;
        st.retiring_key = None;
    }
    let current_id = keys::key_id(&uid, plan.serial);
    let key = store
        .ensure_key(
            &current_id,
            &format!("kavling {ns}/{name} #{}", plan.serial),
            !plan.new_key,
        )
        .await?;
    let info = match ensure_bucket(&run, &backend_name, &current_id, size).await? {
        Ok(info) => info,
        Err(conflict) => return refuse(ctx, b, reasons::OBJECT_CONFLICT, conflict).await,
    };
    // A fresh key never expires. An existing one is set whenever suspension is in play, and
    // once per spec change (level-triggered repair of a key changed behind our back).
    let was_suspended = status::is_true(&old.conditions, types::SUSPENDED);
    if suspended
        || was_suspended
        || (!plan.new_key && old.observed_generation != b.metadata.generation)
    {
        store
            .set_key_expiry(&current_id, suspended.then(disabled_since))
            .await?;
    }
    // the Secret switches to the current key before the old key gets an end
    write_secret(&run, &backend_name, &key).await?;
    rotate(
        &run,
        &old,
        &mut st,
        Rotation {
            new_key: plan.new_key,
            current_id: &current_id,
            backend_name: &backend_name,
            grace,
            suspended,
            retiring_until,
        },
    )
    .await?;

    // report
    let (st, events) = ready_status(
        b,
        st,
        &Ready {
            backend_name: &backend_name,
            current_id: &current_id,
            store_name: store.name(),
            endpoint: store.endpoint().0,
            info: &info,
            serial: plan.serial,
            period,
            now,
            suspended,
            was_suspended,
        },
    );
    for (type_, reason, action, note) in events {
        ctx.event(b, type_, reason, action, note).await;
    }
    patch_status(ctx, b, &st).await?;

    // wake for the next rotation, the end of a grace period, a suspension's end, or usage
    let mut wake = plan.wake_at;
    if let Some(until) = b
        .spec
        .suspend
        .as_ref()
        .and_then(|s| s.until.as_deref())
        .and_then(super::subdomain::parse_until)
        && until > now
    {
        wake = wake.min(until);
    }
    let secs = (wake - now)
        .num_seconds()
        .clamp(1, USAGE_REFRESH.as_secs() as i64);
    Ok(Action::requeue(Duration::from_secs(secs as u64)))
}

/// Removes the previous key once its grace period is over.
async fn retire(run: &Run<'_>, r: &RetiringKey) -> Result<()> {
    run.store.delete_key(&r.access_key_id).await?;
    run.ctx
        .event(
            run.b,
            EventType::Normal,
            reasons::KEY_RETIRED,
            "RetireKey",
            format!(
                "the previous access key {} was removed after its grace period",
                r.access_key_id
            ),
        )
        .await;
    Ok(())
}

/// The bucket, made with the current key granted in the same call, and found again only when
/// it provably is this Bucket's (never adopted by its name), then its quota and grant.
/// `Err` is a conflict to refuse with.
async fn ensure_bucket(
    run: &Run<'_>,
    backend_name: &str,
    current_id: &str,
    size: u64,
) -> Result<std::result::Result<crate::objectstore::BucketInfo, String>> {
    let known = run.b.status.as_ref().and_then(|s| s.bucket_id.as_deref());
    let info = match run
        .store
        .ensure_bucket(backend_name, current_id, known)
        .await
    {
        Ok(info) => info,
        Err(e @ crate::objectstore::StoreError::NotOurs { .. }) => return Ok(Err(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    run.store
        .set_quota(&info.id, Some(size), run.b.spec.max_objects)
        .await?;
    run.store.grant(&info.id, current_id).await?;
    Ok(Ok(info))
}

/// The credentials Secret, written only when its data changed.
async fn write_secret(run: &Run<'_>, backend_name: &str, key: &KeyPair) -> Result<()> {
    let name = run.b.name_any();
    let secret = build_secret(run.b, backend_name, run.store.endpoint(), key);
    let secrets: Api<Secret> = Api::namespaced(
        run.ctx.client.clone(),
        &run.b.namespace().unwrap_or_default(),
    );
    let existing = secrets.get_opt(&secret_name(&name)).await?;
    if existing.as_ref().and_then(|s| s.data.as_ref()) != secret.data.as_ref() {
        secrets
            .patch(
                &secret_name(&name),
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&secret),
            )
            .await?;
    }
    Ok(())
}

/// What [`rotate`] needs to know of this reconcile's key plan.
struct Rotation<'a> {
    new_key: bool,
    current_id: &'a str,
    backend_name: &'a str,
    grace: chrono::Duration,
    suspended: bool,
    retiring_until: Option<DateTime<Utc>>,
}

/// A new key: the previous one works for the grace period (enforced by the store too) and the
/// rotation is recorded; otherwise the retiring key's end is kept (or disabled while
/// suspended).
async fn rotate(
    run: &Run<'_>,
    old: &BucketStatus,
    st: &mut BucketStatus,
    r: Rotation<'_>,
) -> Result<()> {
    let (ctx, b, store, now) = (run.ctx, run.b, run.store, run.now);
    let name = b.name_any();
    let Rotation {
        new_key,
        current_id,
        backend_name,
        grace,
        suspended,
        retiring_until,
    } = r;
    let current_id = current_id.to_string();
    if new_key {
        if let Some(prev) = old.access_key_id.as_ref().filter(|p| **p != current_id) {
            // a rotation: the previous key works for the grace period, enforced by the store too
            if let Some(r) = st.retiring_key.take() {
                store.delete_key(&r.access_key_id).await?;
            }
            let until = now + grace;
            if store.key_exists(prev).await? {
                store
                    .set_key_expiry(prev, Some(if suspended { disabled_since() } else { until }))
                    .await?;
                st.retiring_key = Some(RetiringKey {
                    access_key_id: prev.clone(),
                    until: time(until),
                });
            }
            ctx.event(
                b,
                EventType::Normal,
                reasons::KEY_ROTATED,
                "RotateKey",
                format!(
                    "new access key {current_id} in Secret {}; the previous key {prev} works until {}",
                    secret_name(&name),
                    time(until)
                ),
            )
            .await;
        } else {
            ctx.event(
                b,
                EventType::Normal,
                reasons::PROVISIONED,
                "Provision",
                format!(
                    "bucket {backend_name} on {} with access key {current_id}; credentials in Secret {}",
                    store.name(),
                    secret_name(&name)
                ),
            )
            .await;
        }
        // milliseconds: a rotation asked for in the same second must not look unanswered
        st.last_rotation = Some(now.to_rfc3339_opts(SecondsFormat::Millis, true));
    } else if let (Some(r), true) = (&st.retiring_key, suspended) {
        store
            .set_key_expiry(&r.access_key_id, Some(disabled_since()))
            .await?;
    } else if let (Some(r), Some(until)) = (&st.retiring_key, retiring_until) {
        store.set_key_expiry(&r.access_key_id, Some(until)).await?;
    }

    Ok(())
}

/// What [`ready_status`] reports.
struct Ready<'a> {
    backend_name: &'a str,
    current_id: &'a str,
    store_name: &'a str,
    endpoint: &'a str,
    info: &'a crate::objectstore::BucketInfo,
    serial: u32,
    period: chrono::Duration,
    now: DateTime<Utc>,
    suspended: bool,
    was_suspended: bool,
}

/// The status of a provisioned Bucket (pure), and the Events its transitions deserve.
fn ready_status(
    b: &Bucket,
    mut st: BucketStatus,
    r: &Ready<'_>,
) -> (
    BucketStatus,
    Vec<(EventType, &'static str, &'static str, String)>,
) {
    let gen_ = b.metadata.generation;
    let name = b.name_any();
    let mut events = vec![];
    let last = parse_time(st.last_rotation.as_deref()).unwrap_or(r.now);
    st.bucket_name = Some(r.backend_name.to_string());
    st.bucket_id = Some(r.info.id.clone());
    st.endpoint = Some(r.endpoint.to_string());
    st.secret_name = Some(secret_name(&name));
    st.access_key_id = Some(r.current_id.to_string());
    st.key_serial = r.serial;
    st.next_rotation = Some(time(last + r.period));
    st.usage = Some(BucketUsage {
        bytes: r.info.bytes,
        objects: r.info.objects,
    });
    st.observed_generation = gen_;
    status::remove(&mut st.conditions, types::FAILED);
    status::remove(&mut st.conditions, types::RECONCILING);
    status::set(
        &mut st.conditions,
        status::condition(
            types::READY,
            true,
            reasons::PROVISIONED,
            format!(
                "bucket {} ({} quota) on {}; credentials in Secret {}",
                r.backend_name,
                b.spec.size,
                r.store_name,
                secret_name(&name)
            ),
            gen_,
        ),
    );
    // at the quota: Ready stays (reads work) but a person must see it (condition and Event)
    let quota = storage::size_bytes(&b.spec.size);
    let full_bytes = quota.is_some_and(|q| r.info.bytes >= q);
    let full_objects = b.spec.max_objects.is_some_and(|m| r.info.objects >= m);
    let was_full = status::is_true(&st.conditions, types::QUOTA_FULL);
    let full_message = if full_bytes {
        format!(
            "holds {} bytes of its {} quota: writes are refused; delete objects or file a request for a larger size",
            r.info.bytes, b.spec.size
        )
    } else if full_objects {
        format!(
            "holds {} objects, its limit: writes are refused; delete objects or file a request for a higher limit",
            r.info.objects
        )
    } else {
        format!(
            "{} bytes and {} objects, within its quota",
            r.info.bytes, r.info.objects
        )
    };
    let full = full_bytes || full_objects;
    status::set(
        &mut st.conditions,
        status::condition(
            types::QUOTA_FULL,
            full,
            if full {
                reasons::QUOTA_REACHED
            } else {
                reasons::WITHIN_QUOTA
            },
            full_message.clone(),
            gen_,
        ),
    );
    if full && !was_full {
        events.push((
            EventType::Warning,
            reasons::QUOTA_REACHED,
            "Usage",
            full_message,
        ));
    } else if !full && was_full {
        events.push((
            EventType::Normal,
            reasons::WITHIN_QUOTA,
            "Usage",
            full_message,
        ));
    }
    if r.suspended {
        let why = b
            .spec
            .suspend
            .as_ref()
            .map(|s| s.reason.clone())
            .unwrap_or_default();
        status::set(
            &mut st.conditions,
            status::condition(
                types::SUSPENDED,
                true,
                reasons::SUSPENDED,
                format!("access disabled by the Dinas: {why}; the data is kept"),
                gen_,
            ),
        );
        if !r.was_suspended {
            events.push((
                EventType::Warning,
                reasons::SUSPENDED,
                "Suspend",
                format!("access key disabled: {why}"),
            ));
        }
    } else {
        status::set(
            &mut st.conditions,
            status::condition(
                types::SUSPENDED,
                false,
                reasons::ACTIVE,
                "access enabled",
                gen_,
            ),
        );
        if r.was_suspended {
            events.push((
                EventType::Normal,
                reasons::ACTIVE,
                "Resume",
                "access key enabled again".into(),
            ));
        }
    }
    (st, events)
}

async fn cleanup(b: &Bucket, ctx: &Context) -> Result<Action> {
    let ns = b.namespace().unwrap_or_default();
    let name = b.name_any();
    let st = b.status.clone().unwrap_or_default();
    let Some(store) = ctx.store.clone() else {
        return Err(Error::Blocked(
            "no object store configured; cannot revoke the bucket's keys".into(),
        ));
    };
    let Some(uid) = b.uid() else {
        return Ok(Action::await_change());
    };
    let backend_name = st
        .bucket_name
        .clone()
        .unwrap_or_else(|| storage::backend_name(tenant_of_namespace(&ns).unwrap_or(&ns), &name));
    // every key this Bucket may have made: the current, the retiring, and the next one (an
    // interrupted rotation may have made it)
    let mut key_ids: Vec<String> = vec![
        keys::key_id(&uid, st.key_serial.max(1)),
        keys::key_id(&uid, st.key_serial + 1),
    ];
    key_ids.extend(st.access_key_id.clone());
    key_ids.extend(st.retiring_key.as_ref().map(|r| r.access_key_id.clone()));
    key_ids.sort();
    key_ids.dedup();

    // only the bucket this Bucket's status recorded is ever deleted: one found by name alone
    // may be another's
    if b.spec.deletion_policy == DeletionPolicy::Delete
        && let Some(info) = store.find_bucket(&backend_name).await?
        && st.bucket_id.as_deref() == Some(info.id.as_str())
    {
        if info.objects > 0 && !b.spec.purge {
            let msg = format!(
                "deletionPolicy Delete: bucket {backend_name} still holds {} object(s); empty it, or set spec.purge: true to delete them, or set deletionPolicy: Retain to keep the data",
                info.objects
            );
            let mut st2 = st.clone();
            status::set(
                &mut st2.conditions,
                status::condition(
                    types::READY,
                    false,
                    reasons::DELETION_BLOCKED,
                    msg.clone(),
                    b.metadata.generation,
                ),
            );
            if status::get(&st.conditions, types::READY).map(|c| c.reason.as_str())
                != Some(reasons::DELETION_BLOCKED)
            {
                ctx.event(
                    b,
                    EventType::Warning,
                    reasons::DELETION_BLOCKED,
                    "Delete",
                    msg.clone(),
                )
                .await;
            }
            patch_status(ctx, b, &st2).await?;
            return Err(Error::Blocked(msg));
        }
        if info.objects > 0 {
            let current = keys::key_id(&uid, st.key_serial.max(1));
            let key = store
                .ensure_key(&current, &format!("kavling {ns}/{name} purge"), true)
                .await?;
            store.grant(&info.id, &current).await?;
            store.set_key_expiry(&current, None).await?;
            let (endpoint, region) = store.endpoint();
            let n = purge::purge(endpoint, region, &backend_name, &key).await?;
            ctx.event(
                b,
                EventType::Warning,
                reasons::PURGED,
                "Delete",
                format!("purged {n} object(s) from {backend_name} (spec.purge)"),
            )
            .await;
        }
        store.delete_bucket(&info.id).await?;
        ctx.event(
            b,
            EventType::Normal,
            reasons::DELETED,
            "Delete",
            format!("bucket {backend_name} deleted (deletionPolicy Delete)"),
        )
        .await;
    } else if b.spec.deletion_policy == DeletionPolicy::Retain {
        ctx.event(b, EventType::Normal, reasons::RETAINED, "Delete", format!("bucket {backend_name} and its data are kept (deletionPolicy Retain); its keys are revoked"))
            .await;
    }
    for id in &key_ids {
        store.delete_key(id).await?;
    }
    Ok(Action::await_change())
}

/// Runs the Bucket controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let controller = Controller::new(
        Api::<Bucket>::all(client.clone()),
        watcher::Config::default(),
    );
    let store = controller.store();
    ctx.metrics.collect_with(Box::new(move || {
        store.state().iter().flat_map(|b| gauges(b)).collect()
    }));
    super::harness::run(
        controller.owns(
            Api::<Secret>::all(client.clone()),
            watcher::Config::default().labels(&format!(
                "{}={}",
                labels::MANAGED_BY,
                labels::MANAGER
            )),
        ),
        ctx,
        reconcile,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BucketSpec, DataClassification};

    fn bucket() -> Bucket {
        let mut b = Bucket::new(
            "arsip",
            BucketSpec {
                size: "10Gi".into(),
                max_objects: None,
                classification: DataClassification::Terbatas,
                personal_data: true,
                versioning: false,
                rotation: Default::default(),
                deletion_policy: DeletionPolicy::Retain,
                purge: false,
                suspend: None,
            },
        );
        b.metadata.namespace = Some("tenant-dinkes".into());
        b.metadata.uid = Some("u-1".into());
        b
    }

    #[test]
    fn secret_carries_endpoint_bucket_and_key_and_is_owned() {
        let key = KeyPair {
            access_key_id: "GKabc".into(),
            secret_access_key: "s3cr3t".into(),
        };
        let s = build_secret(
            &bucket(),
            "dinkes-arsip",
            ("http://127.0.0.1:3900", "garage"),
            &key,
        );
        let data = s.data.unwrap();
        let get = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
        assert_eq!(get("bucket"), "dinkes-arsip");
        assert_eq!(get("AWS_SECRET_ACCESS_KEY"), "s3cr3t");
        assert_eq!(get("endpoint"), "http://127.0.0.1:3900");
        assert_eq!(s.metadata.name.as_deref(), Some("arsip-s3-credentials"));
        let owner = &s.metadata.owner_references.unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Bucket", "u-1"));
        assert!(format!("{key:?}").contains("GKabc") && !format!("{key:?}").contains("s3cr3t"));
    }

    #[test]
    fn suspension_with_an_end() {
        let mut b = bucket();
        let now = Utc::now();
        assert!(!suspended_at(&b, now));
        b.spec.suspend = Some(crate::api::Suspension {
            reason: "audit".into(),
            until: Some(time(now + chrono::Duration::hours(1))),
        });
        assert!(suspended_at(&b, now));
        assert!(!suspended_at(&b, now + chrono::Duration::hours(2)));
    }

    #[test]
    fn validate_parses_once_and_names_what_is_wrong() {
        let v = validate(&bucket(), "dinkes").unwrap();
        assert_eq!(v.backend_name, "dinkes--arsip");
        assert_eq!(v.size, 10 * 1024 * 1024 * 1024);
        assert_eq!(v.period, chrono::Duration::days(90));
        let mut bad = bucket();
        bad.spec.size = "lots".into();
        bad.spec.rotation.period = "soon".into();
        let why = validate(&bad, "dinkes").unwrap_err();
        assert!(
            why.contains("spec.size") && why.contains("spec.rotation.period"),
            "{why}"
        );
    }

    #[test]
    fn ready_status_reports_the_bucket_and_suspension_transitions_once() {
        let info = crate::objectstore::BucketInfo {
            id: "b-1".into(),
            objects: 3,
            bytes: 42,
            keys: vec![],
        };
        let now = Utc::now();
        let ready = |suspended, was_suspended| Ready {
            backend_name: "dinkes--arsip",
            current_id: "GK1",
            store_name: "garage",
            endpoint: "http://127.0.0.1:3900",
            info: &info,
            serial: 1,
            period: chrono::Duration::days(90),
            now,
            suspended,
            was_suspended,
        };
        let (st, events) = ready_status(&bucket(), Default::default(), &ready(false, false));
        assert!(status::is_true(&st.conditions, types::READY));
        assert_eq!(st.bucket_id.as_deref(), Some("b-1"));
        assert_eq!(st.usage.as_ref().map(|u| u.bytes), Some(42));
        assert!(events.is_empty());
        let (st, events) = ready_status(&bucket(), st, &ready(true, false));
        assert!(status::is_true(&st.conditions, types::SUSPENDED));
        assert_eq!(events.len(), 1);
        let (_, events) = ready_status(&bucket(), st, &ready(false, true));
        assert_eq!(events[0].2, "Resume");
    }

    #[test]
    fn a_full_bucket_stays_ready_and_says_so_once() {
        let info = |objects, bytes| crate::objectstore::BucketInfo {
            id: "b-1".into(),
            objects,
            bytes,
            keys: vec![],
        };
        let now = Utc::now();
        let mut b = bucket();
        b.spec.size = "1Ki".into();
        b.spec.max_objects = Some(10);
        let ready = |info| Ready {
            backend_name: "dinkes--arsip",
            current_id: "GK1",
            store_name: "garage",
            endpoint: "http://127.0.0.1:3900",
            info,
            serial: 1,
            period: chrono::Duration::days(90),
            now,
            suspended: false,
            was_suspended: false,
        };
        let (i1, i2, i3, i4) = (info(3, 100), info(3, 1024), info(10, 10), info(2, 10));
        let (st, events) = ready_status(&b, Default::default(), &ready(&i1));
        assert!(!status::is_true(&st.conditions, types::QUOTA_FULL) && events.is_empty());
        let (st, events) = ready_status(&b, st, &ready(&i2));
        assert!(status::is_true(&st.conditions, types::READY));
        let full = status::get(&st.conditions, types::QUOTA_FULL).unwrap();
        assert!(
            full.status == "True" && full.message.contains("writes are refused"),
            "{full:?}"
        );
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].1, reasons::QUOTA_REACHED);
        // still full: no second Event; objects at their limit count too
        let (st, events) = ready_status(&b, st, &ready(&i3));
        assert!(status::is_true(&st.conditions, types::QUOTA_FULL) && events.is_empty());
        let (st, events) = ready_status(&b, st, &ready(&i4));
        assert!(!status::is_true(&st.conditions, types::QUOTA_FULL));
        assert_eq!(events[0].1, reasons::WITHIN_QUOTA);
    }
}
