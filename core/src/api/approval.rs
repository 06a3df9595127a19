//! `Approval`: the Dinas's immutable decision on one Request.

use kube::{CustomResource, KubeSchema, ResourceExt};
use serde::{Deserialize, Serialize};

use super::request::Request;

/// The Dinas's decision on one `Request` in the same namespace. Immutable: a decision is
/// changed by a new request, never by editing. Only members of the Dinas group may create one,
/// and `approver` must be the creating user (the API server checks both).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kavling.go.id",
    version = "v1alpha1",
    kind = "Approval",
    doc = "The Dinas's decision on one `Request` in the same namespace. Immutable: a decision is changed by a new request, never by editing. Only members of the Dinas group may create one, and `approver` must be the creating user (the API server checks both).",
    namespaced,
    shortname = "apv",
    category = "kavling",
    printcolumn = r#"{"name":"Request","type":"string","jsonPath":".spec.request"}"#,
    printcolumn = r#"{"name":"Decision","type":"string","jsonPath":".spec.decision"}"#,
    printcolumn = r#"{"name":"Approver","type":"string","jsonPath":".spec.approver"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".spec.reason","priority":1}"#,
    printcolumn = r#"{"name":"Digest","type":"string","jsonPath":".spec.specDigest","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("spec: an Approval is immutable; a decision stands as it was made"))]
#[x_kube(validation = Rule::new("self.decision == 'Approve' || size(self.reason) > 0").message("spec.reason: a rejection must give a reason"))]
pub struct ApprovalSpec {
    /// Name of the Request (same namespace) decided on.
    #[schemars(length(min = 1, max = 253))]
    pub request: String,
    /// The uid of the exact Request decided on. A Request deleted and filed again under the
    /// same name has another uid, so a decision never carries over to it, and an Approval made
    /// before its Request exists decides nothing (`kavling approve` fills this in).
    #[schemars(length(min = 1, max = 64))]
    pub request_uid: String,
    /// `sha256:<hex>` of the Request's spec as the Dinas saw it ([`RequestSpec::digest`]).
    #[schemars(length(min = 71, max = 71))]
    #[x_kube(validation = Rule::new("self.matches('^sha256:[0-9a-f]{64}$')").message("spec.specDigest: must be sha256:<64 hex digits> of the Request's spec (kavling approve fills it in)"))]
    pub spec_digest: String,
    /// `Approve` or `Reject`.
    pub decision: Decision,
    /// The Dinas member deciding; must be you.
    #[schemars(length(min = 1, max = 253))]
    pub approver: String,
    /// Why (required to reject).
    #[serde(default)]
    #[schemars(length(max = 2000))]
    pub reason: String,
}

impl Approval {
    /// The decision on exactly `req` (its name, uid and spec digest), named after it.
    pub fn deciding(req: &Request, decision: Decision, approver: &str, reason: &str) -> Approval {
        let name = req.name_any();
        let mut a = Approval::new(
            &name,
            ApprovalSpec {
                request: name.clone(),
                request_uid: req.uid().unwrap_or_default(),
                spec_digest: req.spec.digest(),
                decision,
                approver: approver.to_string(),
                reason: reason.to_string(),
            },
        );
        a.metadata.namespace = req.namespace();
        a
    }

    /// Why this Approval does not decide `req` although it names it, if it does not (pure).
    pub fn mismatch(&self, req: &Request) -> Option<String> {
        let uid = req.uid().unwrap_or_default();
        if self.spec.request_uid != uid {
            return Some(format!(
                "Approval {} was made for another Request named {} (uid {}, this one is {uid}): a decision never carries over to a request filed again under the same name",
                self.name_any(),
                self.spec.request,
                self.spec.request_uid
            ));
        }
        let digest = req.spec.digest();
        if self.spec.spec_digest != digest {
            return Some(format!(
                "Approval {} approved a request whose spec digest was {}, this one's is {digest}",
                self.name_any(),
                self.spec.spec_digest
            ));
        }
        None
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Decision {
    Approve,
    Reject,
}
