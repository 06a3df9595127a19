//! `DnsRecord`: one RRset in a Zone.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::Condition;

/// One RRset (all records of one name and type) in a `Zone`, answered by Kavling's DNS server.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kavling.go.id",
    version = "v1alpha1",
    kind = "DnsRecord",
    doc = "One RRset (all records of one name and type) in a `Zone`, answered by Kavling's DNS server.",
    status = "DnsRecordStatus",
    shortname = "rr",
    category = "kavling",
    printcolumn = r#"{"name":"Domain","type":"string","jsonPath":".spec.name"}"#,
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"TTL","type":"integer","jsonPath":".spec.ttl"}"#,
    printcolumn = r#"{"name":"Values","type":"string","jsonPath":".spec.values","priority":1}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.name == self.zone || self.name.endsWith('.' + self.zone)").message("spec.name: must be the zone's apex or a name inside spec.zone"))]
#[x_kube(validation = Rule::new("!self.name.contains('*') || (self.name.startsWith('*.') && self.name.lastIndexOf('*') == 0)").message("spec.name: '*' may only be the whole first label (a wildcard, *.portal.bukittinggikota.go.id)"))]
#[x_kube(validation = Rule::new("self.name != '*.' + self.zone").message("spec.name: no wildcard directly under the zone's apex: it would answer for every name tenants have not claimed yet, suspended ones included; put it under a subdomain (*.<label>.<zone>)"))]
#[x_kube(validation = Rule::new("self.type != 'NS' || !self.name.startsWith('*.')").message("spec.name: a wildcard cannot be delegated (NS at *.…, RFC 4592 §4.2)"))]
#[x_kube(validation = Rule::new("self.type == 'TXT' || self.values.all(v, size(v) <= 255)").message("spec.values: at most 255 characters per value (only TXT values may be longer, up to 2048)"))]
#[x_kube(validation = Rule::new("self.type != 'A' || self.values.all(v, isIP(v) && ip(v).family() == 4)").message("spec.values: an A record holds IPv4 addresses"))]
#[x_kube(validation = Rule::new("self.type != 'AAAA' || self.values.all(v, isIP(v) && ip(v).family() == 6)").message("spec.values: an AAAA record holds IPv6 addresses"))]
#[x_kube(validation = Rule::new("self.type != 'CNAME' || (size(self.values) == 1 && self.values[0].matches('^([a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9])?\\\\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\\\.?$'))").message("spec.values: a CNAME holds exactly one hostname"))]
#[x_kube(validation = Rule::new("self.type != 'NS' || self.values.all(v, v.matches('^([a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9])?\\\\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\\\.?$'))").message("spec.values: an NS record holds hostnames"))]
#[x_kube(validation = Rule::new("self.type != 'MX' || self.values.all(v, v.matches('^[0-9]{1,5} ([a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9])?\\\\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\\\.?$'))").message("spec.values: an MX record is '<preference> <hostname>', e.g. '10 mail.bukittinggikota.go.id'"))]
#[x_kube(validation = Rule::new("self.type != 'SRV' || self.values.all(v, v.matches('^[0-9]{1,5} [0-9]{1,5} [0-9]{1,5} ([a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9])?\\\\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\\\.?$'))").message("spec.values: an SRV record is '<priority> <weight> <port> <target>'"))]
#[x_kube(validation = Rule::new("self.type != 'CAA' || self.values.all(v, v.matches('^[0-9]{1,3} (issue|issuewild|iodef) \"[^\"]*\"$'))").message("spec.values: a CAA record is '<flags> issue|issuewild|iodef \"<value>\"'"))]
pub struct DnsRecordSpec {
    /// The zone (domain) this record belongs to.
    #[schemars(length(min = 1, max = 253))]
    pub zone: String,
    /// Owner name, fully qualified without the final dot (e.g. portal.bukittinggikota.go.id).
    /// `*.` as the first label is a wildcard (RFC 4592): it answers for names below its parent
    /// that do not exist; never directly under the apex, never NS.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(rename = "type")]
    pub type_: RecordType,
    /// TTL in seconds (default: the zone's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 604800))]
    pub ttl: Option<u32>,
    /// Record data in presentation form, one entry per record of the RRset (at most 16 records;
    /// 255 characters each, TXT 2,048 — a 4096-bit DKIM key is ~740). A TXT value written as
    /// quoted strings (`"a" "b"`, with `\"` and `\\` escapes) holds several character-strings;
    /// unquoted, it is one text as written, split every 255 octets on the wire (RFC 7208 §3.3,
    /// DKIM: verifiers join the strings).
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 2048)))]
    pub values: Vec<String>,
}

/// Record types Kavling serves.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    schemars::JsonSchema,
)]
#[allow(clippy::upper_case_acronyms)]
pub enum RecordType {
    A,
    AAAA,
    CNAME,
    MX,
    TXT,
    CAA,
    SRV,
    NS,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::AAAA => "AAAA",
            Self::CNAME => "CNAME",
            Self::MX => "MX",
            Self::TXT => "TXT",
            Self::CAA => "CAA",
            Self::SRV => "SRV",
            Self::NS => "NS",
        }
    }
}

/// Whether Kavling's DNS servers serve this record.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecordStatus {
    /// Ready, Reconciling, Suspended, Failed: the state a person reads first (`kubectl
    /// describe`), each with a reason and a message.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status was computed from: older than the object's means
    /// the operator has not seen the latest change yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The object name of the RRset `<name>/<type>`: `<type>.<name>` lowercased, with characters an
/// object name cannot hold (`_`, `*`) replaced, e.g. `a.portal.bukittinggikota.go.id`.
pub fn record_object_name(name: &str, type_: RecordType) -> String {
    let clean: String = name
        .trim_end_matches('.')
        .to_ascii_lowercase()
        .chars()
        .map(|c| match c {
            '_' => 'u',
            '*' => 'w',
            c => c,
        })
        .collect();
    format!("{}.{}", type_.as_str().to_ascii_lowercase(), clean)
}
