//! Sockets. UDP is served by plain OS threads (a batch of queries in by `recvmmsg`, their
//! answers out by `sendmmsg`; no async machinery on the hot path); TCP by tokio tasks, bounded in number and
//! time (see [`crate::tcp`]), including zone transfers to the peers a Zone allows.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use kavling_core::dns::answer::{Catalog, Outcome, RCODE_REFUSED, Transport, answer, soa_tail};
use kavling_core::dns::wire;
use kavling_core::dns::zone::Snapshot;

use crate::rrl::{self, RateLimiter, Verdict};
use crate::signed::{self, Signed};
use crate::tcp::{Session, Sessions};
use kavling_core::dns::tsig::Key;

/// Query counters for `/metrics`: by rcode and by query type.
#[derive(Default)]
pub struct Stats {
    pub rcode: [AtomicU64; 17],
    pub qtype: [AtomicU64; QTYPE_BUCKETS.len() + 1],
    pub dropped: AtomicU64,
    pub transfers: AtomicU64,
    /// UDP answers not sent (rate limited) and sent truncated (slipped).
    pub rrl_dropped: AtomicU64,
    pub rrl_slipped: AtomicU64,
}

/// Query types counted separately; the rest count as "other".
pub const QTYPE_BUCKETS: [(u16, &str); 11] = [
    (1, "A"),
    (28, "AAAA"),
    (5, "CNAME"),
    (15, "MX"),
    (16, "TXT"),
    (2, "NS"),
    (6, "SOA"),
    (33, "SRV"),
    (257, "CAA"),
    (255, "ANY"),
    (252, "AXFR"),
];

impl Stats {
    fn count(&self, qtype: u16, rcode: u8) {
        let i = QTYPE_BUCKETS
            .iter()
            .position(|(t, _)| *t == qtype)
            .unwrap_or(QTYPE_BUCKETS.len());
        self.qtype[i].fetch_add(1, Ordering::Relaxed);
        self.rcode[(rcode as usize).min(16)].fetch_add(1, Ordering::Relaxed);
    }
}

/// Serves UDP on `socket` with `workers` threads until the process ends; every answer passes
/// the rate limiter first (a no-op when it is off).
pub fn spawn_udp(
    socket: UdpSocket,
    workers: usize,
    catalog: Arc<ArcSwap<Catalog>>,
    stats: Arc<Stats>,
    rrl: Arc<RateLimiter>,
) -> std::io::Result<()> {
    for n in 0..workers.max(1) {
        let sock = socket.try_clone()?;
        let (catalog, stats, rrl) = (catalog.clone(), stats.clone(), rrl.clone());
        std::thread::Builder::new()
            .name(format!("dns-udp-{n}"))
            .spawn(move || udp_worker(&sock, &catalog, &stats, &rrl))?;
    }
    Ok(())
}

/// Datagrams taken (and answers sent) per system call.
const BATCH: usize = 32;

/// One UDP thread: `recvmmsg` waits for one query and takes up to [`BATCH`] that are already
/// waiting; each is answered into its own buffer; `sendmmsg` sends the answers together. Under
/// load this halves the system calls per query and more; idle, it is one query at a time.
fn udp_worker(sock: &UdpSocket, catalog: &ArcSwap<Catalog>, stats: &Stats, rrl: &RateLimiter) {
    use nix::sys::socket::{
        ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
    };
    use std::io::{IoSlice, IoSliceMut};
    use std::os::fd::AsRawFd;

    let fd = sock.as_raw_fd();
    let mut bufs = vec![[0u8; 4096]; BATCH];
    let mut outs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(4096)).collect();
    let mut recv_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut got: Vec<(usize, Option<SockaddrStorage>)> = Vec::with_capacity(BATCH);
    let mut replies: Vec<(usize, SockaddrStorage)> = Vec::with_capacity(BATCH);
    loop {
        got.clear();
        {
            let mut slices: Vec<[IoSliceMut<'_>; 1]> = bufs
                .iter_mut()
                .map(|b| [IoSliceMut::new(&mut b[..])])
                .collect();
            match recvmmsg(
                fd,
                &mut recv_headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(results) => got.extend(results.map(|r| (r.bytes, r.address))),
                Err(_) => continue,
            }
        }
        let cat = catalog.load();
        replies.clear();
        for (k, (len, addr)) in got.iter().enumerate() {
            let (Some(addr), Some(peer)) = (addr, addr.as_ref().and_then(socket_addr)) else {
                continue;
            };
            let q = &bufs[k][..*len];
            let out = &mut outs[k];
            match answer(&cat, q, Transport::Udp, out) {
                Outcome::Reply { qtype, rcode } => {
                    stats.count(qtype, rcode);
                    if rrl.enabled() {
                        match rrl.check(peer.ip(), rrl::class_of(rcode), rrl::question_name(out)) {
                            Verdict::Send => {}
                            Verdict::Slip if rrl::truncate(out) => {
                                stats.rrl_slipped.fetch_add(1, Ordering::Relaxed);
                            }
                            Verdict::Slip | Verdict::Drop => {
                                stats.rrl_dropped.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        }
                    }
                    replies.push((k, *addr));
                }
                Outcome::Signed => {
                    // a secondary's signed SOA query, say: rare, off the fast path
                    match signed::handle(&cat, q, Transport::Udp, signed::now(), out) {
                        Signed::Reply { qtype, rcode } => {
                            stats.count(qtype, rcode);
                            replies.push((k, *addr));
                        }
                        Signed::Drop | Signed::Transfer { .. } => {
                            stats.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Outcome::Drop | Outcome::Transfer { .. } => {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let mut sent = 0;
        while sent < replies.len() {
            let rest = &replies[sent..];
            let slices: Vec<[IoSlice<'_>; 1]> = rest
                .iter()
                .map(|(k, _)| [IoSlice::new(&outs[*k])])
                .collect();
            let addrs: Vec<Option<SockaddrStorage>> = rest.iter().map(|(_, a)| Some(*a)).collect();
            let no_cmsgs: [ControlMessage<'_>; 0] = [];
            match sendmmsg(
                fd,
                &mut send_headers,
                slices.iter(),
                &addrs,
                no_cmsgs,
                MsgFlags::empty(),
            ) {
                Ok(results) => match results.count() {
                    0 => break,
                    n => sent += n,
                },
                // the first answer could not be sent (a vanished route, say): skip it
                Err(_) => sent += 1,
            }
        }
    }
}

/// The standard address of a received datagram's source.
fn socket_addr(a: &nix::sys::socket::SockaddrStorage) -> Option<std::net::SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(std::net::SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6()
        .map(|v6| std::net::SocketAddr::V6((*v6).into()))
}

/// Serves TCP until the process ends: every connection is accepted, the session table
/// decides who makes room (see [`crate::tcp`]).
pub async fn serve_tcp(
    listener: TcpListener,
    catalog: Arc<ArcSwap<Catalog>>,
    stats: Arc<Stats>,
    sessions: Arc<Sessions>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // out of file descriptors, say: wait a moment instead of spinning
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let registration = sessions.admit(peer.ip());
        let (catalog, stats, sessions) = (catalog.clone(), stats.clone(), sessions.clone());
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let session = registration.session.clone();
            tokio::select! {
                _ = tcp_client(stream, peer, catalog, stats, &sessions, &session) => {}
                _ = session.closing() => {}
            }
            drop(registration);
        });
    }
}

async fn tcp_client(
    mut stream: TcpStream,
    peer: SocketAddr,
    catalog: Arc<ArcSwap<Catalog>>,
    stats: Arc<Stats>,
    sessions: &Sessions,
    session: &Session,
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(4096);
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(sessions.idle_timeout(), stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        session.begin(sessions);
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        tokio::time::timeout(TCP_READ, stream.read_exact(&mut msg))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)??;
        let cat = catalog.load_full();
        let (zone, signer) = match answer(&cat, &msg, Transport::Tcp, &mut out) {
            Outcome::Reply { qtype, rcode } => {
                stats.count(qtype, rcode);
                write_frame(&mut stream, &out).await?;
                session.done(sessions);
                continue;
            }
            Outcome::Drop => return Ok(()),
            Outcome::Transfer { zone } => (zone, None),
            Outcome::Signed => {
                match signed::handle(&cat, &msg, Transport::Tcp, signed::now(), &mut out) {
                    Signed::Reply { qtype, rcode } => {
                        stats.count(qtype, rcode);
                        write_frame(&mut stream, &out).await?;
                        session.done(sessions);
                        continue;
                    }
                    Signed::Drop => return Ok(()),
                    Signed::Transfer { zone, key, mac } => (zone, Some((key, mac))),
                }
            }
        };
        transfer(&mut stream, peer, &msg, &zone, signer, &stats, &mut out).await?;
        session.done(sessions);
    }
}

/// Streams `zone` to `peer` if it may have it: its address in `transfer.allow` and, when the
/// zone names keys, the request signed with one of them (`signer`: the key and the request's
/// MAC). A refusal is REFUSED, signed when the request was.
async fn transfer(
    stream: &mut TcpStream,
    peer: SocketAddr,
    msg: &[u8],
    zone: &Snapshot,
    signer: Option<(Key, Vec<u8>)>,
    stats: &Stats,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let now = signed::now();
    let key_name = signer.as_ref().map(|(k, _)| &*k.name);
    let why = if !zone.may_transfer(peer.ip()) {
        Some("peer not in spec.transfer.allow")
    } else if !zone.key_allows(key_name) {
        Some("not signed with a key in spec.transfer.keys")
    } else {
        None
    };
    if let Some(why) = why {
        tracing::info!(%peer, zone = %zone.domain, "zone transfer refused: {why}");
        refuse(msg, out);
        if let Some((key, mac)) = &signer {
            kavling_core::dns::tsig::sign(out, key, Some(mac), true, now, 0, &[]);
        }
        stats.count(252, RCODE_REFUSED);
        return write_frame(stream, out).await;
    }
    let ixfr = be16(msg, question_end(msg).saturating_sub(4)) == Some(wire::TYPE_IXFR);
    stats.count(if ixfr { wire::TYPE_IXFR } else { 252 }, 0);
    stats.transfers.fetch_add(1, Ordering::Relaxed);
    let mut messages = if ixfr {
        ixfr_messages(msg, zone)
    } else {
        axfr_messages(msg, zone)
    };
    if let Some((key, mac)) = &signer {
        signed::sign_stream(&mut messages, key, mac, now);
    }
    for m in messages {
        write_frame(stream, &m).await?;
    }
    Ok(())
}

/// A query's length prefix came: the rest must follow within this.
const TCP_READ: Duration = Duration::from_secs(10);

async fn write_frame(stream: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let mut frame = Vec::with_capacity(msg.len() + 2);
    frame.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    frame.extend_from_slice(msg);
    stream.write_all(&frame).await
}

fn question_end(q: &[u8]) -> usize {
    let mut i = 12;
    while i < q.len() && q[i] != 0 {
        i += 1 + q[i] as usize;
    }
    (i + 5).min(q.len())
}

fn refuse(q: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&q[0..2]);
    out.extend_from_slice(&[0x80, RCODE_REFUSED, 0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&q[12..question_end(q)]);
}

fn be16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// Where the name at `i` ends (compressed or not).
fn skip_name(q: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let l = *q.get(i)?;
        if l & 0xC0 == 0xC0 {
            return Some(i + 2);
        }
        i += 1 + l as usize;
        if l == 0 {
            return Some(i);
        }
    }
}

/// The serial of the SOA an IXFR request carries in its authority section: the version the
/// client has (RFC 1995 §3).
fn ixfr_client_serial(q: &[u8]) -> Option<u32> {
    if be16(q, 8)? == 0 {
        return None;
    }
    let owner_end = skip_name(q, question_end(q))?;
    if be16(q, owner_end)? != wire::TYPE_SOA {
        return None;
    }
    let rdata = owner_end + 10;
    let serial_at = skip_name(q, skip_name(q, rdata)?)?;
    Some(u32::from_be_bytes(
        q.get(serial_at..serial_at + 4)?.try_into().ok()?,
    ))
}

/// The IXFR answer (RFC 1995 §4): the current SOA alone when the client is current; else the
/// changes since the client's serial — for each, the old SOA, what was removed, the new SOA,
/// what was added — between two copies of the current SOA; or, when the journal does not go
/// back that far (or the request has no SOA), the whole zone as AXFR sends it.
pub fn ixfr_messages(q: &[u8], zone: &Snapshot) -> Vec<Vec<u8>> {
    let Some(client) = ixfr_client_serial(q) else {
        return axfr_messages(q, zone);
    };
    let soa = soa_tail(zone).map(<[u8]>::to_vec).unwrap_or_default();
    let current = [&zone.apex[..], &soa].concat();
    if client == zone.serial {
        return pack(q, vec![current]);
    }
    let Some(chain) = kavling_core::dns::journal::since(zone, client) else {
        return axfr_messages(q, zone);
    };
    let mut rrs = vec![current.clone()];
    for d in chain {
        rrs.push([&zone.apex[..], &d.old_soa].concat());
        rrs.extend(d.removed.iter().map(|r| r.to_vec()));
        rrs.push([&zone.apex[..], &d.new_soa].concat());
        rrs.extend(d.added.iter().map(|r| r.to_vec()));
    }
    rrs.push(current);
    pack(q, rrs)
}

/// The AXFR answer as a sequence of messages: SOA, every RRset, SOA (RFC 5936), packed into
/// messages of at most ~16 KiB.
pub fn axfr_messages(q: &[u8], zone: &Snapshot) -> Vec<Vec<u8>> {
    let soa = soa_tail(zone).map(<[u8]>::to_vec).unwrap_or_default();
    let mut rrs: Vec<Vec<u8>> = vec![[&zone.apex[..], &soa].concat()];
    let mut names: Vec<&Box<[u8]>> = zone.nodes.keys().collect();
    names.sort();
    for name in names {
        for rrset in &zone.nodes[&name[..]].rrsets {
            // the SOA opens and closes the transfer; its signatures go with the rest
            let soa = rrset.type_ == wire::TYPE_SOA;
            let tails = rrset.tails().filter(|_| !soa);
            for tail in tails.chain(rrset.sigs.iter().map(|s| &s[..])) {
                rrs.push([&name[..], tail].concat());
            }
        }
    }
    // a signed zone's NSEC3 chain (DNSKEY and NSEC3PARAM are apex RRsets above)
    for link in zone.nsec3.iter().flat_map(|c| c.links()) {
        for tail in link.set.tails().chain(link.set.sigs.iter().map(|s| &s[..])) {
            rrs.push([&link.label[..], &zone.apex[..], tail].concat());
        }
    }
    rrs.push([&zone.apex[..], &soa].concat());
    pack(q, rrs)
}

/// Records packed into answer messages of at most ~16 KiB each, every one echoing the question.
fn pack(q: &[u8], rrs: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    const LIMIT: usize = 16 * 1024;
    let qend = question_end(q);
    let start = |an: u16| {
        let mut m = Vec::with_capacity(LIMIT + 512);
        m.extend_from_slice(&q[0..2]);
        m.extend_from_slice(&[0x84, 0, 0, 1]);
        m.extend_from_slice(&an.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        m.extend_from_slice(&q[12..qend]);
        m
    };
    let mut msgs = Vec::new();
    let mut cur = start(0);
    let mut count: u16 = 0;
    for rr in rrs {
        if count > 0 && cur.len() + rr.len() > LIMIT {
            cur[6..8].copy_from_slice(&count.to_be_bytes());
            msgs.push(std::mem::replace(&mut cur, start(0)));
            count = 0;
        }
        cur.extend_from_slice(&rr);
        count += 1;
    }
    cur[6..8].copy_from_slice(&count.to_be_bytes());
    msgs.push(cur);
    msgs
}

/// The key NOTIFY for `zone` is signed with: its first transfer key, when held.
pub fn notify_key(zone: &Snapshot, keys: &[Key]) -> Option<Key> {
    let first = zone.transfer_keys.first()?;
    keys.iter().find(|k| k.name == *first).cloned()
}

/// Sends NOTIFY for `zone` to each of its secondaries (fire and forget, three tries each),
/// signed with `key` when the zone names one (a secondary holding the key expects it).
pub async fn notify(zone: Arc<Snapshot>, key: Option<Key>) {
    for target in zone.notify.clone() {
        let mut msg = vec![
            (zone.serial >> 8) as u8,
            zone.serial as u8,
            0x24,
            0,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        msg.extend_from_slice(&zone.apex);
        msg.extend_from_slice(&[0, 6, 0, 1]);
        if let Some(key) = &key {
            kavling_core::dns::tsig::sign(&mut msg, key, None, true, signed::now(), 0, &[]);
        }
        let bind: SocketAddr = if target.is_ipv4() {
            "0.0.0.0:0".parse().unwrap()
        } else {
            "[::]:0".parse().unwrap()
        };
        let Ok(sock) = tokio::net::UdpSocket::bind(bind).await else {
            continue;
        };
        for _ in 0..3 {
            if sock.send_to(&msg, target).await.is_err() {
                break;
            }
            let mut buf = [0u8; 512];
            if let Ok(Ok((n, from))) =
                tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await
                && n >= 4
                && from.ip() == target.ip()
                && buf[0..2] == msg[0..2]
            {
                tracing::info!(zone = %zone.domain, serial = zone.serial, %target, "secondary acknowledged NOTIFY");
                break;
            }
        }
    }
}
