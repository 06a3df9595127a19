//! `Bucket`: a storage bucket on the Pusat Data's object store, with a rotating access key.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, Suspension};
use super::request::DataClassification;

/// A storage bucket for a tenant (in its home namespace). Kavling creates the bucket on the
/// object store as `<tenant>--<name>`, one access key for it, and the Secret
/// `<name>-s3-credentials` with the endpoint and that key. The key rotates every
/// `rotation.period`; the previous key keeps working for `rotation.grace`, then is removed.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kavling.go.id",
    version = "v1alpha1",
    kind = "Bucket",
    doc = "A storage bucket for a tenant (in its home namespace). Kavling creates the bucket on the object store as `<tenant>--<name>`, one access key for it, and the Secret `<name>-s3-credentials` with the endpoint and that key. The key rotates every `rotation.period`; the previous key keeps working for `rotation.grace`, then is removed.",
    namespaced,
    status = "BucketStatus",
    shortname = "bkt",
    category = "kavling",
    printcolumn = r#"{"name":"Bucket","type":"string","jsonPath":".status.bucketName"}"#,
    printcolumn = r#"{"name":"Size","type":"string","jsonPath":".spec.size"}"#,
    printcolumn = r#"{"name":"Used","type":"integer","jsonPath":".status.usage.bytes"}"#,
    printcolumn = r#"{"name":"Class","type":"string","jsonPath":".spec.classification"}"#,
    printcolumn = r#"{"name":"Secret","type":"string","jsonPath":".status.secretName","priority":1}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name.size() <= 40 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("metadata.name: a bucket name is a DNS label of at most 40 characters; the object store's name is <tenant>--<name>"),
    validation = Rule::new("!self.metadata.name.contains('--')").message("metadata.name: a bucket name may not contain '--': Kavling joins the tenant and the name with it (<tenant>--<name>)")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.deletionPolicy == 'Delete' || !self.purge").message("spec.purge: purging objects needs deletionPolicy: Delete"))]
#[x_kube(validation = Rule::new("!(oldSelf.deletionPolicy == 'Retain' && self.deletionPolicy == 'Delete' && self.purge)").message("spec.deletionPolicy: switching Retain to Delete and asking for a purge in one change would lose data; change the policy first, then ask for the purge on its own"))]
pub struct BucketSpec {
    /// Size quota (Kubernetes quantity, e.g. "10Gi"). Writes past it fail.
    #[schemars(length(min = 1, max = 16))]
    pub size: String,
    /// Object-count quota, where the object store supports it (Garage does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_objects: Option<u64>,
    /// Data classification, from the storage request.
    pub classification: DataClassification,
    /// Whether the data includes personal data (UU 27/2022), from the storage request.
    #[serde(default)]
    pub personal_data: bool,
    /// Keep old versions of objects. Refused when the object store cannot keep versions.
    #[serde(default)]
    pub versioning: bool,
    /// How often the access key is replaced.
    #[serde(default)]
    pub rotation: Rotation,
    /// What deleting this Bucket does to the data: `Retain` (default) keeps the bucket and its
    /// objects and only revokes access; `Delete` removes the bucket, and refuses while objects
    /// remain unless `purge` is set.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// With `deletionPolicy: Delete`: delete the objects too when the Bucket is deleted.
    #[serde(default)]
    pub purge: bool,
    /// Suspends access (the key is disabled; no data is touched) while set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<Suspension>,
}

/// Key rotation schedule: durations such as `90d`, `24h`, `30m`, `45s`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// Time between two keys (default 90 days).
    #[serde(default = "default_period")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]{1,6}[smhd]$')").message("rotation.period: a duration such as 90d, 24h, 30m or 45s"))]
    #[schemars(length(max = 8))]
    pub period: String,
    /// How long the previous key keeps working after a rotation (default 24 hours), so
    /// clients reading the Secret have time to pick up the new key.
    #[serde(default = "default_grace")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]{1,6}[smhd]$')").message("rotation.grace: a duration such as 24h, 30m or 45s"))]
    #[schemars(length(max = 8))]
    pub grace: String,
}

fn default_period() -> String {
    "90d".into()
}
fn default_grace() -> String {
    "24h".into()
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            period: default_period(),
            grace: default_grace(),
        }
    }
}

/// What deleting a Bucket does to its data.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum DeletionPolicy {
    /// Keep the bucket and its objects; only access is revoked.
    #[default]
    Retain,
    /// Delete the bucket (refused while objects remain, unless `purge`).
    Delete,
}

/// A previous access key, kept working until `until` after a rotation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetiringKey {
    /// The old key's id (its secret is gone from the Secret already).
    pub access_key_id: String,
    /// RFC 3339; the key is removed after this.
    pub until: String,
}

/// What the bucket holds, as the object store counts it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketUsage {
    /// Bytes stored.
    pub bytes: u64,
    /// Objects stored.
    pub objects: u64,
}

/// The bucket in the object store, its access key Secret and usage.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketStatus {
    /// The bucket's name on the object store (`<tenant>--<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,
    /// The object store's identifier of the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_id: Option<String>,
    /// S3 endpoint clients use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The Secret (same namespace) holding endpoint, region, bucket and the current key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// The current access key id (never the secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// How many keys this Bucket has had; the next key's id is derived from it, so a retried
    /// rotation finds the key it made instead of making another.
    #[serde(default)]
    pub key_serial: u32,
    /// When the current key was made (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation: Option<String>,
    /// When the next rotation is due (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_rotation: Option<String>,
    /// The previous key during its grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_key: Option<RetiringKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<BucketUsage>,
    /// Ready, Reconciling, Suspended, Failed: the state a person reads first (`kubectl
    /// describe`), each with a reason and a message.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status was computed from: older than the object's means
    /// the operator has not seen the latest change yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
