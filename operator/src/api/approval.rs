//! `Approval`: the Dinas's immutable decision on one Request.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// The Dinas's decision on one `Request` in the same namespace. Immutable: a decision is
/// changed by a new request, never by editing. Only members of the Dinas group may create one,
/// and `approver` must be the creating user (the API server checks both).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kavling.go.id",
    version = "v1alpha1",
    kind = "Approval",
    namespaced,
    shortname = "apv",
    category = "kavling",
    printcolumn = r#"{"name":"Request","type":"string","jsonPath":".spec.request"}"#,
    printcolumn = r#"{"name":"Decision","type":"string","jsonPath":".spec.decision"}"#,
    printcolumn = r#"{"name":"Approver","type":"string","jsonPath":".spec.approver"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("spec: an Approval is immutable; a decision stands as it was made"))]
#[x_kube(validation = Rule::new("self.decision == 'Approve' || size(self.reason) > 0").message("spec.reason: a rejection must give a reason"))]
pub struct ApprovalSpec {
    /// Name of the Request (same namespace) decided on.
    #[schemars(length(min = 1, max = 253))]
    pub request: String,
    pub decision: Decision,
    /// The Dinas member deciding; must be you.
    #[schemars(length(min = 1, max = 253))]
    pub approver: String,
    /// Why (required to reject).
    #[serde(default)]
    #[schemars(length(max = 2000))]
    pub reason: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Decision {
    Approve,
    Reject,
}
