//! The one registry of Kavling's kinds. CRD generation ([`crate::crds`]), the audit writer
//! (which kinds it watches, where each is filed, what of its status it records), restore (in
//! which order kinds are replayed) and the operator's `main` (which controllers run) all read
//! this list, so a new kind is registered once, here — and a unit test checks that each entry
//! says the same as the kind's Rust type.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::api::{
    Approval, Bucket, Certificate, DnsRecord, Hosting, Issuer, Request, Subdomain, Tenant, Zone,
};

/// A Kavling kind: its names, scope and what the audit trail keeps of its status.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub kind: &'static str,
    /// The resource's plural: its URL segment and its directory in the audit repository.
    pub plural: &'static str,
    pub namespaced: bool,
    /// Status fields the audit trail records besides Ready, Suspended and Failed: the
    /// transitions a person audits (a request's phase, a certificate's serial…).
    pub audited_status: &'static [&'static str],
    /// Cluster-scoped and counted in thousands in a province (Tenants, Subdomains,
    /// DnsRecords): filed under 256 subdirectories, because git writes a directory's whole
    /// tree object again on every commit that touches one of its files — one flat directory
    /// of 20,000 records made every audit commit write 1.25 MB.
    pub spread: bool,
    /// The CustomResourceDefinition, generated from the Rust type.
    pub crd: fn() -> CustomResourceDefinition,
}

impl PartialEq for Kind {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}
impl Eq for Kind {}

/// Every kind, in restore order: what another kind refers to comes first (an Issuer before the
/// Certificates naming it, a Tenant before its Requests, a Request before its Approval).
pub const KINDS: &[Kind] = &[
    Kind::cluster("Issuer", "acmeissuers", &[], Issuer::crd),
    Kind::cluster("Zone", "zones", &[], Zone::crd),
    Kind::cluster_spread("Tenant", "tenants", Tenant::crd),
    Kind::namespaced("Request", "requests", &["phase"], Request::crd),
    Kind::namespaced("Approval", "approvals", &[], Approval::crd),
    Kind::cluster_spread("Subdomain", "subdomains", Subdomain::crd),
    Kind::cluster_spread("DnsRecord", "dnsrecords", DnsRecord::crd),
    // a rotation is a new key serial (the key itself never enters git)
    Kind::namespaced("Bucket", "buckets", &["keySerial"], Bucket::crd),
    Kind::namespaced("Hosting", "hostings", &[], Hosting::crd),
    // issued or renewed: a new serial
    Kind::namespaced(
        "Certificate",
        "tlscertificates",
        &["serial", "notAfter"],
        Certificate::crd,
    ),
];

impl Kind {
    const fn cluster(
        kind: &'static str,
        plural: &'static str,
        audited_status: &'static [&'static str],
        crd: fn() -> CustomResourceDefinition,
    ) -> Self {
        Self::new(kind, plural, false, audited_status, crd)
    }

    const fn cluster_spread(
        kind: &'static str,
        plural: &'static str,
        crd: fn() -> CustomResourceDefinition,
    ) -> Self {
        let mut k = Self::new(kind, plural, false, &[], crd);
        k.spread = true;
        k
    }

    const fn namespaced(
        kind: &'static str,
        plural: &'static str,
        audited_status: &'static [&'static str],
        crd: fn() -> CustomResourceDefinition,
    ) -> Self {
        Self::new(kind, plural, true, audited_status, crd)
    }

    const fn new(
        kind: &'static str,
        plural: &'static str,
        namespaced: bool,
        audited_status: &'static [&'static str],
        crd: fn() -> CustomResourceDefinition,
    ) -> Self {
        Self {
            kind,
            plural,
            namespaced,
            audited_status,
            spread: false,
            crd,
        }
    }

    pub fn by_kind(kind: &str) -> Option<&'static Kind> {
        KINDS.iter().find(|k| k.kind == kind)
    }

    pub fn by_plural(plural: &str) -> Option<&'static Kind> {
        KINDS.iter().find(|k| k.plural == plural)
    }

    /// The kind's API resource, for dynamic clients (the audit writer's watches, restore).
    pub fn api_resource(&self) -> kube::core::ApiResource {
        kube::core::ApiResource {
            group: crate::api::GROUP.into(),
            version: "v1alpha1".into(),
            api_version: format!("{}/v1alpha1", crate::api::GROUP),
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }

    /// Its file in the audit repository: `<plural>/<namespace>/<name>.yaml`; for
    /// cluster-scoped kinds `<plural>/<name>.yaml`, or `<plural>/<xx>/<name>.yaml` when the
    /// kind is [`spread`](Kind::spread) (`xx`: [`shard`]).
    pub fn path(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}/{ns}/{name}.yaml", self.plural),
            _ if self.spread => format!("{}/{}/{name}.yaml", self.plural, shard(name)),
            _ => format!("{}/{name}.yaml", self.plural),
        }
    }

    /// Where a spread kind's object was filed before spreading (`<plural>/<name>.yaml`), in
    /// repositories written earlier: read from there until the object is next recorded,
    /// which moves it. `None` for kinds that were never moved.
    pub fn unspread_path(&self, name: &str) -> Option<String> {
        self.spread.then(|| format!("{}/{name}.yaml", self.plural))
    }

    /// Where restore replays it: its position in [`KINDS`].
    pub fn restore_rank(&self) -> usize {
        KINDS.iter().position(|k| k == self).unwrap_or(usize::MAX)
    }
}

/// The subdirectory of a spread kind's object: the first byte of SHA-256 of its name, in
/// hex. Part of the audit repository's format: never change it.
pub fn shard(name: &str) -> String {
    use sha2::Digest;
    format!("{:02x}", sha2::Sha256::digest(name.as_bytes())[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_says_what_its_type_says() {
        for k in KINDS {
            let crd = (k.crd)();
            assert_eq!(crd.spec.names.kind, k.kind);
            assert_eq!(crd.spec.names.plural, k.plural, "{}", k.kind);
            assert_eq!(crd.spec.group, crate::api::GROUP, "{}", k.kind);
            let scope = if k.namespaced {
                "Namespaced"
            } else {
                "Cluster"
            };
            assert_eq!(crd.spec.scope, scope, "{}", k.kind);
            assert_eq!(k.api_resource().plural, k.plural);
        }
    }

    #[test]
    fn kinds_are_unique_and_found_by_either_name() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(Kind::by_kind(k.kind).map(Kind::restore_rank), Some(i));
            assert_eq!(Kind::by_plural(k.plural).map(Kind::restore_rank), Some(i));
        }
    }

    #[test]
    fn spread_kinds_are_filed_in_a_fixed_subdirectory_of_their_name() {
        let rec = Kind::by_kind("DnsRecord").unwrap();
        // fixed forever: SHA-256("www-agam-go-id-a") starts with this byte
        assert_eq!(shard("www-agam-go-id-a"), "a0");
        assert_eq!(
            rec.path(None, "www-agam-go-id-a"),
            "dnsrecords/a0/www-agam-go-id-a.yaml"
        );
        assert_eq!(
            rec.unspread_path("www-agam-go-id-a").as_deref(),
            Some("dnsrecords/www-agam-go-id-a.yaml")
        );
        let zone = Kind::by_kind("Zone").unwrap();
        assert_eq!(zone.path(None, "agam.go.id"), "zones/agam.go.id.yaml");
        assert_eq!(zone.unspread_path("agam.go.id"), None);
        // 10,000 names spread over (nearly) all 256 directories
        let used: std::collections::BTreeSet<String> =
            (0..10_000).map(|i| shard(&format!("r{i}"))).collect();
        assert!(used.len() > 250, "{}", used.len());
    }

    #[test]
    fn what_is_referred_to_is_restored_first() {
        let rank = |k: &str| Kind::by_kind(k).unwrap().restore_rank();
        assert!(rank("Tenant") < rank("Request"));
        assert!(rank("Request") < rank("Approval"));
        assert!(rank("Zone") < rank("Subdomain"));
        assert!(rank("Issuer") < rank("Certificate"));
    }
}
