//! Messages signed with TSIG (RFC 8945): a secondary's SOA query, zone transfer request or
//! NOTIFY answer. The signature is checked against the keys the catalog holds, the message is
//! answered as if unsigned, and the answer is signed with the same key over the request's MAC.
//! A refused signature gets NOTAUTH with the TSIG error (BADKEY, BADSIG, BADTIME).

use std::sync::Arc;

use kavling_core::dns::answer::{Catalog, Outcome, RCODE_FORMERR, Transport, answer};
use kavling_core::dns::tsig::{self, Key};
use kavling_core::dns::zone::Snapshot;

/// What to send for a signed message.
pub enum Signed {
    /// This (signed, or a NOTAUTH refusal); `qtype` and `rcode` are for metrics.
    Reply {
        qtype: u16,
        rcode: u8,
    },
    /// A transfer request signed with `key`: stream it, signing each message in a chain that
    /// starts from `mac` (the request's).
    Transfer {
        zone: Arc<Snapshot>,
        key: Key,
        mac: Vec<u8>,
    },
    Drop,
}

/// Seconds since the Unix epoch: TSIG's clock.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Answers `msg`, which [`answer`] found signed, into `out`.
pub fn handle(
    catalog: &Catalog,
    msg: &[u8],
    transport: Transport,
    now: u64,
    out: &mut Vec<u8>,
) -> Signed {
    out.clear();
    let sig = match tsig::find(msg) {
        Ok(Some(sig)) => sig,
        _ => return formerr(msg, out),
    };
    let key = match tsig::verify_request(msg, &sig, &catalog.keys, now) {
        Ok(key) => key.clone(),
        Err(why) => {
            tracing::info!(
                key = %String::from_utf8_lossy(&sig.key),
                error = ?why,
                "signed request refused"
            );
            return match tsig::refusal(msg, &sig, why, &catalog.keys, now) {
                Some(r) => {
                    *out = r;
                    Signed::Reply {
                        qtype: 0,
                        rcode: tsig::RCODE_NOTAUTH,
                    }
                }
                None => Signed::Drop,
            };
        }
    };
    let unsigned = tsig::strip(msg, &sig);
    match answer(catalog, &unsigned, transport, out) {
        Outcome::Reply { qtype, rcode } => {
            tsig::sign(out, &key, Some(&sig.mac), true, now, 0, &[]);
            Signed::Reply { qtype, rcode }
        }
        Outcome::Transfer { zone } => Signed::Transfer {
            zone,
            key,
            mac: sig.mac,
        },
        // a second TSIG inside: malformed
        Outcome::Signed => formerr(msg, out),
        Outcome::Drop => Signed::Drop,
    }
}

/// FORMERR with the question, unsigned (the signature could not be read).
fn formerr(msg: &[u8], out: &mut Vec<u8>) -> Signed {
    if msg.len() < 12 {
        return Signed::Drop;
    }
    out.clear();
    out.extend_from_slice(&msg[0..2]);
    out.extend_from_slice(&[
        0x80 | (msg[2] & 0x79),
        RCODE_FORMERR,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    Signed::Reply {
        qtype: 0,
        rcode: RCODE_FORMERR,
    }
}

/// Signs the messages of a transfer in order (§5.3.1): the first over the request's MAC with
/// all variables, each next over the previous MAC with the timers only.
pub fn sign_stream(messages: &mut [Vec<u8>], key: &Key, request_mac: &[u8], now: u64) {
    let mut prior = request_mac.to_vec();
    for (i, m) in messages.iter_mut().enumerate() {
        prior = tsig::sign(m, key, Some(&prior), i == 0, now, 0, &[]);
    }
}
