//! Step 2 of a Request's reconcile (pure): which Approval decides it, and what follows before
//! anything is made — wrong namespace, invalid spec, waiting, rejected.

use kube::ResourceExt;

use crate::api::{Approval, Decision, DecisionRecord, Request, RequestPhase, RequestSpec};
use crate::controllers::status::reasons;
use crate::rules;

/// Where a request stands after one reconcile; turned into status by
/// [`super::report::apply_outcome`].
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub phase: RequestPhase,
    pub reason: &'static str,
    pub message: String,
    pub outputs: Vec<crate::api::OutputRef>,
}

impl Outcome {
    pub fn new(phase: RequestPhase, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            phase,
            reason,
            message: message.into(),
            outputs: vec![],
        }
    }
}

/// The deciding approval: the earliest one that names this exact request — its name, uid and
/// spec digest (pure). Approvals are immutable, so once made the decision never changes.
/// Approvals that name the request but were made for another one (filed earlier under the
/// same name, or before this one existed) decide nothing; why each was ignored is returned so
/// a person sees it.
pub fn deciding<'a>(
    req: &Request,
    approvals: &'a [Approval],
) -> (Option<&'a Approval>, Vec<String>) {
    let name = req.name_any();
    // one judgement per approval (it hashes the request's spec)
    let mut binding = Vec::new();
    let mut why = Vec::new();
    for a in approvals.iter().filter(|a| a.spec.request == name) {
        match a.mismatch(req) {
            None => binding.push(a),
            Some(reason) => why.push(reason),
        }
    }
    let first = binding.into_iter().min_by_key(|a| {
        (
            a.creation_timestamp()
                .map(|t| t.0.as_second())
                .unwrap_or(i64::MAX),
            a.name_any(),
        )
    });
    (first, why)
}

/// What the deciding Approval records on the Request.
pub fn record(a: &Approval) -> DecisionRecord {
    DecisionRecord {
        approval: a.name_any(),
        decision: a.spec.decision,
        approver: a.spec.approver.clone(),
        reason: a.spec.reason.clone(),
        at: a
            .creation_timestamp()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
    }
}

/// The outcome before provisioning (pure): `None` means approved and valid — go on and make
/// the outputs. `ignored` says why approvals naming the request decide nothing.
pub fn before_provisioning(
    namespace: &str,
    name: &str,
    spec: &RequestSpec,
    decision: Option<&Approval>,
    ignored: &[String],
    today: chrono::NaiveDate,
) -> Option<Outcome> {
    if crate::api::tenant_of_namespace(namespace).is_none() {
        return Some(Outcome::new(
            RequestPhase::Failed,
            reasons::INVALID_SPEC,
            format!(
                "requests are filed in a tenant's home namespace (tenant-<name>), not in {namespace}"
            ),
        ));
    }
    let violations = rules::request::check(spec, today);
    if !violations.is_empty() {
        return Some(Outcome::new(
            RequestPhase::Failed,
            reasons::INVALID_SPEC,
            rules::summarize(&violations),
        ));
    }
    match decision {
        None if !ignored.is_empty() => Some(Outcome::new(
            RequestPhase::Pending,
            reasons::APPROVAL_IGNORED,
            format!(
                "{}; waiting for a Dinas decision on this request: kavling approve -n {namespace} {name}",
                ignored.join("; ")
            ),
        )),
        None => Some(Outcome::new(
            RequestPhase::Pending,
            reasons::AWAITING_APPROVAL,
            format!("waiting for a Dinas decision: kavling approve -n {namespace} {name}"),
        )),
        Some(a) if a.spec.decision == Decision::Reject => Some(Outcome::new(
            RequestPhase::Rejected,
            reasons::REJECTED,
            format!("rejected by {}: {}", a.spec.approver, a.spec.reason),
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_approval_of_this_exact_request_decides() {
        let req: Request = serde_json::from_value(serde_json::json!({
            "apiVersion": "kavling.go.id/v1alpha1", "kind": "Request",
            "metadata": {"name": "portal", "namespace": "tenant-dinkes", "uid": "u-2"},
            "spec": {"requestedBy": "rina", "letter": {"number": "1", "date": "2026-11-01",
                "signer": {"name": "A", "position": "B", "identity": {"nip": "197805122005012003"}}},
                "storage": {"name": "arsip", "dataDescription": "x", "size": "1Gi",
                    "classification": "Publik", "personalData": false}}
        }))
        .unwrap();
        let good = Approval::deciding(&req, Decision::Approve, "ani", "");
        let mut earlier = good.clone();
        earlier.spec.request_uid = "u-1".into();
        let (d, why) = deciding(&req, std::slice::from_ref(&earlier));
        assert!(d.is_none());
        assert!(why[0].contains("never carries over"), "{why:?}");
        let both = [earlier, good];
        let (d, why) = deciding(&req, &both);
        assert_eq!(d.map(|a| a.spec.request_uid.as_str()), Some("u-2"));
        assert_eq!(why.len(), 1);
    }
}
