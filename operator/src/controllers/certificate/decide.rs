//! What a Certificate needs next, decided from plain values with an injected clock: the
//! renewal policy as a chain of checks, each of which may settle the matter — names not
//! allowed → the issuer missing → a valid certificate not yet due → a failure still backing
//! off → the issuer not ready → order. And the CA's budget, pure over the Certificates' own
//! status (so it survives restarts). Model: cert-manager's renewal policy chain.

#[allow(unused_imports)]
use super::*;

pub(super) const WEEK: chrono::Duration = chrono::Duration::days(7);

pub(super) const THREE_HOURS: chrono::Duration = chrono::Duration::hours(3);

/// Whether the CA's budget allows a new order: per registered domain per week (renewals of
/// the same names are exempt, as at Let's Encrypt) and per account per three hours. The
/// budget is derived from the Certificates' own status, so it survives restarts.
/// `all` is every Certificate (read consistently by the caller: a budget must count the
/// issuance that just happened).
pub fn check_budget(
    c: &Certificate,
    issuer: &Issuer,
    all: &[Certificate],
    now: DateTime<Utc>,
    renewal: bool,
) -> Result<(), (DateTime<Utc>, String)> {
    let same_issuer = || all.iter().filter(|o| o.spec.issuer == c.spec.issuer);
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
        return Err((
            until,
            format!(
                "the account's order budget ({} per 3 hours at {}) is used up; next order at {}",
                limits.new_orders_per_three_hours,
                c.spec.issuer,
                time(until)
            ),
        ));
    }
    if renewal {
        return Ok(());
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
            return Err((
                until,
                format!(
                    "{d} has used its budget of {} new certificates per week at {}; waiting until {} — bundle names into one certificate or use a wildcard (*.{d}) when a tenant has many",
                    limits.certificates_per_registered_domain_per_week,
                    c.spec.issuer,
                    time(until)
                ),
            ));
        }
    }
    Ok(())
}

/// What [`decide`] looks at: the names Kavling serves for the tenant, the Issuer and the
/// certificate in the Secret now (all read by the caller).
pub struct Observed<'a> {
    /// Every zone Kavling serves.
    pub zones: &'a [String],
    /// The FQDNs the Certificate's tenant holds.
    pub held: &'a [String],
    pub issuer: Option<&'a Issuer>,
    /// The leaf certificate in `spec.secretName`, if any.
    pub current: Option<&'a cert::Leaf>,
}

/// The next thing to do for a Certificate.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// `spec.dnsNames` asks for names the tenant may not have: fail, drop any order.
    Invalid(String),
    /// `spec.issuer` names no Issuer.
    NoIssuer(String),
    /// The Secret holds a valid certificate for these names, not yet due for renewal.
    Valid {
        renew_at: DateTime<Utc>,
        message: String,
    },
    /// The last failure's backoff has not run out.
    BackingOff { until: DateTime<Utc> },
    /// The Issuer is not Ready (yet).
    IssuerNotReady(String),
    /// Order (or resume the order): `renewal` when the current certificate has these names
    /// (renewals are exempt from the per-domain budget).
    Order { renewal: bool },
}

/// The renewal policy chain (pure): the first check that settles the matter decides.
pub fn decide(now: DateTime<Utc>, c: &Certificate, o: &Observed<'_>) -> Decision {
    let old = c.status.clone().unwrap_or_default();
    let wanted: BTreeSet<&String> = c.spec.dns_names.iter().collect();
    let violations = names::check(&c.spec.dns_names, o.zones, o.held);
    if !violations.is_empty() {
        return Decision::Invalid(rules::summarize(&violations));
    }
    let Some(issuer) = o.issuer else {
        return Decision::NoIssuer(format!(
            "spec.issuer: Issuer '{}' does not exist",
            c.spec.issuer
        ));
    };
    let same_names = o
        .current
        .is_some_and(|l| l.names.iter().collect::<BTreeSet<_>>() == wanted);
    let valid_now = same_names && o.current.is_some_and(|l| now < l.not_after);
    let renew_at = parse_time(old.renewal_time.as_deref()).or_else(|| {
        o.current
            .map(|l| schedule::renewal_time(l.not_before, l.not_after, None, &l.serial))
    });
    // `kavling renew certificate`: renew now if the current one was issued before the request
    let renewal_asked = c
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::api::annotations::RENEW_REQUESTED_AT))
        .and_then(|t| parse_time(Some(t)))
        .is_some_and(|asked| {
            asked <= now
                && parse_time(old.last_issued.as_deref()).is_none_or(|issued| issued < asked)
        });
    if valid_now
        && !renewal_asked
        && old.order.is_none()
        && let (Some(renew_at), Some(l)) = (renew_at, o.current)
        && now < renew_at
    {
        return Decision::Valid {
            renew_at,
            message: format!(
                "certificate for {} name(s) valid until {}; renews at {}",
                wanted.len(),
                time(l.not_after),
                time(renew_at)
            ),
        };
    }
    if let Some(f) = &old.last_failure
        && let Some(at) = parse_time(Some(&f.at))
    {
        let until = at + schedule::retry_delay(f.count);
        if now < until {
            return Decision::BackingOff { until };
        }
    }
    let conditions = issuer
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    if !status::is_true(conditions, types::READY) {
        let why = status::get(conditions, types::READY)
            .map(|c| c.message.clone())
            .unwrap_or_else(|| "not yet registered".into());
        return Decision::IssuerNotReady(format!("Issuer '{}' is not ready: {why}", c.spec.issuer));
    }
    Decision::Order {
        renewal: same_names,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap()
    }

    fn cert(names: &[&str]) -> Certificate {
        let mut c = Certificate::new(
            "portal",
            crate::api::CertificateSpec {
                dns_names: names.iter().map(|n| n.to_string()).collect(),
                issuer: "pusat-data".into(),
                secret_name: "portal-tls".into(),
                key_algorithm: Default::default(),
            },
        );
        c.metadata.namespace = Some("tenant-dinkes".into());
        c
    }

    fn issuer(ready: bool) -> Issuer {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "kavling.go.id/v1alpha1", "kind": "Issuer",
            "metadata": {"name": "pusat-data"},
            "spec": {"directory": "https://127.0.0.1:14000/dir"},
            "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"},
                "reason": "Registered", "message": "account registered",
                "lastTransitionTime": "2026-12-01T00:00:00Z"}]}
        }))
        .unwrap()
    }

    fn leaf(names: &[&str], not_before: DateTime<Utc>, days: i64) -> cert::Leaf {
        cert::Leaf {
            names: names.iter().map(|n| n.to_string()).collect(),
            not_before,
            not_after: not_before + chrono::Duration::days(days),
            serial: "0a1b".into(),
            der: vec![],
            chain_len: 1,
        }
    }

    const ZONES: &[String] = &[];

    fn observe<'a>(
        zones: &'a [String],
        held: &'a [String],
        issuer: Option<&'a Issuer>,
        current: Option<&'a cert::Leaf>,
    ) -> Observed<'a> {
        Observed {
            zones,
            held,
            issuer,
            current,
        }
    }

    #[test]
    fn the_chain_settles_at_the_first_check_that_applies() {
        let zones = vec!["agamkab.go.id".to_string()];
        let held = vec!["portal.agamkab.go.id".to_string()];
        let c = cert(&["portal.agamkab.go.id"]);
        let ready = issuer(true);
        // names the tenant does not hold
        let other = cert(&["lain.agamkab.go.id"]);
        assert!(matches!(
            decide(
                at(1, 0),
                &other,
                &observe(&zones, &held, Some(&ready), None)
            ),
            Decision::Invalid(_)
        ));
        assert!(matches!(
            decide(at(1, 0), &c, &observe(ZONES, &held, Some(&ready), None)),
            Decision::Invalid(_)
        ));
        // no issuer
        assert!(matches!(
            decide(at(1, 0), &c, &observe(&zones, &held, None, None)),
            Decision::NoIssuer(_)
        ));
        // nothing issued yet, issuer ready: order (not a renewal)
        assert_eq!(
            decide(at(1, 0), &c, &observe(&zones, &held, Some(&ready), None)),
            Decision::Order { renewal: false }
        );
        // the issuer not ready holds the order
        let waiting = issuer(false);
        assert!(matches!(
            decide(at(1, 0), &c, &observe(&zones, &held, Some(&waiting), None)),
            Decision::IssuerNotReady(m) if m.contains("account registered")
        ));
    }

    #[test]
    fn a_valid_certificate_waits_for_its_renewal_time_then_renews() {
        let zones = vec!["agamkab.go.id".to_string()];
        let held = vec!["portal.agamkab.go.id".to_string()];
        let c = cert(&["portal.agamkab.go.id"]);
        let ready = issuer(true);
        let l = leaf(&["portal.agamkab.go.id"], at(1, 0), 90);
        let renew_at = schedule::renewal_time(l.not_before, l.not_after, None, &l.serial);
        let o = observe(&zones, &held, Some(&ready), Some(&l));
        assert!(matches!(
            decide(at(2, 0), &c, &o),
            Decision::Valid { renew_at: r, .. } if r == renew_at
        ));
        // the clock passes the renewal time: a renewal order
        let later = renew_at + chrono::Duration::minutes(1);
        assert_eq!(decide(later, &c, &o), Decision::Order { renewal: true });
        // other names in the Secret: a new certificate, not a renewal
        let c2 = cert(&["portal.agamkab.go.id", "www.agamkab.go.id"]);
        let held2 = vec![
            "portal.agamkab.go.id".to_string(),
            "www.agamkab.go.id".to_string(),
        ];
        let o2 = observe(&zones, &held2, Some(&ready), Some(&l));
        assert_eq!(
            decide(at(2, 0), &c2, &o2),
            Decision::Order { renewal: false }
        );
    }

    #[test]
    fn a_renewal_asked_for_renews_once() {
        let zones = vec!["agamkab.go.id".to_string()];
        let held = vec!["portal.agamkab.go.id".to_string()];
        let ready = issuer(true);
        let l = leaf(&["portal.agamkab.go.id"], at(1, 0), 90);
        let o = observe(&zones, &held, Some(&ready), Some(&l));
        let mut c = cert(&["portal.agamkab.go.id"]);
        c.status = Some(CertificateStatus {
            last_issued: Some(at(1, 0).to_rfc3339()),
            ..Default::default()
        });
        let ask = |c: &mut Certificate, when: DateTime<Utc>| {
            c.metadata.annotations = Some(
                [(
                    crate::api::annotations::RENEW_REQUESTED_AT.to_string(),
                    when.to_rfc3339(),
                )]
                .into(),
            );
        };
        // asked after the certificate was issued: renew now
        ask(&mut c, at(2, 0));
        assert_eq!(decide(at(2, 1), &c, &o), Decision::Order { renewal: true });
        // asked for a time still to come: not yet
        ask(&mut c, at(3, 0));
        assert!(matches!(decide(at(2, 1), &c, &o), Decision::Valid { .. }));
        // issued after the request: done, nothing more
        ask(&mut c, at(2, 0));
        c.status.as_mut().unwrap().last_issued = Some(at(2, 2).to_rfc3339());
        assert!(matches!(decide(at(2, 3), &c, &o), Decision::Valid { .. }));
    }

    #[test]
    fn a_failure_backs_off_before_the_next_order() {
        let zones = vec!["agamkab.go.id".to_string()];
        let held = vec!["portal.agamkab.go.id".to_string()];
        let mut c = cert(&["portal.agamkab.go.id"]);
        let ready = issuer(true);
        c.status = Some(CertificateStatus {
            last_failure: Some(Failure {
                reason: "ChallengeFailed".into(),
                message: "x".into(),
                at: time(at(1, 0)),
                count: 3,
            }),
            ..Default::default()
        });
        let o = observe(&zones, &held, Some(&ready), None);
        let until = at(1, 0) + schedule::retry_delay(3);
        assert_eq!(decide(at(1, 0), &c, &o), Decision::BackingOff { until });
        assert_eq!(decide(until, &c, &o), Decision::Order { renewal: false });
    }

    #[test]
    fn the_budget_counts_other_certificates_of_the_issuer_and_spares_renewals() {
        let mut i = issuer(true);
        i.spec.limits.certificates_per_registered_domain_per_week = 2;
        let issued = |name: &str, when: DateTime<Utc>| {
            let mut o = cert(&[name]);
            o.metadata.name = Some(name.into());
            o.metadata.uid = Some(name.into());
            o.status = Some(CertificateStatus {
                last_issued: Some(time(when)),
                ..Default::default()
            });
            o
        };
        let all = vec![
            issued("a.agamkab.go.id", at(1, 0)),
            issued("b.agamkab.go.id", at(2, 0)),
        ];
        let c = cert(&["portal.agamkab.go.id"]);
        let (until, why) = check_budget(&c, &i, &all, at(3, 0), false).unwrap_err();
        assert_eq!(until, at(8, 0));
        assert!(
            why.contains("agamkab.go.id has used its budget of 2"),
            "{why}"
        );
        assert!(check_budget(&c, &i, &all, at(3, 0), true).is_ok());
        assert!(check_budget(&c, &i, &all, at(8, 0), false).is_ok());
    }
}
