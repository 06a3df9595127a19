//! An immutable, query-ready snapshot of one zone: a hash index from lowercase wire name to
//! the RRsets at that name, each record pre-rendered as the bytes that follow its owner name.
//! Built off the query path whenever the zone or its records change, then swapped in whole.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::wire::{self, TYPE_A, TYPE_AAAA, TYPE_NS, TYPE_SOA};
use crate::api::{RecordType, ZoneSpec};

/// A map keyed by lowercase wire name, hashed with foldhash: on the query path every answer is
/// two or three lookups, and SipHash (std's default) cost a tenth of the server's CPU there.
/// Seeded per process, so a tenant choosing names cannot aim collisions at one server.
pub type NameMap<V> = HashMap<Box<[u8]>, V, foldhash::fast::RandomState>;

/// One record as the DNS server keeps it from a DnsRecord: just what it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordData {
    pub name: String,
    pub type_: RecordType,
    pub ttl: Option<u32>,
    pub values: Vec<String>,
}

/// `10.0.0.1` (one address) or `10.0.0.0/24` (a range) as a range.
pub fn transfer_range(entry: &str) -> Option<crate::rules::naming::Cidr> {
    let entry = entry.trim();
    if entry.contains('/') {
        return entry.parse().ok();
    }
    let ip: IpAddr = entry.parse().ok()?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    format!("{ip}/{bits}").parse().ok()
}

/// An RRset with each record's "tail" — type, class, TTL, length and data — ready to follow a
/// compressed owner name.
#[derive(Clone, Debug, Default)]
pub struct RRset {
    pub type_: u16,
    pub tails: Vec<Box<[u8]>>,
    /// Record data alone, for glue and transfers.
    pub rdatas: Vec<Box<[u8]>>,
    pub ttl: u32,
    /// The RRSIG records' tails over this RRset, when the zone is signed ([`super::dnssec`]);
    /// written after the RRset to a client that set the DO bit.
    pub sigs: Vec<Box<[u8]>>,
}

impl RRset {
    /// The RRset of these records at this TTL, duplicates removed, tails rendered once.
    pub fn new(type_: u16, ttl: u32, all: Vec<Vec<u8>>) -> Self {
        // an RRset has no duplicates (RFC 2181 §5): identical records are served once (RRsets
        // are small — at most 16 values from the API — so a linear check beats hashing)
        let mut rdatas: Vec<Vec<u8>> = Vec::with_capacity(all.len());
        for rd in all {
            if !rdatas.contains(&rd) {
                rdatas.push(rd);
            }
        }
        let tails = rdatas
            .iter()
            .map(|rd| {
                let mut t = Vec::with_capacity(10 + rd.len());
                t.extend_from_slice(&type_.to_be_bytes());
                t.extend_from_slice(&wire::CLASS_IN.to_be_bytes());
                t.extend_from_slice(&ttl.to_be_bytes());
                t.extend_from_slice(&(rd.len() as u16).to_be_bytes());
                t.extend_from_slice(rd);
                t.into_boxed_slice()
            })
            .collect();
        Self {
            type_,
            tails,
            rdatas: rdatas.into_iter().map(Vec::into_boxed_slice).collect(),
            ttl,
            sigs: Vec::new(),
        }
    }
}

/// The RRsets at one name; none for an empty non-terminal.
#[derive(Clone, Debug, Default)]
pub struct Node {
    pub rrsets: Vec<RRset>,
    /// NS records below the apex: a delegation; nothing at or below is authoritative here.
    pub cut: bool,
}

impl Node {
    pub fn get(&self, type_: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.type_ == type_)
    }
}

/// A zone ready to answer from.
#[derive(Debug)]
pub struct Snapshot {
    pub domain: String,
    pub apex: Box<[u8]>,
    pub serial: u32,
    pub nodes: NameMap<Node>,
    pub has_cuts: bool,
    /// Whether any name is a wildcard (`*.<name>`): only then does a missing name cost the
    /// closest-encloser walk (RFC 4592 §3.3.1).
    pub has_wildcards: bool,
    /// The apex SOA record's tail with the negative TTL (for NXDOMAIN/NODATA authority).
    pub negative_soa_tail: Box<[u8]>,
    /// The SOA's RRSIGs at the negative TTL, to go with `negative_soa_tail` (signed zones).
    pub negative_soa_sigs: Vec<Box<[u8]>>,
    /// The NSEC3 chain of a signed zone ([`super::dnssec::sign`]); `None`: unsigned.
    pub nsec3: Option<super::dnssec::Nsec3Chain>,
    /// The changes that led to this snapshot, for IXFR ([`super::journal`]); empty until the
    /// DNS server extends it from the snapshot this one replaces.
    pub journal: Vec<std::sync::Arc<super::journal::Diff>>,
    /// Who may transfer: addresses (as /32 or /128) and ranges.
    pub transfer_allow: Vec<crate::rules::naming::Cidr>,
    /// TSIG keys (lowercase wire names) one of which must sign a transfer request, as well as
    /// the address being allowed; empty: the address alone. The first also signs NOTIFY.
    pub transfer_keys: Vec<Box<[u8]>>,
    pub notify: Vec<SocketAddr>,
    /// Records that could not be rendered (skipped, with the reason).
    pub skipped: Vec<String>,
    pub rrsets: usize,
}

impl Snapshot {
    pub fn node(&self, wire_name: &[u8]) -> Option<&Node> {
        self.nodes.get(wire_name)
    }

    /// Whether `ip` may transfer this zone (AXFR): it falls in one of `spec.transfer.allow`.
    pub fn may_transfer(&self, ip: IpAddr) -> bool {
        self.transfer_allow.iter().any(|r| r.contains(ip))
    }

    /// Whether a transfer request signed with `key` (None: unsigned) is signed as required.
    pub fn key_allows(&self, key: Option<&[u8]>) -> bool {
        self.transfer_keys.is_empty()
            || key.is_some_and(|k| self.transfer_keys.iter().any(|t| **t == *k))
    }
}

/// Builds a snapshot (pure). Records outside the zone or with unrenderable data are skipped
/// and listed in `skipped`; the rest of the zone is still served.
pub fn build(
    domain: &str,
    spec: &ZoneSpec,
    serial: u32,
    records: &[RecordData],
) -> Result<Snapshot, wire::WireError> {
    let apex = wire::name(domain)?;
    let mut nodes: NameMap<Node> =
        NameMap::with_capacity_and_hasher(records.len() + 8, Default::default());
    let mut skipped = Vec::new();
    let soa = wire::soa_rdata(
        &spec.soa.primary,
        &spec.soa.hostmaster,
        serial,
        spec.soa.refresh,
        spec.soa.retry,
        spec.soa.expire,
        spec.soa.negative_ttl,
    )?;
    let ns: Vec<Vec<u8>> = spec
        .nameservers
        .iter()
        .map(|n| wire::name(n))
        .collect::<Result<_, _>>()?;
    let apex_node = nodes.entry(apex.clone().into_boxed_slice()).or_default();
    apex_node
        .rrsets
        .push(RRset::new(TYPE_SOA, spec.default_ttl, vec![soa.clone()]));
    apex_node
        .rrsets
        .push(RRset::new(TYPE_NS, spec.default_ttl, ns));
    let neg = RRset::new(
        TYPE_SOA,
        spec.default_ttl.min(spec.soa.negative_ttl),
        vec![soa],
    );

    for r in records {
        let owner = match wire::name(&r.name) {
            Ok(o)
                if o.ends_with(&apex)
                    && (o.len() == apex.len() || label_boundary(&o, o.len() - apex.len())) =>
            {
                o
            }
            Ok(_) => {
                skipped.push(format!(
                    "{} {}: outside zone {domain}",
                    r.name,
                    r.type_.as_str()
                ));
                continue;
            }
            Err(e) => {
                skipped.push(format!("{} {}: {e}", r.name, r.type_.as_str()));
                continue;
            }
        };
        let code = wire::type_code(r.type_);
        if owner == apex && code == TYPE_NS {
            continue; // the apex NS set comes from the Zone's nameservers
        }
        if code == TYPE_NS && is_wildcard(&owner) {
            // RFC 4592 §4.2: a wildcard delegation has no defined meaning; the CRD refuses it
            skipped.push(format!(
                "{} NS: a wildcard cannot be delegated (RFC 4592 §4.2)",
                r.name
            ));
            continue;
        }
        let rdatas: Result<Vec<Vec<u8>>, wire::WireError> =
            r.values.iter().map(|v| wire::rdata(r.type_, v)).collect();
        let rdatas = match rdatas {
            Ok(rd) if !rd.is_empty() => rd,
            Ok(_) => continue,
            Err(e) => {
                skipped.push(format!("{} {}: {e}", r.name, r.type_.as_str()));
                continue;
            }
        };
        // empty non-terminals between the owner and the apex answer NODATA, not NXDOMAIN
        let mut up = wire::parent(&owner);
        while let Some(p) = up {
            if p.len() <= apex.len() {
                break;
            }
            nodes.entry(p.to_vec().into_boxed_slice()).or_default();
            up = wire::parent(p);
        }
        let node = nodes.entry(owner.clone().into_boxed_slice()).or_default();
        if code == TYPE_NS {
            node.cut = true;
        }
        let ttl = r.ttl.unwrap_or(spec.default_ttl);
        match node.rrsets.iter_mut().find(|s| s.type_ == code) {
            // two DnsRecords for one RRset: merge their records
            Some(existing) => {
                let mut all: Vec<Vec<u8>> = existing.rdatas.iter().map(|b| b.to_vec()).collect();
                all.extend(rdatas);
                *existing = RRset::new(code, existing.ttl.min(ttl), all);
            }
            None => node.rrsets.push(RRset::new(code, ttl, rdatas)),
        }
    }
    let rrsets = nodes.values().map(|n| n.rrsets.len()).sum();
    Ok(Snapshot {
        domain: domain.to_string(),
        apex: apex.into_boxed_slice(),
        serial,
        has_cuts: nodes.values().any(|n| n.cut),
        has_wildcards: nodes.keys().any(|k| is_wildcard(k)),
        nodes,
        negative_soa_tail: neg.tails[0].clone(),
        negative_soa_sigs: Vec::new(),
        nsec3: None,
        journal: Vec::new(),
        transfer_allow: spec
            .transfer
            .allow
            .iter()
            .filter_map(|a| {
                let r = transfer_range(a);
                if r.is_none() {
                    // the CRD refuses these; a static zone file's config may still carry one
                    tracing::warn!(entry = %a, zone = %domain, "transfer.allow entry is neither an address nor a range; ignored");
                }
                r
            })
            .collect(),
        transfer_keys: spec
            .transfer
            .keys
            .iter()
            .filter_map(|k| wire::name(k).ok().map(Vec::into_boxed_slice))
            .collect(),
        notify: spec
            .transfer
            .notify
            .iter()
            .filter_map(|a| {
                a.parse::<SocketAddr>()
                    .ok()
                    .or_else(|| a.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
            })
            .collect(),
        skipped,
        rrsets,
    })
}

/// Whether a wire name's first label is `*` (the whole label: `*x` is an ordinary name).
pub fn is_wildcard(name: &[u8]) -> bool {
    name.starts_with(b"\x01*")
}

/// Whether `offset` in a wire name is the start of a label.
pub fn label_boundary(name: &[u8], offset: usize) -> bool {
    let mut i = 0;
    while i < name.len() {
        if i == offset {
            return true;
        }
        i += 1 + name[i] as usize;
    }
    false
}

/// Glue for a name server host: its A and AAAA records, if this zone has them.
pub fn glue<'a>(snap: &'a Snapshot, host: &[u8]) -> impl Iterator<Item = &'a RRset> {
    snap.node(host).into_iter().flat_map(|n| {
        n.rrsets
            .iter()
            .filter(|r| r.type_ == TYPE_A || r.type_ == TYPE_AAAA)
    })
}
