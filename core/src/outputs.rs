//! How Kavling marks what it makes: the field manager, the annotations that tie an output to
//! the Request it was made for, and label values for names too long to be one.

use std::collections::BTreeMap;

use kube::ResourceExt;
use sha2::{Digest, Sha256};

/// The field manager of everything the operator applies.
pub const MANAGER: &str = "kavling-operator";

/// A label value for any string: itself when it is a valid label value (≤ 63 characters),
/// otherwise `h-` and a hash, so long FQDNs can still be selected by label.
pub fn label_value(s: &str) -> String {
    let valid = s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    if valid {
        s.to_string()
    } else {
        let digest = Sha256::digest(s.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("h-{}", &hex[..40])
    }
}

/// `namespace/name` of a namespaced object, as written in annotations.
pub fn request_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// Annotation on outputs naming the Request (`namespace/name`) they were made for.
pub const REQUEST_ANNOTATION: &str = "kavling.go.id/request";
/// Annotation on outputs naming the uid of the Request they were made for: a request filed
/// again under the same name is another request.
pub const REQUEST_UID_ANNOTATION: &str = "kavling.go.id/request-uid";

/// The annotations an output carries: the Request it was made for, by key and by uid.
pub fn request_annotations(req: &crate::api::Request) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            REQUEST_ANNOTATION.to_string(),
            request_key(&req.namespace().unwrap_or_default(), &req.name_any()),
        ),
        (
            REQUEST_UID_ANNOTATION.to_string(),
            req.uid().unwrap_or_default(),
        ),
    ])
}

/// Whether an output with these annotations was made for exactly `req` (pure): its key, and
/// its uid where the output records one. An output of an earlier request filed under the same
/// name is not this request's.
pub fn made_for(annotations: &BTreeMap<String, String>, req: &crate::api::Request) -> bool {
    let key = request_key(&req.namespace().unwrap_or_default(), &req.name_any());
    annotations.get(REQUEST_ANNOTATION) == Some(&key)
        && annotations
            .get(REQUEST_UID_ANNOTATION)
            .is_none_or(|uid| Some(uid) == req.uid().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_is_a_requests_only_by_key_and_uid() {
        let mut req: crate::api::Request = serde_json::from_value(serde_json::json!({
            "apiVersion": "kavling.go.id/v1alpha1", "kind": "Request",
            "metadata": {"name": "portal", "namespace": "tenant-dinkes", "uid": "u-1"},
            "spec": {"requestedBy": "rina", "letter": {"number": "1", "date": "2026-11-01",
                "signer": {"name": "A", "position": "B", "identity": {"nip": "197805122005012003"}}},
                "storage": {"name": "arsip", "dataDescription": "x", "size": "1Gi",
                    "classification": "Publik", "personalData": false}}
        }))
        .unwrap();
        let ours = request_annotations(&req);
        assert!(made_for(&ours, &req));
        // made before outputs recorded a uid: the key is all there is
        let legacy = BTreeMap::from([(
            REQUEST_ANNOTATION.to_string(),
            "tenant-dinkes/portal".to_string(),
        )]);
        assert!(made_for(&legacy, &req));
        // the same name filed again is another request
        req.metadata.uid = Some("u-2".into());
        assert!(!made_for(&ours, &req));
    }

    #[test]
    fn label_values_fall_back_to_a_hash() {
        assert_eq!(
            label_value("portal.bukittinggikota.go.id"),
            "portal.bukittinggikota.go.id"
        );
        let long = format!("{}.bukittinggikota.go.id", "a".repeat(60));
        let v = label_value(&long);
        assert!(v.starts_with("h-") && v.len() == 42);
        assert_eq!(v, label_value(&long));
    }
}
