//! Types shared by every Kavling kind: standard conditions, suspension, references.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of every Kavling kind.
pub const GROUP: &str = "kavling.go.id";

/// Labels Kavling puts on what it creates, so it can find (and only ever touch) its own objects.
pub mod labels {
    /// The tenant (Tenant name) an object belongs to.
    pub const TENANT: &str = "kavling.go.id/tenant";
    /// The zone (Zone name = domain) a record or subdomain lives in.
    pub const ZONE: &str = "kavling.go.id/zone";
    /// `<namespace>.<name>` of the Request an object was created for.
    pub const REQUEST: &str = "kavling.go.id/request";
    /// The Subdomain (FQDN) a DnsRecord was built for.
    pub const SUBDOMAIN: &str = "kavling.go.id/subdomain";
    /// Marks objects created by the operator; it never deletes or overwrites objects without it.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// The value of [`MANAGED_BY`] on Kavling's own objects.
    pub const MANAGER: &str = "kavling";
}

/// Annotations a person sets to ask Kavling for something now (the Dinas, through the CLI).
pub mod annotations {
    /// On a Certificate: renew if the current certificate was issued before this time
    /// (RFC 3339; `kavling renew certificate`).
    pub const RENEW_REQUESTED_AT: &str = "kavling.go.id/renew-requested-at";
    /// On a Bucket: rotate its key if the current one was made before this time (RFC 3339;
    /// `kavling rotate bucket`).
    pub const ROTATE_REQUESTED_AT: &str = "kavling.go.id/rotate-requested-at";
}

/// A standard Kubernetes condition (`metav1.Condition`), with its own schema so every kind
/// shows the same `status.conditions` shape.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type: `Ready`, `Reconciling`, `Suspended` or `Failed`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// One CamelCase word a program can switch on, e.g. `AwaitingApproval`, `NameTaken`.
    pub reason: String,
    /// What happened and what a person can do about it.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed (RFC 3339). Only moves on a real change.
    pub last_transition_time: String,
    /// The `metadata.generation` this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A temporary (or, without `until`, indefinite) suspension ordered by the Dinas.
/// Removing it resumes the object exactly as it was.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Suspension {
    /// Why the object is suspended; shown to the tenant and recorded in the audit trail.
    #[schemars(length(min = 1, max = 1024))]
    pub reason: String,
    /// Optional end of the suspension (RFC 3339 date-time or YYYY-MM-DD); after it the object
    /// resumes by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub until: Option<String>,
}

/// `until` as RFC 3339 or a date (end of that day is not assumed: the date's midnight UTC).
pub fn parse_until(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// A reference to an object Kavling created for a request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputRef {
    /// The kind created, e.g. `Subdomain`, `Hosting`, `Bucket`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its namespace; absent for cluster-scoped kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}
