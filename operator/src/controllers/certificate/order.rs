//! The ACME order, one step per reconcile: place or resume it, publish the challenges until
//! every DNS server answers them, tell the CA, finalize with a fresh key, collect the chain.

#[allow(unused_imports)]
use super::*;

/// Deletes this Certificate's challenge records.
pub(super) async fn remove_challenges(ctx: &Context, c: &Certificate) -> Result<usize> {
    let api: Api<DnsRecord> = Api::all(ctx.client.clone());
    let mine = api
        .list(&crate::controllers::cached().labels(&format!("{CERT_LABEL}={}", cert_key(c))))
        .await?;
    for r in &mine.items {
        match api.delete(&r.name_any(), &DeleteParams::default()).await {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(mine.items.len())
}

pub(super) async fn delete_staging(ctx: &Context, c: &Certificate) -> Result<()> {
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
pub(super) fn order_is_dead(e: &instant_acme::Error) -> bool {
    matches!(e, instant_acme::Error::Api(_))
}

/// Did the CA answer (as opposed to being unreachable)? Then an order it cannot produce is
/// gone for good.
pub(super) fn ca_answered(e: &instant_acme::Error) -> bool {
    matches!(
        e,
        instant_acme::Error::Api(_) | instant_acme::Error::Json(_) | instant_acme::Error::Str(_)
    )
}

/// Does the CA no longer know our account (RFC 8555 `accountDoesNotExist`)?
pub(super) fn account_unknown(e: &instant_acme::Error) -> bool {
    matches!(e, instant_acme::Error::Api(p) if p.r#type.as_deref().is_some_and(|t| t.ends_with(":accountDoesNotExist")))
}

/// One step of the order, by where the CA says it stands: resume or place it ([`open`]);
/// pending → gather the challenges, publish them, and tell the CA once every DNS server
/// answers them ([`pending`]); ready → finalize; valid → collect the chain.
pub(super) async fn order_step(
    at: &Attempt<'_>,
    issuer: &Issuer,
    account: &Account,
    st: CertificateStatus,
) -> Result<Action> {
    let (mut order, st) = match open(at, issuer, account, st).await? {
        Opened::Order(opened) => *opened,
        Opened::Done(action) => return Ok(action),
    };
    match order.state().status {
        OrderStatus::Pending => pending(at, issuer, order, st).await,
        OrderStatus::Ready => finalize(at, issuer, order, st).await,
        OrderStatus::Processing | OrderStatus::Valid => collect(at, issuer, order, st).await,
        OrderStatus::Invalid => {
            let msg = invalid_reason(&mut order).await;
            at.fail(st, reasons::ORDER_FAILED, msg, true).await
        }
    }
}

/// The order to work on, or what this reconcile ended with instead.
pub(super) enum Opened {
    Order(Box<(instant_acme::Order, CertificateStatus)>),
    Done(Action),
}

/// Resumes the recorded order, or places a new one and records it at once (a restart then
/// resumes it instead of placing another).
async fn open(
    at: &Attempt<'_>,
    issuer: &Issuer,
    account: &Account,
    mut st: CertificateStatus,
) -> Result<Opened> {
    let (ctx, c, now) = (at.ctx, at.c, at.now);
    let idents: Vec<Identifier> = c
        .spec
        .dns_names
        .iter()
        .map(|n| Identifier::Dns(n.clone()))
        .collect();
    let order = match st.order.clone() {
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
                return Ok(Opened::Done(Action::requeue(Duration::from_millis(200))));
            }
            Err(e) => {
                return at
                    .fail(
                        st,
                        reasons::CA_UNREACHABLE,
                        format!("resuming order {url}: {e}"),
                        false,
                    )
                    .await
                    .map(Opened::Done);
            }
        },
        None => {
            // a renewal says which certificate it replaces (RFC 9773 §5): a CA may then spare
            // it from rate limits; should the CA refuse the reference, order without it
            let replaced = at
                .replaces
                .as_ref()
                .map(|der| rustls_pki_types::CertificateDer::from(der.to_vec()));
            let id = replaced
                .as_ref()
                .and_then(|d| instant_acme::CertificateIdentifier::try_from(d).ok());
            let placed = match id {
                Some(id) => match account
                    .new_order(&NewOrder::new(&idents).replaces(id))
                    .await
                {
                    Err(e) if ca_answered(&e) && !account_unknown(&e) => {
                        tracing::info!(error = %e, "the CA refused `replaces`; ordering without it");
                        account.new_order(&NewOrder::new(&idents)).await
                    }
                    other => other,
                },
                None => account.new_order(&NewOrder::new(&idents)).await,
            };
            match placed {
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
                    let why = match crate::controllers::issuer::reregister(ctx, issuer).await {
                        Ok(()) => {
                            return Ok(Opened::Done(Action::requeue(Duration::from_millis(200))));
                        }
                        Err(why) => why,
                    };
                    let msg = format!(
                        "the CA no longer knows the account and registering again failed: {why}"
                    );
                    return at
                        .fail(st, reasons::CA_UNREACHABLE, msg, false)
                        .await
                        .map(Opened::Done);
                }
                Err(e) => {
                    return at
                        .fail(
                            st,
                            reasons::CA_UNREACHABLE,
                            format!("new order at {}: {e}", issuer.spec.directory),
                            false,
                        )
                        .await
                        .map(Opened::Done);
                }
            }
        }
    };
    Ok(Opened::Order(Box::new((order, st))))
}

/// A pending order: its challenges gathered and published in our zones, the CA told once
/// every DNS server answers them, then polled briefly.
async fn pending(
    at: &Attempt<'_>,
    issuer: &Issuer,
    mut order: instant_acme::Order,
    mut st: CertificateStatus,
) -> Result<Action> {
    let txt = match challenges(at, &mut order, &mut st).await? {
        Ok(txt) => txt,
        Err(done) => return Ok(done),
    };
    if let Some(done) = publish(at, &txt, &mut st).await? {
        return Ok(done);
    }
    validate(at, issuer, order, st).await
}

/// The TXT values the order's pending dns-01 challenges want, by challenge name (a name and
/// its wildcard share one), or how this reconcile ended instead.
async fn challenges(
    at: &Attempt<'_>,
    order: &mut instant_acme::Order,
    st: &mut CertificateStatus,
) -> Result<Result<BTreeMap<String, Vec<String>>, Action>> {
    // gather the challenges: TXT values per challenge name
    let mut txt: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut authzs = order.authorizations();
    while let Some(a) = authzs.next().await {
        let mut a = match a {
            Ok(a) => a,
            Err(e) => {
                return at
                    .fail(
                        std::mem::take(st),
                        reasons::CA_UNREACHABLE,
                        format!("reading authorizations: {e}"),
                        false,
                    )
                    .await
                    .map(Err);
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
            return at
                .fail(
                    std::mem::take(st),
                    reasons::ORDER_FAILED,
                    format!("the CA offers no dns-01 challenge for {raw}"),
                    true,
                )
                .await
                .map(Err);
        };
        txt.entry(names::challenge_name(&raw))
            .or_default()
            .push(ch.key_authorization().dns_value());
    }
    Ok(Ok(txt))
}

/// Publishes the challenge records in our zones and waits until every Kavling DNS server
/// answers them; `Some` when this reconcile ends here (a name held by another record, or a
/// server not serving it yet).
async fn publish(
    at: &Attempt<'_>,
    txt: &BTreeMap<String, Vec<String>>,
    st: &mut CertificateStatus,
) -> Result<Option<Action>> {
    let (ctx, c) = (at.ctx, at.c);
    // publish them in our zones
    let zones: Vec<String> = Api::<Zone>::all(ctx.client.clone())
        .list(&crate::controllers::cached())
        .await?
        .items
        .iter()
        .map(|z| z.name_any())
        .collect();
    let records: Api<DnsRecord> = Api::all(ctx.client.clone());
    for (fqdn, values) in txt {
        let zone = names::zone_of(fqdn, &zones).unwrap_or_default().to_string();
        let rec = build_challenge_record(c, &zone, fqdn, values);
        let obj = rec.name_any();
        if let Some(existing) = records.get_opt(&obj).await?
            && existing.labels().get(CERT_LABEL) != Some(&cert_key(c))
        {
            st.step = OrderStep::Publishing;
            return at
                .report(
                    std::mem::take(st),
                    Step::wait(
                        OrderStep::Publishing,
                        reasons::CHALLENGE_BUSY,
                        format!(
                            "{fqdn} TXT is held by another record ({obj}); waiting for it to go"
                        ),
                        Duration::from_secs(10),
                    ),
                )
                .await
                .map(Some);
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
    let servers = match ctx
        .settings
        .dns
        .resolve(&ctx.client, &ctx.settings.namespace)
        .await
    {
        Ok(servers) => servers,
        Err(why) => {
            st.step = OrderStep::Publishing;
            return at
                .report(
                    std::mem::take(st),
                    Step::wait(
                        OrderStep::Publishing,
                        reasons::PUBLISHING,
                        format!("challenge published; cannot check it: {why}"),
                        Duration::from_secs(5),
                    ),
                )
                .await
                .map(Some);
        }
    };
    for (fqdn, values) in txt {
        if let Err(why) = dnscheck::served_everywhere(&servers, fqdn, values).await {
            st.step = OrderStep::Publishing;
            return at
                .report(
                    std::mem::take(st),
                    Step::wait(
                        OrderStep::Publishing,
                        reasons::PUBLISHING,
                        format!("challenge published; waiting for every DNS server: {why}"),
                        Duration::from_millis(200),
                    ),
                )
                .await
                .map(Some);
        }
    }
    Ok(None)
}

/// Tells the CA the challenges are ready and polls the order briefly: ready → finalize;
/// still validating → look again in 2 s; invalid → fail (and drop the order).
async fn validate(
    at: &Attempt<'_>,
    issuer: &Issuer,
    mut order: instant_acme::Order,
    mut st: CertificateStatus,
) -> Result<Action> {
    let ctx = at.ctx;
    let c = at.c;
    let mut authzs = order.authorizations();
    while let Some(a) = authzs.next().await {
        let mut a = match a {
            Ok(a) => a,
            Err(e) => {
                return at
                    .fail(
                        st,
                        reasons::CA_UNREACHABLE,
                        format!("reading authorizations: {e}"),
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
            return at
                .fail(
                    st,
                    reasons::CA_UNREACHABLE,
                    format!("telling the CA the challenge is ready: {e}"),
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
        Ok(OrderStatus::Ready) => finalize(at, issuer, order, st).await,
        Ok(_) => {
            at.fail(
                st,
                reasons::ORDER_FAILED,
                invalid_reason(&mut order).await,
                true,
            )
            .await
        }
        Err(instant_acme::Error::Timeout(_)) => {
            at.report(
                st,
                Step::wait(
                    OrderStep::Validating,
                    reasons::VALIDATING,
                    "the CA is validating the challenges",
                    Duration::from_secs(2),
                ),
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
            at.fail(
                st,
                if dead {
                    reasons::ORDER_FAILED
                } else {
                    reasons::CA_UNREACHABLE
                },
                msg,
                dead,
            )
            .await
        }
    }
}

/// Why an order is invalid, from the order's or its authorizations' errors.
pub(super) async fn invalid_reason(order: &mut instant_acme::Order) -> String {
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
pub(super) async fn finalize(
    at: &Attempt<'_>,
    issuer: &Issuer,
    mut order: instant_acme::Order,
    mut st: CertificateStatus,
) -> Result<Action> {
    let (ctx, c) = (at.ctx, at.c);
    let (key_pem, csr) = match cert::key_and_csr(&c.spec.dns_names, c.spec.key_algorithm) {
        Ok(x) => x,
        Err(e) => return at.fail(st, reasons::ORDER_FAILED, e, true).await,
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
        return at
            .fail(
                st,
                if dead {
                    reasons::ORDER_FAILED
                } else {
                    reasons::CA_UNREACHABLE
                },
                format!("finalizing: {e}"),
                dead,
            )
            .await;
    }
    st.step = OrderStep::Issuing;
    collect(at, issuer, order, st).await
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn collect(
    at: &Attempt<'_>,
    issuer: &Issuer,
    mut order: instant_acme::Order,
    mut st: CertificateStatus,
) -> Result<Action> {
    let (ctx, c, now) = (at.ctx, at.c, at.now);
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
        return at
            .fail(
                st,
                reasons::ORDER_FAILED,
                "the key of the finalized order was lost; placing a new order",
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
            return at
                .report(
                    st,
                    Step::wait(
                        OrderStep::Issuing,
                        reasons::ISSUING,
                        "the CA is issuing",
                        Duration::from_secs(2),
                    ),
                )
                .await;
        }
        Err(e) => {
            let dead = order_is_dead(&e);
            return at
                .fail(
                    st,
                    if dead {
                        reasons::ORDER_FAILED
                    } else {
                        reasons::CA_UNREACHABLE
                    },
                    format!("downloading the certificate: {e}"),
                    dead,
                )
                .await;
        }
    };
    let Some(leaf) = cert::leaf(chain.as_bytes()) else {
        return at
            .fail(
                st,
                reasons::ORDER_FAILED,
                "the CA returned something that is not a certificate",
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
    let renew_at = schedule::renewal_time(
        leaf.not_before,
        leaf.not_after,
        ari.map(|(w, _)| w),
        &leaf.serial,
    );
    st.renewal_window = ari.map(|(w, _)| window_text(w));
    st.renewal_info_next_check = Some(time(next_ari_check(
        now,
        ari.map(|(_, r)| r),
        ctx.settings.ari_poll_max,
    )));
    let first = st.serial.is_none();
    st.order = None;
    st.step = OrderStep::Idle;
    st.not_before = Some(time(leaf.not_before));
    st.not_after = Some(time(leaf.not_after));
    st.serial = Some(leaf.serial.clone());
    st.names = leaf.names.iter().cloned().collect();
    st.renewal_time = Some(time(renew_at));
    // milliseconds: a renewal asked for in the same second must not look unanswered
    st.last_issued = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
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
        .min(crate::controllers::SAFETY_REQUEUE);
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
    at.report_as(st, step, true).await
}

/// The CA's suggested renewal window (RFC 9773) and when to ask again (its Retry-After),
/// when it offers one.
pub(super) async fn renewal_window(
    ctx: &Context,
    c: &Certificate,
    leaf: &cert::Leaf,
) -> Option<((DateTime<Utc>, DateTime<Utc>), Duration)> {
    let issuer = Api::<Issuer>::all(ctx.client.clone())
        .get_opt(&c.spec.issuer)
        .await
        .ok()??;
    let creds = crate::controllers::issuer::credentials(ctx, &c.spec.issuer)
        .await
        .ok()??;
    let account = ctx
        .acme
        .get(&c.spec.issuer, &issuer.spec, &creds)
        .await
        .ok()?;
    let der = rustls_pki_types::CertificateDer::from(leaf.der.clone());
    let id = instant_acme::CertificateIdentifier::try_from(&der).ok()?;
    let (info, retry_after) = account.renewal_info(&id).await.ok()?;
    let w = info.suggested_window;
    let conv = |t: time::OffsetDateTime| DateTime::from_timestamp(t.unix_timestamp(), 0);
    Some(((conv(w.start)?, conv(w.end)?), retry_after))
}

/// When to ask the CA for the window again: its Retry-After, within [1 s, the operator's cap].
pub(super) fn next_ari_check(
    now: DateTime<Utc>,
    retry_after: Option<Duration>,
    cap: Duration,
) -> DateTime<Utc> {
    let wait = retry_after
        .unwrap_or(cap)
        .min(cap)
        .max(Duration::from_secs(1));
    now + chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::hours(6))
}

/// A window as the status shows it.
pub(super) fn window_text((start, end): (DateTime<Utc>, DateTime<Utc>)) -> String {
    format!("{}/{}", time(start), time(end))
}
