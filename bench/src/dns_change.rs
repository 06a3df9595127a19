//! Change-to-answer latency: create DnsRecords through the API one by one and time until
//! Kavling's DNS server first answers each over UDP. Peer in the same run: the API server's
//! own floor (create → a watch sees it), which no DNS server fed by watches can beat.
//!
//! Usage: dns-change [N=1000] [signed]
//!
//! `signed`: the zone has DNSSEC on — each change is answered only once its zone has been
//! rebuilt and re-signed (signatures of unchanged RRsets are reused).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use kavling::api::*;
use kavling_e2e::{Stack, unique, wait_for};
use kube::Api;
use kube::api::PostParams;

fn query_type(name: &str, id: u16, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

/// Whether the server is authoritative for `zone` yet (its SOA answers NOERROR).
fn zone_served(sock: &UdpSocket, zone: &str) -> bool {
    if sock.send(&query_type(zone, 0x5a5a, 6)).is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    matches!(sock.recv(&mut buf), Ok(n) if n >= 12 && buf[3] & 0x0F == 0 && u16::from_be_bytes([buf[6], buf[7]]) == 1)
}

/// Whether the server answers `name` with at least one record.
fn answered(sock: &UdpSocket, name: &str, id: u16) -> bool {
    answered_type(sock, name, id, 1)
}

fn answered_type(sock: &UdpSocket, name: &str, id: u16, qtype: u16) -> bool {
    if sock.send(&query_type(name, id, qtype)).is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    matches!(sock.recv(&mut buf), Ok(n) if n >= 12 && buf[0..2] == id.to_be_bytes() && buf[3] & 0x0F == 0 && u16::from_be_bytes([buf[6], buf[7]]) > 0)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let stack = Stack::load()?;
    let admin = stack.client_as("kavling-restore").await?;
    let signed = std::env::args().nth(2).as_deref() == Some("signed");
    let zone = format!("{}.go.id", unique("chg"));
    let mut spec = kavling_e2e::zone_spec(&zone);
    spec.dnssec.enabled = signed;
    Api::<Zone>::all(admin.clone())
        .create(&PostParams::default(), &Zone::new(&zone, spec))
        .await?;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(stack.get("KAVLING_DNS_ADDR"))?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    wait_for("zone served", Duration::from_secs(30), || async {
        Ok(zone_served(&sock, &zone).then_some(()))
    })
    .await?;
    if signed {
        // signing is on once the DNSKEY answers
        wait_for("zone signed", Duration::from_secs(30), || async {
            Ok(answered_type(&sock, &zone, 0x4b4b, 48).then_some(()))
        })
        .await?;
    }

    // peer: create → watch event, on the same API server
    let mut floor = kavling_e2e::api_watch_floor(&stack, n.min(200)).await?;

    let records: Api<DnsRecord> = Api::all(admin);
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let fqdn = format!("c{i}.{zone}");
        let rr = DnsRecord::new(
            &record_object_name(&fqdn, RecordType::A),
            DnsRecordSpec {
                zone: zone.clone(),
                name: fqdn.clone(),
                type_: RecordType::A,
                ttl: None,
                values: vec![format!("10.60.{}.{}", i / 250, i % 250 + 1)],
            },
        );
        let t = Instant::now();
        records.create(&PostParams::default(), &rr).await?;
        let mut id = (i as u16).wrapping_mul(7) | 1;
        loop {
            if answered(&sock, &fqdn, id) {
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                anyhow::bail!("{fqdn} not answered after 10 s");
            }
            id = id.wrapping_add(1);
            std::thread::sleep(Duration::from_micros(200));
        }
        lat.push(t.elapsed());
    }
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let (f50, f99) = (pct(&mut floor, 0.5), pct(&mut floor, 0.99));
    let (l50, l99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
    println!(
        "change → first answer over UDP, {n} DnsRecords created one by one (zone grows to {n}){}",
        if signed { ", zone signed (DNSSEC)" } else { "" }
    );
    println!("{:<44} {:>9} {:>9}", "", "p50", "p99");
    println!(
        "{:<44} {:>9} {:>9}",
        "peer: API floor (create ConfigMap → watch)",
        ms(f50),
        ms(f99)
    );
    println!(
        "{:<44} {:>9} {:>9}   ratio p50 {:.1}, p99 {:.1}",
        "kavling-dns: create DnsRecord → answered",
        ms(l50),
        ms(l99),
        l50.as_secs_f64() / f50.as_secs_f64(),
        l99.as_secs_f64() / f99.as_secs_f64()
    );
    Ok(())
}
