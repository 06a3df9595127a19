//! `Zone`: an authoritative DNS zone Kavling serves.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::Condition;

/// An authoritative zone served by Kavling's DNS server, named by its domain
/// (`bukittinggikota.go.id`, `sungaipuar.desa.id`). Its SOA serial increases on every change
/// of its records.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kavling.go.id",
    version = "v1alpha1",
    kind = "Zone",
    doc = "An authoritative zone served by Kavling's DNS server, named by its domain (`bukittinggikota.go.id`, `sungaipuar.desa.id`). Its SOA serial increases on every change of its records.",
    status = "ZoneStatus",
    shortname = "zn",
    category = "kavling",
    printcolumn = r#"{"name":"Serial","type":"integer","jsonPath":".status.serial"}"#,
    printcolumn = r#"{"name":"Records","type":"integer","jsonPath":".status.records"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Key","type":"integer","jsonPath":".status.dnssec.keyTag","priority":1}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name.size() <= 253 && self.metadata.name.matches('^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\\\.)+[a-z]{2,63}$')").message("metadata.name: a Zone is named by its domain, e.g. bukittinggikota.go.id (lowercase labels separated by dots)")
)]
#[serde(rename_all = "camelCase")]
pub struct ZoneSpec {
    /// Start of authority.
    pub soa: Soa,
    /// Fully qualified names of the zone's authoritative servers (NS records at the apex).
    #[schemars(length(min = 1, max = 13), inner(length(max = 253)))]
    #[x_kube(validation = Rule::new("self.all(n, n.size() <= 253 && n.matches('^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\\\.)+[a-z]{2,63}\\\\.?$'))").message("spec.nameservers: each entry must be a hostname such as ns1.bukittinggikota.go.id"))]
    pub nameservers: Vec<String>,
    /// TTL of records that do not set one.
    #[serde(default = "default_ttl")]
    #[schemars(range(min = 30, max = 604800))]
    pub default_ttl: u32,
    /// Zone transfers and NOTIFY to secondaries.
    #[serde(default)]
    pub transfer: Transfer,
    /// Naming rules for subdomains of this zone.
    #[serde(default)]
    pub policy: NamingPolicy,
    /// Tenants that may claim names here. Empty: every tenant (a city zone); a village's
    /// desa.id zone lists only its desa.
    #[serde(default)]
    #[schemars(length(max = 256), inner(length(max = 56)))]
    pub tenants: Vec<String>,
    /// DNSSEC signing (off by default). Once on, the operator makes the zone's key and shows
    /// the DS record to register with the parent zone (`kavling describe zone`); until the
    /// parent has it, resolvers treat the zone as unsigned.
    #[serde(default, skip_serializing_if = "Dnssec::is_off")]
    pub dnssec: Dnssec,
}

/// DNSSEC for a zone: signed by kavling-dns with a key the operator keeps in a Secret of the
/// keys namespace (never readable by tenants); denial of existence by NSEC3 (RFC 9276).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dnssec {
    /// Sign the zone.
    #[serde(default)]
    pub enabled: bool,
    /// The key's algorithm, chosen when the key is made: ECDSAP256SHA256 (13, accepted by
    /// every registry and validator) or ED25519 (15). Changing it later does not change a
    /// key that exists (an algorithm rollover is not automatic).
    #[serde(default)]
    pub algorithm: DnssecAlgorithm,
    /// How long a zone-signing key signs before its successor takes over (seconds; 30 days by
    /// default). Kavling rolls these keys itself: the successor is published twice the DNSKEY
    /// TTL ahead, the old key stays published half a lifetime after. The key-signing key (the
    /// one the DS at the parent names) is not rolled.
    #[serde(default = "default_zsk_lifetime")]
    #[schemars(range(min = 60, max = 31536000))]
    pub zsk_lifetime_seconds: u32,
}

fn default_zsk_lifetime() -> u32 {
    30 * 86_400
}

impl Default for Dnssec {
    fn default() -> Self {
        Self {
            enabled: false,
            algorithm: DnssecAlgorithm::default(),
            zsk_lifetime_seconds: default_zsk_lifetime(),
        }
    }
}

impl Dnssec {
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum DnssecAlgorithm {
    #[default]
    #[serde(rename = "ECDSAP256SHA256")]
    EcdsaP256Sha256,
    #[serde(rename = "ED25519")]
    Ed25519,
}

/// The zone's signing key as the parent and resolvers need it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnssecStatus {
    /// The key's tag (RFC 4034 Appendix B).
    pub key_tag: u16,
    /// The key's algorithm mnemonic.
    pub algorithm: String,
    /// The DS record for the parent zone, `<zone>. IN DS <tag> <alg> 2 <SHA-256>`: what the
    /// Dinas sends to the registry (PANDI for go.id / desa.id) by letter.
    pub ds: String,
    /// The public key as a DNSKEY record (a trust anchor for a resolver that cannot wait for
    /// the parent).
    pub dnskey: String,
    /// The Secret (in the keys namespace) holding the private keys.
    pub secret: String,
    /// The zone-signing keys, oldest first: `Published` (not signing yet), `Active` (signing),
    /// `Retired` (still published while signatures made with it may be cached).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zone_keys: Vec<ZoneKeyStatus>,
}

/// One zone-signing key in its rollover.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZoneKeyStatus {
    /// The key's tag, as RRSIGs made with it name it.
    pub key_tag: u16,
    /// When it was made (RFC 3339).
    pub created: String,
    /// Published, Active or Retired.
    pub state: String,
}

fn default_ttl() -> u32 {
    3600
}

/// SOA fields. The serial is Kavling's business (`status.serial`), never the user's.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Soa {
    /// Primary nameserver (MNAME).
    #[schemars(length(min = 1, max = 253))]
    pub primary: String,
    /// Responsible mailbox as an e-mail address (RNAME), e.g. hostmaster@bukittinggikota.go.id.
    #[schemars(length(min = 3, max = 254))]
    pub hostmaster: String,
    /// Seconds a secondary waits before checking the serial again (SOA REFRESH).
    #[serde(default = "default_refresh")]
    #[schemars(range(min = 60, max = 2419200))]
    pub refresh: u32,
    /// Seconds a secondary waits to retry a failed refresh (SOA RETRY).
    #[serde(default = "default_retry")]
    #[schemars(range(min = 60, max = 2419200))]
    pub retry: u32,
    /// Seconds after which a secondary that cannot refresh stops answering (SOA EXPIRE).
    #[serde(default = "default_expire")]
    #[schemars(range(min = 3600, max = 4838400))]
    pub expire: u32,
    /// TTL of negative answers (NXDOMAIN, NODATA).
    #[serde(default = "default_negative_ttl")]
    #[schemars(range(min = 0, max = 86400))]
    pub negative_ttl: u32,
}

fn default_refresh() -> u32 {
    3600
}
fn default_retry() -> u32 {
    600
}
fn default_expire() -> u32 {
    1209600
}
fn default_negative_ttl() -> u32 {
    300
}

/// Which secondaries may transfer the zone and which are notified of changes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    /// Addresses or ranges (`192.0.2.53`, `10.20.0.0/24`, `2001:db8::/64`) allowed to
    /// AXFR/IXFR.
    #[serde(default)]
    #[schemars(length(max = 32), inner(length(max = 64)))]
    #[x_kube(validation = Rule::new("self.all(a, isIP(a) || isCIDR(a))").message("transfer.allow: each entry must be an IP address or a CIDR range such as 10.20.0.0/24"))]
    pub allow: Vec<String>,
    /// `address[:port]` of secondaries sent NOTIFY when the serial changes.
    #[serde(default)]
    #[schemars(length(max = 32), inner(length(max = 64)))]
    pub notify: Vec<String>,
    /// TSIG keys (RFC 8945, HMAC-SHA256), by name, one of which must sign a transfer request
    /// besides the address being allowed; the first also signs NOTIFY. Each is a Secret in
    /// kavling-dns's namespace, named as the key and labelled `kavling.go.id/tsig-key`, holding
    /// the secret in `data.secret` — the secondary is configured with the same name and secret.
    /// An unknown or wrong key is answered NOTAUTH (BADKEY, BADSIG).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8), inner(length(max = 253)))]
    #[x_kube(validation = Rule::new("self.all(k, k.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'))").message("transfer.keys: each is a key name such as transfer.bukittinggikota.go.id (lowercase, the name of its Secret)"))]
    pub keys: Vec<String>,
}

/// Naming rules of a zone (from the regional SPBE regulations).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamingPolicy {
    /// Labels nobody may claim (compared case-insensitively). A trailing `*` matches a prefix,
    /// so `ns*` covers ns1, ns2, …
    #[serde(default = "default_reserved")]
    #[schemars(length(max = 256), inner(length(max = 63)))]
    pub reserved_labels: Vec<String>,
    /// A regular expression every claimed label must match, in addition to DNS label syntax,
    /// e.g. `^[a-z][a-z0-9-]{2,30}$`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub label_pattern: Option<String>,
    /// Whether aliases (CNAME) may point outside the zones Kavling serves. Off by default: a
    /// CNAME to a name someone else controls can be taken over.
    #[serde(default)]
    pub allow_external_aliases: bool,
    /// Whether tenants may ask for a wildcard under their name (`*.<label>.<zone>`, answered
    /// for every name below it). Off by default. Never at the zone's apex: `*.<zone>` would
    /// answer for names other tenants have not claimed yet, suspended ones included.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_wildcards: bool,
    /// What a suspended subdomain answers.
    #[serde(default)]
    pub suspension: SuspensionPolicy,
}

/// The labels the regulations and common sense reserve.
pub fn default_reserved() -> Vec<String> {
    [
        "www",
        "mail",
        "smtp",
        "imap",
        "pop",
        "pop3",
        "webmail",
        "ns*",
        "dns",
        "api",
        "ftp",
        "mx",
        "autodiscover",
        "autoconfig",
        "admin",
        "root",
        "localhost",
        "_*",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

impl Default for NamingPolicy {
    fn default() -> Self {
        Self {
            reserved_labels: default_reserved(),
            label_pattern: None,
            allow_external_aliases: false,
            allow_wildcards: false,
            suspension: SuspensionPolicy::default(),
        }
    }
}

/// What DNS answers for a suspended subdomain.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuspensionPolicy {
    /// `Withdraw` removes the records (NXDOMAIN); `Redirect` points the name at `addresses`
    /// (a notice page of the Dinas).
    #[serde(default)]
    pub mode: SuspensionMode,
    /// Notice-page addresses used by `Redirect`.
    #[serde(default)]
    #[schemars(length(max = 8), inner(length(max = 45)))]
    pub addresses: Vec<String>,
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum SuspensionMode {
    #[default]
    Withdraw,
    Redirect,
}

/// The zone as served: its SOA serial and record count.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZoneStatus {
    /// SOA serial currently published; never goes backwards.
    #[serde(default)]
    pub serial: u32,
    /// Number of RRsets (DnsRecords) in the zone.
    #[serde(default)]
    pub records: u32,
    /// Digest of the record set the serial was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_digest: Option<String>,
    /// Ready, Reconciling, Suspended, Failed: the state a person reads first (`kubectl
    /// describe`), each with a reason and a message.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The signing key, while `spec.dnssec.enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<DnssecStatus>,
    /// The `metadata.generation` the status was computed from: older than the object's means
    /// the operator has not seen the latest change yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
