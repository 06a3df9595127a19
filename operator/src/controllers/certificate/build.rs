//! The objects a Certificate makes (pure): its TLS Secret, its challenge records, the
//! Certificate a Subdomain with `tls: true` gets.

#[allow(unused_imports)]
use super::*;

pub(super) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub(super) fn cert_key(c: &Certificate) -> String {
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

/// The Certificate a Subdomain with `tls: true` gets (pure): named by the FQDN, in the
/// tenant's home namespace (hosting namespaces, once they exist, get their own), owned by
/// the Subdomain so it goes with it. `wildcard`: `*.<fqdn>` is answered, so covered too.
pub fn build_for_subdomain(sd: &Subdomain, issuer: &str, wildcard: bool) -> Certificate {
    let fqdn = sd.name_any();
    let mut c = Certificate::new(
        &fqdn,
        crate::api::CertificateSpec {
            dns_names: names_for(&fqdn, wildcard),
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

/// The names a certificate for `fqdn` covers: the name, and `*.<fqdn>` when a wildcard is
/// answered under it (one DNS-01 TXT RRset serves both).
pub fn names_for(fqdn: &str, wildcard: bool) -> Vec<String> {
    let mut names = vec![fqdn.to_string()];
    if wildcard {
        names.push(format!("*.{fqdn}"));
    }
    names
}
