//! Certificate → an ACME order with DNS-01 through Kavling's own zones → a
//! `kubernetes.io/tls` Secret, renewed by itself.
//!
//! One step per reconcile, its state in status, so a restart resumes the same order (its URL
//! is recorded the moment it exists) instead of placing another:
//! Idle → (budget) → Publishing (challenge TXT records as DnsRecords, until every DNS server
//! answers them) → Validating (the CA is told; its Retry-After is honoured) → Issuing (a
//! fresh key, kept in a staging Secret, and a CSR) → Idle with the Secret written in one patch
//! (never deleted, so no downtime). Challenge records go after every order, won or lost.
//! Failures back off per Certificate (5 s doubling to 30 min, kept in status across restarts).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use instant_acme::{
    Account, ChallengeStatus, ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy,
};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};

use super::status::{self, reasons, types};
use super::{Context, Error, MANAGER, Result, label_value};
use crate::acme::{cert, dnscheck, names, schedule};
use crate::api::{
    Certificate, CertificateStatus, DnsRecord, DnsRecordSpec, Failure, Issuer, OrderStep,
    RecordType, Subdomain, Zone, labels, record_object_name,
};
use crate::rules;

/// Finalizer: challenge records (cluster-scoped, so not garbage-collected with a namespaced
/// owner) are removed before the Certificate goes.
pub const FINALIZER: &str = "kavling.go.id/certificate";
/// Label on challenge DnsRecords: which Certificate (`<ns>.<name>`) they belong to.
pub const CERT_LABEL: &str = "kavling.go.id/certificate";

const WEEK: chrono::Duration = chrono::Duration::days(7);
const THREE_HOURS: chrono::Duration = chrono::Duration::hours(3);

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn cert_key(c: &Certificate) -> String {
    label_value(&format!(
        "{}.{}",
        c.namespace().unwrap_or_default(),
        c.name_any()
    ))
}

/// The staging Secret holding the key of an order being finalized.
pub fn staging_secret_name(cert: &str) -> String {
    format!("{cert}-acme-pending-key")
}

/// The `kubernetes.io/tls` Secret (pure).
pub fn build_tls_secret(c: &Certificate, chain: &str, key_pem: &str, ca: Option<&str>) -> Secret {
    let mut data = BTreeMap::from([
        ("tls.crt".to_string(), ByteString(chain.as_bytes().to_vec())),
        (
            "tls.key".to_string(),
            ByteString(key_pem.as_bytes().to_vec()),
        ),
    ]);
    if let Some(ca) = ca {
        data.insert("ca.crt".into(), ByteString(ca.as_bytes().to_vec()));
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(c.spec.secret_name.clone()),
            namespace: c.namespace(),
            labels: Some(BTreeMap::from([(
                labels::MANAGED_BY.into(),
                labels::MANAGER.into(),
            )])),
            owner_references: c.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(data),
        ..Default::default()
    }
}

/// The challenge DnsRecord for one name (pure): a TXT RRset with every value the order
/// needs there (a name and its wildcard share one).
pub fn build_challenge_record(
    c: &Certificate,
    zone: &str,
    fqdn: &str,
    values: &[String],
) -> DnsRecord {
    let mut r = DnsRecord::new(
        &record_object_name(fqdn, RecordType::TXT),
        DnsRecordSpec {
            zone: zone.to_string(),
            name: fqdn.to_string(),
            type_: RecordType::TXT,
            ttl: Some(60),
            values: values.to_vec(),
        },
    );
    r.metadata.labels = Some(BTreeMap::from([
        (CERT_LABEL.into(), cert_key(c)),
        (labels::ZONE.into(), label_value(zone)),
        (labels::MANAGED_BY.into(), labels::MANAGER.into()),
    ]));
    r
}

/// Deletes this Certificate's challenge records.
async fn remove_challenges(ctx: &Context, c: &Certificate) -> Result<usize> {
    let api: Api<DnsRecord> = Api::all(ctx.client.clone());
    let mine = api
        .list(&super::cached().labels(&format!("{CERT_LABEL}={}", cert_key(c))))
        .await?;
    for r in &mine.items {
        match api.delete(&r.name_any(), &DeleteParams::default()).await {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(mine.items.len())
}

/// What the reconcile learned, turned into status by [`report`].
struct Step {
    step: OrderStep,
    ready: bool,
    reason: &'static str,
    message: String,
    requeue: Duration,
    failure: Option<(&'static str, String)>,
}

impl Step {
    fn wait(
        step: OrderStep,
        reason: &'static str,
        message: impl Into<String>,
        requeue: Duration,
    ) -> Self {
        Self {
            step,
            ready: false,
            reason,
            message: message.into(),
            requeue,
            failure: None,
        }
    }
}

async fn reconcile(c: Arc<Certificate>, ctx: Arc<Context>) -> Result<Action> {
    let name = c.name_any();
    super::timed("Certificate", name, reconcile_inner(c, ctx)).await
}

async fn reconcile_inner(c: Arc<Certificate>, ctx: Arc<Context>) -> Result<Action> {
    let ns = c
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<Certificate> = Api::namespaced(ctx.client.clone(), &ns);
    // A fresh read, not the watch cache: the order step lives in status, and acting on a
    // status older than our own last write would resume a finished order (its staging key
    // already gone) or overwrite lastIssued, which the budget counts.
    let Some(fresh) = api.get_opt(&c.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let c = Arc::new(fresh);
    let out = finalizer::finalizer(&api, FINALIZER, c.clone(), |event| async {
        match event {
            Finalizer::Apply(c) => apply(&c, &ctx).await,
            Finalizer::Cleanup(c) => {
                remove_challenges(&ctx, &c).await?;
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        finalizer::Error::AddFinalizer(k) | finalizer::Error::RemoveFinalizer(k) => Error::Kube(k),
        _ => Error::MissingField("metadata.name"),
    });
    if out.is_ok() {
        ctx.succeeded(c.as_ref());
    }
    out
}

/// The tenant a namespace belongs to (its `kavling.go.id/tenant` label: home and hosting
/// namespaces both carry it).
async fn tenant_of(ctx: &Context, ns: &str) -> Result<Option<String>> {
    Ok(Api::<Namespace>::all(ctx.client.clone())
        .get_opt(ns)
        .await?
        .and_then(|n| n.labels().get(labels::TENANT).cloned()))
}

async fn apply(c: &Certificate, ctx: &Context) -> Result<Action> {
    let now = Utc::now();
    let ns = c.namespace().unwrap_or_default();
    let old = c.status.clone().unwrap_or_default();
    let wanted: BTreeSet<String> = c.spec.dns_names.iter().cloned().collect();

    // validate: the names (pure, on live state)
    let zones: Vec<String> = Api::<Zone>::all(ctx.client.clone())
        .list(&super::cached())
        .await?
        .items
        .iter()
        .map(|z| z.name_any())
        .collect();
    let held: Vec<String> = match tenant_of(ctx, &ns).await? {
        Some(t) => Api::<Subdomain>::all(ctx.client.clone())
            .list(&super::cached().labels(&format!("{}={t}", labels::TENANT)))
            .await?
            .items
            .iter()
            .map(|s| s.name_any())
            .collect(),
        None => vec![],
    };
    let violations = names::check(&c.spec.dns_names, &zones, &held);
    if !violations.is_empty() {
        remove_challenges(ctx, c).await?;
        let mut st = old.clone();
        st.order = None;
        let step = Step {
            failure: Some((reasons::INVALID_SPEC, rules::summarize(&violations))),
            ..Step::wait(
                OrderStep::Idle,
                reasons::INVALID_SPEC,
                rules::summarize(&violations),
                super::SAFETY_REQUEUE,
            )
        };
        return report(ctx, c, st, step, now, false).await;
    }

    // read: the issuer and the current Secret
    let Some(issuer) = Api::<Issuer>::all(ctx.client.clone())
        .get_opt(&c.spec.issuer)
        .await?
    else {
        return report(
            ctx,
            c,
            old,
            Step::wait(
                OrderStep::Idle,
                reasons::ISSUER_NOT_READY,
                format!("spec.issuer: Issuer '{}' does not exist", c.spec.issuer),
                Duration::from_secs(60),
            ),
            now,
            false,
        )
        .await;
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let current = secrets
        .get_opt(&c.spec.secret_name)
        .await?
        .and_then(|s| s.data)
        .and_then(|d| d.get("tls.crt").map(|b| b.0.clone()))
        .and_then(|pem| cert::leaf(&pem));
    let valid_now = current
        .as_ref()
        .is_some_and(|l| l.names == wanted && now < l.not_after);
    let renew_at = parse_time(old.renewal_time.as_deref()).or_else(|| {
        current
            .as_ref()
            .map(|l| schedule::renewal_time(l.not_before, l.not_after, None, &l.serial))
    });
    if valid_now && old.order.is_none() && renew_at.is_some_and(|r| now < r) {
        remove_challenges(ctx, c).await?;
        let l = current.as_ref().expect("valid_now");
        let mut st = old.clone();
        st.not_before = Some(time(l.not_before));
        st.not_after = Some(time(l.not_after));
        st.serial = Some(l.serial.clone());
        st.names = l.names.iter().cloned().collect();
        st.renewal_time = renew_at.map(time);
        let wait = (renew_at.expect("checked") - now)
            .to_std()
            .unwrap_or_default()
            .min(super::SAFETY_REQUEUE);
        let step = Step {
            ready: true,
            ..Step::wait(
                OrderStep::Idle,
                reasons::ISSUED,
                format!(
                    "certificate for {} name(s) valid until {}; renews at {}",
                    wanted.len(),
                    time(l.not_after),
                    time(renew_at.expect("checked"))
                ),
                wait,
            )
        };
        return report(ctx, c, st, step, now, true).await;
    }

    // a certificate is needed: keep to the backoff, the issuer, the budget
    if let Some(f) = &old.last_failure
        && let Some(at) = parse_time(Some(&f.at))
    {
        let until = at + schedule::retry_delay(f.count);
        if now < until {
            return Ok(Action::requeue((until - now).to_std().unwrap_or_default()));
        }
    }
    if !status::is_true(
        issuer
            .status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default(),
        types::READY,
    ) {
        let why = issuer
            .status
            .as_ref()
            .and_then(|s| status::get(&s.conditions, types::READY))
            .map(|c| c.message.clone())
            .unwrap_or_else(|| "not yet registered".into());
        return report(
            ctx,
            c,
            old,
            Step::wait(
                OrderStep::Idle,
                reasons::ISSUER_NOT_READY,
                format!("Issuer '{}' is not ready: {why}", c.spec.issuer),
                Duration::from_secs(15),
            ),
            now,
            valid_now,
        )
        .await;
    }
    let Some(creds) = super::issuer::credentials(ctx, &c.spec.issuer).await? else {
        return report(
            ctx,
            c,
            old,
            Step::wait(
                OrderStep::Idle,
                reasons::ISSUER_NOT_READY,
                "the Issuer's account is not stored yet",
                Duration::from_secs(15),
            ),
            now,
            valid_now,
        )
        .await;
    };
    let account = match ctx.acme.get(&c.spec.issuer, &issuer.spec, &creds).await {
        Ok(a) => a,
        Err(msg) => {
            return fail(
                ctx,
                c,
                old,
                reasons::CA_UNREACHABLE,
                msg,
                now,
                valid_now,
                false,
            )
            .await;
        }
    };

    let mut st = old.clone();
    st.recent_orders
        .retain(|t| parse_time(Some(t)).is_some_and(|t| t > now - THREE_HOURS));
    if st.order.is_none() {
        let renewal = current.as_ref().is_some_and(|l| l.names == wanted);
        if let Err(until) = check_budget(ctx, c, &issuer, now, renewal).await? {
            return report(
                ctx,
                c,
                st,
                Step::wait(
                    OrderStep::WaitingForBudget,
                    reasons::WAITING_FOR_BUDGET,
                    until.1,
                    (until.0 - now)
                        .to_std()
                        .unwrap_or_default()
                        .max(Duration::from_secs(1)),
                ),
                now,
                valid_now,
            )
            .await;
        }
    }
    order_step(ctx, c, &issuer, &account, st, now, valid_now).await
}

/// Whether the CA's budget allows a new order: per registered domain per week (renewals of
/// the same names are exempt, as at Let's Encrypt) and per account per three hours. The
/// budget is derived from the Certificates' own status, so it survives restarts.
async fn check_budget(
    ctx: &Context,
    c: &Certificate,
    issuer: &Issuer,
    now: DateTime<Utc>,
    renewal: bool,
) -> Result<Result<(), (DateTime<Utc>, String)>> {
    // a consistent read (not the watch cache): a budget must count the issuance that just
    // happened, and this runs only before placing an order
    let all = Api::<Certificate>::all(ctx.client.clone())
        .list(&kube::api::ListParams::default())
        .await?;
    let same_issuer = || all.items.iter().filter(|o| o.spec.issuer == c.spec.issuer);
    let orders: Vec<DateTime<Utc>> = same_issuer()
        .filter(|o| o.uid() != c.uid())
        .flat_map(|o| o.status.iter().flat_map(|s| s.recent_orders.iter()))
        .chain(c.status.iter().flat_map(|s| s.recent_orders.iter()))
        .filter_map(|t| parse_time(Some(t)))
        .collect();
    let limits = &issuer.spec.limits;
    if let Err(until) =
        schedule::budget(now, &orders, limits.new_orders_per_three_hours, THREE_HOURS)
    {
        return Ok(Err((
            until,
            format!(
                "the account's order budget ({} per 3 hours at {}) is used up; next order at {}",
                limits.new_orders_per_three_hours,
                c.spec.issuer,
                time(until)
            ),
        )));
    }
    if renewal {
        return Ok(Ok(()));
    }
    let domains: BTreeSet<String> = c
        .spec
        .dns_names
        .iter()
        .map(|n| names::registered_domain(n))
        .collect();
    for d in domains {
        let issued: Vec<DateTime<Utc>> = same_issuer()
            .filter(|o| {
                o.uid() != c.uid()
                    && o.spec
                        .dns_names
                        .iter()
                        .any(|n| names::registered_domain(n) == d)
            })
            .filter_map(|o| parse_time(o.status.as_ref().and_then(|s| s.last_issued.as_deref())))
            .collect();
        if let Err(until) = schedule::budget(
            now,
            &issued,
            limits.certificates_per_registered_domain_per_week,
            WEEK,
        ) {
            return Ok(Err((
                until,
                format!(
                    "{d} has used its budget of {} new certificates per week at {}; waiting until {} — bundle names into one certificate or use a wildcard (*.{d}) when a tenant has many",
                    limits.certificates_per_registered_domain_per_week,
                    c.spec.issuer,
                    time(until)
                ),
            )));
        }
    }
    Ok(Ok(()))
}

/// Records a failure (with backoff) and cleans up the challenge records. A lost connection
/// keeps the order (resumed later); a dead order is dropped.
#[allow(clippy::too_many_arguments)]
async fn fail(
    ctx: &Context,
    c: &Certificate,
    mut st: CertificateStatus,
    reason: &'static str,
    message: String,
    now: DateTime<Utc>,
    valid_now: bool,
    drop_order: bool,
) -> Result<Action> {
    remove_challenges(ctx, c).await?;
    if drop_order {
        st.order = None;
        delete_staging(ctx, c).await?;
    }
    let step = Step {
        failure: Some((reason, message.clone())),
        ..Step::wait(
            if drop_order { OrderStep::Idle } else { st.step },
            reason,
            message,
            Duration::ZERO,
        )
    };
    report(ctx, c, st, step, now, valid_now).await
}

async fn delete_staging(ctx: &Context, c: &Certificate) -> Result<()> {
    let secrets: Api<Secret> =
        Api::namespaced(ctx.client.clone(), &c.namespace().unwrap_or_default());
    match secrets
        .delete(
            &staging_secret_name(&c.name_any()),
            &DeleteParams::default(),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Is an ACME error a dead order (drop it) rather than an unreachable CA (keep it)?
fn order_is_dead(e: &instant_acme::Error) -> bool {
    matches!(e, instant_acme::Error::Api(_))
}

/// Did the CA answer (as opposed to being unreachable)? Then an order it cannot produce is
/// gone for good.
fn ca_answered(e: &instant_acme::Error) -> bool {
    matches!(
        e,
        instant_acme::Error::Api(_) | instant_acme::Error::Json(_) | instant_acme::Error::Str(_)
    )
}

/// Does the CA no longer know our account (RFC 8555 `accountDoesNotExist`)?
fn account_unknown(e: &instant_acme::Error) -> bool {
    matches!(e, instant_acme::Error::Api(p) if p.r#type.as_deref().is_some_and(|t| t.ends_with(":accountDoesNotExist")))
}

async fn order_step(
    ctx: &Context,
    c: &Certificate,
    issuer: &Issuer,
    account: &Account,
    mut st: CertificateStatus,
    now: DateTime<Utc>,
    valid_now: bool,
) -> Result<Action> {
    let idents: Vec<Identifier> = c
        .spec
        .dns_names
        .iter()
        .map(|n| Identifier::Dns(n.clone()))
        .collect();
    let mut order = match st.order.clone() {
        Some(url) => match account.order(url.clone()).await {
            Ok(o) => o,
            Err(e) if ca_answered(&e) => {
                // the CA answered but no longer has the order (expired, or a CA that lost its
                // state): forget it and place a new one — not a failure to back off from
                remove_challenges(ctx, c).await?;
                delete_staging(ctx, c).await?;
                st.order = None;
                st.step = OrderStep::Idle;
                patch_status(ctx, c, &st).await?;
                ctx.event(
                    c,
                    EventType::Normal,
                    reasons::ORDER_GONE,
                    "Order",
                    format!("the CA no longer has order {url} ({e}); placing a new one"),
                )
                .await;
                return Ok(Action::requeue(Duration::from_millis(200)));
            }
            Err(e) => {
                return fail(
                    ctx,
                    c,
                    st,
                    reasons::CA_UNREACHABLE,
                    format!("resuming order {url}: {e}"),
                    now,
                    valid_now,
                    false,
                )
                .await;
            }
        },
        None => {
            match account.new_order(&NewOrder::new(&idents)).await {
                Ok(o) => {
                    // record it at once: a restart resumes this order instead of placing another
                    st.order = Some(o.url().to_string());
                    st.step = OrderStep::Publishing;
                    st.recent_orders.push(time(now));
                    patch_status(ctx, c, &st).await?;
                    o
                }
                Err(e) if account_unknown(&e) => {
                    // the CA forgot our account: register again and retry at once
                    return match super::issuer::reregister(ctx, issuer).await {
                    Ok(()) => Ok(Action::requeue(Duration::from_millis(200))),
                    Err(why) => {
                        fail(ctx, c, st, reasons::CA_UNREACHABLE, format!("the CA no longer knows the account and registering again failed: {why}"), now, valid_now, false).await
                    }
                };
                }
                Err(e) => {
                    return fail(
                        ctx,
                        c,
                        st,
                        reasons::CA_UNREACHABLE,
                        format!("new order at {}: {e}", issuer.spec.directory),
                        now,
                        valid_now,
                        false,
                    )
                    .await;
                }
            }
        }
    };

    let status_now = order.state().status;
    match status_now {
        OrderStatus::Pending => {
            // gather the challenges: TXT values per challenge name
            let mut txt: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut authzs = order.authorizations();
            while let Some(a) = authzs.next().await {
                let mut a = match a {
                    Ok(a) => a,
                    Err(e) => {
                        return fail(
                            ctx,
                            c,
                            st,
                            reasons::CA_UNREACHABLE,
                            format!("reading authorizations: {e}"),
                            now,
                            valid_now,
                            false,
                        )
                        .await;
                    }
                };
                if a.status != instant_acme::AuthorizationStatus::Pending {
                    continue;
                }
                // the raw identifier: for a wildcard it is the base name (display form has `*.`)
                let Identifier::Dns(raw) = a.identifier().identifier.clone() else {
                    continue;
                };
                let Some(ch) = a.challenge(ChallengeType::Dns01) else {
                    return fail(
                        ctx,
                        c,
                        st,
                        reasons::ORDER_FAILED,
                        format!("the CA offers no dns-01 challenge for {raw}"),
                        now,
                        valid_now,
                        true,
                    )
                    .await;
                };
                txt.entry(names::challenge_name(&raw))
                    .or_default()
                    .push(ch.key_authorization().dns_value());
            }
            // publish them in our zones
            let zones: Vec<String> = Api::<Zone>::all(ctx.client.clone())
                .list(&super::cached())
                .await?
                .items
                .iter()
                .map(|z| z.name_any())
                .collect();
            let records: Api<DnsRecord> = Api::all(ctx.client.clone());
            for (fqdn, values) in &txt {
                let zone = names::zone_of(fqdn, &zones).unwrap_or_default().to_string();
                let rec = build_challenge_record(c, &zone, fqdn, values);
                let obj = rec.name_any();
                if let Some(existing) = records.get_opt(&obj).await?
                    && existing.labels().get(CERT_LABEL) != Some(&cert_key(c))
                {
                    st.step = OrderStep::Publishing;
                    return report(
                        ctx,
                        c,
                        st,
                        Step::wait(
                            OrderStep::Publishing,
                            reasons::CHALLENGE_BUSY,
                            format!(
                                "{fqdn} TXT is held by another record ({obj}); waiting for it to go"
                            ),
                            Duration::from_secs(10),
                        ),
                        now,
                        valid_now,
                    )
                    .await;
                }
                records
                    .patch(
                        &obj,
                        &PatchParams::apply(MANAGER).force(),
                        &Patch::Apply(&rec),
                    )
                    .await?;
            }
            // every DNS server must answer every value before the CA is told
            for (fqdn, values) in &txt {
                if let Err(why) =
                    dnscheck::served_everywhere(&ctx.settings.dns_servers, fqdn, values).await
                {
                    st.step = OrderStep::Publishing;
                    return report(
                        ctx,
                        c,
                        st,
                        Step::wait(
                            OrderStep::Publishing,
                            reasons::PUBLISHING,
                            format!("challenge published; waiting for every DNS server: {why}"),
                            Duration::from_millis(200),
                        ),
                        now,
                        valid_now,
                    )
                    .await;
                }
            }
            let mut authzs = order.authorizations();
            while let Some(a) = authzs.next().await {
                let mut a = match a {
                    Ok(a) => a,
                    Err(e) => {
                        return fail(
                            ctx,
                            c,
                            st,
                            reasons::CA_UNREACHABLE,
                            format!("reading authorizations: {e}"),
                            now,
                            valid_now,
                            false,
                        )
                        .await;
                    }
                };
                if a.status != instant_acme::AuthorizationStatus::Pending {
                    continue;
                }
                if let Some(mut ch) = a.challenge(ChallengeType::Dns01)
                    && ch.status == ChallengeStatus::Pending
                    && let Err(e) = ch.set_ready().await
                {
                    let dead = order_is_dead(&e);
                    return fail(
                        ctx,
                        c,
                        st,
                        reasons::CA_UNREACHABLE,
                        format!("telling the CA the challenge is ready: {e}"),
                        now,
                        valid_now,
                        dead,
                    )
                    .await;
                }
            }
            st.step = OrderStep::Validating;
            patch_status(ctx, c, &st).await?;
            let policy = RetryPolicy::new()
                .initial_delay(Duration::from_millis(250))
                .backoff(1.5)
                .timeout(Duration::from_secs(20));
            match order.poll_ready(&policy).await {
                Ok(OrderStatus::Ready) => finalize(ctx, c, issuer, order, st, now, valid_now).await,
                Ok(_) => {
                    fail(
                        ctx,
                        c,
                        st,
                        reasons::ORDER_FAILED,
                        invalid_reason(&mut order).await,
                        now,
                        valid_now,
                        true,
                    )
                    .await
                }
                Err(instant_acme::Error::Timeout(_)) => {
                    report(
                        ctx,
                        c,
                        st,
                        Step::wait(
                            OrderStep::Validating,
                            reasons::VALIDATING,
                            "the CA is validating the challenges",
                            Duration::from_secs(2),
                        ),
                        now,
                        valid_now,
                    )
                    .await
                }
                Err(e) => {
                    let dead = order_is_dead(&e);
                    let msg = if dead {
                        invalid_reason(&mut order).await
                    } else {
                        format!("waiting for validation: {e}")
                    };
                    fail(
                        ctx,
                        c,
                        st,
                        if dead {
                            reasons::ORDER_FAILED
                        } else {
                            reasons::CA_UNREACHABLE
                        },
                        msg,
                        now,
                        valid_now,
                        dead,
                    )
                    .await
                }
            }
        }
        OrderStatus::Ready => finalize(ctx, c, issuer, order, st, now, valid_now).await,
        OrderStatus::Processing | OrderStatus::Valid => {
            collect(ctx, c, issuer, order, st, now, valid_now).await
        }
        OrderStatus::Invalid => {
            let msg = invalid_reason(&mut order).await;
            fail(ctx, c, st, reasons::ORDER_FAILED, msg, now, valid_now, true).await
        }
    }
}

/// Why an order is invalid, from the order's or its authorizations' errors.
async fn invalid_reason(order: &mut instant_acme::Order) -> String {
    if let Some(e) = &order.state().error {
        return format!("the CA refused the order: {e}");
    }
    let mut out = vec![];
    let mut authzs = order.authorizations();
    while let Some(Ok(a)) = authzs.next().await {
        for ch in &a.challenges {
            if let Some(e) = &ch.error {
                out.push(format!("{:?}: {e}", a.identifier().identifier));
            }
        }
    }
    if out.is_empty() {
        "the CA marked the order invalid".into()
    } else {
        format!("validation failed: {}", out.join("; "))
    }
}

#[allow(clippy::too_many_arguments)]
async fn finalize(
    ctx: &Context,
    c: &Certificate,
    issuer: &Issuer,
    mut order: instant_acme::Order,
    mut st: CertificateStatus,
    now: DateTime<Utc>,
    valid_now: bool,
) -> Result<Action> {
    let (key_pem, csr) = match cert::key_and_csr(&c.spec.dns_names, c.spec.key_algorithm) {
        Ok(x) => x,
        Err(e) => return fail(ctx, c, st, reasons::ORDER_FAILED, e, now, valid_now, true).await,
    };
    // the key is kept before the CA sees the CSR, so a restart can still collect the cert
    let staging = Secret {
        metadata: ObjectMeta {
            name: Some(staging_secret_name(&c.name_any())),
            namespace: c.namespace(),
            labels: Some(BTreeMap::from([(
                labels::MANAGED_BY.into(),
                labels::MANAGER.into(),
            )])),
            owner_references: c.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            ("tls.key".to_string(), ByteString(key_pem.into_bytes())),
            (
                "order".to_string(),
                ByteString(order.url().as_bytes().to_vec()),
            ),
        ])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(ctx.client.clone(), &c.namespace().unwrap_or_default())
        .patch(
            &staging_secret_name(&c.name_any()),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&staging),
        )
        .await?;
    if let Err(e) = order.finalize_csr(&csr).await {
        let dead = order_is_dead(&e);
        return fail(
            ctx,
            c,
            st,
            if dead {
                reasons::ORDER_FAILED
            } else {
                reasons::CA_UNREACHABLE
            },
            format!("finalizing: {e}"),
            now,
            valid_now,
            dead,
        )
        .await;
    }
    st.step = OrderStep::Issuing;
    collect(ctx, c, issuer, order, st, now, valid_now).await
}

#[allow(clippy::too_many_arguments)]
async fn collect(
    ctx: &Context,
    c: &Certificate,
    issuer: &Issuer,
    mut order: instant_acme::Order,
    mut st: CertificateStatus,
    now: DateTime<Utc>,
    valid_now: bool,
) -> Result<Action> {
    let ns = c.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let key = secrets
        .get_opt(&staging_secret_name(&c.name_any()))
        .await?
        .and_then(|s| s.data)
        .filter(|d| d.get("order").map(|o| o.0.as_slice()) == Some(order.url().as_bytes()))
        .and_then(|d| {
            d.get("tls.key")
                .map(|k| String::from_utf8_lossy(&k.0).into_owned())
        });
    let Some(key_pem) = key else {
        // finalized by a run whose key was lost: that certificate is of no use; start over
        return fail(
            ctx,
            c,
            st,
            reasons::ORDER_FAILED,
            "the key of the finalized order was lost; placing a new order".into(),
            now,
            valid_now,
            true,
        )
        .await;
    };
    let policy = RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .backoff(1.5)
        .timeout(Duration::from_secs(20));
    let chain = match order.poll_certificate(&policy).await {
        Ok(chain) => chain,
        Err(instant_acme::Error::Timeout(_)) => {
            st.step = OrderStep::Issuing;
            return report(
                ctx,
                c,
                st,
                Step::wait(
                    OrderStep::Issuing,
                    reasons::ISSUING,
                    "the CA is issuing",
                    Duration::from_secs(2),
                ),
                now,
                valid_now,
            )
            .await;
        }
        Err(e) => {
            let dead = order_is_dead(&e);
            return fail(
                ctx,
                c,
                st,
                if dead {
                    reasons::ORDER_FAILED
                } else {
                    reasons::CA_UNREACHABLE
                },
                format!("downloading the certificate: {e}"),
                now,
                valid_now,
                dead,
            )
            .await;
        }
    };
    let Some(leaf) = cert::leaf(chain.as_bytes()) else {
        return fail(
            ctx,
            c,
            st,
            reasons::ORDER_FAILED,
            "the CA returned something that is not a certificate".into(),
            now,
            valid_now,
            true,
        )
        .await;
    };
    // one patch replaces the Secret: clients see the old pair or the new, never neither
    let secret = build_tls_secret(c, &chain, &key_pem, issuer.spec.ca_certificate.as_deref());
    secrets
        .patch(
            &c.spec.secret_name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await?;
    let ari = renewal_window(ctx, c, &leaf).await;
    let renew_at = schedule::renewal_time(leaf.not_before, leaf.not_after, ari, &leaf.serial);
    let first = st.serial.is_none();
    st.order = None;
    st.step = OrderStep::Idle;
    st.not_before = Some(time(leaf.not_before));
    st.not_after = Some(time(leaf.not_after));
    st.serial = Some(leaf.serial.clone());
    st.names = leaf.names.iter().cloned().collect();
    st.renewal_time = Some(time(renew_at));
    st.last_issued = Some(time(now));
    st.last_failure = None;
    remove_challenges(ctx, c).await?;
    delete_staging(ctx, c).await?;
    ctx.event(
        c,
        EventType::Normal,
        if first {
            reasons::ISSUED
        } else {
            reasons::RENEWED
        },
        "Issue",
        format!(
            "certificate {} for {} valid until {}; written to Secret {}; renews at {}",
            leaf.serial,
            c.spec.dns_names.join(", "),
            time(leaf.not_after),
            c.spec.secret_name,
            time(renew_at)
        ),
    )
    .await;
    let wait = (renew_at - now)
        .to_std()
        .unwrap_or_default()
        .min(super::SAFETY_REQUEUE);
    let step = Step {
        ready: true,
        ..Step::wait(
            OrderStep::Idle,
            reasons::ISSUED,
            format!(
                "certificate for {} name(s) valid until {}; renews at {}",
                c.spec.dns_names.len(),
                time(leaf.not_after),
                time(renew_at)
            ),
            wait,
        )
    };
    report(ctx, c, st, step, now, true).await
}

/// The CA's suggested renewal window (RFC 9773), when it offers one.
async fn renewal_window(
    ctx: &Context,
    c: &Certificate,
    leaf: &cert::Leaf,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let issuer = Api::<Issuer>::all(ctx.client.clone())
        .get_opt(&c.spec.issuer)
        .await
        .ok()??;
    let creds = super::issuer::credentials(ctx, &c.spec.issuer)
        .await
        .ok()??;
    let account = ctx
        .acme
        .get(&c.spec.issuer, &issuer.spec, &creds)
        .await
        .ok()?;
    let der = rustls_pki_types::CertificateDer::from(leaf.der.clone());
    let id = instant_acme::CertificateIdentifier::try_from(&der).ok()?;
    let (info, _) = account.renewal_info(&id).await.ok()?;
    let w = info.suggested_window;
    let conv = |t: time::OffsetDateTime| DateTime::from_timestamp(t.unix_timestamp(), 0);
    Some((conv(w.start)?, conv(w.end)?))
}

async fn patch_status(ctx: &Context, c: &Certificate, st: &CertificateStatus) -> Result<()> {
    super::apply_status(&ctx.client, c, st).await
}

/// Writes the status for a step: Ready (the Secret holds a valid certificate for these
/// names), Reconciling (an order in progress, and where), Failed (the last failure).
async fn report(
    ctx: &Context,
    c: &Certificate,
    mut st: CertificateStatus,
    step: Step,
    now: DateTime<Utc>,
    valid_now: bool,
) -> Result<Action> {
    let gen_ = c.metadata.generation;
    let old = c.status.clone().unwrap_or_default();
    st.step = step.step;
    let mut requeue = step.requeue;
    if let Some((reason, message)) = &step.failure {
        let count = old.last_failure.as_ref().map(|f| f.count).unwrap_or(0) + 1;
        st.last_failure = Some(Failure {
            reason: reason.to_string(),
            message: message.clone(),
            at: time(now),
            count,
        });
        requeue = schedule::retry_delay(count).to_std().unwrap_or_default();
        status::set(
            &mut st.conditions,
            status::condition(
                types::FAILED,
                true,
                reason,
                format!(
                    "{message} (attempt {count}; next in {}s)",
                    requeue.as_secs()
                ),
                gen_,
            ),
        );
        if old.last_failure.as_ref().map(|f| &f.message) != Some(message) {
            ctx.event(c, EventType::Warning, reason, "Order", message.clone())
                .await;
        }
    } else if step.ready {
        status::remove(&mut st.conditions, types::FAILED);
    }
    let ready = step.ready || valid_now;
    let ready_msg = if step.ready || !valid_now {
        step.message.clone()
    } else {
        format!("the current certificate is still valid; {}", step.message)
    };
    status::set(
        &mut st.conditions,
        status::condition(
            types::READY,
            ready,
            if ready && !step.ready {
                reasons::ISSUED
            } else {
                step.reason
            },
            ready_msg,
            gen_,
        ),
    );
    if step.step == OrderStep::Idle && step.failure.is_none() {
        status::remove(&mut st.conditions, types::RECONCILING);
    } else {
        status::set(
            &mut st.conditions,
            status::condition(
                types::RECONCILING,
                true,
                step.reason,
                step.message.clone(),
                gen_,
            ),
        );
    }
    st.observed_generation = gen_;
    if st != old {
        patch_status(ctx, c, &st).await?;
    }
    Ok(Action::requeue(requeue.max(Duration::from_millis(100))))
}

fn error_policy(c: Arc<Certificate>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.retry_after(c.as_ref(), err)
}

/// Runs the Certificate controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    Controller::new(
        Api::<Certificate>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<Secret>::all(client.clone()),
        watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGER)),
    )
    .shutdown_on_signal()
    .run(reconcile, error_policy, ctx)
    .for_each(|r| async move {
        if let Err(e) = r {
            tracing::debug!(error = %e, "certificate controller stream");
        }
    })
    .await;
}

/// The Certificate a Subdomain with `tls: true` gets (pure): named by the FQDN, in the
/// tenant's home namespace (hosting namespaces, once they exist, get their own), owned by
/// the Subdomain so it goes with it.
pub fn build_for_subdomain(sd: &Subdomain, issuer: &str) -> Certificate {
    let fqdn = sd.name_any();
    let mut c = Certificate::new(
        &fqdn,
        crate::api::CertificateSpec {
            dns_names: vec![fqdn.clone()],
            issuer: issuer.to_string(),
            secret_name: format!("{fqdn}-tls"),
            key_algorithm: Default::default(),
        },
    );
    c.metadata.namespace = Some(crate::api::home_namespace(&sd.spec.tenant));
    c.metadata.labels = Some(BTreeMap::from([
        (labels::TENANT.into(), sd.spec.tenant.clone()),
        (labels::SUBDOMAIN.into(), label_value(&fqdn)),
        (labels::MANAGED_BY.into(), labels::MANAGER.into()),
    ]));
    c.metadata.owner_references = sd.controller_owner_ref(&()).map(|o| vec![o]);
    c
}

/// Keeps a Subdomain's Certificate in line with `spec.tls`: applied when wanted, removed
/// (only if Kavling made it for this Subdomain) when not.
pub async fn sync_for_subdomain(ctx: &Context, sd: &Subdomain) -> Result<()> {
    let want = build_for_subdomain(sd, &ctx.settings.default_issuer);
    let ns = want.namespace().unwrap_or_default();
    let api: Api<Certificate> = Api::namespaced(ctx.client.clone(), &ns);
    // a hosting serves its domains with Certificates in its own namespace
    if sd.spec.tls && sd.spec.target.hosting.is_none() {
        api.patch(
            &want.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&want),
        )
        .await?;
    } else if let Some(cur) = api.get_opt(&want.name_any()).await?
        && cur.labels().get(labels::SUBDOMAIN) == Some(&label_value(&sd.name_any()))
    {
        match api.delete(&cur.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
