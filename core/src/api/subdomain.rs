//! `Subdomain`: an official name in a Zone, owned by a Tenant.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, Suspension};
use super::request::{LABEL_RULE, Target};

/// An official name (named by its FQDN, so the API server itself refuses a second claim on the
/// same name) in a `Zone`, owned by a `Tenant`. Kavling makes its `DnsRecord`s.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kavling.go.id",
    version = "v1alpha1",
    kind = "Subdomain",
    doc = "An official name (named by its FQDN, so the API server itself refuses a second claim on the same name) in a `Zone`, owned by a `Tenant`. Kavling makes its `DnsRecord`s.",
    status = "SubdomainStatus",
    shortname = "sd",
    category = "kavling",
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenant"}"#,
    printcolumn = r#"{"name":"Website","type":"boolean","jsonPath":".spec.website"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Suspended","type":"string","jsonPath":".status.conditions[?(@.type==\"Suspended\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name == self.spec.label + '.' + self.spec.zone").message("metadata.name: a Subdomain is named by its FQDN, <spec.label>.<spec.zone>")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.zone == oldSelf.zone && self.label == oldSelf.label && self.tenant == oldSelf.tenant").message("spec: zone, label and tenant of a Subdomain cannot change"))]
pub struct SubdomainSpec {
    /// The zone (domain) the name is in.
    #[schemars(length(min = 1, max = 253))]
    pub zone: String,
    /// The label within the zone.
    #[x_kube(validation = Rule::new(LABEL_RULE).message("spec.label: must be a DNS label: 1-63 lowercase letters, digits or '-', not starting or ending with '-'"))]
    pub label: String,
    /// The owning tenant.
    #[schemars(length(min = 1, max = 56))]
    pub tenant: String,
    /// Name of the application or website it serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub application_name: Option<String>,
    /// Counts against the one-website-per-PD rule.
    #[serde(default)]
    pub website: bool,
    /// Whether a TLS certificate is wanted.
    #[serde(default)]
    pub tls: bool,
    /// TTL of its records (default: the zone's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30, max = 604800))]
    pub ttl: Option<u32>,
    pub target: Target,
    /// Also answer for every name under it (`*.<fqdn>`) with the same records, while the
    /// zone's `policy.allowWildcards` is on; with `tls`, the certificate covers `*.<fqdn>`.
    /// Names under it that exist (a challenge record) are answered from their own data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wildcard: bool,
    /// Set by the Dinas to suspend the name (records withdrawn or redirected per the zone's
    /// suspension policy). Removing it restores the records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<Suspension>,
}

/// The records published for the name and whether they are served.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubdomainStatus {
    /// Names of the DnsRecords currently published for it.
    #[serde(default)]
    pub records: Vec<String>,
    /// Ready, Reconciling, Suspended, Failed: the state a person reads first (`kubectl
    /// describe`), each with a reason and a message.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status was computed from: older than the object's means
    /// the operator has not seen the latest change yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Subdomain {
    /// The fully qualified name (the object's name).
    pub fn fqdn(&self) -> String {
        format!("{}.{}", self.spec.label, self.spec.zone)
    }
}
