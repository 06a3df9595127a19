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
/// compressed owner name. The tails are kept back to back in one allocation (each says its
/// own length), and a record's data is the end of its tail: at 100k one-record names that is
/// 33 MiB less than a box per tail and per data (77 → 44 MiB RSS, bench/dns.sh's zone).
#[derive(Clone, Debug, Default)]
pub struct RRset {
    pub type_: u16,
    packed: Box<[u8]>,
    pub ttl: u32,
    /// The RRSIG records' tails over this RRset, when the zone is signed ([`super::dnssec`]);
    /// written after the RRset to a client that set the DO bit.
    pub sigs: Vec<Box<[u8]>>,
}

impl RRset {
    /// Each record's data alone (its tail after type, class, TTL and length), for glue,
    /// CNAME targets and signing — not kept twice.
    pub fn rdatas(&self) -> impl Iterator<Item = &[u8]> {
        self.tails().map(|t| &t[10..])
    }

    /// The data of the `i`th record.
    pub fn rdata(&self, i: usize) -> &[u8] {
        &self.tail(i)[10..]
    }

    /// Each record's tail, in order.
    pub fn tails(&self) -> Tails<'_> {
        Tails(&self.packed)
    }

    /// The tail of the `i`th record.
    pub fn tail(&self, i: usize) -> &[u8] {
        self.tails().nth(i).expect("a record of the set")
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.tails().count()
    }

    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }

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
        let mut packed = Vec::with_capacity(rdatas.iter().map(|rd| 10 + rd.len()).sum());
        for rd in &rdatas {
            packed.extend_from_slice(&type_.to_be_bytes());
            packed.extend_from_slice(&wire::CLASS_IN.to_be_bytes());
            packed.extend_from_slice(&ttl.to_be_bytes());
            packed.extend_from_slice(&(rd.len() as u16).to_be_bytes());
            packed.extend_from_slice(rd);
        }
        Self {
            type_,
            packed: packed.into_boxed_slice(),
            ttl,
            sigs: Vec::new(),
        }
    }

    /// Adds an RRSIG tail (room for exactly one: one signature is the rule, not four).
    pub fn add_sig(&mut self, tail: Box<[u8]>) {
        self.sigs.reserve_exact(1);
        self.sigs.push(tail);
    }
}

/// The tails of an RRset's records, read back to back from one allocation.
#[derive(Clone)]
pub struct Tails<'a>(&'a [u8]);

impl<'a> Iterator for Tails<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let len = 10 + usize::from(u16::from_be_bytes([*self.0.get(8)?, *self.0.get(9)?]));
        let (tail, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        Some(tail)
    }
}

/// The RRsets at one name; none for an empty non-terminal.
#[derive(Clone, Debug, Default)]
pub struct Node {
    pub rrsets: Vec<RRset>,
    /// NS records below the apex: a delegation; nothing at or below is authoritative here.
    pub cut: bool,
    /// How many names one label below this one exist: a node without records stays (as an
    /// empty non-terminal) while it has any.
    pub children: u32,
}

impl Node {
    pub fn get(&self, type_: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.type_ == type_)
    }
}

/// Names kept per shard below this (on average): a change copies the shards it touches, so
/// this bounds what one change copies; the query path pays one more index, not a lookup.
const SHARD_TARGET: usize = 256;

/// The names of a zone and their nodes, split into shards by a hash of the name. A snapshot
/// built from another by [`patch`] shares (`Arc`) every shard the change did not touch, so a
/// change to a zone of 100,000 names copies a few hundred nodes, not the zone.
#[derive(Clone, Debug)]
pub struct Names {
    /// Picks the shard; seeded per process (like [`NameMap`]), kept by every copy.
    seed: foldhash::fast::RandomState,
    shards: Vec<std::sync::Arc<NameMap<Node>>>,
    len: usize,
}

impl Default for Names {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl Names {
    /// Room for `n` names: the shard count is fixed here (a power of two), so a zone that grows
    /// far past it is rebuilt whole ([`Names::outgrown`]).
    pub fn with_capacity(n: usize) -> Self {
        let count = (n / SHARD_TARGET).next_power_of_two().clamp(1, 1 << 14);
        Self {
            seed: Default::default(),
            shards: (0..count)
                .map(|_| {
                    std::sync::Arc::new(NameMap::with_capacity_and_hasher(
                        n / count + 1,
                        Default::default(),
                    ))
                })
                .collect(),
            len: 0,
        }
    }

    /// Whether the names now outnumber the shards four times over (patches copy ever bigger
    /// shards): time to build the zone whole again, with more shards.
    pub fn outgrown(&self) -> bool {
        self.len > self.shards.len() * SHARD_TARGET * 4
    }

    fn shard(&self, name: &[u8]) -> usize {
        use std::hash::BuildHasher;
        (self.seed.hash_one(name) >> 40) as usize & (self.shards.len() - 1)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, name: &[u8]) -> Option<&Node> {
        self.shards[self.shard(name)].get(name)
    }

    /// The node at `name` to change; its shard is copied first if another snapshot shares it.
    pub fn get_mut(&mut self, name: &[u8]) -> Option<&mut Node> {
        let i = self.shard(name);
        if !self.shards[i].contains_key(name) {
            return None;
        }
        std::sync::Arc::make_mut(&mut self.shards[i]).get_mut(name)
    }

    /// The node at `name`, made empty if there was none (the flag: whether it was made).
    pub fn get_or_insert(&mut self, name: &[u8]) -> (&mut Node, bool) {
        let i = self.shard(name);
        let shard = std::sync::Arc::make_mut(&mut self.shards[i]);
        let made = !shard.contains_key(name);
        if made {
            self.len += 1;
            shard.insert(name.into(), Node::default());
        }
        (shard.get_mut(name).expect("just made"), made)
    }

    pub fn remove(&mut self, name: &[u8]) -> Option<Node> {
        let i = self.shard(name);
        if !self.shards[i].contains_key(name) {
            return None;
        }
        let gone = std::sync::Arc::make_mut(&mut self.shards[i]).remove(name);
        self.len -= usize::from(gone.is_some());
        gone
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Box<[u8]>, &Node)> {
        self.shards.iter().flat_map(|s| s.iter())
    }

    pub fn keys(&self) -> impl Iterator<Item = &Box<[u8]>> {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &Node> {
        self.iter().map(|(_, v)| v)
    }

    /// The nodes in the shards `other` does not share with this (all of them unless one was
    /// patched from the other).
    pub fn iter_unshared<'a>(
        &'a self,
        other: &'a Names,
    ) -> impl Iterator<Item = (&'a Box<[u8]>, &'a Node)> {
        let comparable = self.shards.len() == other.shards.len();
        self.shards
            .iter()
            .enumerate()
            .filter(move |(i, s)| !comparable || !std::sync::Arc::ptr_eq(s, &other.shards[*i]))
            .flat_map(|(_, s)| s.iter())
    }

    /// Every node, to change (each shared shard is copied first).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Node> {
        self.shards
            .iter_mut()
            .flat_map(|s| std::sync::Arc::make_mut(s).values_mut())
    }
}

impl std::ops::Index<&[u8]> for Names {
    type Output = Node;
    fn index(&self, name: &[u8]) -> &Node {
        self.get(name).expect("a name of the zone")
    }
}

/// The names [`patch`] changed in a snapshot (records added, removed or replaced, empty
/// non-terminals made or dropped): what must be signed again and diffed for IXFR.
#[derive(Debug, Clone)]
pub struct Changed {
    pub names: Vec<Box<[u8]>>,
    /// Whether a delegation came or went: the names below it changed owner, so the zone must
    /// be signed whole again.
    pub cuts_moved: bool,
}

/// A zone ready to answer from.
#[derive(Debug)]
pub struct Snapshot {
    pub domain: String,
    pub apex: Box<[u8]>,
    pub serial: u32,
    pub nodes: Names,
    /// How many delegations and wildcard names there are (kept by [`patch`] as names come and
    /// go).
    pub cuts: usize,
    pub wildcards: usize,
    /// The apex SOA record's tail with the negative TTL (for NXDOMAIN/NODATA authority).
    pub negative_soa_tail: Box<[u8]>,
    /// The SOA's RRSIGs at the negative TTL, to go with `negative_soa_tail` (signed zones).
    pub negative_soa_sigs: Vec<Box<[u8]>>,
    /// The NSEC3 chain of a signed zone ([`super::dnssec::sign`]); `None`: unsigned.
    pub nsec3: Option<super::dnssec::Nsec3Chain>,
    /// The changes that led to this snapshot, for IXFR ([`super::journal`]); empty until the
    /// DNS server extends it from the snapshot this one replaces.
    pub journal: Vec<std::sync::Arc<super::journal::Diff>>,
    /// Set by [`patch`]: the names that differ from the snapshot it started from. `None`: built
    /// whole, anything may differ.
    pub changed: Option<Changed>,
    /// Who may transfer: addresses (as /32 or /128) and ranges.
    pub transfer_allow: Vec<crate::rules::naming::Cidr>,
    /// TSIG keys (lowercase wire names) one of which must sign a transfer request, as well as
    /// the address being allowed; empty: the address alone. The first also signs NOTIFY.
    pub transfer_keys: Vec<Box<[u8]>>,
    pub notify: Vec<SocketAddr>,
    /// Records that could not be rendered (skipped, with the reason): all of them when built
    /// whole, those of the changed names when patched.
    pub skipped: Vec<String>,
    pub rrsets: usize,
}

impl Snapshot {
    pub fn has_cuts(&self) -> bool {
        self.cuts > 0
    }

    /// Whether any name is a wildcard (`*.<name>`): only then does a missing name cost the
    /// closest-encloser walk (RFC 4592 §3.3.1).
    pub fn has_wildcards(&self) -> bool {
        self.wildcards > 0
    }

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

/// The key a record's owner is filed under for [`patch`]: its lowercase wire name (what the
/// snapshot is keyed by), or, for a name that is not one, its text behind a byte no wire name
/// starts with (such a record is only ever skipped, but its removal must still be seen).
pub fn owner_key(name: &str) -> Box<[u8]> {
    match wire::name(name) {
        Ok(w) => w.into_boxed_slice(),
        Err(_) => [&[0xFFu8][..], name.as_bytes()].concat().into_boxed_slice(),
    }
}

/// The apex SOA, the negative-answer SOA and the apex NS set, as the Zone's spec gives them.
fn apex_sets(spec: &ZoneSpec, serial: u32) -> Result<(RRset, RRset, RRset), wire::WireError> {
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
    let neg = RRset::new(
        TYPE_SOA,
        spec.default_ttl.min(spec.soa.negative_ttl),
        vec![soa.clone()],
    );
    Ok((
        RRset::new(TYPE_SOA, spec.default_ttl, vec![soa]),
        neg,
        RRset::new(TYPE_NS, spec.default_ttl, ns),
    ))
}

/// The node at `owner`, made with every missing ancestor up to the apex (empty non-terminals
/// answer NODATA, not NXDOMAIN), each new node counted as a child of its parent. Names made
/// are added to `made`.
fn ensure<'a>(
    nodes: &'a mut Names,
    apex: &[u8],
    owner: &[u8],
    made: &mut Vec<Box<[u8]>>,
) -> &'a mut Node {
    let mut created = nodes.get_or_insert(owner).1;
    let mut name = owner;
    while created {
        made.push(name.into());
        if name.len() <= apex.len() {
            break;
        }
        let Some(parent) = wire::parent(name) else {
            break;
        };
        let (p, p_made) = nodes.get_or_insert(parent);
        p.children += 1;
        created = p_made;
        name = parent;
    }
    nodes.get_mut(owner).expect("made above")
}

/// Drops `owner` if it holds nothing and has no children, then each ancestor left the same way
/// (never the apex). Names dropped are added to `gone`.
fn release(nodes: &mut Names, apex: &[u8], owner: &[u8], gone: &mut Vec<Box<[u8]>>) {
    let mut name = owner;
    while name.len() > apex.len() {
        if !nodes
            .get(name)
            .is_some_and(|n| n.rrsets.is_empty() && n.children == 0)
        {
            return;
        }
        nodes.remove(name);
        gone.push(name.into());
        let Some(parent) = wire::parent(name) else {
            return;
        };
        if let Some(p) = nodes.get_mut(parent) {
            p.children = p.children.saturating_sub(1);
        }
        name = parent;
    }
}

/// Adds one DnsRecord's records to the zone (skipped, with the reason, if outside the zone or
/// not renderable). Names made are added to `made`.
fn put(
    nodes: &mut Names,
    apex: &[u8],
    spec: &ZoneSpec,
    domain: &str,
    r: &RecordData,
    skipped: &mut Vec<String>,
    made: &mut Vec<Box<[u8]>>,
) {
    let owner = match wire::name(&r.name) {
        Ok(o)
            if o.ends_with(apex)
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
            return;
        }
        Err(e) => {
            skipped.push(format!("{} {}: {e}", r.name, r.type_.as_str()));
            return;
        }
    };
    let code = wire::type_code(r.type_);
    if owner == apex && code == TYPE_NS {
        return; // the apex NS set comes from the Zone's nameservers
    }
    if code == TYPE_NS && is_wildcard(&owner) {
        // RFC 4592 §4.2: a wildcard delegation has no defined meaning; the CRD refuses it
        skipped.push(format!(
            "{} NS: a wildcard cannot be delegated (RFC 4592 §4.2)",
            r.name
        ));
        return;
    }
    let rdatas: Result<Vec<Vec<u8>>, wire::WireError> =
        r.values.iter().map(|v| wire::rdata(r.type_, v)).collect();
    let rdatas = match rdatas {
        Ok(rd) if !rd.is_empty() => rd,
        Ok(_) => return,
        Err(e) => {
            skipped.push(format!("{} {}: {e}", r.name, r.type_.as_str()));
            return;
        }
    };
    let node = ensure(nodes, apex, &owner, made);
    if code == TYPE_NS {
        node.cut = true;
    }
    let ttl = r.ttl.unwrap_or(spec.default_ttl);
    match node.rrsets.iter_mut().find(|s| s.type_ == code) {
        // two DnsRecords for one RRset: merge their records
        Some(existing) => {
            let mut all: Vec<Vec<u8>> = existing.rdatas().map(<[u8]>::to_vec).collect();
            all.extend(rdatas);
            *existing = RRset::new(code, existing.ttl.min(ttl), all);
        }
        None => {
            // a Vec's first push makes room for 4 RRsets (~80 bytes each), most of what a
            // name with one RRset would cost: grow by exactly one instead
            node.rrsets.reserve_exact(1);
            node.rrsets.push(RRset::new(code, ttl, rdatas))
        }
    }
}

/// Transfer settings from the spec, in the form the server checks them.
fn transfer_settings(
    domain: &str,
    spec: &ZoneSpec,
) -> (
    Vec<crate::rules::naming::Cidr>,
    Vec<Box<[u8]>>,
    Vec<SocketAddr>,
) {
    let allow = spec
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
        .collect();
    let keys = spec
        .transfer
        .keys
        .iter()
        .filter_map(|k| wire::name(k).ok().map(Vec::into_boxed_slice))
        .collect();
    let notify = spec
        .transfer
        .notify
        .iter()
        .filter_map(|a| {
            a.parse::<SocketAddr>()
                .ok()
                .or_else(|| a.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
        })
        .collect();
    (allow, keys, notify)
}

/// Builds a snapshot (pure). Records outside the zone or with unrenderable data are skipped
/// and listed in `skipped`; the rest of the zone is still served.
pub fn build<'r>(
    domain: &str,
    spec: &ZoneSpec,
    serial: u32,
    records: impl IntoIterator<Item = &'r RecordData, IntoIter: ExactSizeIterator>,
) -> Result<Snapshot, wire::WireError> {
    let records = records.into_iter();
    let apex = wire::name(domain)?;
    let mut nodes = Names::with_capacity(records.len() + 8);
    let mut skipped = Vec::new();
    let (soa, neg, ns) = apex_sets(spec, serial)?;
    let mut made = Vec::new();
    let apex_node = ensure(&mut nodes, &apex, &apex, &mut made);
    apex_node.rrsets.push(soa);
    apex_node.rrsets.push(ns);
    for r in records {
        put(&mut nodes, &apex, spec, domain, r, &mut skipped, &mut made);
    }
    let rrsets = nodes.values().map(|n| n.rrsets.len()).sum();
    let cuts = nodes.values().filter(|n| n.cut).count();
    let wildcards = nodes.keys().filter(|k| is_wildcard(k)).count();
    let (transfer_allow, transfer_keys, notify) = transfer_settings(domain, spec);
    Ok(Snapshot {
        domain: domain.to_string(),
        apex: apex.into_boxed_slice(),
        serial,
        cuts,
        wildcards,
        nodes,
        negative_soa_tail: neg.tail(0).into(),
        negative_soa_sigs: Vec::new(),
        nsec3: None,
        journal: Vec::new(),
        changed: None,
        transfer_allow,
        transfer_keys,
        notify,
        skipped,
        rrsets,
    })
}

/// A new snapshot from `base` (built from the same spec) where the names in `owners` now hold
/// exactly the given records, under `serial` — sharing every shard of `base` the change does
/// not touch. The apex is always rendered again (its SOA carries the serial), so its records
/// must be given whenever it is among `owners`; it is added if missing. What a signed base
/// carried at the changed names is gone: [`super::dnssec::sign_changes`] signs them again.
pub fn patch(
    base: &Snapshot,
    spec: &ZoneSpec,
    serial: u32,
    owners: &[(Box<[u8]>, Vec<&RecordData>)],
) -> Result<Snapshot, wire::WireError> {
    let apex = base.apex.clone();
    let mut nodes = base.nodes.clone();
    let mut skipped = Vec::new();
    let (soa, neg, ns) = apex_sets(spec, serial)?;
    let mut rrsets = base.rrsets;
    let (mut cuts, mut wildcards) = (base.cuts, base.wildcards);
    let mut changed: Vec<Box<[u8]>> = vec![apex.clone()];
    let no_records = Vec::new();
    let apex_records = owners
        .iter()
        .find(|(k, _)| *k == apex)
        .map(|(_, r)| r)
        .unwrap_or(&no_records);
    let apex_given = owners.iter().any(|(k, _)| *k == apex);
    // clear every changed name first (records from two owners' lists may meet at one name
    // only if the names differ in text but not on the wire: then both lists are put below)
    let mut was_cut = Vec::with_capacity(owners.len());
    for (key, _) in owners {
        was_cut.push(nodes.get(key).is_some_and(|n| n.cut));
        if let Some(node) = nodes.get_mut(key) {
            rrsets -= node.rrsets.len();
            cuts -= usize::from(node.cut);
            node.rrsets.clear();
            node.cut = false;
        }
    }
    if !apex_given && let Some(node) = nodes.get_mut(&apex) {
        // the apex's own records stay; only SOA and NS are rendered again
        rrsets -= node.rrsets.len();
        node.rrsets
            .retain(|r| r.type_ != TYPE_SOA && r.type_ != TYPE_NS);
    }
    let apex_node = nodes.get_mut(&apex).expect("a snapshot has its apex");
    apex_node.rrsets.insert(0, ns);
    apex_node.rrsets.insert(0, soa);
    let domain = base.domain.as_str();
    let mut made = Vec::new();
    for r in apex_records {
        put(&mut nodes, &apex, spec, domain, r, &mut skipped, &mut made);
    }
    rrsets += nodes[&apex[..]].rrsets.len();
    for (key, recs) in owners {
        if *key == apex {
            continue;
        }
        for r in recs {
            put(&mut nodes, &apex, spec, domain, r, &mut skipped, &mut made);
        }
        if let Some(node) = nodes.get(key) {
            rrsets += node.rrsets.len();
            cuts += usize::from(node.cut);
        }
        if key.ends_with(&apex) {
            changed.push(key.clone());
        }
    }
    let cuts_moved = owners
        .iter()
        .zip(&was_cut)
        .any(|((key, _), was)| nodes.get(key).is_some_and(|n| n.cut) != *was);
    // names left empty and childless go, with ancestors left the same
    let mut gone = Vec::new();
    for (key, _) in owners {
        release(&mut nodes, &apex, key, &mut gone);
    }
    wildcards += made.iter().filter(|n| is_wildcard(n)).count();
    wildcards -= gone.iter().filter(|n| is_wildcard(n)).count();
    changed.extend(made);
    changed.extend(gone);
    changed.sort_unstable();
    changed.dedup();
    Ok(Snapshot {
        domain: base.domain.clone(),
        apex,
        serial,
        cuts,
        wildcards,
        nodes,
        negative_soa_tail: neg.tail(0).into(),
        negative_soa_sigs: Vec::new(),
        nsec3: base.nsec3.clone(),
        journal: Vec::new(),
        changed: Some(Changed {
            names: changed,
            cuts_moved,
        }),
        // the spec is the base's (a new spec builds whole): so are its transfer settings
        transfer_allow: base.transfer_allow.clone(),
        transfer_keys: base.transfer_keys.clone(),
        notify: base.notify.clone(),
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
