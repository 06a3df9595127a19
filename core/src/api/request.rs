//! `Request`: a permohonan (written request) from a tenant, and its three possible bodies.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, OutputRef};
use super::tenant::Identity;

/// Validation of a DNS label (RFC 1123), shared by every field that is one.
pub const LABEL_RULE: &str = "self.size() <= 63 && self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')";

/// A written request (surat permohonan) for a subdomain, hosting or storage, filed by a tenant
/// in its home namespace. Nothing is provisioned until a Dinas member approves it with an
/// `Approval`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kavling.go.id",
    version = "v1alpha1",
    kind = "Request",
    doc = "A written request (surat permohonan) for a subdomain, hosting or storage, filed by a tenant in its home namespace. Nothing is provisioned until a Dinas member approves it with an `Approval`.",
    namespaced,
    status = "RequestStatus",
    shortname = "req",
    category = "kavling",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".status.type"}"#,
    printcolumn = r#"{"name":"Letter","type":"string","jsonPath":".spec.letter.number"}"#,
    printcolumn = r#"{"name":"By","type":"string","jsonPath":".spec.requestedBy"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.subdomain) ? 1 : 0) + (has(self.hosting) ? 1 : 0) + (has(self.storage) ? 1 : 0) == 1").message("spec: a request carries exactly one of subdomain, hosting or storage"))]
#[x_kube(validation = Rule::new("self == oldSelf").message("spec: a request is immutable once filed; file a new one"))]
pub struct RequestSpec {
    /// The user filing the request; must be you (the API server checks).
    #[schemars(length(min = 1, max = 253))]
    pub requested_by: String,
    /// The request letter (surat permohonan).
    pub letter: Letter,
    /// A subdomain of a zone (permohonan subdomain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<SubdomainRequest>,
    /// Hosting at the Pusat Data (permohonan hosting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosting: Option<HostingRequest>,
    /// Cloud storage (permohonan penyimpanan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageRequest>,
}

/// The request letter every permohonan carries.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Letter {
    /// Letter number, e.g. "045/123/Diskes/2026".
    #[schemars(length(min = 1, max = 128))]
    pub number: String,
    /// Letter date, YYYY-MM-DD.
    #[schemars(length(min = 10, max = 10))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}$')").message("letter.date: must be a date YYYY-MM-DD"))]
    pub date: String,
    /// Who signed it.
    pub signer: Signer,
    /// Subject line (perihal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub subject: Option<String>,
}

/// The signer of a letter: name, position and NIP (or NIK for village officials).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Signer {
    /// Full name of the official who signed the letter.
    #[schemars(length(min = 1, max = 200))]
    pub name: String,
    /// Position (jabatan), e.g. "Kepala Dinas Kesehatan".
    #[schemars(length(min = 1, max = 200))]
    pub position: String,
    pub identity: Identity,
}

/// What a subdomain points at.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.addresses) && size(self.addresses) > 0 ? 1 : 0) + (has(self.alias) ? 1 : 0) + (has(self.hosting) ? 1 : 0) == 1").message("target: give exactly one of addresses, alias or hosting"))]
pub struct Target {
    /// IPv4 and IPv6 addresses (A/AAAA records).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = 45)))]
    #[x_kube(validation = Rule::new("self.all(a, isIP(a))").message("target.addresses: each entry must be an IPv4 or IPv6 address"))]
    #[x_kube(validation = Rule::new("self.all(a, !isIP(a) || ip(a).isGlobalUnicast())").message("target.addresses: loopback, link-local (169.254.0.0/16, fe80::/10), multicast, broadcast and unspecified addresses reach the visitor's own host or network, not a service"))]
    pub addresses: Vec<String>,
    /// Another name in a zone Kavling serves (CNAME).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^([a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9])?\\\\.)+[a-z]{2,63}\\\\.?$')").message("target.alias: must be a hostname such as portal.bukittinggikota.go.id"))]
    pub alias: Option<String>,
    /// The name of a Hosting of the same tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub hosting: Option<String>,
}

/// A subdomain request (permohonan subdomain).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubdomainRequest {
    /// The zone (domain) to claim a name in.
    #[schemars(length(min = 1, max = 253))]
    pub zone: String,
    /// The proposed label (left-most part of the name), e.g. `dinkes`.
    #[x_kube(validation = Rule::new(LABEL_RULE).message("subdomain.label: must be a DNS label: 1-63 lowercase letters, digits or '-', not starting or ending with '-'"))]
    pub label: String,
    /// Name of the application or website.
    #[schemars(length(min = 1, max = 200))]
    pub application_name: String,
    /// What it is for.
    #[schemars(length(min = 1, max = 2000))]
    pub description: String,
    /// The business process it supports (proses bisnis).
    #[schemars(length(min = 1, max = 2000))]
    pub business_process: String,
    /// Whether this is the tenant's website (a Perangkat Daerah runs at most one).
    #[serde(default)]
    pub website: bool,
    /// Whether a TLS certificate is wanted for the name.
    #[serde(default = "yes")]
    pub tls: bool,
    pub target: Target,
    /// Also answer for every name under it (`*.<label>.<zone>`, RFC 4592) with the same target
    /// — a multisite, a page per dusun — and, with `tls`, cover them in the certificate. Only
    /// where the zone's `policy.allowWildcards` is on. Absent from the spec (and its digest)
    /// when off, so requests filed before it existed keep their approvals.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wildcard: bool,
}

fn yes() -> bool {
    true
}

/// A hosting request (permohonan hosting): the application's specification.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostingRequest {
    /// Short name of the application; the namespace becomes `<tenant>--<name>`.
    #[x_kube(validation = Rule::new(LABEL_RULE).message("hosting.name: must be a DNS label"))]
    #[x_kube(validation = Rule::new("!self.contains('--')").message("hosting.name: may not contain '--' (Kavling joins tenant and name with it: <tenant>--<name>)"))]
    pub name: String,
    /// Name of the application or website.
    #[schemars(length(min = 1, max = 200))]
    pub application_name: String,
    /// App template: static, php, wordpress, opensid or container.
    #[schemars(length(min = 1, max = 32))]
    pub template: String,
    /// CPU (Kubernetes quantity, e.g. "500m").
    #[schemars(length(min = 1, max = 16))]
    pub cpu: String,
    /// Memory (Kubernetes quantity, e.g. "512Mi").
    #[schemars(length(min = 1, max = 16))]
    pub memory: String,
    /// Disk (Kubernetes quantity, e.g. "5Gi").
    #[schemars(length(min = 1, max = 16))]
    pub disk: String,
    /// Runtime details (e.g. PHP version, image for `container`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2000))]
    pub specification: Option<String>,
}

/// A storage request (permohonan penyimpanan): the electronic-data specification.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageRequest {
    /// Bucket name suffix; the bucket becomes `<tenant>--<name>`.
    #[x_kube(validation = Rule::new(LABEL_RULE).message("storage.name: must be a DNS label"))]
    #[x_kube(validation = Rule::new("!self.contains('--')").message("storage.name: may not contain '--' (Kavling joins tenant and name with it: <tenant>--<name>)"))]
    pub name: String,
    /// What data will be kept.
    #[schemars(length(min = 1, max = 2000))]
    pub data_description: String,
    /// Size (Kubernetes quantity, e.g. "10Gi").
    #[schemars(length(min = 1, max = 16))]
    pub size: String,
    /// Data classification.
    pub classification: DataClassification,
    /// Whether the data includes personal data (UU 27/2022 on personal data protection).
    pub personal_data: bool,
    /// Keep old versions of objects.
    #[serde(default)]
    pub versioning: bool,
}

/// Classification of electronic data (Perpres 39/2019 Satu Data / regional regulations).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum DataClassification {
    /// Open to the public (terbuka).
    Publik,
    /// Limited to the government (terbatas).
    Terbatas,
    /// Confidential (rahasia).
    Rahasia,
}

/// Where a request stands.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum RequestPhase {
    /// Filed, waiting for a Dinas decision.
    #[default]
    Pending,
    /// Approved; what it asked for is being made.
    Provisioning,
    /// Approved and everything it asked for is Ready.
    Ready,
    /// Rejected by the Dinas (closed).
    Rejected,
    /// Approved, but a rule stopped it (name taken, limit reached…); see the Failed condition.
    Failed,
}

/// Where the request stands: its phase, the decision on it and what it created.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestStatus {
    /// `subdomain`, `hosting` or `storage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    pub type_: Option<String>,
    #[serde(default)]
    pub phase: RequestPhase,
    /// The Dinas decision, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionRecord>,
    /// What was created for this request.
    #[serde(default)]
    pub outputs: Vec<OutputRef>,
    /// Ready, Reconciling, Suspended, Failed: the state a person reads first (`kubectl
    /// describe`), each with a reason and a message.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status was computed from: older than the object's means
    /// the operator has not seen the latest change yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A copy of the deciding Approval, so a request shows who decided and why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    /// The Approval object that decided (same namespace).
    pub approval: String,
    /// Approve or Reject.
    pub decision: super::approval::Decision,
    /// Who decided: the Dinas user the API server authenticated.
    pub approver: String,
    /// The reason given with the decision.
    #[serde(default)]
    pub reason: String,
    /// When the decision was taken (RFC 3339).
    pub at: String,
}

impl RequestSpec {
    /// `sha256:<hex>` of the spec's JSON (field order is the struct's, so it is stable): what
    /// an Approval records so it decides this exact content and nothing filed later.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let bytes = serde_json::to_vec(self).expect("a RequestSpec always serialises");
        let sum = Sha256::digest(&bytes);
        let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// `subdomain`, `hosting` or `storage` — whichever body the request carries.
    pub fn kind(&self) -> &'static str {
        Body::of(self).map(|b| b.type_name()).unwrap_or("none")
    }
}

/// A request's body, whichever it carries: the one place the bodies are listed (what each
/// does on approval is `crate::plan`'s `RequestBody` of each).
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    Subdomain(&'a SubdomainRequest),
    Hosting(&'a HostingRequest),
    Storage(&'a StorageRequest),
}

impl<'a> Body<'a> {
    /// The body a spec carries (the API's CEL rule admits exactly one).
    pub fn of(spec: &'a RequestSpec) -> Option<Self> {
        match (&spec.subdomain, &spec.hosting, &spec.storage) {
            (Some(b), _, _) => Some(Body::Subdomain(b)),
            (_, Some(b), _) => Some(Body::Hosting(b)),
            (_, _, Some(b)) => Some(Body::Storage(b)),
            _ => None,
        }
    }

    /// `subdomain`, `hosting` or `storage`: the spec field, and `status.type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Body::Subdomain(_) => "subdomain",
            Body::Hosting(_) => "hosting",
            Body::Storage(_) => "storage",
        }
    }
}
