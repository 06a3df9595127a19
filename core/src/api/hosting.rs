//! `Hosting`: an application's namespace at the Pusat Data, rendered from a template.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, Suspension};

/// Hosting for a PD, Kabupaten or Desa: the namespace `<tenant>--<name>` rendered from an app
/// template (static, php, wordpress, opensid, container) with a quota, limits, default-deny
/// network policies, the tenant's rights, and an Ingress with TLS for its domains.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kavling.go.id",
    version = "v1alpha1",
    kind = "Hosting",
    doc = "Hosting for a PD, Kabupaten or Desa: the namespace `<tenant>--<name>` rendered from an app template (static, php, wordpress, opensid, container) with a quota, limits, default-deny network policies, the tenant's rights, and an Ingress with TLS for its domains.",
    namespaced,
    status = "HostingStatus",
    shortname = "host",
    category = "kavling",
    printcolumn = r#"{"name":"Template","type":"string","jsonPath":".spec.template"}"#,
    printcolumn = r#"{"name":"Runs In","type":"string","jsonPath":".status.namespace"}"#,
    printcolumn = r#"{"name":"CPU","type":"string","jsonPath":".spec.resources.cpu"}"#,
    printcolumn = r#"{"name":"Memory","type":"string","jsonPath":".spec.resources.memory"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name.size() <= 40 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("metadata.name: a hosting name is a DNS label of at most 40 characters; the namespace is <tenant>--<name>"),
    validation = Rule::new("!self.metadata.name.contains('--')").message("metadata.name: a hosting name may not contain '--': Kavling joins the tenant and the name with it (<tenant>--<name>)")
)]
#[serde(rename_all = "camelCase")]
pub struct HostingSpec {
    /// App template: static, php, wordpress, opensid or container.
    pub template: AppTemplate,
    /// The template's parameters (each template declares its own; see `templates/apps/`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    pub parameters: BTreeMap<String, String>,
    pub resources: HostingResources,
    /// Subdomains (FQDNs the tenant holds) this hosting serves; each gets an Ingress rule and
    /// a certificate.
    #[serde(default)]
    #[schemars(length(max = 16), inner(length(max = 253)))]
    pub domains: Vec<String>,
    /// Suspends the app (scaled to zero, its ingress answers with a notice) while set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<Suspension>,
}

/// The app templates of `templates/apps/`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppTemplate {
    /// A web server for uploaded files.
    Static,
    /// PHP-FPM behind nginx.
    Php,
    /// WordPress with MariaDB.
    Wordpress,
    /// OpenSID (village information system): PHP 8.1+ with MariaDB.
    Opensid,
    /// The tenant's own image.
    Container,
}

impl AppTemplate {
    pub const ALL: [AppTemplate; 5] = [
        Self::Static,
        Self::Php,
        Self::Wordpress,
        Self::Opensid,
        Self::Container,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Php => "php",
            Self::Wordpress => "wordpress",
            Self::Opensid => "opensid",
            Self::Container => "container",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The plan: quota of the hosting namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostingResources {
    /// CPU (Kubernetes quantity, e.g. "500m").
    #[schemars(length(min = 1, max = 16))]
    pub cpu: String,
    /// Memory (e.g. "512Mi").
    #[schemars(length(min = 1, max = 16))]
    pub memory: String,
    /// Disk for volumes (e.g. "5Gi").
    #[schemars(length(min = 1, max = 16))]
    pub disk: String,
    /// Pods at most.
    #[serde(default = "default_pods")]
    #[schemars(range(min = 1, max = 100))]
    pub pods: u32,
}

fn default_pods() -> u32 {
    10
}

/// Used against the quota, as the ResourceQuota counts it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostingUsage {
    /// What the site's namespace uses now, by quota resource (`limits.cpu`, `pods`…).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub used: BTreeMap<String, String>,
    /// The namespace's ResourceQuota, by the same resources.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hard: BTreeMap<String, String>,
}

/// Where the site runs, what it uses of its quota, and whether it serves.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostingStatus {
    /// The hosting namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The domains it serves: `spec.domains` and the tenant's Subdomains whose target is
    /// this hosting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// URLs it answers on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    /// What Kavling rendered into the namespace (`Kind/name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<HostingUsage>,
    /// Ready, Reconciling, Suspended, Failed: the state a person reads first (`kubectl
    /// describe`), each with a reason and a message.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status was computed from: older than the object's means
    /// the operator has not seen the latest change yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
