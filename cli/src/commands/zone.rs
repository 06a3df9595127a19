//! `kavling zone import`: the zone an office runs today (a master file from BIND, NSD or
//! Knot, or `dig AXFR` output) as the Zone and DnsRecords that Kavling serves, for review and
//! `kavling apply` / `kubectl apply`. Nothing is dropped silently: what Kavling cannot serve
//! stops the import with the line and the reason.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use kavling_core::api::{DnsRecord, DnsRecordSpec, Zone, record_object_name};
use kavling_core::dns::zonefile::{self, MasterFile};

#[derive(Subcommand, Debug)]
pub enum ZoneCmd {
    /// Turn a master file (RFC 1035: $ORIGIN, $TTL, @, relative names, parentheses, quoted
    /// strings) into a Zone and its DnsRecords, printed for review:
    ///
    ///   kavling zone import kota.go.id.zone --zone bukittinggikota.go.id > zone.yaml
    ///   dig @ns-lama.bukittinggikota.go.id bukittinggikota.go.id AXFR | kavling zone import - --zone bukittinggikota.go.id
    ///   kavling validate zone.yaml && kavling apply zone.yaml
    ///
    /// The apex SOA and NS become the Zone's spec (its serial stays Kavling's); every other
    /// name and type becomes one DnsRecord holding the whole RRset.
    #[command(verbatim_doc_comment)]
    Import(ImportArgs),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The master file, or - for standard input.
    pub file: PathBuf,
    /// The zone (its apex), e.g. bukittinggikota.go.id; relative names are relative to it
    /// until a $ORIGIN says otherwise.
    #[arg(long)]
    pub zone: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ImportFormat::Yaml)]
    pub output: ImportFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ImportFormat {
    Yaml,
    Json,
}

pub fn run(cmd: ZoneCmd) -> anyhow::Result<i32> {
    let ZoneCmd::Import(args) = cmd;
    let text = if args.file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read standard input")?;
        s
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let file = match zonefile::parse(&args.zone, &text) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {e}", args.file.display());
            return Ok(1);
        }
    };
    let (zone, records) = objects(&file);
    match args.output {
        ImportFormat::Yaml => {
            print!("{}", serde_norway::to_string(&zone)?);
            for r in &records {
                print!("---\n{}", serde_norway::to_string(r)?);
            }
        }
        ImportFormat::Json => {
            let mut items = vec![serde_json::to_value(&zone)?];
            for r in &records {
                items.push(serde_json::to_value(r)?);
            }
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
    }
    eprintln!(
        "{}: zone {} with {} nameservers, {} DnsRecords from {} records",
        args.file.display(),
        file.apex,
        file.nameservers.len(),
        records.len(),
        file.records.len()
    );
    Ok(0)
}

/// The Zone and one DnsRecord per (name, type), values in file order, duplicates kept out.
/// An RRset's TTL is the lowest its records give (RFC 2181 §5.2 wants one TTL per RRset).
pub fn objects(file: &MasterFile) -> (Zone, Vec<DnsRecord>) {
    let zone = Zone::new(&file.apex, zonefile::zone_spec(file));
    let mut sets: BTreeMap<(String, &'static str), DnsRecordSpec> = BTreeMap::new();
    for r in &file.records {
        let spec = sets
            .entry((r.name.clone(), r.type_.as_str()))
            .or_insert_with(|| DnsRecordSpec {
                zone: file.apex.clone(),
                name: r.name.clone(),
                type_: r.type_,
                ttl: r.ttl,
                values: vec![],
            });
        spec.ttl = match (spec.ttl, r.ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for v in &r.values {
            if !spec.values.contains(v) {
                spec.values.push(v.clone());
            }
        }
    }
    let records = sets
        .into_values()
        .map(|mut spec| {
            if spec.ttl == Some(file.default_ttl) {
                spec.ttl = None; // the zone's default: say nothing
            }
            DnsRecord::new(&record_object_name(&spec.name, spec.type_), spec)
        })
        .collect();
    (zone, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_per_rrset_with_the_zone_from_the_apex() {
        let text = "$ORIGIN k.go.id.\n$TTL 3600\n@ SOA ns1 hostmaster 5 3600 600 86400 300\n  NS ns1\n  NS ns2\nwww 300 A 192.0.2.1\n    600 A 192.0.2.2\n    A 192.0.2.1\n_dmarc TXT \"v=DMARC1; p=none\"\n";
        let file = zonefile::parse("k.go.id", text).unwrap();
        let (zone, records) = objects(&file);
        assert_eq!(zone.metadata.name.as_deref(), Some("k.go.id"));
        assert_eq!(zone.spec.nameservers, ["ns1.k.go.id", "ns2.k.go.id"]);
        assert_eq!(zone.spec.soa.hostmaster, "hostmaster@k.go.id");
        assert_eq!(records.len(), 2);
        let a = records
            .iter()
            .find(|r| r.spec.type_.as_str() == "A")
            .unwrap();
        assert_eq!(a.metadata.name.as_deref(), Some("a.www.k.go.id"));
        assert_eq!(a.spec.values, ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(a.spec.ttl, Some(300));
        let txt = records
            .iter()
            .find(|r| r.spec.type_.as_str() == "TXT")
            .unwrap();
        assert_eq!(txt.spec.values, ["\"v=DMARC1; p=none\""]);
        assert_eq!(txt.spec.ttl, None, "the zone's default TTL is left out");
    }
}
