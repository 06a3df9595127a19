//! `Tenant`: a government unit that gets plots at the Pusat Data.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::Suspension;

/// A government unit served by the Pusat Data: a Perangkat Daerah (department), the DPRD, a
/// Kabupaten/Kota or a Desa/Kelurahan. Kavling gives it the home namespace `tenant-<name>`
/// where its groups may file `Request`s and read what was made for them.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kavling.go.id",
    version = "v1alpha1",
    kind = "Tenant",
    doc = "A government unit served by the Pusat Data: a Perangkat Daerah (department), the DPRD, a Kabupaten/Kota or a Desa/Kelurahan. Kavling gives it the home namespace `tenant-<name>` where its groups may file `Request`s and read what was made for them.",
    status = "TenantStatus",
    shortname = "tn",
    category = "kavling",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Code","type":"string","jsonPath":".spec.code"}"#,
    printcolumn = r#"{"name":"Tenant Namespace","type":"string","jsonPath":".status.namespace"}"#,
    printcolumn = r#"{"name":"Subdomains","type":"integer","jsonPath":".status.usage.subdomains"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name.size() <= 56 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("metadata.name: a tenant name is a DNS label of at most 56 characters (lowercase letters, digits, '-'), because it becomes the namespace tenant-<name>"),
    validation = Rule::new("!self.metadata.name.contains('--')").message("metadata.name: a tenant name may not contain '--': Kavling joins a tenant and a name with it (<tenant>--<name>), so names of buckets and hosting namespaces stay unique across tenants"),
    validation = Rule::new("!(self.metadata.name in ['kube', 'kavling', 'openshift', 'default', 'system', 'tenant'])").message("metadata.name: kube, kavling, openshift, default, system and tenant are reserved: derived names would look like the platform's own namespaces")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type != 'PerangkatDaerah' || self.limits.websites <= 1").message("spec.limits.websites: a Perangkat Daerah runs at most one website"))]
pub struct TenantSpec {
    /// Official name, e.g. "Dinas Kesehatan Kota Bukittinggi".
    #[schemars(length(min = 1, max = 200))]
    pub display_name: String,
    /// What kind of government unit this is.
    #[serde(rename = "type")]
    pub type_: TenantType,
    /// Kemendagri region code for regions (`13.75` kota, `13.06.01.2001` desa) or the
    /// organisation's code for a Perangkat Daerah (e.g. `1.02.01`).
    #[schemars(length(min = 1, max = 32))]
    pub code: String,
    /// The parent tenant (a Desa's Kabupaten). A region code must extend the parent's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 56))]
    pub parent: Option<String>,
    /// People responsible for this tenant's plots.
    #[serde(default)]
    #[schemars(length(max = 10))]
    pub contacts: Vec<Contact>,
    /// User groups (as the API server sees them) that act for this tenant. Never the Dinas
    /// group, Kavling's own groups (except `kavling:tenant:*`) or a `system:` group: Kavling
    /// binds these groups in the tenant's namespaces, where the Secrets are. A change needs
    /// the annotation `kavling.go.id/change-reason` (new text each time), and is audited.
    #[serde(default)]
    #[schemars(length(max = 16), inner(length(max = 253)))]
    #[x_kube(validation = Rule::new("self.all(g, !g.startsWith('system:') && (!g.startsWith('kavling:') || g.startsWith('kavling:tenant:')))").message("spec.groups: system:* groups and Kavling's own groups (kavling:dinas, kavling:operator, kavling:restore, …) may not act for a tenant: binding them would give them the tenant's Secrets; only kavling:tenant:* and your identity provider's own groups"))]
    pub groups: Vec<String>,
    /// What this tenant may hold. Kavling refuses an approval that would exceed it.
    #[serde(default)]
    pub limits: TenantLimits,
    /// Suspends every plot of this tenant while set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<Suspension>,
}

/// The kinds of government unit the regulations name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum TenantType {
    /// The Dinas Kominfo itself.
    Dinas,
    /// A regional department (Perangkat Daerah).
    PerangkatDaerah,
    /// The regional parliament.
    Dprd,
    Kabupaten,
    Kota,
    Desa,
    Kelurahan,
}

impl TenantType {
    /// Whether `spec.code` is a Kemendagri region code (as opposed to an organisation code).
    pub fn is_region(self) -> bool {
        matches!(
            self,
            Self::Kabupaten | Self::Kota | Self::Desa | Self::Kelurahan
        )
    }
}

/// A responsible person.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// Full name, as on the appointment letter.
    #[schemars(length(min = 1, max = 200))]
    pub name: String,
    pub identity: Identity,
    /// Official e-mail, normally on the region's go.id domain.
    #[schemars(length(min = 3, max = 254))]
    pub email: String,
    /// A phone number the Dinas can reach the contact on (free form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub phone: Option<String>,
}

/// Who a person is: a civil servant's NIP (18 digits) or, for village officials without one,
/// the NIK from the identity card (16 digits).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.nip) != has(self.nik)").message("identity: give exactly one of nip (civil servants) or nik (officials without NIP)"))]
pub struct Identity {
    /// Nomor Induk Pegawai: 18 digits, spaces allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 24))]
    pub nip: Option<String>,
    /// Nomor Induk Kependudukan: 16 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20))]
    pub nik: Option<String>,
}

/// What a tenant may hold at the Pusat Data.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantLimits {
    /// Subdomains the tenant may hold.
    #[serde(default = "default_subdomains")]
    #[schemars(range(max = 1000))]
    pub subdomains: u32,
    /// Subdomains marked `website: true`; at most 1 for a Perangkat Daerah.
    #[serde(default = "default_websites")]
    #[schemars(range(max = 100))]
    pub websites: u32,
    /// Total CPU of all hosting plans (Kubernetes quantity).
    #[serde(default = "default_cpu")]
    #[schemars(length(max = 16))]
    pub hosting_cpu: String,
    /// Total memory of all hosting plans (Kubernetes quantity).
    #[serde(default = "default_memory")]
    #[schemars(length(max = 16))]
    pub hosting_memory: String,
    /// Total disk of all hosting plans (Kubernetes quantity).
    #[serde(default = "default_disk")]
    #[schemars(length(max = 16))]
    pub hosting_disk: String,
    /// Storage buckets the tenant may hold.
    #[serde(default = "default_buckets")]
    #[schemars(range(max = 1000))]
    pub buckets: u32,
    /// Total quota of all buckets (Kubernetes quantity).
    #[serde(default = "default_bucket_bytes")]
    #[schemars(length(max = 16))]
    pub bucket_bytes: String,
}

fn default_subdomains() -> u32 {
    10
}
fn default_websites() -> u32 {
    1
}
fn default_cpu() -> String {
    "2".into()
}
fn default_memory() -> String {
    "4Gi".into()
}
fn default_disk() -> String {
    "20Gi".into()
}
fn default_buckets() -> u32 {
    2
}
fn default_bucket_bytes() -> String {
    "50Gi".into()
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self {
            subdomains: default_subdomains(),
            websites: default_websites(),
            hosting_cpu: default_cpu(),
            hosting_memory: default_memory(),
            hosting_disk: default_disk(),
            buckets: default_buckets(),
            bucket_bytes: default_bucket_bytes(),
        }
    }
}

/// What the tenant holds now, against [`TenantLimits`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantUsage {
    /// Subdomains the tenant holds (against `spec.limits.subdomains`).
    pub subdomains: u32,
    /// Of those, the ones marked `website` (the one-website rule counts these).
    pub websites: u32,
}

/// The tenant's namespace, what it uses of its limits, and whether it is ready.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    /// The tenant's home namespace, where its Requests live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default)]
    pub usage: TenantUsage,
    /// Ready, Reconciling, Suspended, Failed: the state a person reads first (`kubectl
    /// describe`), each with a reason and a message.
    #[serde(default)]
    pub conditions: Vec<super::common::Condition>,
    /// The `metadata.generation` the status was computed from: older than the object's means
    /// the operator has not seen the latest change yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The home namespace of a tenant.
pub fn home_namespace(tenant: &str) -> String {
    format!("tenant-{tenant}")
}

/// The tenant whose home namespace this is, if it is one.
pub fn tenant_of_namespace(namespace: &str) -> Option<&str> {
    namespace.strip_prefix("tenant-").filter(|t| !t.is_empty())
}
