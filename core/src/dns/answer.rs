//! The query path: one DNS message in, one response out, from a catalog of zone snapshots.
//! Pure and allocation-free given a reused output buffer: no locks, no API calls, nothing that
//! scans a zone (negative answers are one hash lookup).

use std::sync::Arc;

use super::dnssec::{Nsec3Chain, Nsec3Link};
use super::wire::{
    self, CLASS_CH, CLASS_IN, TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_AXFR, TYPE_CNAME, TYPE_DS,
    TYPE_HINFO, TYPE_IXFR, TYPE_MX, TYPE_NS, TYPE_OPT, TYPE_SOA, TYPE_SRV, TYPE_TXT,
};
use super::zone::{Node, RRset, Snapshot, glue};

/// The zones served, by lowercase wire-format apex.
#[derive(Default, Debug)]
pub struct Catalog {
    pub zones: super::zone::NameMap<Arc<Snapshot>>,
    /// Whether every zone is in (after the initial lists). Before that a name outside
    /// `zones` may be ours still: SERVFAIL ("ask again"), never REFUSED, which secondaries
    /// take as "not authoritative" and back off from for their whole retry interval.
    pub complete: bool,
    /// Which server this is, answered to `id.server` and `hostname.bind` (RFC 4892): with
    /// several replicas, a person debugging asks which one answered. Empty: "kavling-dns".
    pub identity: Arc<str>,
    /// The TSIG keys held (RFC 8945): signed requests are checked against them, and a zone's
    /// `transfer.keys` names which may transfer it.
    pub keys: Arc<[super::tsig::Key]>,
}

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;

/// Largest UDP response we send even if the client offers more (RFC 9715-style default).
pub const MAX_UDP: usize = 1232;
/// How many CNAMEs are followed inside our zones.
const MAX_CHASE: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What the server should do with the message.
#[derive(Debug)]
pub enum Outcome {
    /// Send `out`. `qtype` and `rcode` are for metrics.
    Reply { qtype: u16, rcode: u8 },
    /// Send nothing (not a query, or too broken to answer).
    Drop,
    /// A zone transfer request for this zone (TCP only); the server streams it.
    Transfer { zone: Arc<Snapshot> },
    /// The message ends in a TSIG record: check it ([`super::tsig`]) and answer the message
    /// without it, signed — nothing was written to `out`.
    Signed,
}

/// A parsed question: lowercase name for lookup, where the original ends, type and class.
struct Question {
    lower: [u8; 255],
    len: usize,
    end: usize,
    qtype: u16,
    qclass: u16,
}

fn be16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn parse_question(q: &[u8]) -> Option<Question> {
    let mut lower = [0u8; 255];
    let mut i = 12;
    let mut len = 0;
    loop {
        let l = *q.get(i)? as usize;
        if l & 0xC0 != 0 {
            return None; // no compression in the question of a query; no extended labels
        }
        if len + l + 1 > 255 {
            return None;
        }
        lower[len] = l as u8;
        len += 1;
        if l == 0 {
            i += 1;
            break;
        }
        let label = q.get(i + 1..i + 1 + l)?;
        for (k, b) in label.iter().enumerate() {
            lower[len + k] = b.to_ascii_lowercase();
        }
        len += l;
        i += 1 + l;
    }
    Some(Question {
        lower,
        len,
        end: i,
        qtype: be16(q, i)?,
        qclass: be16(q, i + 2)?,
    })
}

/// Skips one resource record (names may be compressed) and returns (type, class, ttl, next).
fn skip_rr(q: &[u8], mut i: usize) -> Option<(u16, u16, u32, usize, bool)> {
    let mut root = true;
    loop {
        let l = *q.get(i)?;
        if l & 0xC0 == 0xC0 {
            q.get(i + 1)?;
            i += 2;
            root = false;
            break;
        }
        if l & 0xC0 != 0 {
            return None;
        }
        i += 1 + l as usize;
        if l == 0 {
            break;
        }
        root = false;
    }
    let t = be16(q, i)?;
    let c = be16(q, i + 2)?;
    let ttl = u32::from_be_bytes([
        *q.get(i + 4)?,
        *q.get(i + 5)?,
        *q.get(i + 6)?,
        *q.get(i + 7)?,
    ]);
    let rdlen = be16(q, i + 8)? as usize;
    let next = i + 10 + rdlen;
    if next > q.len() {
        return None;
    }
    Some((t, c, ttl, next, root))
}

/// Where the sections after `qdcount` questions start (names uncompressed or compressed).
fn skip_questions(q: &[u8], qdcount: u16) -> Option<usize> {
    let mut i = 12;
    for _ in 0..qdcount {
        loop {
            let l = *q.get(i)?;
            if l & 0xC0 == 0xC0 {
                i += 2;
                break;
            }
            i += 1 + l as usize;
            if l == 0 {
                break;
            }
        }
        i += 4;
    }
    (i <= q.len()).then_some(i)
}

/// The one OPT record of the additional section, when the sections from `at` parse and there
/// is exactly one, owned by the root, where it belongs.
fn sole_opt(q: &[u8], mut at: usize, an: u16, ns: u16, ar: u16) -> Option<Edns> {
    let mut found = None;
    for k in 0..(an as usize + ns as usize + ar as usize) {
        let (t, class, ttl, next, root) = skip_rr(q, at)?;
        if t == TYPE_OPT {
            if found.is_some() || !root || k < an as usize + ns as usize {
                return None;
            }
            found = Some(Edns {
                payload: class,
                version: (ttl >> 16) as u8,
                dnssec_ok: ttl & 0x8000 != 0,
            });
        }
        at = next;
    }
    found
}

/// EDNS of the query: `None` without OPT, else the client's payload size and version.
struct Edns {
    payload: u16,
    version: u8,
    /// The DO bit, copied back in the response's OPT (RFC 3225 §3).
    dnssec_ok: bool,
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    an: u16,
    ns: u16,
    ar: u16,
    /// How long the message may grow with optional data (additional addresses): the
    /// transport's limit less our OPT. Required records are written regardless (TC follows).
    room: usize,
    /// The client set DO and the zone is signed: RRSIGs go with every RRset, NSEC3 records
    /// prove what does not exist.
    dnssec: bool,
}

impl Writer<'_> {
    fn rr(&mut self, owner: &[u8], tail: &[u8]) {
        self.out.extend_from_slice(owner);
        self.out.extend_from_slice(tail);
    }

    /// An RRset (and its RRSIGs when signing) in the answer section.
    fn answer_set(&mut self, owner: &[u8], rrset: &RRset) {
        for tail in rrset.tails() {
            self.rr(owner, tail);
            self.an += 1;
        }
        if self.dnssec {
            for sig in rrset.sigs.iter() {
                self.rr(owner, sig);
                self.an += 1;
            }
        }
    }
}

/// What an authority section must prove with NSEC3 records (RFC 5155 §7.2).
#[derive(Clone, Copy)]
enum Denial {
    /// The name exists, the type does not: its own NSEC3.
    NoData,
    /// The name does not exist: its closest encloser's NSEC3, the one covering the next closer
    /// name, the one covering the wildcard below the closest encloser.
    NxDomain,
    /// A wildcard answered: the name itself does not exist (the next closer name is covered).
    Wildcard,
    /// A wildcard exists but lacks the type: closest encloser, next closer, the wildcard's own.
    WildcardNoData,
}

/// A name and what its answer must prove.
#[derive(Clone, Copy)]
struct Proof<'a> {
    name: &'a [u8],
    apex_offset: usize,
    denial: Denial,
}

fn header(out: &mut Vec<u8>, q: &[u8], aa: bool, rcode: u8) {
    let rd = q.get(2).map(|b| b & 0x01).unwrap_or(0);
    let opcode = q.get(2).map(|b| b & 0x78).unwrap_or(0);
    out.extend_from_slice(&q[0..2]);
    out.push(0x80 | opcode | if aa { 0x04 } else { 0 } | rd);
    out.push(rcode & 0x0F);
    out.extend_from_slice(&[0; 8]);
}

fn set_counts(out: &mut [u8], qd: u16, an: u16, ns: u16, ar: u16) {
    out[4..6].copy_from_slice(&qd.to_be_bytes());
    out[6..8].copy_from_slice(&an.to_be_bytes());
    out[8..10].copy_from_slice(&ns.to_be_bytes());
    out[10..12].copy_from_slice(&ar.to_be_bytes());
}

/// Our OPT record: extended RCODE, version 0, the client's DO bit echoed, no options.
fn opt(out: &mut Vec<u8>, ext_rcode: u8, dnssec_ok: bool) {
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&(MAX_UDP as u16).to_be_bytes());
    let flags = if dnssec_ok { 0x80 } else { 0 };
    out.extend_from_slice(&[ext_rcode, 0, flags, 0, 0, 0]);
}

/// A response with only header (and question, when it parsed) — errors and refusals. `edns`:
/// whether the query had EDNS, and its DO bit.
fn short(out: &mut Vec<u8>, q: &[u8], question_end: Option<usize>, rcode: u8, edns: Option<bool>) {
    out.clear();
    header(out, q, false, rcode);
    let mut qd = 0;
    if let Some(end) = question_end {
        out.extend_from_slice(&q[12..end + 4]);
        qd = 1;
    }
    if let Some(dnssec_ok) = edns {
        opt(out, 0, dnssec_ok);
    }
    set_counts(out, qd, 0, 0, u16::from(edns.is_some()));
}

/// Answers `q` into `out` (cleared first).
pub fn answer(catalog: &Catalog, q: &[u8], transport: Transport, out: &mut Vec<u8>) -> Outcome {
    out.clear();
    if q.len() < 12 || q[2] & 0x80 != 0 {
        return Outcome::Drop; // too short to answer, or a response
    }
    let opcode = (q[2] >> 3) & 0x0F;
    let qdcount = be16(q, 4).unwrap_or(0);
    let (ancount, nscount, arcount) = (
        be16(q, 6).unwrap_or(0),
        be16(q, 8).unwrap_or(0),
        be16(q, 10).unwrap_or(0),
    );
    if opcode != 0 && qdcount == 0 {
        // an opcode we do not implement, even without a question, is NOTIMP (not FORMERR)
        short(out, q, None, RCODE_NOTIMP, None);
        return Outcome::Reply {
            qtype: 0,
            rcode: RCODE_NOTIMP,
        };
    }
    let Some(question) = (qdcount == 1).then(|| parse_question(q)).flatten() else {
        // RFC 6891 §7: a query with EDNS gets OPT back, FORMERR included, when its OPT can be
        // found (the questions skipped); a broken message gets none
        let edns = skip_questions(q, qdcount)
            .and_then(|at| sole_opt(q, at, ancount, nscount, arcount))
            .map(|e| e.dnssec_ok);
        short(out, q, None, RCODE_FORMERR, edns);
        return Outcome::Reply {
            qtype: 0,
            rcode: RCODE_FORMERR,
        };
    };
    // walk the remaining sections to find the OPT record
    let mut edns: Option<Edns> = None;
    let mut i = question.end + 4;
    for k in 0..(ancount as usize + nscount as usize + arcount as usize) {
        let Some((t, class, ttl, next, root)) = skip_rr(q, i) else {
            short(out, q, Some(question.end), RCODE_FORMERR, None);
            return Outcome::Reply {
                qtype: question.qtype,
                rcode: RCODE_FORMERR,
            };
        };
        if t == super::tsig::TYPE_TSIG {
            return Outcome::Signed;
        }
        if t == TYPE_OPT {
            if edns.is_some() || !root || k < ancount as usize + nscount as usize {
                short(out, q, Some(question.end), RCODE_FORMERR, None);
                return Outcome::Reply {
                    qtype: question.qtype,
                    rcode: RCODE_FORMERR,
                };
            }
            edns = Some(Edns {
                payload: class,
                version: (ttl >> 16) as u8,
                dnssec_ok: ttl & 0x8000 != 0,
            });
        }
        i = next;
    }
    let edns_do: Option<bool> = edns.as_ref().map(|e| e.dnssec_ok);
    let has_edns = edns_do.is_some();
    let dnssec_ok = edns_do.unwrap_or(false);
    if let Some(e) = &edns
        && e.version > 0
    {
        // BADVERS: extended RCODE 16 = upper 8 bits 1, lower 4 bits 0
        out.clear();
        header(out, q, false, 0);
        out.extend_from_slice(&q[12..question.end + 4]);
        opt(out, 1, dnssec_ok);
        set_counts(out, 1, 0, 0, 1);
        return Outcome::Reply {
            qtype: question.qtype,
            rcode: 16,
        };
    }
    if opcode != 0 {
        short(out, q, Some(question.end), RCODE_NOTIMP, edns_do);
        return Outcome::Reply {
            qtype: question.qtype,
            rcode: RCODE_NOTIMP,
        };
    }
    let max = match transport {
        Transport::Tcp => 65535,
        Transport::Udp => edns
            .as_ref()
            .map(|e| (e.payload as usize).clamp(512, MAX_UDP))
            .unwrap_or(512),
    };
    let qname = &question.lower[..question.len];

    if question.qclass == CLASS_CH {
        return chaos(q, &question, out, edns_do, &catalog.identity);
    }
    if question.qclass != CLASS_IN && question.qclass != TYPE_ANY {
        short(out, q, Some(question.end), RCODE_REFUSED, edns_do);
        return Outcome::Reply {
            qtype: question.qtype,
            rcode: RCODE_REFUSED,
        };
    }
    // the closest enclosing zone: longest suffix of the name that is a zone apex
    let mut offset = 0;
    let zone = loop {
        if let Some(z) = catalog.zones.get(&qname[offset..]) {
            break Some(z);
        }
        let l = qname[offset] as usize;
        if l == 0 {
            break None;
        }
        offset += 1 + l;
    };
    let Some(zone) = zone else {
        let rcode = if catalog.complete {
            RCODE_REFUSED
        } else {
            RCODE_SERVFAIL
        };
        short(out, q, Some(question.end), rcode, edns_do);
        return Outcome::Reply {
            qtype: question.qtype,
            rcode,
        };
    };
    if question.qtype == TYPE_AXFR || question.qtype == TYPE_IXFR {
        if transport == Transport::Tcp && offset == 0 {
            return Outcome::Transfer { zone: zone.clone() };
        }
        if question.qtype == TYPE_IXFR
            && offset == 0
            && let Some(soa) = soa_tail(zone)
        {
            // IXFR over UDP (RFC 1995 §2): our current SOA alone — "you are current, or ask
            // again over TCP"
            header(out, q, true, 0);
            out.extend_from_slice(&q[12..question.end + 4]);
            out.extend_from_slice(&wire::pointer(12));
            out.extend_from_slice(soa);
            let mut ar = 0;
            if let Some(d) = edns_do {
                opt(out, 0, d);
                ar = 1;
            }
            set_counts(out, 1, 1, 0, ar);
            return Outcome::Reply {
                qtype: question.qtype,
                rcode: RCODE_NOERROR,
            };
        }
        short(
            out,
            q,
            Some(question.end),
            if transport == Transport::Udp {
                RCODE_NOTIMP
            } else {
                RCODE_REFUSED
            },
            edns_do,
        );
        return Outcome::Reply {
            qtype: question.qtype,
            rcode: RCODE_REFUSED,
        };
    }

    let room = max.saturating_sub(if has_edns { 11 } else { 0 });
    let rcode = build(zone, q, &question, offset, room, dnssec_ok, out);
    if has_edns {
        opt(out, 0, dnssec_ok);
        let ar = be16(out, 10).unwrap_or(0) + 1;
        out[10..12].copy_from_slice(&ar.to_be_bytes());
    }
    if out.len() > max {
        // too big for this transport: say so (TC) and let the client retry over TCP
        let aa = out[2] & 0x04 != 0;
        out.clear();
        header(out, q, aa, rcode);
        out[2] |= 0x02;
        out.extend_from_slice(&q[12..question.end + 4]);
        if has_edns {
            opt(out, 0, dnssec_ok);
        }
        set_counts(out, 1, 0, 0, u16::from(has_edns));
    }
    Outcome::Reply {
        qtype: question.qtype,
        rcode,
    }
}

/// The authoritative answer for a name inside `zone` (apex at `offset` in the name).
fn build(
    zone: &Snapshot,
    q: &[u8],
    question: &Question,
    apex_offset: usize,
    room: usize,
    dnssec_ok: bool,
    out: &mut Vec<u8>,
) -> u8 {
    let qname = &question.lower[..question.len];
    header(out, q, true, 0);
    out.extend_from_slice(&q[12..question.end + 4]);
    let mut w = Writer {
        out,
        an: 0,
        ns: 0,
        ar: 0,
        room,
        dnssec: dnssec_ok && zone.nsec3.is_some(),
    };
    let apex_ptr = wire::pointer(12 + apex_offset);
    let qptr = wire::pointer(12);

    // Below a delegation nothing is ours to answer: refer to the delegated servers.
    // (DS at the cut itself is the parent's data, answered here: RFC 4035 §3.1.4.1)
    if let Some(c) = highest_cut(zone, qname, apex_offset)
        && !(c == 0 && question.qtype == TYPE_DS)
    {
        referral(&mut w, zone, &qname[c..], &wire::pointer(12 + c));
        w.out[2] &= !0x04; // a referral is not authoritative
        let (an, ns, ar) = (w.an, w.ns, w.ar);
        set_counts(w.out, 1, an, ns, ar);
        return RCODE_NOERROR;
    }

    // a name that does not exist may still be answered by a wildcard (RFC 4592), the records
    // then carrying the name asked for (the question's, by pointer)
    let (found, wildcard) = match zone.node(qname) {
        Some(n) => (Some(n), false),
        None => (wildcard_for(zone, qname, apex_offset), true),
    };
    let rcode = match found {
        None => {
            negative(&mut w, &apex_ptr, zone);
            let proof = Proof {
                name: qname,
                apex_offset,
                denial: Denial::NxDomain,
            };
            prove(&mut w, zone, &[proof]);
            RCODE_NXDOMAIN
        }
        Some(node) => {
            let at = Proof {
                name: qname,
                apex_offset,
                denial: if wildcard {
                    Denial::Wildcard
                } else {
                    Denial::NoData
                },
            };
            positive(&mut w, zone, node, at, question.qtype, &qptr, &apex_ptr)
        }
    };
    let (an, ns, ar) = (w.an, w.ns, w.ar);
    set_counts(w.out, 1, an, ns, ar);
    w.out[3] = (w.out[3] & 0xF0) | rcode;
    rcode
}

/// Where the highest delegation cut above or at `name` is (its offset in `name`), if any; the
/// zone's apex is at `apex_offset` and is never a cut.
fn highest_cut(zone: &Snapshot, name: &[u8], apex_offset: usize) -> Option<usize> {
    if !zone.has_cuts() {
        return None;
    }
    let mut cut = None;
    let mut off = 0;
    while off < apex_offset {
        if zone.node(&name[off..]).is_some_and(|n| n.cut) {
            cut = Some(off); // keep going up: the highest cut wins
        }
        off += 1 + name[off] as usize;
    }
    cut
}

/// The wildcard that answers for `name`, which does not exist in `zone` (apex at `apex_offset`
/// in `name`), if any: `*.` under the closest encloser — the nearest ancestor that exists, an
/// empty non-terminal included (RFC 4592 §3.3.1). A wildcard higher up never applies: an
/// existing name, even empty, blocks it.
fn wildcard_for<'z>(zone: &'z Snapshot, name: &[u8], apex_offset: usize) -> Option<&'z Node> {
    if !zone.has_wildcards() || name.len() <= 1 {
        return None;
    }
    let mut off = 1 + name[0] as usize;
    while off <= apex_offset {
        let encloser = &name[off..];
        if zone.node(encloser).is_some() {
            let mut source = [0u8; 255];
            let len = 2 + encloser.len();
            if len > source.len() {
                return None;
            }
            source[..2].copy_from_slice(b"\x01*");
            source[2..len].copy_from_slice(encloser);
            return zone.node(&source[..len]);
        }
        off += 1 + name[off] as usize;
    }
    None
}

/// The delegation at `cut` (NS in authority, glue in additional); `owner` is how the cut's
/// name is written (a pointer into the question, or the name itself).
fn referral(w: &mut Writer<'_>, zone: &Snapshot, cut: &[u8], owner: &[u8]) {
    let node = zone.node(cut).expect("cut node exists");
    let ns = node.get(TYPE_NS).expect("a cut has NS");
    for tail in ns.tails() {
        w.rr(owner, tail);
        w.ns += 1;
    }
    if w.dnssec
        && let Some(chain) = &zone.nsec3
        && let Some(link) = chain.matching(cut)
    {
        // an unsigned delegation: its NSEC3 shows NS and no DS (RFC 5155 §7.2.7)
        nsec3(w, zone, link);
    }
    for host in ns.rdatas() {
        for rrset in glue(zone, host) {
            for tail in rrset.tails() {
                w.rr(host, tail);
                w.ar += 1;
            }
        }
    }
}

/// Additional-section processing (RFC 1035 §3.3.9, RFC 2782): the addresses this zone has
/// for the hosts an NS, MX or SRV answer names, as NSD and Knot add them — only while they fit
/// (they are optional: never a reason for TC), each host once.
fn additional(w: &mut Writer<'_>, zone: &Snapshot, rrset: &super::zone::RRset) {
    let skip = match rrset.type_ {
        TYPE_NS => 0,
        TYPE_MX => 2,
        TYPE_SRV => 6,
        _ => return,
    };
    for (k, rdata) in rrset.rdatas().enumerate() {
        let Some(host) = rdata.get(skip..) else {
            continue;
        };
        if rrset.rdatas().take(k).any(|o| o.get(skip..) == Some(host))
            || !host.ends_with(&zone.apex)
            || !super::zone::label_boundary(host, host.len() - zone.apex.len())
        {
            continue; // listed already, or another zone's host
        }
        let apex_at = host.len() - zone.apex.len();
        if highest_cut(zone, host, apex_at).is_some() {
            continue; // below a delegation the addresses are not ours to give
        }
        let Some(node) = zone
            .node(host)
            .or_else(|| wildcard_for(zone, host, apex_at))
        else {
            continue;
        };
        for set in node
            .rrsets
            .iter()
            .filter(|r| r.type_ == TYPE_A || r.type_ == TYPE_AAAA)
        {
            let size: usize = set.tails().map(|t| host.len() + t.len()).sum();
            if w.out.len() + size > w.room {
                return;
            }
            for tail in set.tails() {
                w.rr(host, tail);
                w.ar += 1;
            }
        }
    }
}

fn negative(w: &mut Writer<'_>, apex_ptr: &[u8; 2], zone: &Snapshot) {
    w.rr(apex_ptr, &zone.negative_soa_tail);
    w.ns += 1;
    if w.dnssec {
        for sig in zone.negative_soa_sigs.iter() {
            w.rr(apex_ptr, sig);
            w.ns += 1;
        }
    }
}

/// One NSEC3 record and its RRSIGs in the authority section.
fn nsec3(w: &mut Writer<'_>, zone: &Snapshot, link: &Nsec3Link) {
    for tail in link.set.tails().chain(link.set.sigs.iter().map(|s| &s[..])) {
        w.out.extend_from_slice(&link.label);
        w.out.extend_from_slice(&zone.apex);
        w.out.extend_from_slice(tail);
        w.ns += 1;
    }
}

/// The NSEC3 records the proofs need, each once (signed zones, DO set; else nothing).
fn prove(w: &mut Writer<'_>, zone: &Snapshot, proofs: &[Proof<'_>]) {
    let Some(chain) = zone.nsec3.as_ref().filter(|_| w.dnssec) else {
        return;
    };
    let mut written: Vec<&[u8; 20]> = Vec::new();
    for p in proofs {
        for link in links_for(chain, zone, p).into_iter().flatten() {
            if !written.contains(&&link.hash) {
                written.push(&link.hash);
                nsec3(w, zone, link);
            }
        }
    }
}

/// The links that prove `p` (RFC 5155 §7.2.1–7.2.6).
fn links_for<'c>(
    chain: &'c Nsec3Chain,
    zone: &Snapshot,
    p: &Proof<'_>,
) -> [Option<&'c Nsec3Link>; 3] {
    if let Denial::NoData = p.denial {
        return [chain.matching(p.name), None, None];
    }
    // the closest encloser: the nearest ancestor that exists; the next closer name is one
    // label longer
    let name = p.name;
    let mut next_closer = 0;
    let mut ce = 1 + name[0] as usize;
    while ce < p.apex_offset && zone.node(&name[ce..]).is_none() {
        next_closer = ce;
        ce += 1 + name[ce] as usize;
    }
    let covered = chain.covering(&name[next_closer..]);
    if let Denial::Wildcard = p.denial {
        return [covered, None, None];
    }
    let mut wild = [0u8; 257];
    let len = 2 + name.len() - ce;
    wild[..2].copy_from_slice(b"\x01*");
    wild[2..len].copy_from_slice(&name[ce..]);
    let wildcard = match p.denial {
        Denial::WildcardNoData => chain.matching(&wild[..len]),
        _ => chain.covering(&wild[..len]),
    };
    [chain.matching(&name[ce..]), covered, wildcard]
}

fn positive<'q>(
    w: &mut Writer<'_>,
    zone: &'q Snapshot,
    node: &'q Node,
    at: Proof<'q>,
    qtype: u16,
    qptr: &[u8; 2],
    apex_ptr: &[u8; 2],
) -> u8 {
    let qname = at.name;
    // what the answer must prove (signed zones): that a wildcard answered for a name which does
    // not exist, for the name asked and for each name of a CNAME chain
    let mut proofs: Vec<Proof<'q>> = Vec::new();
    let wildcard = |p: Proof<'q>| matches!(p.denial, Denial::Wildcard);
    if w.dnssec && wildcard(at) {
        proofs.push(at);
    }
    if qtype == TYPE_ANY && !node.rrsets.is_empty() {
        if w.dnssec {
            // signed: one real RRset with its signatures (RFC 8482 §4.1), as a synthesised
            // HINFO could not validate
            w.answer_set(qptr, &node.rrsets[0]);
            prove(w, zone, &proofs);
            return RCODE_NOERROR;
        }
        // RFC 8482: a small, synthesised answer instead of everything at the name
        let mut tail = Vec::with_capacity(24);
        tail.extend_from_slice(&TYPE_HINFO.to_be_bytes());
        tail.extend_from_slice(&CLASS_IN.to_be_bytes());
        tail.extend_from_slice(&3600u32.to_be_bytes());
        tail.extend_from_slice(&9u16.to_be_bytes());
        tail.extend_from_slice(b"\x07RFC8482\x00");
        w.rr(qptr, &tail);
        w.an += 1;
        return RCODE_NOERROR;
    }
    if let Some(rrset) = node.get(qtype) {
        w.answer_set(qptr, rrset);
        prove(w, zone, &proofs);
        additional(w, zone, rrset);
        return RCODE_NOERROR;
    }
    let Some(cname) = node.get(TYPE_CNAME) else {
        negative(w, apex_ptr, zone); // NODATA (also for empty non-terminals)
        let denial = if wildcard(at) {
            Denial::WildcardNoData
        } else {
            Denial::NoData
        };
        prove(w, zone, &[Proof { denial, ..at }]);
        return RCODE_NOERROR;
    };
    // follow the alias inside the zone
    w.answer_set(qptr, cname);
    let mut target: &'q [u8] = cname.rdata(0);
    // names already answered for: a CNAME loop stops where it closes (a→b, b→a gives two)
    let mut visited: [&[u8]; MAX_CHASE + 1] = [&[]; MAX_CHASE + 1];
    visited[0] = qname;
    let mut n_visited = 1;
    for _ in 0..MAX_CHASE {
        if !target.ends_with(&zone.apex) {
            prove(w, zone, &proofs);
            return RCODE_NOERROR; // outside this zone: the resolver follows it
        }
        // into a delegated child: the CNAME stays, plus a referral (RFC 1034 §4.3.2)
        if let Some(c) = highest_cut(zone, target, target.len() - zone.apex.len()) {
            prove(w, zone, &proofs);
            referral(w, zone, &target[c..], &target[c..]);
            return RCODE_NOERROR;
        }
        let target_apex = target.len() - zone.apex.len();
        let (found, by_wildcard) = match zone.node(target) {
            Some(n) => (Some(n), false),
            None => (wildcard_for(zone, target, target_apex), true),
        };
        let here = Proof {
            name: target,
            apex_offset: target_apex,
            denial: if by_wildcard {
                Denial::Wildcard
            } else {
                Denial::NoData
            },
        };
        match found {
            None => {
                negative(w, apex_ptr, zone); // RFC 2308 §3: the SOA, also at a chain's end
                proofs.push(Proof {
                    denial: Denial::NxDomain,
                    ..here
                });
                prove(w, zone, &proofs);
                return RCODE_NXDOMAIN;
            }
            Some(n) => {
                if w.dnssec && by_wildcard {
                    proofs.push(here);
                }
                if let Some(rrset) = n.get(qtype) {
                    w.answer_set(target, rrset);
                    prove(w, zone, &proofs);
                    additional(w, zone, rrset);
                    return RCODE_NOERROR;
                }
                match n.get(TYPE_CNAME) {
                    Some(next) if qtype != TYPE_CNAME => {
                        w.answer_set(target, next);
                        visited[n_visited] = target;
                        n_visited += 1;
                        target = next.rdata(0);
                        if visited[..n_visited].contains(&target) {
                            prove(w, zone, &proofs);
                            return RCODE_NOERROR; // the loop is closed
                        }
                    }
                    Some(_) => {
                        prove(w, zone, &proofs);
                        return RCODE_NOERROR;
                    }
                    None => {
                        negative(w, apex_ptr, zone); // NODATA at the chain's end, with the SOA
                        if by_wildcard {
                            proofs.pop();
                        }
                        proofs.push(Proof {
                            denial: if by_wildcard {
                                Denial::WildcardNoData
                            } else {
                                Denial::NoData
                            },
                            ..here
                        });
                        prove(w, zone, &proofs);
                        return RCODE_NOERROR;
                    }
                }
            }
        }
    }
    prove(w, zone, &proofs);
    RCODE_NOERROR
}

/// `version.bind`, `id.server`, `hostname.bind` in class CH; anything else there is refused.
fn chaos(
    q: &[u8],
    question: &Question,
    out: &mut Vec<u8>,
    edns: Option<bool>,
    identity: &str,
) -> Outcome {
    let name = &question.lower[..question.len];
    let known = [
        &b"\x07version\x04bind\x00"[..],
        b"\x02id\x06server\x00",
        b"\x08hostname\x04bind\x00",
    ];
    if !known.contains(&name) || !(question.qtype == TYPE_TXT || question.qtype == TYPE_ANY) {
        short(out, q, Some(question.end), RCODE_REFUSED, edns);
        return Outcome::Reply {
            qtype: question.qtype,
            rcode: RCODE_REFUSED,
        };
    }
    header(out, q, true, 0);
    out.extend_from_slice(&q[12..question.end + 4]);
    let version = concat!("kavling ", env!("CARGO_PKG_VERSION"));
    let text = if name == known[0] {
        version
    } else if identity.is_empty() {
        "kavling-dns"
    } else {
        identity
    };
    let text = &text[..text.len().min(255)];
    let mut rr = Vec::new();
    wire::push_rr(
        &mut rr,
        &wire::pointer(12),
        TYPE_TXT,
        CLASS_CH,
        0,
        &[&[text.len() as u8][..], text.as_bytes()].concat(),
    );
    out.extend_from_slice(&rr);
    if let Some(dnssec_ok) = edns {
        opt(out, 0, dnssec_ok);
    }
    set_counts(out, 1, 1, 0, u16::from(edns.is_some()));
    Outcome::Reply {
        qtype: question.qtype,
        rcode: RCODE_NOERROR,
    }
}

impl PartialEq for Outcome {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Reply { qtype: a, rcode: b }, Self::Reply { qtype: c, rcode: d }) => {
                a == c && b == d
            }
            (Self::Drop, Self::Drop) => true,
            (Self::Transfer { zone: a }, Self::Transfer { zone: b }) => Arc::ptr_eq(a, b),
            (Self::Signed, Self::Signed) => true,
            _ => false,
        }
    }
}

/// The SOA tail for the apex of `zone` (for transfers).
pub fn soa_tail(zone: &Snapshot) -> Option<&[u8]> {
    zone.node(&zone.apex)
        .and_then(|n| n.get(TYPE_SOA))
        .map(|s| s.tail(0))
}
