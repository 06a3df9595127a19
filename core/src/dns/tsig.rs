//! TSIG (RFC 8945) with HMAC-SHA256: the shared-key signature secondaries put on their SOA
//! queries and zone transfer requests, and that we put on our answers to them, so a transfer
//! is accepted only from and by a party holding the key — an address can be spoofed or
//! shared, a key cannot. Pure functions over wire-format messages.
//!
//! A request's MAC covers the message without its TSIG record (ARCOUNT one less) and the TSIG
//! variables; an answer's MAC covers the request's MAC first; each further message of a zone
//! transfer covers the previous MAC and only the timers (§4.3, §5.3.1).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::wire;

pub const TYPE_TSIG: u16 = 250;
const CLASS_ANY: u16 = 255;
/// `hmac-sha256.` in wire format, the one algorithm served (RFC 8945 §6: mandatory).
pub const HMAC_SHA256: &[u8] = b"\x0bhmac-sha256\x00";
/// How far a request's clock may be from ours (seconds; the RFC's recommended 300).
pub const FUDGE: u16 = 300;

pub const RCODE_NOTAUTH: u8 = 9;
pub const BADSIG: u16 = 16;
pub const BADKEY: u16 = 17;
pub const BADTIME: u16 = 18;

/// A shared key: its name (lowercase wire format, as both sides configure it) and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub name: Box<[u8]>,
    pub secret: Box<[u8]>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the secret, not even in a debug log
        write!(f, "Key({})", String::from_utf8_lossy(&self.name))
    }
}

impl Key {
    /// A key named `name` (presentation form) with this secret.
    pub fn new(name: &str, secret: &[u8]) -> Result<Self, String> {
        if secret.len() < 16 {
            return Err(format!(
                "TSIG key {name}: the secret has {} octets; use at least 16 (32 recommended: `openssl rand -base64 32`)",
                secret.len()
            ));
        }
        Ok(Self {
            name: wire::name(name)
                .map_err(|e| format!("TSIG key name {name}: {e}"))?
                .into_boxed_slice(),
            secret: secret.into(),
        })
    }
}

/// The TSIG record found at the end of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Where the TSIG record starts: the message before it is what was signed.
    pub at: usize,
    /// Key name, lowercase wire format.
    pub key: Vec<u8>,
    pub algorithm: Vec<u8>,
    pub time: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    pub error: u16,
    pub other: Vec<u8>,
}

fn be16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// Reads a name at `i` (uncompressed, as TSIG's names must be) into lowercase wire format;
/// returns it and where it ends.
fn read_name(b: &[u8], mut i: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    loop {
        let l = *b.get(i)? as usize;
        if l & 0xC0 != 0 || out.len() + l + 1 > 255 {
            return None;
        }
        out.push(l as u8);
        out.extend(b.get(i + 1..i + 1 + l)?.iter().map(u8::to_ascii_lowercase));
        i += 1 + l;
        if l == 0 {
            return Some((out, i));
        }
    }
}

/// Skips a possibly compressed name at `i`.
fn skip_name(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let l = *b.get(i)?;
        if l & 0xC0 == 0xC0 {
            b.get(i + 1)?;
            return Some(i + 2);
        }
        if l & 0xC0 != 0 {
            return None;
        }
        i += 1 + l as usize;
        if l == 0 {
            return Some(i);
        }
    }
}

/// A message whose records, or TSIG record, do not parse, or whose TSIG is not last: FORMERR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// The message's TSIG record, if its last record is one.
pub fn find(msg: &[u8]) -> Result<Option<Signature>, Malformed> {
    let count = |i| be16(msg, i).map(usize::from).ok_or(Malformed);
    let (qd, an, ns, ar) = (count(4)?, count(6)?, count(8)?, count(10)?);
    if ar == 0 {
        return Ok(None);
    }
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(msg, i).ok_or(Malformed)? + 4;
    }
    let total = an + ns + ar;
    for k in 0..total {
        let start = i;
        let after_name = skip_name(msg, i).ok_or(Malformed)?;
        let t = be16(msg, after_name).ok_or(Malformed)?;
        let rdlen = usize::from(be16(msg, after_name + 8).ok_or(Malformed)?);
        let rdata = after_name + 10;
        i = rdata + rdlen;
        if i > msg.len() {
            return Err(Malformed);
        }
        if t != TYPE_TSIG {
            continue;
        }
        if k != total - 1 || i != msg.len() {
            return Err(Malformed); // a TSIG must be the very last record (§5.1)
        }
        let (key, _) = read_name(msg, start).ok_or(Malformed)?;
        let (algorithm, mut j) = read_name(msg, rdata).ok_or(Malformed)?;
        let b = |j: usize, n: usize| msg.get(j..j + n).ok_or(Malformed);
        let t6 = b(j, 6)?;
        let time = t6.iter().fold(0u64, |acc, x| acc << 8 | u64::from(*x));
        j += 6;
        let fudge = be16(msg, j).ok_or(Malformed)?;
        let mac_len = usize::from(be16(msg, j + 2).ok_or(Malformed)?);
        let mac = b(j + 4, mac_len)?.to_vec();
        j += 4 + mac_len;
        let original_id = be16(msg, j).ok_or(Malformed)?;
        let error = be16(msg, j + 2).ok_or(Malformed)?;
        let other_len = usize::from(be16(msg, j + 4).ok_or(Malformed)?);
        let other = b(j + 6, other_len)?.to_vec();
        if j + 6 + other_len != i {
            return Err(Malformed);
        }
        return Ok(Some(Signature {
            at: start,
            key,
            algorithm,
            time,
            fudge,
            mac,
            original_id,
            error,
            other,
        }));
    }
    Ok(None)
}

fn hmac(key: &Key) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(&key.secret).expect("HMAC takes any key length")
}

fn time48(t: u64) -> [u8; 6] {
    let b = t.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// The TSIG variables after the message (§4.3.3): key name, class, TTL, algorithm, time,
/// fudge, error, other data.
fn variables(m: &mut Hmac<Sha256>, key: &[u8], time: u64, fudge: u16, error: u16, other: &[u8]) {
    m.update(key);
    m.update(&CLASS_ANY.to_be_bytes());
    m.update(&0u32.to_be_bytes());
    m.update(HMAC_SHA256);
    m.update(&time48(time));
    m.update(&fudge.to_be_bytes());
    m.update(&error.to_be_bytes());
    m.update(&(other.len() as u16).to_be_bytes());
    m.update(other);
}

/// `msg` as it was before the TSIG was added: without the record, ARCOUNT one less, the
/// original id in the header.
fn unsigned_view(msg: &[u8], sig: &Signature) -> Vec<u8> {
    let mut m = strip(msg, sig);
    m[0..2].copy_from_slice(&sig.original_id.to_be_bytes());
    m
}

/// Why a signed request is not accepted: the TSIG error to answer with (under NOTAUTH).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    BadKey,
    BadSig,
    BadTime,
}

impl Refusal {
    pub fn code(self) -> u16 {
        match self {
            Self::BadKey => BADKEY,
            Self::BadSig => BADSIG,
            Self::BadTime => BADTIME,
        }
    }
}

/// Checks a request's signature against the keys we hold, at `now` (Unix seconds): the key
/// it was signed with, or why not.
pub fn verify_request<'k>(
    msg: &[u8],
    sig: &Signature,
    keys: &'k [Key],
    now: u64,
) -> Result<&'k Key, Refusal> {
    let key = keys
        .iter()
        .find(|k| *k.name == *sig.key)
        .filter(|_| sig.algorithm == HMAC_SHA256)
        .ok_or(Refusal::BadKey)?;
    let mut m = hmac(key);
    m.update(&unsigned_view(msg, sig));
    variables(&mut m, &sig.key, sig.time, sig.fudge, sig.error, &sig.other);
    // a full-length MAC only (truncation, §5.2.2.1, is not offered), compared in constant time
    m.verify_slice(&sig.mac).map_err(|_| Refusal::BadSig)?;
    if now.abs_diff(sig.time) > u64::from(sig.fudge) {
        return Err(Refusal::BadTime);
    }
    Ok(key)
}

/// Appends a TSIG record to `msg` (ARCOUNT one more) and returns its MAC, for the chain.
/// `prior`: the request's MAC (first answer) or this stream's previous MAC; `full`: the whole
/// variables (a request, the first answer) or only the timers (later messages of a transfer).
pub fn sign(
    msg: &mut Vec<u8>,
    key: &Key,
    prior: Option<&[u8]>,
    full: bool,
    time: u64,
    error: u16,
    other: &[u8],
) -> Vec<u8> {
    let mut m = hmac(key);
    if let Some(p) = prior {
        m.update(&(p.len() as u16).to_be_bytes());
        m.update(p);
    }
    m.update(msg);
    if full {
        variables(&mut m, &key.name, time, FUDGE, error, other);
    } else {
        m.update(&time48(time));
        m.update(&FUDGE.to_be_bytes());
    }
    let mac = m.finalize().into_bytes().to_vec();
    append(msg, &key.name, time, &mac, error, other);
    mac
}

/// Appends an unsigned TSIG record (an empty MAC): the answer to BADKEY and BADSIG (§5.3.2).
pub fn append_unsigned(msg: &mut Vec<u8>, key: &[u8], time: u64, error: u16) {
    append(msg, key, time, &[], error, &[]);
}

fn append(msg: &mut Vec<u8>, key: &[u8], time: u64, mac: &[u8], error: u16, other: &[u8]) {
    let id = [msg[0], msg[1]];
    msg.extend_from_slice(key);
    msg.extend_from_slice(&TYPE_TSIG.to_be_bytes());
    msg.extend_from_slice(&CLASS_ANY.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    let rdlen = HMAC_SHA256.len() + 6 + 2 + 2 + mac.len() + 2 + 2 + 2 + other.len();
    msg.extend_from_slice(&(rdlen as u16).to_be_bytes());
    msg.extend_from_slice(HMAC_SHA256);
    msg.extend_from_slice(&time48(time));
    msg.extend_from_slice(&FUDGE.to_be_bytes());
    msg.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    msg.extend_from_slice(mac);
    msg.extend_from_slice(&id);
    msg.extend_from_slice(&error.to_be_bytes());
    msg.extend_from_slice(&(other.len() as u16).to_be_bytes());
    msg.extend_from_slice(other);
    let ar = be16(msg, 10).unwrap_or(0) + 1;
    msg[10..12].copy_from_slice(&ar.to_be_bytes());
}

/// The message without its TSIG record (ARCOUNT one less), to be answered as usual.
pub fn strip(msg: &[u8], sig: &Signature) -> Vec<u8> {
    let mut m = msg[..sig.at].to_vec();
    let ar = be16(&m, 10).unwrap_or(1).saturating_sub(1);
    m[10..12].copy_from_slice(&ar.to_be_bytes());
    m
}

/// A NOTAUTH answer to a refused signed request (§5.3.2): header and question, the TSIG
/// record with the error; BADTIME is signed (with our time in other data), the rest are not.
pub fn refusal(
    msg: &[u8],
    sig: &Signature,
    why: Refusal,
    keys: &[Key],
    now: u64,
) -> Option<Vec<u8>> {
    let mut i = 12;
    for _ in 0..be16(msg, 4)? {
        i = skip_name(msg, i)? + 4;
    }
    let mut out = msg.get(..i)?.to_vec();
    out[2] |= 0x80; // a response, opcode and RD kept
    out[3] = RCODE_NOTAUTH;
    out[6..12].fill(0);
    match why {
        Refusal::BadTime => {
            let key = keys.iter().find(|k| *k.name == *sig.key)?;
            sign(
                &mut out,
                key,
                Some(&sig.mac),
                true,
                sig.time,
                BADTIME,
                &time48(now),
            );
        }
        _ => append_unsigned(&mut out, &sig.key, sig.time, why.code()),
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::new("transfer.kota.go.id", b"0123456789abcdef0123456789abcdef").unwrap()
    }

    fn soa_query() -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x04kota\x02go\x02id\x00\x00\x06\x00\x01");
        q
    }

    #[test]
    fn a_request_we_sign_verifies_and_any_change_breaks_it() {
        let k = key();
        let mut q = soa_query();
        let mac = sign(&mut q, &k, None, true, 1_000_000, 0, &[]);
        assert_eq!(mac.len(), 32);
        let sig = find(&q).unwrap().expect("a TSIG");
        assert_eq!((sig.time, sig.mac.clone()), (1_000_000, mac));
        assert_eq!(
            verify_request(&q, &sig, std::slice::from_ref(&k), 1_000_100),
            Ok(&k)
        );
        // a changed byte, another secret, an unknown name, a stale clock
        let mut bent = q.clone();
        bent[13] = b'K';
        let bent_sig = find(&bent).unwrap().unwrap();
        assert_eq!(
            verify_request(&bent, &bent_sig, std::slice::from_ref(&k), 1_000_000),
            Err(Refusal::BadSig)
        );
        let other = Key::new("transfer.kota.go.id", &[7u8; 32]).unwrap();
        assert_eq!(
            verify_request(&q, &sig, &[other], 1_000_000),
            Err(Refusal::BadSig)
        );
        let stranger = Key::new("lain.go.id", &[7u8; 32]).unwrap();
        assert_eq!(
            verify_request(&q, &sig, &[stranger], 1_000_000),
            Err(Refusal::BadKey)
        );
        assert_eq!(
            verify_request(&q, &sig, std::slice::from_ref(&k), 1_000_000 + 301),
            Err(Refusal::BadTime)
        );
        // stripped, it is the query as it was
        assert_eq!(strip(&q, &sig), soa_query());
    }

    /// RFC 8945's algorithm checked against a value computed independently (Python's hmac
    /// module over the same bytes): a request for kota.go.id SOA signed at time 1,000,000.
    #[test]
    fn the_mac_is_the_rfcs() {
        let mut q = soa_query();
        let mac = sign(&mut q, &key(), None, true, 1_000_000, 0, &[]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, EXPECTED_MAC);
    }
    const EXPECTED_MAC: &str = "fa849a6c62bb4e5b77194688ea3488be3c37563d18e4acf399d5d411ba5f69c1";

    #[test]
    fn a_tsig_anywhere_but_last_is_malformed_and_refusals_say_why() {
        let k = key();
        let mut q = soa_query();
        sign(&mut q, &k, None, true, 5, 0, &[]);
        let sig = find(&q).unwrap().unwrap();
        // an OPT after the TSIG
        let mut late = q.clone();
        late.extend_from_slice(&[0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0]);
        late[11] += 1;
        assert_eq!(find(&late), Err(Malformed));
        let r = refusal(&q, &sig, Refusal::BadKey, &[], 9).unwrap();
        assert_eq!(r[3] & 0x0F, RCODE_NOTAUTH);
        let back = find(&r).unwrap().unwrap();
        assert_eq!((back.error, back.mac.len()), (BADKEY, 0));
        let r = refusal(&q, &sig, Refusal::BadTime, &[k], 999).unwrap();
        let back = find(&r).unwrap().unwrap();
        assert_eq!(
            (back.error, back.mac.len(), back.other.len()),
            (BADTIME, 32, 6)
        );
    }
}
