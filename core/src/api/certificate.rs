//! `Issuer` (an ACME CA Kavling may order from) and `Certificate` (names → a TLS Secret).

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::Condition;

/// An ACME certificate authority: Let's Encrypt for public names, an internal ACME CA for
/// intranet names, Pebble on the local Pusat Data. Kavling registers one account per Issuer
/// (its key is kept in a Secret in the operator's namespace, created once).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kavling.go.id",
    version = "v1alpha1",
    kind = "Issuer",
    // not `issuers`: cert-manager's Issuer has that name, and kubectl would resolve one of
    // the two silently (see docs/architecture.md, "Next to cert-manager")
    plural = "acmeissuers",
    singular = "acmeissuer",
    doc = "An ACME certificate authority: Let's Encrypt for public names, an internal ACME CA for intranet names, Pebble on the local Pusat Data. Kavling registers one account per Issuer (its key is kept in a Secret in the operator's namespace, created once).",
    status = "IssuerStatus",
    shortname = "acme",
    category = "kavling",
    printcolumn = r#"{"name":"Directory","type":"string","jsonPath":".spec.directory"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".status.account","priority":1}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct IssuerSpec {
    /// The ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory.
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("spec.directory: an http(s) URL of the ACME directory"))]
    pub directory: String,
    /// Contact e-mail addresses for the account (expiry and policy notices).
    #[serde(default)]
    #[schemars(length(max = 4), inner(length(max = 254)))]
    #[x_kube(validation = Rule::new("self.all(c, c.matches('^[^@ ]+@[^@ ]+\\\\.[^@ ]+$'))").message("spec.contact: each entry must be an e-mail address"))]
    pub contact: Vec<String>,
    /// External Account Binding, for CAs that require it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_account_binding: Option<ExternalAccountBinding>,
    /// PEM of the CA that signs the directory's TLS certificate, when it is not publicly
    /// trusted (an internal CA, Pebble). One certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16384))]
    pub ca_bundle: Option<String>,
    /// PEM of the root that issues the certificates, written as `ca.crt` into each Secret
    /// (for internal CAs whose root clients must be given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16384))]
    pub ca_certificate: Option<String>,
    /// The CA's rate limits, which Kavling keeps to.
    #[serde(default)]
    pub limits: IssuerLimits,
}

/// EAB: the key id and the Secret holding the base64url HMAC key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalAccountBinding {
    /// The key id the CA gave with the HMAC key.
    #[schemars(length(min = 1, max = 256))]
    pub key_id: String,
    /// Secret in the operator's namespace, and the key within it.
    pub hmac_key_secret: SecretKeyRef,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key inside the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Rate limits of the CA (defaults: Let's Encrypt's).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerLimits {
    /// New certificates per registered domain per week. `go.id` and `desa.id` are public
    /// suffixes, so every name under one regional domain shares this budget.
    #[serde(default = "default_per_domain")]
    pub certificates_per_registered_domain_per_week: u32,
    /// New orders per account per 3 hours.
    #[serde(default = "default_orders")]
    pub new_orders_per_three_hours: u32,
}

fn default_per_domain() -> u32 {
    50
}
fn default_orders() -> u32 {
    300
}

impl Default for IssuerLimits {
    fn default() -> Self {
        Self {
            certificates_per_registered_domain_per_week: default_per_domain(),
            new_orders_per_three_hours: default_orders(),
        }
    }
}

/// What the operator last saw of the Issuer: its ACME account and whether it can order.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerStatus {
    /// The ACME account URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Ready, Reconciling, Suspended, Failed: the state a person reads first (`kubectl
    /// describe`), each with a reason and a message.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status was computed from: older than the object's means
    /// the operator has not seen the latest change yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A TLS certificate for names the namespace's tenant holds, ordered by ACME with DNS-01
/// through Kavling's own DNS server, stored as a `kubernetes.io/tls` Secret and renewed by
/// itself.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kavling.go.id",
    version = "v1alpha1",
    kind = "Certificate",
    // not `certificates`/`cert`: cert-manager's Certificate has those names
    plural = "tlscertificates",
    singular = "tlscertificate",
    doc = "A TLS certificate for names the namespace's tenant holds, ordered by ACME with DNS-01 through Kavling's own DNS server, stored as a `kubernetes.io/tls` Secret and renewed by itself.",
    namespaced,
    status = "CertificateStatus",
    shortname = "tlscert",
    category = "kavling",
    printcolumn = r#"{"name":"Names","type":"string","jsonPath":".spec.dnsNames"}"#,
    printcolumn = r#"{"name":"Secret","type":"string","jsonPath":".spec.secretName"}"#,
    printcolumn = r#"{"name":"Expires","type":"string","jsonPath":".status.notAfter"}"#,
    printcolumn = r#"{"name":"Step","type":"string","jsonPath":".status.step"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Issuer","type":"string","jsonPath":".spec.issuer","priority":1}"#,
    printcolumn = r#"{"name":"Renews","type":"string","jsonPath":".status.renewalTime","priority":1}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSpec {
    /// The names (SANs), e.g. `dinkes.bukittinggikota.go.id` or `*.sungaipua.desa.id`.
    #[schemars(length(min = 1, max = 100), inner(length(min = 1, max = 253)))]
    #[x_kube(validation = Rule::new("self.all(n, n.matches('^(\\\\*\\\\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\\\\.)+[a-z]{2,63}$'))").message("spec.dnsNames: lowercase hostnames, optionally starting with '*.'"))]
    pub dns_names: Vec<String>,
    /// The Issuer to order from.
    #[schemars(length(min = 1, max = 253))]
    pub issuer: String,
    /// The `kubernetes.io/tls` Secret to write (same namespace).
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// Key algorithm of the certificate's key (a fresh key on every issuance).
    #[serde(default)]
    pub key_algorithm: KeyAlgorithm,
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum KeyAlgorithm {
    #[default]
    EcdsaP256,
    EcdsaP384,
}

/// Where an order stands.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum OrderStep {
    /// Nothing to do: the Secret holds a valid certificate for exactly these names.
    #[default]
    Idle,
    /// Waiting for the CA's rate-limit budget.
    WaitingForBudget,
    /// Order placed; DNS-01 challenge records being published.
    Publishing,
    /// Challenge records served by every DNS server; the CA is validating.
    Validating,
    /// Finalized with a CSR; waiting for the certificate.
    Issuing,
}

/// The last failure, kept until the next success.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// One CamelCase word, e.g. `OrderInvalid`, `CaUnreachable`.
    pub reason: String,
    /// What failed, with its cause.
    pub message: String,
    /// When (RFC 3339).
    pub at: String,
    /// Consecutive failures (drives the backoff).
    pub count: u32,
}

/// The certificate now in the Secret, the order in flight, and when Kavling renews.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// Start of the current certificate's validity (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// End of the current certificate's validity (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// When Kavling will renew (two thirds of the lifetime, or inside the CA's ARI window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_time: Option<String>,
    /// Serial number of the current certificate (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// When the current certificate was issued by Kavling (counts against the budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_issued: Option<String>,
    /// The renewal window the CA last suggested for the current certificate (ARI, RFC 9773),
    /// `<start>/<end>` in RFC 3339; `renewalTime` lies inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_window: Option<String>,
    /// When Kavling next asks the CA for its suggested window (the CA's Retry-After, at most
    /// the operator's --ari-poll-seconds). A window moved earlier (a revocation, a CA
    /// incident) moves the renewal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_info_next_check: Option<String>,
    /// The order's current step.
    #[serde(default)]
    pub step: OrderStep,
    /// The ACME order URL while one is in progress (resumed after a restart, never doubled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<Failure>,
    /// When this Certificate placed orders in the last three hours (the account's order
    /// budget is the sum over its Certificates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_orders: Vec<String>,
    /// The names the Secret's certificate covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Ready, Reconciling, Suspended, Failed: the state a person reads first (`kubectl
    /// describe`), each with a reason and a message.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status was computed from: older than the object's means
    /// the operator has not seen the latest change yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
