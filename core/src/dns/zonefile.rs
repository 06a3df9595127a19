//! Static zones from a simple master file, for running `kavling-dns` without an API server
//! (benchmarks against NSD and Knot with the very same file, offline checks).
//!
//! Accepted subset: one record per line, `owner ttl class type rdata…` with absolute owner
//! names; `;` comments; no `$ORIGIN`/`$TTL`, no multi-line records. The apex SOA and NS
//! records become the zone's SOA and nameservers.

use crate::api::{NamingPolicy, RecordType, Soa, Transfer, ZoneSpec};

use super::zone::{self, RecordData, Snapshot};

fn record_type(t: &str) -> Option<RecordType> {
    Some(match t {
        "A" => RecordType::A,
        "AAAA" => RecordType::AAAA,
        "CNAME" => RecordType::CNAME,
        "MX" => RecordType::MX,
        "TXT" => RecordType::TXT,
        "CAA" => RecordType::CAA,
        "SRV" => RecordType::SRV,
        "NS" => RecordType::NS,
        _ => return None,
    })
}

/// Parses `text` as zone `domain` and builds its snapshot.
pub fn load(domain: &str, text: &str) -> Result<Snapshot, String> {
    let apex = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut soa: Option<(Soa, u32, u32)> = None;
    let mut nameservers = Vec::new();
    let mut records: Vec<RecordData> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || f[2] != "IN" {
            return Err(format!(
                "line {}: expected 'owner ttl IN type rdata'",
                n + 1
            ));
        }
        let owner = f[0].trim_end_matches('.').to_ascii_lowercase();
        let ttl: u32 = f[1]
            .parse()
            .map_err(|_| format!("line {}: bad TTL '{}'", n + 1, f[1]))?;
        let rdata = f[4..].join(" ");
        match f[3] {
            "SOA" if owner == apex => {
                let s = &f[4..];
                if s.len() != 7 {
                    return Err(format!("line {}: SOA needs 7 fields", n + 1));
                }
                let num = |i: usize| {
                    s[i].parse::<u32>()
                        .map_err(|_| format!("line {}: SOA field '{}'", n + 1, s[i]))
                };
                let hostmaster = s[1].trim_end_matches('.').replacen('.', "@", 1);
                soa = Some((
                    Soa {
                        primary: s[0].trim_end_matches('.').into(),
                        hostmaster,
                        refresh: num(3)?,
                        retry: num(4)?,
                        expire: num(5)?,
                        negative_ttl: num(6)?,
                    },
                    num(2)?,
                    ttl,
                ));
            }
            "NS" if owner == apex => nameservers.push(rdata.trim_end_matches('.').to_string()),
            t => {
                let type_ = record_type(t)
                    .ok_or_else(|| format!("line {}: record type {t} is not served", n + 1))?;
                records.push(RecordData {
                    name: owner,
                    type_,
                    ttl: Some(ttl),
                    values: vec![rdata],
                });
            }
        }
    }
    let (soa, serial, default_ttl) = soa.ok_or("no SOA record at the apex")?;
    let spec = ZoneSpec {
        soa,
        nameservers,
        default_ttl,
        transfer: Transfer::default(),
        policy: NamingPolicy::default(),
        tenants: vec![],
    };
    zone::build(&apex, &spec, serial, &records).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loads_the_generated_subset() {
        let text = "k.id. 3600 IN SOA ns1.k.id. hostmaster.k.id. 7 3600 600 1209600 300\nk.id. 3600 IN NS ns1.k.id.\n; comment\nh1.k.id. 60 IN A 10.0.0.1\nh1.k.id. 60 IN A 10.0.0.2\nt.k.id. 60 IN TXT \"hello world\"\n";
        let z = super::load("k.id", text).unwrap();
        assert_eq!(z.serial, 7);
        let node = z
            .node(&super::super::wire::name("h1.k.id").unwrap())
            .unwrap();
        assert_eq!(
            node.get(super::super::wire::TYPE_A).unwrap().rdatas.len(),
            2
        );
        assert!(super::load("k.id", "x 1 IN A 1.1.1.1").is_err());
    }
}
