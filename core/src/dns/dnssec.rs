//! DNSSEC signing of a zone snapshot (RFC 4033–4035, NSEC3 per RFC 5155 with the parameters
//! RFC 9276 recommends: SHA-1, no extra iterations, no salt, no opt-out).
//!
//! Signatures are computed when a snapshot is built, never on the query path: [`sign`] adds the
//! DNSKEY and NSEC3PARAM RRsets at the apex, an RRSIG for every authoritative RRset, and the
//! NSEC3 chain (each link signed). The query path then only copies pre-rendered records and
//! hashes a name (SHA-1, a few hundred nanoseconds) to find the NSEC3 that denies it.
//!
//! A rebuild re-signs only what changed: [`SignatureCache`] keeps each RRset's signature by the
//! digest of what it signs, and reuses it while it has more than [`REFRESH`] left to run.

use std::collections::HashMap;
use std::fmt::Write as _;

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use sha2::{Digest as _, Sha256};

use super::wire::{CLASS_IN, TYPE_DS, TYPE_NS, TYPE_SOA};
use super::zone::{Node, RRset, Snapshot};

/// The label on a zone's signing-key Secret in the keys namespace (kavling-dns watches these).
pub const KEY_LABEL: &str = "kavling.go.id/dnssec-key";
/// The annotation naming the zone a signing-key Secret belongs to.
pub const ZONE_ANNOTATION: &str = "kavling.go.id/zone";
/// The Secret's data key holding the PKCS#8 private key.
pub const KEY_DATA: &str = "private.pk8";

/// The prefix of a zone-signing key's data key in the Secret: `zsk.<created, Unix seconds>.pk8`.
pub const ZSK_PREFIX: &str = "zsk.";

/// Automatic rollover of zone-signing keys (pre-publication, RFC 6781 §4.1.1.1), as a pure
/// function of the time and the keys' creation times, so the operator (who makes and removes
/// keys) and every DNS replica (which publishes and signs) agree without talking:
/// - a ZSK made at `c` is published at once and signs from `c + lead` (once resolvers have had
///   time to fetch the DNSKEY set that holds it) until its successor signs;
/// - a successor is made at `c + lifetime - lead`, so it signs from `c + lifetime`;
/// - a retired ZSK stays published for `lifetime / 2` more (signatures made with it may still
///   be cached), then the operator removes it.
///
/// The key-signing key (the one the DS names) is not rolled: that needs the parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rollover {
    pub lifetime: u64,
    pub lead: u64,
}

impl Rollover {
    /// The policy for a zone whose DNSKEY TTL is `dnskey_ttl`: publish twice the TTL ahead.
    pub fn new(lifetime: u64, dnskey_ttl: u32) -> Self {
        let lead = 2 * u64::from(dnskey_ttl);
        Self {
            lifetime: lifetime.max(2 * lead),
            lead,
        }
    }

    /// Which of the ZSKs (creation times, any order) signs at `now`: the newest whose lead
    /// has passed; `None`: none yet (the key-signing key signs everything meanwhile).
    pub fn active(&self, created: &[u64], now: u64) -> Option<u64> {
        created
            .iter()
            .copied()
            .filter(|c| c + self.lead <= now)
            .max()
    }

    /// Whether a new ZSK is due at `now` (none yet, or the newest is near its end).
    pub fn successor_due(&self, created: &[u64], now: u64) -> bool {
        created
            .iter()
            .max()
            .is_none_or(|newest| newest + self.lifetime - self.lead <= now)
    }

    /// The ZSKs to remove at `now`: retired (a later key signs) for half a lifetime.
    pub fn expired(&self, created: &[u64], now: u64) -> Vec<u64> {
        let Some(active) = self.active(created, now) else {
            return Vec::new();
        };
        created
            .iter()
            .copied()
            .filter(|&c| c < active)
            .filter(|&c| {
                // retired when its successor began signing
                let successor = created.iter().copied().filter(|&n| n > c).min();
                successor.is_some_and(|n| n + self.lead + self.lifetime / 2 <= now)
            })
            .collect()
    }

    /// The next moment something changes for these keys after `now` (a key begins signing, a
    /// successor is due, a retired key goes), for scheduling.
    pub fn next_event(&self, created: &[u64], now: u64) -> Option<u64> {
        let mut at: Vec<u64> = created.iter().map(|c| c + self.lead).collect();
        if let Some(newest) = created.iter().max() {
            at.push(newest + self.lifetime - self.lead);
        }
        for &c in created {
            if let Some(n) = created.iter().copied().filter(|&n| n > c).min() {
                at.push(n + self.lead + self.lifetime / 2);
            }
        }
        at.into_iter().filter(|&t| t > now).min()
    }
}

/// The name of a zone's signing-key Secret: `dnssec.<zone>` (zones are cluster-wide and named
/// by their domain, so one Secret name per zone; `None` if it would exceed 253 characters).
pub fn secret_name(zone: &str) -> Option<String> {
    let name = format!("dnssec.{zone}");
    (name.len() <= 253).then_some(name)
}

pub const TYPE_RRSIG: u16 = 46;
pub const TYPE_DNSKEY: u16 = 48;
pub const TYPE_NSEC3: u16 = 50;
pub const TYPE_NSEC3PARAM: u16 = 51;

/// How long a new signature is valid for.
pub const VALIDITY: u32 = 14 * 86_400;
/// A cached signature with less than this left is replaced on the next rebuild (the DNS server
/// rebuilds signed zones at least daily, so a signature never gets within a week of expiring).
pub const REFRESH: u32 = 7 * 86_400;
/// Inception is set this far in the past: validators whose clocks run behind still accept.
const INCEPTION_SKEW: u32 = 3_600;

/// The DNSSEC algorithms Kavling signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256 (13): what registries and validators support everywhere.
    EcdsaP256Sha256,
    /// Ed25519 (15): smaller and faster, not yet accepted by every registry.
    Ed25519,
}

impl Algorithm {
    pub fn number(self) -> u8 {
        match self {
            Self::EcdsaP256Sha256 => 13,
            Self::Ed25519 => 15,
        }
    }

    /// The mnemonic (RFC 8624): `ECDSAP256SHA256`, `ED25519`.
    pub fn mnemonic(self) -> &'static str {
        match self {
            Self::EcdsaP256Sha256 => "ECDSAP256SHA256",
            Self::Ed25519 => "ED25519",
        }
    }
}

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A zone's signing key (a CSK: flags 257, both key- and zone-signing).
pub struct SigningKey {
    pub algorithm: Algorithm,
    pair: Pair,
    /// The DNSKEY record data: flags, protocol 3, algorithm, public key.
    pub dnskey: Vec<u8>,
    pub tag: u16,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

/// Flags of a key that signs both the DNSKEY set (SEP, bit 15) and the zone (bit 7).
const CSK_FLAGS: u16 = 257;
/// Flags of a zone-signing key (zone key bit only).
const ZSK_FLAGS: u16 = 256;

impl SigningKey {
    /// A new private key for `algorithm`, as a PKCS#8 document (what [`Self::from_pkcs8`] reads
    /// and what a Secret or a key file holds).
    pub fn generate(algorithm: Algorithm) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        let doc = match algorithm {
            Algorithm::EcdsaP256Sha256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            }
            Algorithm::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng),
        }
        .map_err(|_| "the system random source failed".to_string())?;
        Ok(doc.as_ref().to_vec())
    }

    /// A key from PKCS#8 (DER, or PEM as `openssl genpkey` writes it): ECDSA P-256 or Ed25519,
    /// told apart by the document itself. A key-signing key (flags 257, SEP).
    pub fn from_pkcs8(document: &[u8]) -> Result<Self, String> {
        Self::with_flags(document, CSK_FLAGS)
    }

    /// A zone-signing key (flags 256): published and rolled by Kavling, never named by a DS.
    pub fn zone_signing_from_pkcs8(document: &[u8]) -> Result<Self, String> {
        Self::with_flags(document, ZSK_FLAGS)
    }

    fn with_flags(document: &[u8], flags: u16) -> Result<Self, String> {
        let der = pem_body(document).unwrap_or_else(|| document.to_vec());
        let rng = SystemRandom::new();
        let (algorithm, pair, public) =
            match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng) {
                // the uncompressed point less its 0x04 prefix (RFC 6605 §4)
                Ok(p) => {
                    let public = p.public_key().as_ref()[1..].to_vec();
                    (Algorithm::EcdsaP256Sha256, Pair::Ecdsa(p), public)
                }
                Err(_) => match Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
                    Ok(p) => {
                        let public = p.public_key().as_ref().to_vec();
                        (Algorithm::Ed25519, Pair::Ed25519(p), public)
                    }
                    Err(_) => {
                        return Err(
                            "not a PKCS#8 ECDSA P-256 or Ed25519 private key (make one with \
                             `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`)"
                                .into(),
                        );
                    }
                },
            };
        let mut dnskey = Vec::with_capacity(4 + public.len());
        dnskey.extend_from_slice(&flags.to_be_bytes());
        dnskey.push(3);
        dnskey.push(algorithm.number());
        dnskey.extend_from_slice(&public);
        let tag = key_tag(&dnskey);
        Ok(Self {
            algorithm,
            pair,
            dnskey,
            tag,
        })
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        match &self.pair {
            Pair::Ecdsa(p) => p
                .sign(&SystemRandom::new(), data)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string()),
            Pair::Ed25519(p) => Ok(p.sign(data).as_ref().to_vec()),
        }
    }

    /// The DS record data for the parent (digest type 2, SHA-256; RFC 4509).
    pub fn ds(&self, apex: &[u8]) -> Vec<u8> {
        let digest = Sha256::new()
            .chain_update(apex)
            .chain_update(&self.dnskey)
            .finalize();
        let mut ds = Vec::with_capacity(36);
        ds.extend_from_slice(&self.tag.to_be_bytes());
        ds.push(self.algorithm.number());
        ds.push(2);
        ds.extend_from_slice(&digest);
        ds
    }

    /// `<tag> <alg> 2 <HEX>`: the DS record's data as the registry's form asks for it.
    pub fn ds_text(&self, apex: &[u8]) -> String {
        let ds = self.ds(apex);
        let mut s = format!("{} {} 2 ", self.tag, self.algorithm.number());
        for b in &ds[4..] {
            let _ = write!(s, "{b:02X}");
        }
        s
    }

    /// `257 3 <alg> <base64 public key>`: the DNSKEY as a trust anchor file writes it.
    pub fn dnskey_text(&self) -> String {
        format!(
            "257 3 {} {}",
            self.algorithm.number(),
            base64(&self.dnskey[4..])
        )
    }
}

/// The base64 body of a PEM document, if it is one.
fn pem_body(document: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(document).ok()?;
    if !text.trim_start().starts_with("-----BEGIN") {
        return None;
    }
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.trim().chars())
        .collect();
    unbase64(&body)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                s.push(B64[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn unbase64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// The key tag of a DNSKEY's data (RFC 4034 Appendix B).
pub fn key_tag(dnskey: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for (i, b) in dnskey.iter().enumerate() {
        acc += if i & 1 == 0 {
            u32::from(*b) << 8
        } else {
            u32::from(*b)
        };
    }
    acc += (acc >> 16) & 0xFFFF;
    (acc & 0xFFFF) as u16
}

/// Links per chunk of the chain: an insertion or removal copies one chunk.
const CHUNK: usize = 256;

/// The NSEC3 chain of a signed zone, sorted by hash: what denies a name or a type. Kept in
/// chunks shared (`Arc`) between snapshots, so [`sign_changes`] copies only the chunks it
/// touches.
#[derive(Debug, Default, Clone)]
pub struct Nsec3Chain {
    pub iterations: u16,
    pub salt: Box<[u8]>,
    chunks: Vec<std::sync::Arc<Vec<Nsec3Link>>>,
    /// The first hash of each chunk (none is empty), searched before the chunk itself.
    firsts: Vec<[u8; 20]>,
    len: usize,
}

/// One NSEC3 record: the hash of an existing name, the next hash, the types at that name.
#[derive(Debug, Clone)]
pub struct Nsec3Link {
    pub hash: [u8; 20],
    /// The owner's first label, `<32 base32hex characters>` with its length byte (the owner
    /// is this label followed by the apex).
    pub label: [u8; 33],
    /// The NSEC3 record and its RRSIGs.
    pub set: RRset,
}

/// Where a hash is in the chain: `Ok` at (chunk, index); `Err` between links — `None` before
/// the first link, else the (chunk, index) of the link just below it.
type Position = Result<(usize, usize), Option<(usize, usize)>>;

impl Nsec3Chain {
    /// A chain of links already sorted by hash, without duplicates.
    fn from_sorted(iterations: u16, salt: Box<[u8]>, links: Vec<Nsec3Link>) -> Self {
        let mut chain = Self {
            iterations,
            salt,
            len: links.len(),
            ..Self::default()
        };
        let mut links = links.into_iter().peekable();
        while links.peek().is_some() {
            let part: Vec<Nsec3Link> = links.by_ref().take(CHUNK).collect();
            chain.firsts.push(part[0].hash);
            chain.chunks.push(std::sync::Arc::new(part));
        }
        chain
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every link, in hash order.
    pub fn links(&self) -> impl Iterator<Item = &Nsec3Link> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// The links in the chunks `other` does not share with this chain.
    pub fn links_unshared<'a>(
        &'a self,
        other: &'a Nsec3Chain,
    ) -> impl Iterator<Item = &'a Nsec3Link> {
        let theirs: std::collections::HashSet<*const Vec<Nsec3Link>> =
            other.chunks.iter().map(std::sync::Arc::as_ptr).collect();
        self.chunks
            .iter()
            .filter(move |c| !theirs.contains(&std::sync::Arc::as_ptr(c)))
            .flat_map(|c| c.iter())
    }

    fn position(&self, h: &[u8; 20]) -> Position {
        let c = self.firsts.partition_point(|f| f <= h);
        if c == 0 {
            return Err(None);
        }
        match self.chunks[c - 1].binary_search_by(|l| l.hash.cmp(h)) {
            Ok(i) => Ok((c - 1, i)),
            Err(i) => Err(Some((c - 1, i - 1))), // i ≥ 1: the chunk's first is below h
        }
    }

    fn at(&self, (c, i): (usize, usize)) -> &Nsec3Link {
        &self.chunks[c][i]
    }

    fn last(&self) -> Option<(usize, usize)> {
        let c = self.chunks.len().checked_sub(1)?;
        Some((c, self.chunks[c].len() - 1))
    }

    /// The link after the one at `at`, round the ring.
    fn next(&self, (c, i): (usize, usize)) -> (usize, usize) {
        if i + 1 < self.chunks[c].len() {
            (c, i + 1)
        } else if c + 1 < self.chunks.len() {
            (c + 1, 0)
        } else {
            (0, 0)
        }
    }

    /// The link below `h` round the ring (the last link for a hash below the first).
    fn below(&self, h: &[u8; 20]) -> Option<(usize, usize)> {
        match self.position(h) {
            Ok((c, i)) if i > 0 => Some((c, i - 1)),
            Ok((c, _)) if c > 0 => Some((c - 1, self.chunks[c - 1].len() - 1)),
            Ok(_) | Err(None) => self.last(),
            Err(Some(at)) => Some(at),
        }
    }

    fn get_mut(&mut self, (c, i): (usize, usize)) -> &mut Nsec3Link {
        &mut std::sync::Arc::make_mut(&mut self.chunks[c])[i]
    }

    fn insert(&mut self, link: Nsec3Link) {
        self.len += 1;
        let (c, i) = match self.position(&link.hash) {
            Ok(_) => unreachable!("inserted only when missing"),
            Err(None) if self.chunks.is_empty() => {
                self.firsts.push(link.hash);
                self.chunks.push(std::sync::Arc::new(vec![link]));
                return;
            }
            Err(None) => (0, 0),
            Err(Some((c, i))) => (c, i + 1),
        };
        let chunk = std::sync::Arc::make_mut(&mut self.chunks[c]);
        chunk.insert(i, link);
        self.firsts[c] = chunk[0].hash;
        if chunk.len() > 2 * CHUNK {
            let tail = chunk.split_off(CHUNK);
            self.firsts.insert(c + 1, tail[0].hash);
            self.chunks.insert(c + 1, std::sync::Arc::new(tail));
        }
    }

    fn remove(&mut self, (c, i): (usize, usize)) {
        self.len -= 1;
        let chunk = std::sync::Arc::make_mut(&mut self.chunks[c]);
        chunk.remove(i);
        if chunk.is_empty() {
            self.chunks.remove(c);
            self.firsts.remove(c);
        } else {
            self.firsts[c] = chunk[0].hash;
        }
    }

    /// The NSEC3 hash of a wire name (RFC 5155 §5).
    pub fn hash(&self, name: &[u8]) -> [u8; 20] {
        nsec3_hash(name, &self.salt, self.iterations)
    }

    /// The link whose owner is `name`'s hash: proof that `name` exists and which types it has.
    pub fn matching(&self, name: &[u8]) -> Option<&Nsec3Link> {
        self.position(&self.hash(name)).ok().map(|at| self.at(at))
    }

    /// The link whose span covers `name`'s hash: proof that `name` does not exist. The last
    /// link covers the hashes above it and below the first (the chain is a ring).
    pub fn covering(&self, name: &[u8]) -> Option<&Nsec3Link> {
        match self.position(&self.hash(name)) {
            Ok(_) => None, // it exists: nothing covers it
            Err(None) => self.last().map(|at| self.at(at)),
            Err(Some(at)) => Some(self.at(at)),
        }
    }

    /// The NSEC3 rdata for a link: hash algorithm 1 (SHA-1), flags 0, iterations, salt, the
    /// next hash, the type bitmap.
    fn rdata(&self, next: &[u8; 20], bitmap: &[u8]) -> Vec<u8> {
        let mut rd = Vec::with_capacity(26 + self.salt.len() + bitmap.len());
        rd.extend_from_slice(&[1, 0]);
        rd.extend_from_slice(&self.iterations.to_be_bytes());
        rd.push(self.salt.len() as u8);
        rd.extend_from_slice(&self.salt);
        rd.push(20);
        rd.extend_from_slice(next);
        rd.extend_from_slice(bitmap);
        rd
    }

    /// The type bitmap in a link's rdata.
    fn bitmap_of<'l>(&self, link: &'l Nsec3Link) -> &'l [u8] {
        &link.set.rdata(0)[6 + self.salt.len() + 20..]
    }
}

fn link(hash: [u8; 20], set: RRset) -> Nsec3Link {
    let mut label = [0u8; 33];
    label[0] = 32;
    label[1..].copy_from_slice(&base32hex(&hash));
    Nsec3Link { hash, label, set }
}

/// SHA-1 over the name and salt, then `iterations` more times over the digest and salt.
pub fn nsec3_hash(name: &[u8], salt: &[u8], iterations: u16) -> [u8; 20] {
    use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY};
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(name);
    ctx.update(salt);
    let mut h: [u8; 20] = ctx.finish().as_ref().try_into().expect("SHA-1 is 20 bytes");
    for _ in 0..iterations {
        let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(&h);
        ctx.update(salt);
        h = ctx.finish().as_ref().try_into().expect("SHA-1 is 20 bytes");
    }
    h
}

/// Base32 with the extended hex alphabet, lowercase, no padding (RFC 4648 §7; 20 bytes make
/// 32 characters).
fn base32hex(data: &[u8; 20]) -> [u8; 32] {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = [0u8; 32];
    let (mut acc, mut bits, mut n) = (0u64, 0, 0);
    for b in data {
        acc = (acc << 8) | u64::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out[n] = ALPHABET[((acc >> bits) & 31) as usize];
            n += 1;
        }
    }
    out
}

/// The type bitmap field of NSEC/NSEC3 (RFC 4034 §4.1.2): window blocks of up to 32 octets.
pub fn type_bitmap(types: &[u16]) -> Vec<u8> {
    let mut types = types.to_vec();
    types.sort_unstable();
    types.dedup();
    let mut out = Vec::new();
    let mut k = 0;
    while k < types.len() {
        let window = (types[k] >> 8) as u8;
        let mut bits = [0u8; 32];
        let mut len = 0;
        while k < types.len() && (types[k] >> 8) as u8 == window {
            let low = (types[k] & 0xFF) as usize;
            bits[low / 8] |= 0x80 >> (low % 8);
            len = len.max(low / 8 + 1);
            k += 1;
        }
        out.push(window);
        out.push(len as u8);
        out.extend_from_slice(&bits[..len]);
    }
    out
}

/// The number of labels of a wire name, not counting the root or a leading `*`
/// (the RRSIG Labels field, RFC 4034 §3.1.3).
fn label_count(name: &[u8]) -> u8 {
    let mut n = 0u8;
    let mut i = 0;
    while i < name.len() && name[i] != 0 {
        n += 1;
        i += 1 + name[i] as usize;
    }
    if super::zone::is_wildcard(name) {
        n - 1
    } else {
        n
    }
}

/// Signatures kept between rebuilds, by the digest of everything they sign but the validity
/// window: an unchanged RRset keeps its signature until it needs refreshing.
#[derive(Default)]
pub struct SignatureCache {
    held: HashMap<[u8; 32], (Box<[u8]>, u32)>,
    /// The expiration nearest to running out among `held`, so a rebuild asks
    /// [`SignatureCache::refresh_due`] without a pass over every signature.
    earliest: Option<u32>,
}

impl SignatureCache {
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub fn clear(&mut self) {
        self.earliest = None;
        self.held.clear();
    }

    /// Whether signing at `now` would replace some signature (one is within [`REFRESH`] of
    /// expiring): the zone's content then changes although its records did not, and a new
    /// serial must tell the secondaries.
    pub fn refresh_due(&self, now: u64) -> bool {
        self.earliest
            .is_some_and(|exp| exp.wrapping_sub(now as u32) as i32 <= REFRESH as i32)
    }
}

/// What signing did, for logs and the benchmark.
#[derive(Debug, Default, Clone, Copy)]
pub struct SignStats {
    /// Signatures made now.
    pub signed: usize,
    /// Signatures reused from the cache.
    pub reused: usize,
    pub nsec3: usize,
}

/// One RRset to sign: where it is, and the canonical data its signature covers.
struct Job {
    owner: Box<[u8]>,
    type_: u16,
    /// The RRSIG rdata up to the signer's name (fields with the validity window), then the
    /// RRs in canonical order: the data signed.
    header: Vec<u8>,
    rrs: Vec<u8>,
    ttl: u32,
    key: usize,
    digest: [u8; 32],
}

/// The keys a zone is signed with at one moment: every key published in its DNSKEY set (the
/// first is the key-signing key, the one the parent's DS names), and which of them signs the
/// zone's other RRsets (the active zone-signing key; the first, as a CSK, when there is none).
pub struct KeySet {
    pub keys: Vec<std::sync::Arc<SigningKey>>,
    pub zone_signer: usize,
}

impl KeySet {
    /// One key that signs everything (a CSK).
    pub fn single(key: std::sync::Arc<SigningKey>) -> Self {
        Self {
            keys: vec![key],
            zone_signer: 0,
        }
    }
}

/// The TTLs signing needs from a snapshot: the DNSKEY set's (the SOA's) and the negative
/// TTL (NSEC3 records carry it, RFC 5155 §7.1).
fn ttls(snap: &Snapshot) -> Result<(u32, u32), String> {
    let apex_node = snap.nodes.get(&snap.apex).ok_or("the zone has no apex")?;
    let soa = apex_node.get(TYPE_SOA).ok_or("the zone has no SOA")?;
    let negative_ttl = u32::from_be_bytes(
        snap.negative_soa_tail[4..8]
            .try_into()
            .expect("a tail has a TTL"),
    );
    Ok((soa.ttl, negative_ttl))
}

/// The chain parameters of RFC 9276: no extra iterations, no salt.
fn params() -> Nsec3Chain {
    Nsec3Chain::default()
}

/// Puts the DNSKEY set (every published key) and NSEC3PARAM at the apex, replacing any.
fn apex_keys(snap: &mut Snapshot, set: &KeySet, dnskey_ttl: u32) {
    let apex = snap.apex.clone();
    let apex_node = snap.nodes.get_mut(&apex).expect("checked by ttls");
    let before = apex_node.rrsets.len();
    apex_node
        .rrsets
        .retain(|r| r.type_ != TYPE_DNSKEY && r.type_ != TYPE_NSEC3PARAM && r.type_ != TYPE_RRSIG);
    // (the snapshot's count of RRsets includes the two added here)
    snap.rrsets = snap.rrsets + 2 + apex_node.rrsets.len() - before;
    apex_node.rrsets.push(RRset::new(
        TYPE_DNSKEY,
        dnskey_ttl,
        set.keys.iter().map(|k| k.dnskey.clone()).collect(),
    ));
    let chain = params();
    // hash algorithm 1 (SHA-1), flags 0, iterations, salt
    let mut param = vec![1, 0];
    param.extend_from_slice(&chain.iterations.to_be_bytes());
    param.push(chain.salt.len() as u8);
    param.extend_from_slice(&chain.salt);
    apex_node
        .rrsets
        .push(RRset::new(TYPE_NSEC3PARAM, 0, vec![param]));
}

/// The signing window starting now: (inception, expiration), RFC 1982 arithmetic.
fn window(now: u64) -> (u32, u32) {
    let now32 = now as u32;
    (
        now32.wrapping_sub(INCEPTION_SKEW),
        now32.wrapping_add(VALIDITY),
    )
}

/// The jobs for every RRset at `name` that this zone signs (at a delegation only DS).
fn node_jobs(
    jobs: &mut Vec<Job>,
    name: &[u8],
    node: &Node,
    set: &KeySet,
    apex: &[u8],
    (inception, expiration): (u32, u32),
) {
    for rrset in &node.rrsets {
        if node.cut && rrset.type_ != TYPE_DS {
            continue;
        }
        let k = if rrset.type_ == TYPE_DNSKEY {
            0
        } else {
            set.zone_signer
        };
        jobs.push(job(
            name,
            rrset,
            &set.keys[k],
            k,
            apex,
            inception,
            expiration,
        ));
    }
}

fn link_job(
    link: &Nsec3Link,
    set: &KeySet,
    apex: &[u8],
    (inception, expiration): (u32, u32),
) -> Job {
    let owner: Box<[u8]> = [&link.label[..], apex].concat().into();
    let k = set.zone_signer;
    job(
        &owner,
        &link.set,
        &set.keys[k],
        k,
        apex,
        inception,
        expiration,
    )
}

/// Signs `jobs` (reusing what `cache` holds that is still fresh; the rest on every core) and
/// returns their RRSIG data in order. `whole`: these are all of the zone's signatures, and the
/// cache keeps only them; otherwise the new ones are added to it.
fn run_jobs(
    jobs: &[Job],
    set: &KeySet,
    now: u64,
    cache: &mut SignatureCache,
    whole: bool,
    stats: &mut SignStats,
) -> Result<Vec<Box<[u8]>>, String> {
    let keys = &set.keys;
    let now32 = now as u32;
    let expiration = window(now).1;
    let mut results: Vec<Option<Box<[u8]>>> = vec![None; jobs.len()];
    let mut fresh: HashMap<[u8; 32], (Box<[u8]>, u32)> =
        HashMap::with_capacity(if whole { jobs.len() } else { 0 });
    let mut todo = Vec::new();
    for (k, j) in jobs.iter().enumerate() {
        match cache.held.get(&j.digest) {
            Some((rrsig, exp)) if exp.wrapping_sub(now32) as i32 > REFRESH as i32 => {
                results[k] = Some(rrsig.clone());
                if whole {
                    fresh.insert(j.digest, (rrsig.clone(), *exp));
                }
                stats.reused += 1;
            }
            _ => todo.push(k),
        }
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(todo.len().div_ceil(256).max(1));
    /// Signatures made by one thread: (job, RRSIG data).
    type Made = Result<Vec<(usize, Box<[u8]>)>, String>;
    let sign_part = |part: &[usize]| -> Made {
        part.iter()
            .map(|&k| {
                let j = &jobs[k];
                let data = [&j.header[..], &j.rrs[..]].concat();
                let sig = keys[j.key].sign(&data)?;
                Ok((k, [&j.header[..], &sig[..]].concat().into_boxed_slice()))
            })
            .collect()
    };
    let signed: Vec<Made> = if threads <= 1 {
        vec![sign_part(&todo)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = todo
                .chunks(todo.len().div_ceil(threads).max(1))
                .map(|part| s.spawn(move || sign_part(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a signing thread panicked".into()))
                })
                .collect()
        })
    };
    let target = if whole { &mut fresh } else { &mut cache.held };
    for part in signed {
        for (k, rrsig) in part? {
            target.insert(jobs[k].digest, (rrsig.clone(), expiration));
            results[k] = Some(rrsig);
            stats.signed += 1;
        }
    }
    if whole {
        cache.held = fresh;
        // the one with the least left to run (RFC 1982: measured from now)
        cache.earliest = cache
            .held
            .values()
            .map(|(_, exp)| *exp)
            .min_by_key(|exp| exp.wrapping_sub(now32) as i32);
    } else if cache.earliest.is_none() && !cache.held.is_empty() {
        cache.earliest = Some(expiration); // what was just added: the latest there is
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every job signed or reused"))
        .collect())
}

/// Puts each job's RRSIG next to the RRset it signs.
fn attach(snap: &mut Snapshot, jobs: &[Job], rrsigs: &[Box<[u8]>]) {
    for (j, rrsig) in jobs.iter().zip(rrsigs) {
        let node = snap.nodes.get_mut(&j.owner).expect("owned name");
        let set = node
            .rrsets
            .iter_mut()
            .find(|r| r.type_ == j.type_)
            .expect("signed RRset");
        set.add_sig(rrsig_tail(j.ttl, rrsig));
    }
}

/// The SOA in negative answers carries the negative TTL; so do its signatures (their
/// original-TTL field stays the SOA's, which validators allow: RFC 4035 §5.3.3).
fn negative_soa_sigs(snap: &mut Snapshot, negative_ttl: u32) {
    let soa_sigs: Vec<Box<[u8]>> = snap.nodes[&snap.apex[..]]
        .get(TYPE_SOA)
        .map(|s| s.sigs.clone())
        .unwrap_or_default();
    snap.negative_soa_sigs = soa_sigs
        .iter()
        .map(|t| {
            let mut t = t.to_vec();
            t[4..8].copy_from_slice(&negative_ttl.to_be_bytes());
            t.into_boxed_slice()
        })
        .collect();
}

/// Signs `snap` in place at time `now` (seconds since the epoch, RFC 1982 arithmetic for the
/// 32-bit fields): DNSKEY (every published key) and NSEC3PARAM at the apex, RRSIGs over every
/// authoritative RRset (not the NS of a delegation, not glue) and the NSEC3 chain — the DNSKEY
/// set by the key-signing key, the rest by the active zone-signing key.
pub fn sign(
    snap: &mut Snapshot,
    set: &KeySet,
    now: u64,
    cache: &mut SignatureCache,
) -> Result<SignStats, String> {
    if set.keys.is_empty() || set.zone_signer >= set.keys.len() {
        return Err("no signing key".into());
    }
    let (dnskey_ttl, negative_ttl) = ttls(snap)?;
    let apex = snap.apex.clone();
    // signing twice signs afresh: nothing of an earlier signing stays
    for node in snap.nodes.values_mut() {
        for rrset in node.rrsets.iter_mut() {
            rrset.sigs.clear();
        }
    }
    apex_keys(snap, set, dnskey_ttl);

    // the names that are ours: not those below a delegation (glue and occluded data)
    let owned: Vec<Box<[u8]>> = snap
        .nodes
        .keys()
        .filter(|n| !below_cut(snap, n))
        .cloned()
        .collect();

    // the NSEC3 chain over those names, empty non-terminals included (RFC 5155 §7.1)
    let chain = params();
    let mut hashes: Vec<([u8; 20], Vec<u8>)> = owned
        .iter()
        .map(|name| {
            let node = &snap.nodes[&name[..]];
            (chain.hash(name), type_bitmap(&bitmap_types(node)))
        })
        .collect();
    hashes.sort_unstable_by_key(|a| a.0);
    hashes.dedup_by(|a, b| a.0 == b.0);
    let mut links: Vec<Nsec3Link> = hashes
        .iter()
        .enumerate()
        .map(|(k, (hash, bitmap))| {
            let next = &hashes[(k + 1) % hashes.len()].0;
            let rd = chain.rdata(next, bitmap);
            link(*hash, RRset::new(TYPE_NSEC3, negative_ttl, vec![rd]))
        })
        .collect();

    // what to sign: every owned RRset (at a delegation only DS), then every NSEC3
    let window = window(now);
    let mut jobs: Vec<Job> = Vec::new();
    for name in &owned {
        node_jobs(&mut jobs, name, &snap.nodes[&name[..]], set, &apex, window);
    }
    let n_owned_jobs = jobs.len();
    jobs.extend(links.iter().map(|l| link_job(l, set, &apex, window)));
    let mut stats = SignStats {
        nsec3: links.len(),
        ..SignStats::default()
    };
    let rrsigs = run_jobs(&jobs, set, now, cache, true, &mut stats)?;
    attach(snap, &jobs[..n_owned_jobs], &rrsigs[..n_owned_jobs]);
    for ((l, j), rrsig) in links
        .iter_mut()
        .zip(&jobs[n_owned_jobs..])
        .zip(&rrsigs[n_owned_jobs..])
    {
        l.set.add_sig(rrsig_tail(j.ttl, rrsig));
    }
    negative_soa_sigs(snap, negative_ttl);
    snap.nsec3 = Some(Nsec3Chain::from_sorted(chain.iterations, chain.salt, links));
    Ok(stats)
}

/// Signs a snapshot [`super::zone::patch`] made from a signed one with the same keys: only the
/// changed names' RRsets, their NSEC3 links and the links whose next hash moved are signed
/// again — a change costs a few signatures, not the zone. Falls back to [`sign`] when the
/// snapshot was built whole, or a delegation came or went (what is below it changes owner).
pub fn sign_changes(
    snap: &mut Snapshot,
    set: &KeySet,
    now: u64,
    cache: &mut SignatureCache,
) -> Result<SignStats, String> {
    let changed = match (&snap.changed, &snap.nsec3) {
        (Some(c), Some(_)) if !c.cuts_moved => c.names.clone(),
        _ => return sign(snap, set, now, cache),
    };
    if set.keys.is_empty() || set.zone_signer >= set.keys.len() {
        return Err("no signing key".into());
    }
    let (dnskey_ttl, negative_ttl) = ttls(snap)?;
    let apex = snap.apex.clone();
    for name in &changed {
        if let Some(node) = snap.nodes.get_mut(name) {
            for rrset in node.rrsets.iter_mut() {
                rrset.sigs.clear();
            }
        }
    }
    apex_keys(snap, set, dnskey_ttl);

    // the chain: links of names gone removed, of names made added, of changed type sets
    // replaced; then every link whose next hash may have moved is rendered again
    let mut chain = snap.nsec3.take().expect("checked above");
    let mut touched: Vec<[u8; 20]> = Vec::new();
    let mut moved: Vec<[u8; 20]> = Vec::new();
    for name in &changed {
        let h = chain.hash(name);
        let owned = snap.nodes.get(name).filter(|_| !below_cut(snap, name));
        match (chain.position(&h), owned) {
            (Ok(at), Some(node)) => {
                let bitmap = type_bitmap(&bitmap_types(node));
                if chain.bitmap_of(chain.at(at)) != &bitmap[..] {
                    let rd = chain.rdata(&[0; 20], &bitmap);
                    chain.get_mut(at).set = RRset::new(TYPE_NSEC3, negative_ttl, vec![rd]);
                    touched.push(h);
                }
            }
            (Ok(at), None) => {
                chain.remove(at);
                moved.push(h);
            }
            (Err(_), Some(node)) => {
                let rd = chain.rdata(&[0; 20], &type_bitmap(&bitmap_types(node)));
                chain.insert(link(h, RRset::new(TYPE_NSEC3, negative_ttl, vec![rd])));
                moved.push(h);
                touched.push(h);
            }
            (Err(_), None) => {}
        }
    }
    for h in &moved {
        if let Some(at) = chain.below(h) {
            touched.push(chain.at(at).hash);
        }
    }
    touched.sort_unstable();
    touched.dedup();
    let mut touched_at = Vec::with_capacity(touched.len());
    for h in &touched {
        let Ok(at) = chain.position(h) else {
            continue;
        };
        let next = chain.at(chain.next(at)).hash;
        let rd = chain.rdata(&next, chain.bitmap_of(chain.at(at)));
        chain.get_mut(at).set = RRset::new(TYPE_NSEC3, negative_ttl, vec![rd]);
        touched_at.push(*h);
    }

    let window = window(now);
    let mut jobs: Vec<Job> = Vec::new();
    for name in &changed {
        if let Some(node) = snap.nodes.get(name).filter(|_| !below_cut(snap, name)) {
            node_jobs(&mut jobs, name, node, set, &apex, window);
        }
    }
    let n_owned_jobs = jobs.len();
    for h in &touched_at {
        let at = chain.position(h).expect("rendered above");
        jobs.push(link_job(chain.at(at), set, &apex, window));
    }
    let mut stats = SignStats {
        nsec3: touched_at.len(),
        ..SignStats::default()
    };
    let rrsigs = run_jobs(&jobs, set, now, cache, false, &mut stats)?;
    attach(snap, &jobs[..n_owned_jobs], &rrsigs[..n_owned_jobs]);
    for ((h, j), rrsig) in touched_at
        .iter()
        .zip(&jobs[n_owned_jobs..])
        .zip(&rrsigs[n_owned_jobs..])
    {
        let at = chain.position(h).expect("rendered above");
        chain.get_mut(at).set.add_sig(rrsig_tail(j.ttl, rrsig));
    }
    negative_soa_sigs(snap, negative_ttl);
    snap.nsec3 = Some(chain);
    Ok(stats)
}

/// The RRSIG record's tail: type, class, TTL, length, data.
fn rrsig_tail(ttl: u32, rrsig: &[u8]) -> Box<[u8]> {
    let mut t = Vec::with_capacity(10 + rrsig.len());
    t.extend_from_slice(&TYPE_RRSIG.to_be_bytes());
    t.extend_from_slice(&CLASS_IN.to_be_bytes());
    t.extend_from_slice(&ttl.to_be_bytes());
    t.extend_from_slice(&(rrsig.len() as u16).to_be_bytes());
    t.extend_from_slice(rrsig);
    t.into_boxed_slice()
}

fn job(
    owner: &[u8],
    rrset: &RRset,
    key: &SigningKey,
    key_index: usize,
    apex: &[u8],
    inception: u32,
    expiration: u32,
) -> Job {
    // RFC 4034 §3.1.8.1: the RRSIG fields, then each RR as owner | type | class | TTL |
    // length | data, in canonical order (names are lowercase already)
    let mut header = Vec::with_capacity(18 + apex.len());
    header.extend_from_slice(&rrset.type_.to_be_bytes());
    header.push(key.algorithm.number());
    header.push(label_count(owner));
    header.extend_from_slice(&rrset.ttl.to_be_bytes());
    let window_at = header.len();
    header.extend_from_slice(&expiration.to_be_bytes());
    header.extend_from_slice(&inception.to_be_bytes());
    header.extend_from_slice(&key.tag.to_be_bytes());
    header.extend_from_slice(apex);
    let mut rdatas: Vec<&[u8]> = rrset.rdatas().collect();
    rdatas.sort_unstable();
    let mut rrs = Vec::new();
    for rd in rdatas {
        rrs.extend_from_slice(owner);
        rrs.extend_from_slice(&rrset.type_.to_be_bytes());
        rrs.extend_from_slice(&CLASS_IN.to_be_bytes());
        rrs.extend_from_slice(&rrset.ttl.to_be_bytes());
        rrs.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        rrs.extend_from_slice(rd);
    }
    // the digest leaves out the validity window, so an unchanged RRset finds its signature
    let digest: [u8; 32] = Sha256::new()
        .chain_update(&header[..window_at])
        .chain_update(&header[window_at + 8..])
        .chain_update(&rrs)
        .finalize()
        .into();
    Job {
        owner: owner.into(),
        type_: rrset.type_,
        header,
        rrs,
        ttl: rrset.ttl,
        key: key_index,
        digest,
    }
}

/// The types an NSEC3 lists for a name: its RRsets and RRSIG; at a delegation only NS and DS
/// (the NS there is the child's, unsigned); none at an empty non-terminal.
fn bitmap_types(node: &Node) -> Vec<u16> {
    if node.cut {
        let mut t = vec![TYPE_NS];
        if node.get(TYPE_DS).is_some() {
            t.extend([TYPE_DS, TYPE_RRSIG]);
        }
        return t;
    }
    let mut t: Vec<u16> = node.rrsets.iter().map(|r| r.type_).collect();
    if !t.is_empty() {
        t.push(TYPE_RRSIG);
    }
    t
}

/// Whether a name lies strictly below a delegation of the zone (glue, occluded data).
fn below_cut(snap: &Snapshot, name: &[u8]) -> bool {
    if !snap.has_cuts() {
        return false;
    }
    let mut up = super::wire::parent(name);
    while let Some(p) = up {
        if p.len() <= snap.apex.len() {
            return false;
        }
        if snap.nodes.get(p).is_some_and(|n| n.cut) {
            return true;
        }
        up = super::wire::parent(p);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsec3_hash_matches_rfc_5155_appendix_a() {
        // example, salt aabbccdd, 12 iterations → 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom
        let h = nsec3_hash(b"\x07example\x00", &[0xaa, 0xbb, 0xcc, 0xdd], 12);
        assert_eq!(&base32hex(&h), b"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom");
        let h = nsec3_hash(b"\x01a\x07example\x00", &[0xaa, 0xbb, 0xcc, 0xdd], 12);
        assert_eq!(&base32hex(&h), b"35mthgpgcu1qg68fab165klnsnk3dpvl");
    }

    #[test]
    fn type_bitmap_matches_rfc_4034_example() {
        // A MX RRSIG NSEC TYPE1234 (RFC 4034 §4.3)
        let mut want = vec![0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b];
        want.extend([0u8; 26]);
        want.push(0x20);
        assert_eq!(type_bitmap(&[1, 15, 46, 47, 1234]), want);
    }

    #[test]
    fn key_tag_and_ds_match_rfc_4034_and_the_pem_reader_agrees_with_der() {
        // a generated key reads back from DER and from PEM with the same tag
        for alg in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
            let der = SigningKey::generate(alg).unwrap();
            let a = SigningKey::from_pkcs8(&der).unwrap();
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                base64(&der)
            );
            let b = SigningKey::from_pkcs8(pem.as_bytes()).unwrap();
            assert_eq!(a.algorithm, alg);
            assert_eq!(a.tag, b.tag);
            assert_eq!(a.dnskey, b.dnskey);
            assert_eq!(a.ds(b"\x04kota\x00").len(), 36);
        }
        // RFC 4034 §5.4's example DNSKEY (RSA/SHA1, flags 256) has key tag 60485
        let key = unbase64(
            "AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==",
        )
        .unwrap();
        let dnskey = [&[1, 0, 3, 5][..], &key].concat();
        assert_eq!(key_tag(&dnskey), 60485);
    }

    #[test]
    fn base64_round_trips() {
        for n in 0..10 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(unbase64(&base64(&data)).unwrap(), data);
        }
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(SigningKey::from_pkcs8(b"not a key").is_err());
        assert!(SigningKey::from_pkcs8(b"-----BEGIN PRIVATE KEY-----\n!!\n-----END").is_err());
    }

    #[test]
    fn a_zsk_rolls_by_pre_publication_and_the_old_one_goes_half_a_lifetime_later() {
        let r = Rollover::new(1000, 50); // lead 100
        assert_eq!(r.lead, 100);
        // nothing yet: a first ZSK is due; none signs
        assert!(r.successor_due(&[], 0));
        assert_eq!(r.active(&[], 0), None);
        // made at 0: published, signs from 100
        assert_eq!(r.active(&[0], 99), None);
        assert_eq!(r.active(&[0], 100), Some(0));
        assert!(!r.successor_due(&[0], 899));
        assert!(r.successor_due(&[0], 900));
        // the successor made at 900 signs from 1000; 0 stays published until 1000 + 500
        assert_eq!(r.active(&[0, 900], 999), Some(0));
        assert_eq!(r.active(&[0, 900], 1000), Some(900));
        assert!(r.expired(&[0, 900], 1499).is_empty());
        assert_eq!(r.expired(&[0, 900], 1500), vec![0]);
        assert_eq!(r.next_event(&[0, 900], 1000), Some(1500));
        assert_eq!(r.next_event(&[0], 150), Some(900));
        // a lifetime shorter than twice the lead is stretched: a key always signs for a while
        assert_eq!(Rollover::new(10, 50).lifetime, 200);
    }
}
