//! Who and why, for one object's change: read from the object itself (requester, approver,
//! suspension reason, field manager) and from the documents already recorded (the Request and
//! Approval an output was made for). Pure over a lookup function, so it is unit-tested.

use serde_json::Value;

use super::message::Trailers;

pub use kavling_core::outputs::REQUEST_UID_ANNOTATION;

/// The operator's name in trailers.
pub const OPERATOR: &str = "kavling-operator";

/// Trailers for `obj` (a full object as the API server returns it). `recorded(path)` returns a
/// document already in the audit repository; `approvals_in(namespace)` every recorded Approval
/// there.
pub fn trailers(
    obj: &Value,
    recorded: &dyn Fn(&str) -> Option<Value>,
    approvals_in: &dyn Fn(&str) -> Vec<Value>,
) -> Trailers {
    let kind = obj["kind"].as_str().unwrap_or_default();
    let meta = &obj["metadata"];
    let ns = meta["namespace"].as_str();
    let mut t = Trailers {
        resource_version: meta["resourceVersion"].as_str().map(str::to_string),
        tenant: meta["labels"]["kavling.go.id/tenant"]
            .as_str()
            .or(ns)
            .map(str::to_string),
        ..Default::default()
    };
    // The Request this object exists for: itself, the one decided on, the annotation on an
    // output, or its owner's — by namespace/name and, where known, by uid, so an Approval made
    // for an earlier request of the same name is never credited.
    let (request_key, request_uid) = match kind {
        "Request" => (
            ns.map(|ns| format!("{ns}/{}", meta["name"].as_str().unwrap_or_default())),
            meta["uid"].as_str().map(str::to_string),
        ),
        "Approval" => (
            ns.map(|ns| {
                format!(
                    "{ns}/{}",
                    obj["spec"]["request"].as_str().unwrap_or_default()
                )
            }),
            obj["spec"]["requestUid"].as_str().map(str::to_string),
        ),
        _ => match meta["annotations"]["kavling.go.id/request"].as_str() {
            Some(key) => (
                Some(key.to_string()),
                meta["annotations"][REQUEST_UID_ANNOTATION]
                    .as_str()
                    .map(str::to_string),
            ),
            None => match owner_request(obj, recorded) {
                Some((key, uid)) => (Some(key), uid),
                None => (None, None),
            },
        },
    };
    if let Some(key) = &request_key
        && let Some((rns, rname)) = key.split_once('/')
    {
        t.request = Some(key.clone());
        if let Some(req) = recorded(&format!("requests/{rns}/{rname}.yaml")) {
            t.letter = req["spec"]["letter"]["number"].as_str().map(str::to_string);
        }
        if kind == "Request" {
            t.letter = obj["spec"]["letter"]["number"].as_str().map(str::to_string);
        }
        let decision = if kind == "Approval" {
            Some(obj.clone())
        } else {
            approvals_in(rns).into_iter().find(|a| {
                a["spec"]["request"] == rname
                    && match (&request_uid, a["spec"]["requestUid"].as_str()) {
                        (Some(uid), Some(decided)) => uid == decided,
                        // recorded before approvals named uids, or an output made before
                        // outputs carried one: the name is all there is
                        _ => true,
                    }
            })
        };
        if let Some(a) = decision {
            t.approver = a["spec"]["approver"].as_str().map(str::to_string);
            t.reason = a["spec"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
                .map(str::to_string);
        }
    }
    t.actor = match kind {
        "Request" => obj["spec"]["requestedBy"].as_str().map(str::to_string),
        "Approval" => obj["spec"]["approver"].as_str().map(str::to_string),
        _ if meta["annotations"]["kavling.go.id/request"].is_string() => Some(OPERATOR.to_string()),
        _ => None,
    };
    if let Some(reason) = obj["spec"]["suspend"]["reason"].as_str() {
        t.reason = Some(reason.to_string());
    }
    t.field_manager = last_writer(obj);
    if t.actor.is_none() && t.field_manager.as_deref() == Some(OPERATOR) {
        t.actor = Some(OPERATOR.to_string());
    }
    t
}

/// The Request (key, uid) of the object's audited owner (a DnsRecord's Subdomain, a
/// Certificate's Subdomain or Hosting).
fn owner_request(
    obj: &Value,
    recorded: &dyn Fn(&str) -> Option<Value>,
) -> Option<(String, Option<String>)> {
    let owners = obj["metadata"]["ownerReferences"].as_array()?;
    owners.iter().find_map(|o| {
        let kind = super::document::AuditedKind::by_kind(o["kind"].as_str()?)?;
        let name = o["name"].as_str()?;
        let path = kind.path(obj["metadata"]["namespace"].as_str(), name);
        // (or where it was filed before its kind was spread)
        let owner = recorded(&path).or_else(|| recorded(&kind.unspread_path(name)?))?;
        let annotations = &owner["metadata"]["annotations"];
        let key = annotations["kavling.go.id/request"].as_str()?.to_string();
        let uid = annotations[REQUEST_UID_ANNOTATION]
            .as_str()
            .map(str::to_string);
        Some((key, uid))
    })
}

/// The field manager of the most recent write to the object's spec or metadata (not status).
fn last_writer(obj: &Value) -> Option<String> {
    let fields = obj["metadata"]["managedFields"].as_array()?;
    fields
        .iter()
        .filter(|f| f["subresource"].as_str() != Some("status"))
        .max_by_key(|f| f["time"].as_str().unwrap_or_default().to_string())
        .and_then(|f| f["manager"].as_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> Value {
        json!({"kind": "Request", "metadata": {"name": "req-1", "namespace": "dinkes"},
               "spec": {"requestedBy": "rina", "letter": {"number": "045/1/2026"}}})
    }
    fn approval() -> Value {
        json!({"kind": "Approval", "metadata": {"name": "req-1", "namespace": "dinkes"},
               "spec": {"request": "req-1", "approver": "ani", "decision": "Approve", "reason": "lengkap"}})
    }

    #[test]
    fn an_output_names_the_request_letter_and_approver() {
        let sd = json!({"kind": "Subdomain", "metadata": {"name": "dinkes.agam.go.id",
            "resourceVersion": "7",
            "labels": {"kavling.go.id/tenant": "dinkes"},
            "annotations": {"kavling.go.id/request": "dinkes/req-1"},
            "managedFields": [
                {"manager": "kavling-operator", "operation": "Update", "time": "2026-11-01T00:00:02Z"},
                {"manager": "kavling-operator", "operation": "Update", "subresource": "status", "time": "2026-11-01T00:00:03Z"}]},
            "spec": {}});
        let t = trailers(
            &sd,
            &|p| (p == "requests/dinkes/req-1.yaml").then(request),
            &|_| vec![approval()],
        );
        assert_eq!(t.actor.as_deref(), Some("kavling-operator"));
        assert_eq!(t.approver.as_deref(), Some("ani"));
        assert_eq!(t.request.as_deref(), Some("dinkes/req-1"));
        assert_eq!(t.letter.as_deref(), Some("045/1/2026"));
        assert_eq!(t.reason.as_deref(), Some("lengkap"));
        assert_eq!(t.tenant.as_deref(), Some("dinkes"));
        assert_eq!(t.resource_version.as_deref(), Some("7"));
    }

    #[test]
    fn requests_and_approvals_name_their_people() {
        let t = trailers(&request(), &|_| None, &|_| vec![]);
        assert_eq!(
            (t.actor.as_deref(), t.letter.as_deref()),
            (Some("rina"), Some("045/1/2026"))
        );
        let t = trailers(&approval(), &|_| Some(request()), &|_| vec![]);
        assert_eq!(
            (t.actor.as_deref(), t.approver.as_deref()),
            (Some("ani"), Some("ani"))
        );
        assert_eq!(t.letter.as_deref(), Some("045/1/2026"));
    }

    #[test]
    fn a_record_inherits_its_subdomains_request_and_suspension_gives_a_reason() {
        let rr = json!({"kind": "DnsRecord", "metadata": {"name": "r",
            "ownerReferences": [{"kind": "Subdomain", "name": "dinkes.agam.go.id"}]}, "spec": {}});
        let sd = json!({"metadata": {"annotations": {"kavling.go.id/request": "dinkes/req-1"}}});
        let t = trailers(
            &rr,
            &|p| (p == "subdomains/dinkes.agam.go.id.yaml").then(|| sd.clone()),
            &|_| vec![],
        );
        assert_eq!(t.request.as_deref(), Some("dinkes/req-1"));
        let z = json!({"kind": "Zone", "metadata": {"name": "agam.go.id", "managedFields": [
            {"manager": "kubectl-edit", "operation": "Update", "time": "2026-11-01T00:00:09Z"},
            {"manager": "kubectl-client-side-apply", "operation": "Update", "time": "2026-11-01T00:00:01Z"}]},
            "spec": {"suspend": {"reason": "tunggakan"}}});
        let t = trailers(&z, &|_| None, &|_| vec![]);
        assert_eq!(t.reason.as_deref(), Some("tunggakan"));
        assert_eq!(t.field_manager.as_deref(), Some("kubectl-edit"));
        assert_eq!(t.actor, None);
    }
}
