//! What an audit commit records about one object: its desired state as YAML at a stable path,
//! and the change from the previous recorded state. Pure: no git, no API server.
//!
//! The document keeps what a person or a restore needs (identity, labels, annotations, spec)
//! and a small *audited status*: the transitions that matter (Ready, Suspended, Failed, a
//! certificate issued or renewed, a key rotated, a request's phase). Everything that changes
//! without meaning — resourceVersion, managedFields, uids, timestamps, condition messages,
//! progress reasons — is left out, so a commit is made only when something a person cares
//! about changed, and the same state always gives the same bytes.

use serde_json::{Map, Value, json};

/// The kinds recorded, in restore order: the registry of kinds.
pub use kavling_core::kinds::{KINDS, Kind as AuditedKind};

/// The object a path names: kind, namespace, name. `None` for paths the writer never makes
/// (a spread kind's file in another subdirectory than its name's shard is one). A spread
/// kind's unspread path, from before spreading, names its object too.
pub fn parse_path(path: &str) -> Option<(&'static AuditedKind, Option<String>, String)> {
    let stem = path.strip_suffix(".yaml")?;
    let mut parts = stem.split('/');
    let kind = AuditedKind::by_plural(parts.next()?)?;
    let (ns, name) = match (kind.namespaced, parts.next(), parts.next(), parts.next()) {
        (true, Some(ns), Some(name), None) => (Some(ns.to_string()), name.to_string()),
        (false, Some(shard), Some(name), None)
            if kind.spread && shard == kavling_core::kinds::shard(name) =>
        {
            (None, name.to_string())
        }
        (false, Some(name), None, None) => (None, name.to_string()),
        _ => return None,
    };
    Some((kind, ns, name))
}

/// Whether `path` is where its object was filed before its kind was spread.
pub fn is_unspread(path: &str) -> bool {
    parse_path(path)
        .is_some_and(|(kind, _, name)| kind.unspread_path(&name).as_deref() == Some(path))
}

/// Annotations that are tooling noise, never intent.
const NOISY_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
];

/// The audit document of an object (as the API server returns it, any Kavling kind).
pub fn document(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let mut metadata = Map::new();
    metadata.insert("name".into(), meta["name"].clone());
    if let Some(ns) = meta.get("namespace").filter(|v| v.is_string()) {
        metadata.insert("namespace".into(), ns.clone());
    }
    if let Some(labels) = meta.get("labels").and_then(Value::as_object)
        && !labels.is_empty()
    {
        metadata.insert("labels".into(), Value::Object(labels.clone()));
    }
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        let kept: Map<String, Value> = annotations
            .iter()
            .filter(|(k, _)| !NOISY_ANNOTATIONS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !kept.is_empty() {
            metadata.insert("annotations".into(), Value::Object(kept));
        }
    }
    // Who owns it, without uids (they differ in every cluster): tells restore that the owner
    // recreates it.
    if let Some(owners) = meta.get("ownerReferences").and_then(Value::as_array)
        && !owners.is_empty()
    {
        let owners: Vec<Value> = owners
            .iter()
            .map(|o| json!({"apiVersion": o["apiVersion"], "kind": o["kind"], "name": o["name"]}))
            .collect();
        metadata.insert("ownerReferences".into(), Value::Array(owners));
    }
    let mut doc = Map::new();
    doc.insert("apiVersion".into(), obj["apiVersion"].clone());
    doc.insert("kind".into(), obj["kind"].clone());
    doc.insert("metadata".into(), Value::Object(metadata));
    if let Some(spec) = obj.get("spec").filter(|v| !v.is_null()) {
        doc.insert("spec".into(), spec.clone());
    }
    let status = audited_status(obj.get("kind").and_then(Value::as_str), &obj["status"]);
    if !status.is_empty() {
        doc.insert("status".into(), Value::Object(status));
    }
    Value::Object(doc)
}

/// The status transitions that matter, and nothing that moves on its own.
fn audited_status(kind: Option<&str>, status: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let condition = |t: &str| conditions.iter().find(|c| c["type"] == t);
    if let Some(ready) = condition("Ready") {
        out.insert("ready".into(), Value::Bool(ready["status"] == "True"));
    }
    if condition("Suspended").is_some_and(|c| c["status"] == "True") {
        out.insert("suspended".into(), Value::Bool(true));
    }
    if let Some(failed) = condition("Failed").filter(|c| c["status"] == "True") {
        out.insert("failed".into(), failed["reason"].clone());
    }
    let copy = |out: &mut Map<String, Value>, field: &str| {
        if let Some(v) = status.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    };
    for field in kind
        .and_then(AuditedKind::by_kind)
        .map(|k| k.audited_status)
        .unwrap_or_default()
    {
        copy(&mut out, field);
    }
    out
}

/// The YAML bytes committed for a document: stable for the same document.
pub fn to_yaml(doc: &Value) -> String {
    serde_norway::to_string(doc).expect("a JSON value always serialises to YAML")
}

/// What kind of change a commit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Spec,
    Status,
    Delete,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Spec => "spec",
            Change::Status => "status",
            Change::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Change> {
        [Change::Create, Change::Spec, Change::Status, Change::Delete]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// The change from `old` to `new` (either absent), and a one-line summary a person reads in
/// `kavling audit log`.
pub fn describe(
    kind: &str,
    object: &str,
    old: Option<&Value>,
    new: Option<&Value>,
) -> (Change, String) {
    match (old, new) {
        (None, _) => (Change::Create, format!("{kind} {object} created")),
        (Some(_), None) => (Change::Delete, format!("{kind} {object} deleted")),
        (Some(old), Some(new)) => {
            let without_status = |v: &Value| {
                let mut v = v.clone();
                if let Some(m) = v.as_object_mut() {
                    m.remove("status");
                }
                v
            };
            if without_status(old) != without_status(new) {
                let what = if old["spec"] != new["spec"] {
                    "spec"
                } else {
                    "metadata"
                };
                return (Change::Spec, format!("{kind} {object}: {what} changed"));
            }
            (
                Change::Status,
                format!(
                    "{kind} {object}: {}",
                    status_summary(&old["status"], &new["status"])
                ),
            )
        }
    }
}

fn status_summary(old: &Value, new: &Value) -> String {
    let mut parts = Vec::new();
    if new["serial"] != old["serial"] && new["serial"].is_string() {
        let verb = if old["serial"].is_string() {
            "renewed"
        } else {
            "issued"
        };
        parts.push(format!(
            "certificate {verb} (serial {})",
            new["serial"].as_str().unwrap_or("")
        ));
    }
    if new["keySerial"] != old["keySerial"] && !old["keySerial"].is_null() {
        parts.push(format!("key rotated (serial {})", new["keySerial"]));
    }
    if new["phase"] != old["phase"] && new["phase"].is_string() {
        parts.push(format!("phase {}", new["phase"].as_str().unwrap_or("")));
    }
    if new["suspended"] != old["suspended"] {
        parts.push(
            if new["suspended"] == true {
                "suspended"
            } else {
                "resumed"
            }
            .to_string(),
        );
    }
    if new["failed"] != old["failed"] {
        match new["failed"].as_str() {
            Some(reason) => parts.push(format!("failed ({reason})")),
            None => parts.push("no longer failed".to_string()),
        }
    }
    if new["ready"] != old["ready"] {
        parts.push(
            if new["ready"] == true {
                "Ready"
            } else {
                "not Ready"
            }
            .to_string(),
        );
    }
    if parts.is_empty() {
        parts.push("status changed".to_string());
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subdomain(ready: &str, serial: Option<&str>) -> Value {
        json!({
            "apiVersion": "kavling.go.id/v1alpha1",
            "kind": "Subdomain",
            "metadata": {
                "name": "dinkes.agam.go.id",
                "uid": "8f0c",
                "resourceVersion": "1234",
                "generation": 3,
                "creationTimestamp": "2026-11-01T00:00:00Z",
                "managedFields": [{"manager": "kavling-operator"}],
                "annotations": {
                    "kavling.go.id/request": "dinkes/req-1",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}"
                },
                "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "u"}]
            },
            "spec": {"zone": "agam.go.id", "label": "dinkes"},
            "status": {
                "conditions": [
                    {"type": "Ready", "status": ready, "reason": "Whatever", "message": "m", "lastTransitionTime": "t"},
                    {"type": "Reconciling", "status": "True", "reason": "Busy", "message": "", "lastTransitionTime": "t"}
                ],
                "serial": serial,
                "records": ["a"]
            }
        })
    }

    #[test]
    fn document_drops_noise_and_keeps_intent() {
        let doc = document(&subdomain("True", None));
        let yaml = to_yaml(&doc);
        for noise in [
            "uid",
            "resourceVersion",
            "managedFields",
            "creationTimestamp",
            "last-applied",
            "Reconciling",
            "generation",
            "message",
        ] {
            assert!(!yaml.contains(noise), "{noise} leaked into:\n{yaml}");
        }
        assert_eq!(
            doc["metadata"]["annotations"]["kavling.go.id/request"],
            "dinkes/req-1"
        );
        assert_eq!(
            doc["metadata"]["ownerReferences"][0],
            json!({"apiVersion": "v1", "kind": "X", "name": "o"})
        );
        assert_eq!(doc["status"], json!({"ready": true}));
    }

    #[test]
    fn the_same_state_gives_the_same_bytes() {
        assert_eq!(
            to_yaml(&document(&subdomain("True", None))),
            to_yaml(&document(&subdomain("True", None)))
        );
    }

    #[test]
    fn progress_alone_is_not_a_change_but_readiness_is() {
        let mut progressed = subdomain("False", None);
        progressed["status"]["conditions"][0]["reason"] = json!("Validating");
        progressed["metadata"]["resourceVersion"] = json!("99");
        assert_eq!(document(&subdomain("False", None)), document(&progressed));
        let (change, summary) = describe(
            "Subdomain",
            "x",
            Some(&document(&progressed)),
            Some(&document(&subdomain("True", None))),
        );
        assert_eq!(change, Change::Status);
        assert_eq!(summary, "Subdomain x: Ready");
    }

    #[test]
    fn certificate_issue_then_renewal() {
        let cert = |serial: Option<&str>| {
            let mut c = subdomain("True", serial);
            c["kind"] = json!("Certificate");
            document(&c)
        };
        let (_, s) = describe(
            "Certificate",
            "c",
            Some(&cert(None)),
            Some(&cert(Some("0a"))),
        );
        assert_eq!(s, "Certificate c: certificate issued (serial 0a)");
        let (_, s) = describe(
            "Certificate",
            "c",
            Some(&cert(Some("0a"))),
            Some(&cert(Some("0b"))),
        );
        assert_eq!(s, "Certificate c: certificate renewed (serial 0b)");
    }

    #[test]
    fn spec_changes_and_lifecycle() {
        let a = document(&subdomain("True", None));
        let mut b = a.clone();
        b["spec"]["label"] = json!("other");
        assert_eq!(
            describe("Subdomain", "x", Some(&a), Some(&b)).0,
            Change::Spec
        );
        assert_eq!(describe("Subdomain", "x", None, Some(&a)).0, Change::Create);
        assert_eq!(describe("Subdomain", "x", Some(&a), None).0, Change::Delete);
    }

    #[test]
    fn paths_round_trip() {
        let k = AuditedKind::by_kind("Bucket").unwrap();
        let p = k.path(Some("dinkes"), "arsip");
        assert_eq!(p, "buckets/dinkes/arsip.yaml");
        let (k2, ns, name) = parse_path(&p).unwrap();
        assert_eq!(
            (k2.kind, ns.as_deref(), name.as_str()),
            ("Bucket", Some("dinkes"), "arsip")
        );
        let z = AuditedKind::by_kind("Zone")
            .unwrap()
            .path(None, "agam.go.id");
        assert_eq!(parse_path(&z).unwrap().2, "agam.go.id");
        assert!(parse_path("secrets/x.yaml").is_none());
        assert!(parse_path("zones/a/b.yaml").is_none());
        // a spread kind: in its shard, or (written before spreading) flat; nowhere else
        let rec = AuditedKind::by_kind("DnsRecord").unwrap();
        let p = rec.path(None, "www-agam-go-id-a");
        assert_eq!(parse_path(&p).unwrap().2, "www-agam-go-id-a");
        assert!(!is_unspread(&p));
        assert_eq!(
            parse_path("dnsrecords/www-agam-go-id-a.yaml").unwrap().2,
            "www-agam-go-id-a"
        );
        assert!(is_unspread("dnsrecords/www-agam-go-id-a.yaml"));
        assert!(parse_path("dnsrecords/00/www-agam-go-id-a.yaml").is_none());
    }
}
