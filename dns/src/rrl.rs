//! Response rate limiting for UDP (RRL, as BIND, Knot and NSD do it). UDP has no handshake: a
//! query with a forged source address makes an authoritative server send its (larger) answer
//! to a victim, and many servers doing so are an amplification attack. RRL caps the answers per
//! second that go to one client network for one name and kind of answer. Past the cap, most
//! answers are dropped and every `slip`-th is sent truncated (TC, no records): a real client
//! behind that network retries over TCP, which a forged address cannot complete.
//!
//! The table is a fixed array of atomic buckets shared by every UDP worker (no lock, no
//! allocation per query). Each bucket packs the current second and the answers counted in it;
//! two keys hashing to one bucket share its budget, which only ever limits sooner.
//!
//! Behind a NAT or kube-proxy's SNAT every client may arrive from one address: then RRL would
//! throttle everyone together, so it is off unless asked for (`--rrl-rate`).

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Buckets in the table (a power of two): 64k × 8 bytes = 512 KiB.
const BUCKETS: usize = 1 << 16;

/// What to do with one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Send it truncated: header and question, TC set.
    Slip,
    Drop,
}

/// The kind of answer, so that one name's errors do not use up its positive answers' budget
/// (and a flood of random names shares one NXDOMAIN budget per network, not one per name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    Positive,
    NxDomain,
    Error,
}

/// The limiter: `rate` answers per second per bucket (0: off), every `slip`-th limited answer
/// sent truncated (0: none; 1: all).
pub struct RateLimiter {
    rate: u32,
    slip: u32,
    buckets: Box<[AtomicU64]>,
    start: Instant,
    hasher: std::collections::hash_map::RandomState,
}

impl RateLimiter {
    pub fn new(rate: u32, slip: u32) -> Self {
        Self {
            rate,
            slip,
            buckets: (0..if rate == 0 { 0 } else { BUCKETS })
                .map(|_| AtomicU64::new(0))
                .collect(),
            start: Instant::now(),
            hasher: Default::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.rate > 0
    }

    /// The verdict for one answer to `client` of kind `class` about `name` (the question's
    /// lowercase wire name; ignored for NXDOMAIN and errors, which are counted per network).
    pub fn check(&self, client: IpAddr, class: Class, name: &[u8]) -> Verdict {
        if self.rate == 0 {
            return Verdict::Send;
        }
        let now = self.start.elapsed().as_secs() as u32;
        self.check_at(client, class, name, now)
    }

    /// [`Self::check`] at a given second (tests).
    pub fn check_at(&self, client: IpAddr, class: Class, name: &[u8], now: u32) -> Verdict {
        let mut h = self.hasher.build_hasher();
        match client {
            // a client network: IPv4 /24, IPv6 /56 (what one site is usually given)
            IpAddr::V4(a) => h.write(&a.octets()[..3]),
            IpAddr::V6(a) => h.write(&a.octets()[..7]),
        }
        h.write_u8(class as u8);
        if class == Class::Positive {
            // case-folded, so 0x20-style case games do not make new buckets
            let mut lower = [0u8; 255];
            let n = name.len().min(lower.len());
            for (d, s) in lower.iter_mut().zip(&name[..n]) {
                *d = s.to_ascii_lowercase();
            }
            h.write(&lower[..n]);
        }
        let bucket = &self.buckets[h.finish() as usize & (BUCKETS - 1)];
        let mut cur = bucket.load(Ordering::Relaxed);
        let count = loop {
            let (second, count) = ((cur >> 32) as u32, cur as u32);
            let next_count = if second == now {
                count.saturating_add(1)
            } else {
                1
            };
            let next = (u64::from(now) << 32) | u64::from(next_count);
            match bucket.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break next_count,
                Err(seen) => cur = seen,
            }
        };
        if count <= self.rate {
            Verdict::Send
        } else if self.slip > 0 && (count - self.rate).is_multiple_of(self.slip) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }
}

/// The class of a response by its RCODE.
pub fn class_of(rcode: u8) -> Class {
    match rcode {
        0 => Class::Positive,
        3 => Class::NxDomain,
        _ => Class::Error,
    }
}

/// The question's name in a response (as written, up to its root label), or empty.
pub fn question_name(out: &[u8]) -> &[u8] {
    let mut i = 12;
    while let Some(&l) = out.get(i) {
        if l == 0 {
            return &out[12..=i];
        }
        if l & 0xC0 != 0 {
            break;
        }
        i += 1 + l as usize;
    }
    &[]
}

/// Cuts a response down to its header and question with TC set and no records (the slip): a
/// real client asks again over TCP. `false` when the question cannot be found.
pub fn truncate(out: &mut Vec<u8>) -> bool {
    if out.len() < 12 || out[4..6] != [0, 1] {
        return false;
    }
    let mut i = 12;
    loop {
        let Some(&l) = out.get(i) else { return false };
        if l & 0xC0 != 0 {
            return false; // our questions are written uncompressed
        }
        i += 1 + l as usize;
        if l == 0 {
            break;
        }
    }
    i += 4;
    if i > out.len() {
        return false;
    }
    out.truncate(i);
    out[2] |= 0x02;
    out[6..12].fill(0);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_network_gets_its_rate_then_every_slip_th_answer_truncated() {
        let r = RateLimiter::new(5, 2);
        let name = b"\x06portal\x04kota\x02go\x02id\x00";
        let verdicts: Vec<Verdict> = (0..11)
            .map(|_| r.check_at(ip("192.0.2.7"), Class::Positive, name, 100))
            .collect();
        use Verdict::*;
        assert_eq!(
            verdicts,
            [
                Send, Send, Send, Send, Send, Drop, Slip, Drop, Slip, Drop, Slip
            ]
        );
        // another address of the same /24 shares the budget; another network does not
        assert_eq!(
            r.check_at(ip("192.0.2.200"), Class::Positive, name, 100),
            Drop
        );
        assert_eq!(
            r.check_at(ip("198.51.100.7"), Class::Positive, name, 100),
            Send
        );
        // case does not make a new bucket (the 13th answer in it: a slip)
        assert_eq!(
            r.check_at(
                ip("192.0.2.7"),
                Class::Positive,
                b"\x06PORTAL\x04kota\x02go\x02id\x00",
                100
            ),
            Slip
        );
        // the next second starts again
        assert_eq!(
            r.check_at(ip("192.0.2.7"), Class::Positive, name, 101),
            Send
        );
    }

    #[test]
    fn random_names_share_one_nxdomain_budget_and_errors_do_not_eat_positive_answers() {
        let r = RateLimiter::new(3, 0);
        let sent = (0..10)
            .filter(|i| {
                let name = format!("\x01{}\x04kota\x02go\x02id\x00", i);
                r.check_at(ip("2001:db8:1:2::1"), Class::NxDomain, name.as_bytes(), 7)
                    == Verdict::Send
            })
            .count();
        assert_eq!(sent, 3, "a random-subdomain flood is one budget");
        assert_eq!(
            r.check_at(ip("2001:db8:1:2::9"), Class::Positive, b"\x00", 7),
            Verdict::Send
        );
        // slip 0: nothing over the rate is sent at all
        for _ in 0..5 {
            r.check_at(ip("2001:db8:1:2::1"), Class::Error, b"", 7);
        }
        assert_eq!(
            r.check_at(ip("2001:db8:1:2::1"), Class::Error, b"", 7),
            Verdict::Drop
        );
    }

    #[test]
    fn off_sends_everything_and_holds_no_table() {
        let r = RateLimiter::new(0, 2);
        assert!(!r.enabled() && r.buckets.is_empty());
        for _ in 0..1000 {
            assert_eq!(
                r.check(ip("192.0.2.1"), Class::Positive, b"\x00"),
                Verdict::Send
            );
        }
    }

    #[test]
    fn the_slip_is_the_header_and_question_with_tc() {
        let mut out = vec![0xBE, 0xEF, 0x84, 0x00, 0, 1, 0, 2, 0, 1, 0, 1];
        out.extend_from_slice(b"\x01a\x02id\x00\x00\x01\x00\x01");
        let question_end = out.len();
        out.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
        assert!(truncate(&mut out));
        assert_eq!(out.len(), question_end);
        assert_eq!(out[2] & 0x02, 0x02, "TC");
        assert_eq!(&out[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(question_name(&out), b"\x01a\x02id\x00");
        let mut no_question = vec![0u8; 12];
        assert!(!truncate(&mut no_question));
    }
}
