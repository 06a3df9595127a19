//! Planning a rebuild from the audit repository (`kavling restore`): which recorded objects are
//! recreated, in which order, which come back by themselves, and what needs a person. Pure.

use serde::Serialize;
use serde_json::{Map, Value};

use super::document::{self, AuditedKind};

/// One line of the plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub kind: String,
    /// `namespace/name` or `name`.
    pub object: String,
    pub action: Action,
    /// Why skipped, or what a person must do after the object is back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The object to apply (Restore only): identity, labels, annotations and spec.
    #[serde(skip)]
    pub manifest: Option<Value>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum Action {
    /// Applied by restore.
    Restore,
    /// Recreated by the operator from its owner once that is restored.
    FromOwner,
    /// Kept in git as the record; not recreated.
    RecordOnly,
}

/// The plan for the documents of one commit (`(path, yaml)`), in dependency order: Issuers,
/// Zones, Tenants, then what lives in them.
pub fn plan(documents: &[(String, String)]) -> Vec<Step> {
    let mut parsed: Vec<(&'static AuditedKind, String, Value)> = documents
        .iter()
        .filter_map(|(path, yaml)| {
            let (kind, ns, name) = document::parse_path(path)?;
            let doc: Value = serde_norway::from_str(yaml).ok()?;
            let object = ns.map(|ns| format!("{ns}/{name}")).unwrap_or(name);
            Some((kind, object, doc))
        })
        .collect();
    parsed.sort_by(|a, b| (a.0.restore_rank().cmp(&b.0.restore_rank())).then(a.1.cmp(&b.1)));
    parsed
        .into_iter()
        .map(|(kind, object, doc)| step(kind, object, &doc))
        .collect()
}

fn step(kind: &'static AuditedKind, object: String, doc: &Value) -> Step {
    let skip = |action, note: String| Step {
        kind: kind.kind.into(),
        object: object.clone(),
        action,
        note: Some(note),
        manifest: None,
    };
    if matches!(kind.kind, "Request" | "Approval") {
        return skip(
            Action::RecordOnly,
            "the paper trail stays in git; what it led to is restored directly".into(),
        );
    }
    let meta = &doc["metadata"];
    if let Some(owner) = meta["ownerReferences"].as_array().and_then(|o| {
        o.iter()
            .find(|o| AuditedKind::by_kind(o["kind"].as_str().unwrap_or_default()).is_some())
    }) {
        return skip(
            Action::FromOwner,
            format!(
                "made again by its {} {}",
                owner["kind"].as_str().unwrap_or_default(),
                owner["name"].as_str().unwrap_or_default()
            ),
        );
    }
    if meta["labels"]["kavling.go.id/certificate"].is_string() {
        return skip(
            Action::FromOwner,
            "an ACME challenge record: made again when a certificate is ordered".into(),
        );
    }
    let mut metadata = Map::new();
    for field in ["name", "namespace", "labels", "annotations"] {
        if let Some(v) = meta.get(field).filter(|v| !v.is_null()) {
            metadata.insert(field.into(), v.clone());
        }
    }
    let mut manifest = Map::new();
    manifest.insert("apiVersion".into(), doc["apiVersion"].clone());
    manifest.insert("kind".into(), doc["kind"].clone());
    manifest.insert("metadata".into(), Value::Object(metadata));
    if let Some(spec) = doc.get("spec") {
        manifest.insert("spec".into(), spec.clone());
    }
    let note = match kind.kind {
        "Bucket" => Some(format!(
            "new keys are issued into Secret {}; hand them to the tenant. Objects are not in git: restore them from the object store's backup",
            doc["spec"]["secretName"].as_str().map(str::to_string).unwrap_or_else(|| format!("{}-s3", meta["name"].as_str().unwrap_or_default()))
        )),
        "Hosting" => Some("the namespace is rendered again; application data (volumes, database) and its db Secret are not in git: restore data from backup".into()),
        "Certificate" => Some("issued again by the CA with a new key".into()),
        "Issuer" if doc["spec"]["externalAccountBinding"].is_object() => Some(format!(
            "create the EAB Secret {} again (secrets never enter git)",
            doc["spec"]["externalAccountBinding"]["keySecretRef"]["name"].as_str().unwrap_or("named in spec.externalAccountBinding")
        )),
        _ => None,
    };
    Step {
        kind: kind.kind.into(),
        object,
        action: Action::Restore,
        note,
        manifest: Some(Value::Object(manifest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> String {
        yaml.trim().to_string()
    }

    #[test]
    fn dependencies_first_owned_and_records_skipped() {
        let docs = vec![
            (
                "buckets/dinkes/arsip.yaml".to_string(),
                doc(
                    "apiVersion: kavling.go.id/v1alpha1\nkind: Bucket\nmetadata: {name: arsip, namespace: dinkes}\nspec: {sizeGiB: 1}\nstatus: {ready: true, keySerial: 2}",
                ),
            ),
            (
                "dnsrecords/dinkes-agam-go-id-a.yaml".to_string(),
                doc(
                    "kind: DnsRecord\nmetadata: {name: dinkes-agam-go-id-a, ownerReferences: [{kind: Subdomain, name: dinkes.agam.go.id}]}\nspec: {}",
                ),
            ),
            (
                "requests/dinkes/req-1.yaml".to_string(),
                doc("kind: Request\nmetadata: {name: req-1, namespace: dinkes}\nspec: {}"),
            ),
            (
                "tenants/dinkes.yaml".to_string(),
                doc("kind: Tenant\nmetadata: {name: dinkes}\nspec: {}"),
            ),
            (
                "zones/agam.go.id.yaml".to_string(),
                doc("kind: Zone\nmetadata: {name: agam.go.id}\nspec: {}"),
            ),
            ("secrets/x.yaml".to_string(), doc("kind: Secret")),
        ];
        let p = plan(&docs);
        let order: Vec<(&str, Action)> = p.iter().map(|s| (s.kind.as_str(), s.action)).collect();
        assert_eq!(
            order,
            vec![
                ("Zone", Action::Restore),
                ("Tenant", Action::Restore),
                ("Request", Action::RecordOnly),
                ("DnsRecord", Action::FromOwner),
                ("Bucket", Action::Restore),
            ]
        );
        let bucket = p[4].manifest.as_ref().unwrap();
        assert!(bucket.get("status").is_none());
        assert_eq!(bucket["metadata"]["namespace"], "dinkes");
        assert!(p[4].note.as_ref().unwrap().contains("new keys"));
    }
}
