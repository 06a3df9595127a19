//! TCP under load, on real sockets (RFC 7766 §6.2.3, §10): however many connections others
//! hold open, idle or busy, a new client is accepted and answered.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use kavling_core::dns::answer::Catalog;
use kavling_core::dns::zonefile;
use kavling_dns::server::{Stats, serve_tcp};
use kavling_dns::tcp::{Limits, Sessions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const ZONE: &str = "$ORIGIN load.id.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n  NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\n";

async fn server(limits: Limits) -> (SocketAddr, Arc<Sessions>) {
    let zone = zonefile::load("load.id", ZONE).expect("zone loads");
    let mut catalog = Catalog {
        complete: true,
        ..Catalog::default()
    };
    catalog.zones.insert(zone.apex.clone(), Arc::new(zone));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sessions = Sessions::new(limits);
    tokio::spawn(serve_tcp(
        listener,
        Arc::new(ArcSwap::from_pointee(catalog)),
        Arc::new(Stats::default()),
        sessions.clone(),
    ));
    (addr, sessions)
}

/// A connection from `source` (any 127.0.0.0/8 address is ours on Linux's loopback).
async fn connect_from(source: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(source, 0))?;
    sock.connect(server).await
}

fn query(id: u16) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x03www\x04load\x02id\x00\x00\x01\x00\x01");
    q
}

/// One query over `stream`; the decoded answer, or an error if none came within 2 s.
async fn ask(stream: &mut TcpStream, id: u16) -> anyhow::Result<Message> {
    let q = query(id);
    let mut frame = (q.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&q);
    stream.write_all(&frame).await?;
    let reply = tokio::time::timeout(Duration::from_secs(2), async {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut msg).await?;
        anyhow::Ok(msg)
    })
    .await??;
    Ok(Message::from_vec(&reply)?)
}

fn assert_answered(m: &Message, id: u16) {
    assert_eq!(m.metadata.id, id);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::A);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_is_answered_while_hundreds_of_idle_connections_are_held() {
    let limits = Limits {
        sessions: 128,
        per_source: 64,
        ..Limits::default()
    };
    let (addr, sessions) = server(limits).await;
    // 300 idle connections from 10 addresses: more than the table holds, and more than the
    // old fixed 256 sessions that stopped the accept loop
    let mut idle = Vec::new();
    for i in 0..300u32 {
        let source = IpAddr::from([127, 0, 1, (i % 10) as u8 + 1]);
        idle.push(connect_from(source, addr).await.expect("connect"));
    }
    for id in 1..=5u16 {
        let mut fresh = connect_from(IpAddr::from([127, 0, 2, 1]), addr)
            .await
            .unwrap();
        let answer = ask(&mut fresh, id)
            .await
            .unwrap_or_else(|e| panic!("new client {id} not answered with 300 idle held: {e}"));
        assert_answered(&answer, id);
    }
    assert!(
        sessions.len() <= 128,
        "the table stays bounded: {}",
        sessions.len()
    );
    assert!(sessions.evicted.load(std::sync::atomic::Ordering::Relaxed) >= 170);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_keep_asking_do_not_shut_out_new_ones() {
    let limits = Limits {
        sessions: 64,
        per_source: 64,
        ..Limits::default()
    };
    let (addr, _) = server(limits).await;
    // 64 clients fill the table, each asking now and then
    let mut busy = Vec::new();
    for i in 0..64u32 {
        let source = IpAddr::from([127, 0, 3, (i % 8) as u8 + 1]);
        let mut s = connect_from(source, addr).await.unwrap();
        assert_answered(&ask(&mut s, i as u16).await.unwrap(), i as u16);
        busy.push(s);
    }
    // a newcomer still gets in (the quietest of the 64 makes room)
    let mut fresh = connect_from(IpAddr::from([127, 0, 4, 1]), addr)
        .await
        .unwrap();
    assert_answered(&ask(&mut fresh, 900).await.unwrap(), 900);
    // and so does one more, while the newcomer keeps its place by asking again
    assert_answered(&ask(&mut fresh, 901).await.unwrap(), 901);
    let mut another = connect_from(IpAddr::from([127, 0, 4, 2]), addr)
        .await
        .unwrap();
    assert_answered(&ask(&mut another, 902).await.unwrap(), 902);
    assert_answered(&ask(&mut fresh, 903).await.unwrap(), 903);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_greedy_address_cannot_push_out_another_addresss_connection() {
    let limits = Limits {
        sessions: 256,
        per_source: 16,
        ..Limits::default()
    };
    let (addr, _) = server(limits).await;
    let mut mine = connect_from(IpAddr::from([127, 0, 5, 1]), addr)
        .await
        .unwrap();
    assert_answered(&ask(&mut mine, 1).await.unwrap(), 1);
    // the greedy address opens 200 connections and keeps them quiet: it churns its own 16
    let mut greedy = Vec::new();
    for _ in 0..200 {
        greedy.push(
            connect_from(IpAddr::from([127, 0, 5, 2]), addr)
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // my connection, the quietest of all by now, is still open and answered
    assert_answered(&ask(&mut mine, 2).await.unwrap(), 2);
}
