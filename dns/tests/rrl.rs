//! Response rate limiting on real UDP sockets: a flood from one network gets its rate in full
//! answers and, past it, only truncated answers (every second one) or nothing; another network
//! is answered in full meanwhile; with the limiter off, every query is answered.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hickory_proto::op::Message;
use kavling_core::dns::answer::Catalog;
use kavling_core::dns::zonefile;
use kavling_dns::rrl::RateLimiter;
use kavling_dns::server::{Stats, spawn_udp};

const ZONE: &str = "$ORIGIN rrl.id.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n  NS ns1\nns1 A 192.0.2.1\nwww TXT \"an answer worth amplifying\"\n";

fn server(rate: u32, slip: u32) -> (SocketAddr, Arc<Stats>) {
    let zone = zonefile::load("rrl.id", ZONE).expect("zone loads");
    let mut catalog = Catalog {
        complete: true,
        ..Catalog::default()
    };
    catalog.zones.insert(zone.apex.clone(), Arc::new(zone));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let stats = Arc::new(Stats::default());
    spawn_udp(
        socket,
        2,
        Arc::new(ArcSwap::from_pointee(catalog)),
        stats.clone(),
        Arc::new(RateLimiter::new(rate, slip)),
    )
    .unwrap();
    (addr, stats)
}

fn query(id: u16) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x03www\x03rrl\x02id\x00\x00\x10\x00\x01");
    q
}

/// Sends `n` queries from `source` as fast as it can, then counts what came back within
/// 300 ms: (full answers, truncated answers).
fn flood(source: &str, server: SocketAddr, n: u16) -> (usize, usize) {
    let sock = UdpSocket::bind(format!("{source}:0")).unwrap();
    for id in 0..n {
        sock.send_to(&query(id), server).unwrap();
    }
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let (mut full, mut truncated) = (0, 0);
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let Ok((len, _)) = sock.recv_from(&mut buf) else {
            break;
        };
        let m = Message::from_vec(&buf[..len]).expect("a response that parses");
        if m.metadata.truncation {
            assert!(m.answers.is_empty(), "a slip carries no records");
            truncated += 1;
        } else {
            assert_eq!(m.answers.len(), 1);
            full += 1;
        }
    }
    (full, truncated)
}

#[test]
fn a_flood_from_one_network_gets_its_rate_and_then_slips_while_others_are_answered() {
    let (addr, stats) = server(10, 2);
    let (full, truncated) = flood("127.0.0.1", addr, 200);
    // one second's budget, two if the burst crossed a second boundary
    assert!((10..=20).contains(&full), "full answers: {full}");
    // of the ~180 over the rate, every second one is sent truncated
    assert!((80..=95).contains(&truncated), "truncated: {truncated}");
    let dropped = stats.rrl_dropped.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(full + truncated + dropped as usize, 200);
    // another /24 keeps its own budget
    let (full, truncated) = flood("127.0.1.9", addr, 5);
    assert_eq!((full, truncated), (5, 0));
}

#[test]
fn with_the_limiter_off_every_query_is_answered() {
    let (addr, _) = server(0, 2);
    assert_eq!(flood("127.0.0.1", addr, 200), (200, 0));
}
