//! "Is the challenge served?" — asked of every Kavling DNS server directly, over UDP, with no
//! recursion: we are the authority, so no blind propagation sleep is needed; the CA is told
//! only once each replica answers with every TXT value.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

/// The TXT values `server` answers for `name` (empty on NXDOMAIN/NODATA).
pub async fn txt_values(server: SocketAddr, name: &str) -> std::io::Result<Vec<String>> {
    let id: u16 = rand::random();
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    let qname = Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    m.add_query(Query::query(qname, RecordType::TXT));
    let bytes = m
        .to_bytes()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = tokio::net::UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    let mut buf = vec![0u8; 65535];
    for _ in 0..3 {
        sock.send(&bytes).await?;
        let Ok(n) = tokio::time::timeout(Duration::from_millis(500), sock.recv(&mut buf)).await
        else {
            continue;
        };
        let n = n?;
        let Ok(r) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if r.metadata.id != id {
            continue;
        }
        return Ok(r
            .answers
            .iter()
            .filter_map(|a| match &a.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{server} did not answer"),
    ))
}

/// Whether every server answers `name` with every one of `values`. The first server that
/// does not is named in the error, so the condition can say which replica lags.
pub async fn served_everywhere(
    servers: &[SocketAddr],
    name: &str,
    values: &[String],
) -> Result<(), super::AcmeError> {
    for s in servers {
        let not_served = |message| super::AcmeError::NotServed {
            server: *s,
            message,
        };
        match txt_values(*s, name).await {
            Ok(got) if values.iter().all(|v| got.contains(v)) => {}
            Ok(_) => return Err(not_served(format!("does not serve {name} TXT yet"))),
            Err(e) => return Err(not_served(e.to_string())),
        }
    }
    Ok(())
}
