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

mod build;
mod decide;
mod order;
mod report;

use build::*;
pub use build::{
    build_challenge_record, build_for_subdomain, build_tls_secret, names_for, staging_secret_name,
};
use decide::*;
use order::*;
use report::*;

/// Finalizer: challenge records (cluster-scoped, so not garbage-collected with a namespaced
/// owner) are removed before the Certificate goes.
pub const FINALIZER: &str = "kavling.go.id/certificate";
/// Label on challenge DnsRecords: which Certificate (`<ns>.<name>`) they belong to.
pub const CERT_LABEL: &str = "kavling.go.id/certificate";

async fn reconcile(c: Arc<Certificate>, ctx: Arc<Context>) -> Result<Action> {
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
    finalizer::finalizer(&api, FINALIZER, c.clone(), |event| async {
        match event {
            Finalizer::Apply(c) => apply(&c, &ctx).await,
            Finalizer::Cleanup(c) => {
                remove_challenges(&ctx, &c).await?;
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(super::harness::from_finalizer)
}

/// The tenant a namespace belongs to (its `kavling.go.id/tenant` label: home and hosting
/// namespaces both carry it).
async fn tenant_of(ctx: &Context, ns: &str) -> Result<Option<String>> {
    Ok(Api::<Namespace>::all(ctx.client.clone())
        .get_opt(ns)
        .await?
        .and_then(|n| n.labels().get(labels::TENANT).cloned()))
}

/// The reads [`decide`] needs (the only ones before an order): the zones, the names the
/// tenant holds, the Issuer and the certificate in the Secret now.
struct Dereferenced {
    zones: Vec<String>,
    held: Vec<String>,
    issuer: Option<Issuer>,
    current: Option<cert::Leaf>,
}

async fn dereference(c: &Certificate, ctx: &Context) -> Result<Dereferenced> {
    let ns = c.namespace().unwrap_or_default();
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
    let issuer = Api::<Issuer>::all(ctx.client.clone())
        .get_opt(&c.spec.issuer)
        .await?;
    let current = Api::<Secret>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&c.spec.secret_name)
        .await?
        .and_then(|s| s.data)
        .and_then(|d| d.get("tls.crt").map(|b| b.0.clone()))
        .and_then(|pem| cert::leaf(&pem));
    Ok(Dereferenced {
        zones,
        held,
        issuer,
        current,
    })
}

/// dereference → [`decide`] (pure) → act on the decision → [`report`].
async fn apply(c: &Certificate, ctx: &Context) -> Result<Action> {
    let now = Utc::now();
    let old = c.status.clone().unwrap_or_default();
    let d = dereference(c, ctx).await?;
    let observed = Observed {
        zones: &d.zones,
        held: &d.held,
        issuer: d.issuer.as_ref(),
        current: d.current.as_ref(),
    };
    let decision = decide(now, c, &observed);
    let wanted: BTreeSet<&String> = c.spec.dns_names.iter().collect();
    // the Secret's certificate still serves these names while a new one is made
    let valid_now = d
        .current
        .as_ref()
        .is_some_and(|l| l.names.iter().collect::<BTreeSet<_>>() == wanted && now < l.not_after);
    let wait =
        |reason, message: String, requeue| Step::wait(OrderStep::Idle, reason, message, requeue);
    let at = Attempt {
        ctx,
        c,
        now,
        valid_now,
        replaces: d
            .current
            .as_ref()
            .filter(|_| valid_now)
            .map(|l| l.der.as_slice()),
    };
    let renewal = match decision {
        Decision::Invalid(why) => {
            remove_challenges(ctx, c).await?;
            let mut st = old.clone();
            st.order = None;
            let step = Step {
                failure: Some((reasons::INVALID_SPEC, why.clone())),
                ..wait(reasons::INVALID_SPEC, why, super::SAFETY_REQUEUE)
            };
            return at.report_as(st, step, false).await;
        }
        Decision::NoIssuer(why) => {
            let step = wait(reasons::ISSUER_NOT_READY, why, Duration::from_secs(60));
            return at.report_as(old, step, false).await;
        }
        Decision::Valid {
            mut renew_at,
            message,
        } => {
            remove_challenges(ctx, c).await?;
            let mut st = old.clone();
            if let Some(l) = &d.current {
                st.not_before = Some(time(l.not_before));
                st.not_after = Some(time(l.not_after));
                st.serial = Some(l.serial.clone());
                st.names = l.names.iter().cloned().collect();
                // ARI: ask the CA again when due; its window moves the renewal
                let due =
                    parse_time(old.renewal_info_next_check.as_deref()).is_none_or(|t| t <= now);
                if due {
                    let ari = order::renewal_window(ctx, c, l).await;
                    if let Some((window, _)) = ari {
                        renew_at = schedule::renewal_time(
                            l.not_before,
                            l.not_after,
                            Some(window),
                            &l.serial,
                        );
                        st.renewal_window = Some(order::window_text(window));
                    }
                    st.renewal_info_next_check = Some(time(order::next_ari_check(
                        now,
                        ari.map(|(_, r)| r),
                        ctx.settings.ari_poll_max,
                    )));
                }
            }
            st.renewal_time = Some(time(renew_at));
            let next_check = parse_time(st.renewal_info_next_check.as_deref()).unwrap_or(renew_at);
            let requeue = (renew_at.min(next_check) - now)
                .to_std()
                .unwrap_or_default()
                .max(Duration::from_millis(200))
                .min(super::SAFETY_REQUEUE);
            let step = Step {
                ready: true,
                ..wait(reasons::ISSUED, message, requeue)
            };
            return at.report_as(st, step, true).await;
        }
        Decision::BackingOff { until } => {
            return Ok(Action::requeue((until - now).to_std().unwrap_or_default()));
        }
        Decision::IssuerNotReady(why) => {
            let step = wait(reasons::ISSUER_NOT_READY, why, Duration::from_secs(15));
            return at.report(old, step).await;
        }
        Decision::Order { renewal } => renewal,
    };
    let Some(issuer) = d.issuer.as_ref() else {
        // decide orders only with an Issuer; should it not, wait rather than panic
        let step = wait(
            reasons::ISSUER_NOT_READY,
            "no Issuer".into(),
            Duration::from_secs(60),
        );
        return at.report_as(old, step, false).await;
    };

    // order: the account, the budget, then one step of the order
    let Some(creds) = super::issuer::credentials(ctx, &c.spec.issuer).await? else {
        let step = wait(
            reasons::ISSUER_NOT_READY,
            "the Issuer's account is not stored yet".into(),
            Duration::from_secs(15),
        );
        return at.report(old, step).await;
    };
    let account = match ctx.acme.get(&c.spec.issuer, &issuer.spec, &creds).await {
        Ok(a) => a,
        Err(msg) => {
            return at.fail(old, reasons::CA_UNREACHABLE, msg, false).await;
        }
    };
    let mut st = old.clone();
    st.recent_orders
        .retain(|t| parse_time(Some(t)).is_some_and(|t| t > now - THREE_HOURS));
    if st.order.is_none() {
        // a consistent read (not the watch cache): the budget must count the issuance that
        // just happened, and this runs only before placing an order
        let all = Api::<Certificate>::all(ctx.client.clone())
            .list(&kube::api::ListParams::default())
            .await?;
        if let Err((until, why)) = check_budget(c, issuer, &all.items, now, renewal) {
            let step = Step::wait(
                OrderStep::WaitingForBudget,
                reasons::WAITING_FOR_BUDGET,
                why,
                (until - now)
                    .to_std()
                    .unwrap_or_default()
                    .max(Duration::from_secs(1)),
            );
            return at.report(st, step).await;
        }
    }
    order_step(&at, issuer, &account, st).await
}

/// Runs the Certificate controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let controller = Controller::new(
        Api::<Certificate>::all(client.clone()),
        watcher::Config::default(),
    );
    let store = controller.store();
    ctx.metrics.collect_with(Box::new(move || {
        store.state().iter().flat_map(|c| gauges(c)).collect()
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

/// A Certificate's gauges: when its certificate expires, and whether it is Ready.
fn gauges(c: &Certificate) -> Vec<crate::metrics::Sample> {
    let labels = crate::metrics::object(&c.namespace().unwrap_or_default(), &c.name_any());
    let st = c.status.clone().unwrap_or_default();
    let ready = st
        .conditions
        .iter()
        .any(|x| x.type_ == "Ready" && x.status == "True");
    let mut out = vec![(
        "kavling_certificate_ready",
        labels.clone(),
        f64::from(u8::from(ready)),
    )];
    if let Some(t) = st
        .not_after
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    {
        out.push((
            "kavling_certificate_expiry_timestamp_seconds",
            labels,
            t.timestamp() as f64,
        ));
    }
    out
}

/// Keeps a Subdomain's Certificate in line with `spec.tls`: applied when wanted, removed
/// (only if Kavling made it for this Subdomain) when not.
pub async fn sync_for_subdomain(ctx: &Context, sd: &Subdomain, wildcard: bool) -> Result<()> {
    let want = build_for_subdomain(sd, &ctx.settings.default_issuer, wildcard);
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
