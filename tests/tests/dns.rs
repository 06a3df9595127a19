//! Kavling's DNS server against real clients (dig, kdig) and a real secondary (Knot DNS).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kavling::api::*;
use kavling_e2e::{Stack, api_message, file_and_approve, unique, wait_for};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};

const T: Duration = Duration::from_secs(30);

fn dns_port(stack: &Stack) -> String {
    stack
        .get("KAVLING_DNS_ADDR")
        .rsplit(':')
        .next()
        .unwrap()
        .to_string()
}

/// `dig` against our server; returns its full output.
fn dig(stack: &Stack, args: &[&str]) -> String {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &dns_port(stack),
            "+norec",
            "+time=2",
            "+tries=1",
        ])
        .args(args)
        .output()
        .expect("dig is installed (dev/build-tools.sh apt)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The serial kavling-dns serves for `zone`.
fn soa_serial(stack: &Stack, zone: &str) -> u32 {
    short(stack, zone, "SOA")
        .first()
        .and_then(|l| l.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(0)
}

fn short(stack: &Stack, name: &str, t: &str) -> Vec<String> {
    let mut v: Vec<String> = dig(stack, &["+short", name, t])
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

fn zone_spec(zone: &str, transfer: Transfer) -> ZoneSpec {
    let base = kavling_e2e::zone_spec(zone);
    // a quick refresh for the Knot secondary, and a negative TTL the tests can tell apart
    ZoneSpec {
        soa: Soa {
            refresh: 60,
            retry: 60,
            expire: 3600,
            negative_ttl: 120,
            ..base.soa
        },
        transfer,
        ..base
    }
}

fn record(zone: &str, name: &str, t: RecordType, ttl: Option<u32>, values: &[&str]) -> DnsRecord {
    let fqdn = if name.is_empty() {
        zone.to_string()
    } else {
        format!("{name}.{zone}")
    };
    DnsRecord::new(
        &record_object_name(&fqdn, t),
        DnsRecordSpec {
            zone: zone.into(),
            name: fqdn,
            type_: t,
            ttl,
            values: values.iter().map(|s| s.to_string()).collect(),
        },
    )
}

async fn new_zone(stack: &Stack, transfer: Transfer) -> anyhow::Result<String> {
    let admin = stack.client_as("admin").await?;
    let zone = format!("{}.go.id", unique("dns"));
    Api::<Zone>::all(admin)
        .create(
            &PostParams::default(),
            &Zone::new(&zone, zone_spec(&zone, transfer)),
        )
        .await?;
    wait_for("zone served", T, || async {
        Ok(dig(stack, &[&zone, "SOA"])
            .contains("status: NOERROR")
            .then_some(()))
    })
    .await?;
    Ok(zone)
}

#[tokio::test]
async fn a_record_created_through_the_api_is_answered_field_by_field_then_withdrawn()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let zone = new_zone(&stack, Transfer::default()).await?;
    let records: Api<DnsRecord> = Api::all(stack.client_as("kavling-restore").await?);
    let start = Instant::now();
    records
        .create(
            &PostParams::default(),
            &record(
                &zone,
                "portal",
                RecordType::A,
                Some(120),
                &["10.1.2.3", "10.1.2.4"],
            ),
        )
        .await?;
    let name = format!("portal.{zone}");
    wait_for("A answered", T, || async {
        Ok((short(&stack, &name, "A") == ["10.1.2.3", "10.1.2.4"]).then_some(()))
    })
    .await?;
    eprintln!("change → answer: {:?}", start.elapsed());
    // field by field: flags, TTL, class, case echo
    let out = dig(&stack, &[&name.to_uppercase(), "A"]);
    assert!(out.contains("flags: qr aa;"), "{out}");
    let rows: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(
        rows.contains(&format!("{}. 120 IN A 10.1.2.3", name.to_uppercase())),
        "the query's case is echoed, TTL and class as given: {out}"
    );

    for (n, t, v) in [
        ("mail", RecordType::MX, "10 mx.example.org"),
        ("txt", RecordType::TXT, "\"v=spf1 -all\""),
        ("caa", RecordType::CAA, "0 issue \"letsencrypt.org\""),
        ("_sip._tcp", RecordType::SRV, "10 5 5060 sip.example.org"),
        ("v6", RecordType::AAAA, "2001:db8::7"),
    ] {
        records
            .create(&PostParams::default(), &record(&zone, n, t, None, &[v]))
            .await?;
        let fqdn = format!("{n}.{zone}");
        let want = match t {
            RecordType::MX => "10 mx.example.org.".to_string(),
            RecordType::SRV => "10 5 5060 sip.example.org.".to_string(),
            RecordType::CAA => "0 issue \"letsencrypt.org\"".to_string(),
            _ => v.to_string(),
        };
        wait_for(&format!("{} {n}", t.as_str()), T, || async {
            Ok((short(&stack, &fqdn, t.as_str()) == [want.clone()]).then_some(()))
        })
        .await?;
    }

    // a 4096-bit DKIM key is longer than one character-string: the API takes it whole and
    // the wire carries it as 255-octet strings that verifiers join (RFC 7208 §3.3)
    let dkim = format!(
        "v=DKIM1; k=rsa; p={}",
        "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8A".repeat(23)
    );
    records
        .create(
            &PostParams::default(),
            &record(&zone, "k1._domainkey", RecordType::TXT, None, &[&dkim]),
        )
        .await?;
    let key = format!("k1._domainkey.{zone}");
    let strings = wait_for("the DKIM key answered", T, || async {
        Ok(short(&stack, &key, "TXT").pop())
    })
    .await?;
    let parts: Vec<&str> = strings.trim_matches('"').split("\" \"").collect();
    assert!(parts.len() == 3 && parts[0].len() == 255, "{strings}");
    assert_eq!(parts.concat(), dkim);
    // other types keep 255 characters per value
    let err = records
        .create(
            &PostParams::default(),
            &record(
                &zone,
                "panjang",
                RecordType::CNAME,
                None,
                &[&format!("{}.example.org", "a".repeat(250))],
            ),
        )
        .await
        .expect_err("a 262-character CNAME");
    assert!(
        api_message(&err).contains("at most 255 characters per value"),
        "{}",
        api_message(&err)
    );

    records
        .delete(
            &record_object_name(&name, RecordType::A),
            &DeleteParams::default(),
        )
        .await?;
    wait_for("NXDOMAIN after delete", T, || async {
        Ok(dig(&stack, &[&name, "A"])
            .contains("status: NXDOMAIN")
            .then_some(()))
    })
    .await?;
    let neg = dig(&stack, &[&name, "A"]);
    let neg_rows: Vec<String> = neg
        .lines()
        .map(|l| l.split_whitespace().take(4).collect::<Vec<_>>().join(" "))
        .collect();
    assert!(
        neg_rows.contains(&format!("{zone}. 120 IN SOA")),
        "negative answer carries the SOA with the negative TTL: {neg}"
    );
    // the empty non-terminal above the SRV record is NODATA, not NXDOMAIN
    assert!(dig(&stack, &[&format!("_tcp.{zone}"), "A"]).contains("status: NOERROR"));
    // big answers: truncated over UDP without EDNS, complete over TCP
    let many: Vec<String> = (0..12)
        .map(|i| format!("\"{}\"", "k".repeat(200) + &i.to_string()))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    records
        .create(
            &PostParams::default(),
            &record(&zone, "big", RecordType::TXT, None, &many),
        )
        .await?;
    let big = format!("big.{zone}");
    wait_for("big TXT over TCP", T, || async {
        Ok((dig(&stack, &["+tcp", &big, "TXT"])
            .matches("\tTXT\t")
            .count()
            == 12)
            .then_some(()))
    })
    .await?;
    assert!(
        dig(&stack, &["+noedns", "+ignore", &big, "TXT"]).contains(" tc"),
        "UDP answer is truncated"
    );
    Ok(())
}

#[tokio::test]
async fn an_approved_subdomain_answers_and_suspension_changes_the_answer() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let admin = stack.client_as("admin").await?;
    let zone = new_zone(&stack, Transfer::default()).await?;
    Api::<Zone>::all(admin.clone()).patch(&zone, &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"policy": {"suspension": {"mode": "Redirect", "addresses": ["10.99.0.1"]}}}}))).await?;
    // The Dinas creates the Subdomain directly (the Request flow is covered in approvals.rs).
    let fqdn = format!("layanan.{zone}");
    let sd = Subdomain::new(
        &fqdn,
        SubdomainSpec {
            zone: zone.clone(),
            label: "layanan".into(),
            tenant: "dinkes".into(),
            application_name: None,
            website: false,
            tls: false,
            ttl: Some(60),
            target: Target {
                addresses: vec!["10.5.5.5".into()],
                ..Default::default()
            },
            suspend: None,
            wildcard: false,
        },
    );
    let sds: Api<Subdomain> = Api::all(stack.client_as("kavling-restore").await?);
    sds.create(&PostParams::default(), &sd).await?;
    wait_for("subdomain answered", T, || async {
        Ok((short(&stack, &fqdn, "A") == ["10.5.5.5"]).then_some(()))
    })
    .await?;
    sds.patch(
        &fqdn,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"suspend": {"reason": "audit"}}})),
    )
    .await?;
    wait_for("notice page answered", T, || async {
        Ok((short(&stack, &fqdn, "A") == ["10.99.0.1"]).then_some(()))
    })
    .await?;
    sds.patch(
        &fqdn,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"suspend": null}})),
    )
    .await?;
    wait_for("restored", T, || async {
        Ok((short(&stack, &fqdn, "A") == ["10.5.5.5"]).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn axfr_of_a_few_thousand_records_equals_the_api_and_is_refused_to_others()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let zone = new_zone(
        &stack,
        Transfer {
            allow: vec!["127.0.0.1".into()],
            notify: vec![],
            keys: vec![],
        },
    )
    .await?;
    let records: Api<DnsRecord> = Api::all(stack.client_as("kavling-restore").await?);
    let n = 2000;
    let mut want = std::collections::BTreeSet::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let futs: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let r = record(
                    &zone,
                    &format!("h{i}"),
                    RecordType::A,
                    Some(300),
                    &[&format!("10.7.{}.{}", i / 250, i % 250 + 1)],
                );
                let records = records.clone();
                async move { records.create(&PostParams::default(), &r).await.map(|_| ()) }
            })
            .collect();
        for r in futures::future::join_all(futs).await {
            r?;
        }
    }
    for i in 0..n {
        want.insert(format!(
            "h{i}.{zone}. 300 IN A 10.7.{}.{}",
            i / 250,
            i % 250 + 1
        ));
    }
    let last = format!("h{}.{zone}", n - 1);
    wait_for("last record served", T, || async {
        Ok((!short(&stack, &last, "A").is_empty()).then_some(()))
    })
    .await?;
    let got = wait_for("complete AXFR", T, || async {
        let out = dig(&stack, &[&zone, "AXFR"]);
        let lines: std::collections::BTreeSet<String> = out
            .lines()
            .filter(|l| !l.starts_with(';') && l.contains("\tA\t"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        Ok((lines.len() == n).then_some((out, lines)))
    })
    .await?;
    assert_eq!(got.1, want, "AXFR content equals what the API holds");
    assert_eq!(
        got.0.lines().filter(|l| l.contains("\tSOA\t")).count(),
        2,
        "AXFR starts and ends with the SOA"
    );
    // a zone that allows nobody refuses the transfer
    let closed = new_zone(&stack, Transfer::default()).await?;
    assert!(dig(&stack, &[&closed, "AXFR"]).contains("Transfer failed"));
    Ok(())
}

/// A server process started by a test (knotd, kavling-dns): killed when the handle drops.
struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue #22, wildcards through a tenant's request: refused where the zone does not allow
/// them; where it does, every name below the tenant's name answers with its target and names
/// beside it do not; suspension takes them all; the Dinas turning the policy off withdraws the
/// wildcard and keeps the name. A wildcard directly under the apex, a delegated one, or `*`
/// inside a name is refused by the API itself, whoever asks.
#[tokio::test]
async fn a_tenants_wildcard_answers_below_its_own_name_only() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (_, zone, ns) = kavling_e2e::zone_and_rina_tenant(
        &stack,
        "wild",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let ask = |name: &str| {
        Request::new(
            name,
            RequestSpec {
                requested_by: "rina".into(),
                letter: kavling_e2e::letter(),
                subdomain: Some(SubdomainRequest {
                    zone: zone.clone(),
                    label: "pasar".into(),
                    application_name: "Pasar desa".into(),
                    description: "Satu halaman per kios".into(),
                    business_process: "Pelayanan pasar".into(),
                    website: false,
                    tls: false,
                    target: Target {
                        addresses: vec!["10.7.7.7".into()],
                        ..Default::default()
                    },
                    wildcard: true,
                }),
                hosting: None,
                storage: None,
            },
        )
    };
    // the zone does not allow wildcards (the default): the request fails, naming the rule
    let st = file_and_approve(&stack, "rina", &ns, ask("pasar-1"))
        .await?
        .status
        .unwrap();
    assert_eq!(st.phase, RequestPhase::Failed);
    let why = serde_json::to_string(&st.conditions)?;
    assert!(why.contains("does not allow wildcard names"), "{why}");
    // an approved request is level-triggered: once the zone allows wildcards, pasar-1 itself
    // would be provisioned and hold the name (CI saw it win the race against pasar-2); the
    // Dinas withdraws it first (tenants cannot delete requests: they are the record)
    let requests: Api<Request> = Api::namespaced(stack.client_as("admin").await?, &ns);
    requests.delete("pasar-1", &DeleteParams::default()).await?;
    wait_for("pasar-1 withdrawn", T, || async {
        Ok(requests.get_opt("pasar-1").await?.is_none().then_some(()))
    })
    .await?;

    let zones: Api<Zone> = Api::all(stack.client_as("admin").await?);
    let allow = |on: bool| serde_json::json!({"spec": {"policy": {"allowWildcards": on}}});
    zones
        .patch(&zone, &PatchParams::default(), &Patch::Merge(allow(true)))
        .await?;
    let st = file_and_approve(&stack, "rina", &ns, ask("pasar-2"))
        .await?
        .status
        .unwrap();
    assert_eq!(st.phase, RequestPhase::Ready, "{:?}", st.conditions);
    let pasar = format!("pasar.{zone}");
    let below = [format!("kios-12.{pasar}"), format!("a.b.{pasar}")];
    for name in &below {
        wait_for(&format!("{name} answered by the wildcard"), T, || async {
            Ok((short(&stack, name, "A") == ["10.7.7.7"]).then_some(()))
        })
        .await?;
    }
    assert_eq!(short(&stack, &pasar, "A"), ["10.7.7.7"]);
    // beside it nothing changed: the wildcard covers the tenant's own name only
    assert!(dig(&stack, &[&format!("lain.{zone}"), "A"]).contains("status: NXDOMAIN"));

    // whoever writes records, these are refused by the API
    let records: Api<DnsRecord> = Api::all(stack.client_as("kavling-restore").await?);
    for (name, t, value, why) in [
        (
            "*",
            RecordType::A,
            "10.6.6.6",
            "no wildcard directly under the zone's apex",
        ),
        (
            "*.desa",
            RecordType::NS,
            "ns.example.org",
            "a wildcard cannot be delegated",
        ),
        (
            "a.*",
            RecordType::A,
            "10.6.6.6",
            "'*' may only be the whole first label",
        ),
        (
            "x*",
            RecordType::A,
            "10.6.6.6",
            "'*' may only be the whole first label",
        ),
    ] {
        let err = records
            .create(
                &PostParams::default(),
                &record(&zone, name, t, None, &[value]),
            )
            .await
            .expect_err(name);
        assert!(
            api_message(&err).contains(why),
            "{name}: {}",
            api_message(&err)
        );
    }

    // suspended (the zone withdraws): every name below goes with the name
    let sds: Api<Subdomain> = Api::all(stack.client_as("kavling-restore").await?);
    let suspend = |s: serde_json::Value| serde_json::json!({"spec": {"suspend": s}});
    sds.patch(
        &pasar,
        &PatchParams::default(),
        &Patch::Merge(suspend(serde_json::json!({"reason": "audit"}))),
    )
    .await?;
    wait_for("everything under pasar withdrawn", T, || async {
        Ok(below
            .iter()
            .chain([&pasar])
            .all(|n| dig(&stack, &[n, "A"]).contains("status: NXDOMAIN"))
            .then_some(()))
    })
    .await?;
    sds.patch(
        &pasar,
        &PatchParams::default(),
        &Patch::Merge(suspend(serde_json::Value::Null)),
    )
    .await?;
    wait_for("restored", T, || async {
        Ok((short(&stack, &below[0], "A") == ["10.7.7.7"]).then_some(()))
    })
    .await?;

    // the Dinas turns wildcards off: the names below go, the name stays
    zones
        .patch(&zone, &PatchParams::default(), &Patch::Merge(allow(false)))
        .await?;
    wait_for("the wildcard withdrawn", T, || async {
        Ok(dig(&stack, &[&below[0], "A"])
            .contains("status: NXDOMAIN")
            .then_some(()))
    })
    .await?;
    assert_eq!(short(&stack, &pasar, "A"), ["10.7.7.7"]);
    Ok(())
}

/// Knot DNS (Debian) on loopback as a secondary of `zone`, transferring from Kavling and
/// accepting its NOTIFY; stopped when the handle drops. Its log is `knot.log` in the dir.
fn knot_secondary(
    stack: &Stack,
    zone: &str,
    knot_port: u16,
    prefix: &str,
) -> anyhow::Result<(Killed, std::path::PathBuf)> {
    let dir = std::env::temp_dir().join(unique(prefix));
    std::fs::create_dir_all(&dir)?;
    let conf = format!(
        "log:\n  - target: stderr\n    any: info\n\nserver:\n    listen: 127.0.0.1@{knot_port}\n    rundir: {d}\n\ndatabase:\n    storage: {d}\n\nremote:\n  - id: kavling\n    address: 127.0.0.1@{p}\n\nacl:\n  - id: notify_from_kavling\n    address: 127.0.0.1\n    action: notify\n\ntemplate:\n  - id: default\n    storage: {d}\n    zonefile-sync: -1\n    journal-content: none\n\nzone:\n  - domain: {zone}\n    master: kavling\n    acl: notify_from_kavling\n",
        d = dir.display(),
        p = dns_port(stack)
    );
    std::fs::write(dir.join("knot.conf"), conf)?;
    let child = Command::new("knotd")
        .args(["-c", &dir.join("knot.conf").to_string_lossy()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("knot.log"))?)
        .spawn()?;
    Ok((Killed(child), dir))
}

#[tokio::test]
async fn knot_as_secondary_transfers_the_zone_and_follows_notify() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let knot_port = dns_port(&stack).parse::<u16>()? + 11;
    let zone = new_zone(
        &stack,
        Transfer {
            allow: vec!["127.0.0.1".into()],
            notify: vec![format!("127.0.0.1:{knot_port}")],
            keys: vec![],
        },
    )
    .await?;
    let records: Api<DnsRecord> = Api::all(stack.client_as("kavling-restore").await?);
    records
        .create(
            &PostParams::default(),
            &record(&zone, "awal", RecordType::A, None, &["10.8.0.1"]),
        )
        .await?;
    wait_for("record served by Kavling", T, || async {
        Ok((!short(&stack, &format!("awal.{zone}"), "A").is_empty()).then_some(()))
    })
    .await?;

    let (_knot, dir) = knot_secondary(&stack, &zone, knot_port, "knot")?;
    let kdig = |name: String| {
        let out = Command::new("kdig")
            .args([
                "@127.0.0.1",
                "-p",
                &knot_port.to_string(),
                "+short",
                "+time=1",
                "+retry=0",
                &name,
                "A",
            ])
            .output()
            .expect("kdig");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    wait_for("Knot transferred the zone", T, || async {
        Ok((kdig(format!("awal.{zone}")) == "10.8.0.1").then_some(()))
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}; knot log: {}",
            std::fs::read_to_string(dir.join("knot.log")).unwrap_or_default()
        )
    })?;
    // a change: the serial goes up, Kavling sends NOTIFY, Knot transfers again — the change
    // alone (IXFR), from the journal
    let serial_before = soa_serial(&stack, &zone);
    records
        .create(
            &PostParams::default(),
            &record(&zone, "baru", RecordType::A, None, &["10.8.0.2"]),
        )
        .await?;
    let t = Instant::now();
    wait_for("Knot answers the new record after NOTIFY", T, || async {
        Ok((kdig(format!("baru.{zone}")) == "10.8.0.2").then_some(()))
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}; knot log: {}",
            std::fs::read_to_string(dir.join("knot.log")).unwrap_or_default()
        )
    })?;
    eprintln!("change → answered by the Knot secondary: {:?}", t.elapsed());
    let log = std::fs::read_to_string(dir.join("knot.log")).unwrap_or_default();
    assert!(
        log.to_lowercase().contains("notify, incoming"),
        "Knot logged the incoming NOTIFY: {log}"
    );
    assert!(
        log.contains("IXFR, incoming")
            && log
                .lines()
                .any(|l| l.contains("IXFR, incoming") && l.contains("finished")),
        "Knot took the change by IXFR: {log}"
    );
    // an IXFR from the serial before: current SOA, old SOA (nothing removed), new SOA, the new
    // record, current SOA (RFC 1995 §4)
    let ixfr = Command::new("kdig")
        .args(["@127.0.0.1", "-p", &dns_port(&stack), "+tcp"])
        .args([&format!("IXFR={serial_before}"), &zone])
        .output()?;
    let ixfr = String::from_utf8_lossy(&ixfr.stdout);
    let lines: Vec<Vec<&str>> = ixfr
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    let soas: Vec<&str> = lines
        .iter()
        .filter(|f| f.get(3) == Some(&"SOA"))
        .map(|f| f[6])
        .collect();
    let now = soa_serial(&stack, &zone).to_string();
    assert_eq!(
        soas,
        [
            now.as_str(),
            &serial_before.to_string(),
            now.as_str(),
            now.as_str()
        ],
        "{ixfr}"
    );
    assert!(
        lines
            .iter()
            .any(|f| f[0] == format!("baru.{zone}.") && f.get(4) == Some(&"10.8.0.2")),
        "{ixfr}"
    );
    assert_eq!(lines.len(), 5, "only the change is sent: {ixfr}");
    // a removal reaches Knot the same way
    records
        .delete(
            &record_object_name(&format!("awal.{zone}"), RecordType::A),
            &DeleteParams::default(),
        )
        .await?;
    wait_for("Knot drops the removed record", T, || async {
        Ok(kdig(format!("awal.{zone}")).is_empty().then_some(()))
    })
    .await?;
    let log = std::fs::read_to_string(dir.join("knot.log")).unwrap_or_default();
    let finished = |kind: &str| {
        log.lines()
            .filter(|l| l.contains(&format!("{kind}, incoming")) && l.contains("finished"))
            .count()
    };
    // one serial change per change is not guaranteed (the operator's serial may follow
    // kavling-dns's own step), so: one full transfer, every later one incremental
    assert_eq!(
        finished("AXFR"),
        1,
        "after the first, transfers are incremental: {log}"
    );
    assert!(finished("IXFR") >= 2, "the two changes came by IXFR: {log}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// What a DNS engineer compares between two servers for one question: status, the AA flag,
/// and each section's (name, type[, data]) — TTLs aside.
fn summary(port: &str, name: &str, t: &str) -> String {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            port,
            "+norec",
            "+time=1",
            "+tries=1",
            name,
            t,
        ])
        .output()
        .expect("dig");
    let text = String::from_utf8_lossy(&out.stdout);
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("none")
        .to_string();
    let aa = text
        .lines()
        .find(|l| l.contains(";; flags:"))
        .is_some_and(|l| l.split(';').nth(2).unwrap_or_default().contains(" aa"));
    let mut sections: Vec<String> = vec![];
    let mut current = String::new();
    let mut rows: Vec<String> = vec![];
    for line in text.lines() {
        if let Some(s) = line
            .strip_prefix(";; ")
            .and_then(|l| l.strip_suffix(" SECTION:"))
        {
            if !current.is_empty() {
                rows.sort();
                sections.push(format!("{current}: {}", rows.join(" | ")));
            }
            current = s.to_string();
            rows.clear();
        } else if !current.is_empty() && !line.is_empty() && !line.starts_with(';') {
            let f: Vec<&str> = line.split_whitespace().collect();
            let keep = if current == "ANSWER" {
                f.len()
            } else {
                4.min(f.len())
            };
            let cols: Vec<&str> = f[..keep]
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 1)
                .map(|(_, c)| *c)
                .collect();
            rows.push(cols.join(" "));
        } else if line.is_empty() && !current.is_empty() {
            rows.sort();
            sections.push(format!("{current}: {}", rows.join(" | ")));
            current.clear();
            rows.clear();
        }
    }
    sections.retain(|s| !s.starts_with("QUESTION") && !s.starts_with("OPT"));
    format!("{status} aa={aa} {}", sections.join(" ; "))
}

/// Issue #22, defects 1, 2 and 5: the same questions to Kavling and to Knot serving the same
/// zone (transferred from Kavling) get the same status, flags and sections.
#[tokio::test]
async fn cname_chains_are_answered_as_knot_answers_them() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let knot_port = dns_port(&stack).parse::<u16>()? + 12;
    let zone = new_zone(
        &stack,
        Transfer {
            allow: vec!["127.0.0.1".into()],
            notify: vec![format!("127.0.0.1:{knot_port}")],
            keys: vec![],
        },
    )
    .await?;
    let records: Api<DnsRecord> = Api::all(stack.client_as("kavling-restore").await?);
    let desa = format!("desa.{zone}");
    for r in [
        record(
            &zone,
            "desa",
            RecordType::NS,
            None,
            &[&format!("ns.{desa}")],
        ),
        record(&zone, "ns.desa", RecordType::A, None, &["10.9.9.9"]),
        record(
            &zone,
            "todeleg",
            RecordType::CNAME,
            None,
            &[&format!("portal.{desa}")],
        ),
        record(
            &zone,
            "putus",
            RecordType::CNAME,
            None,
            &[&format!("hilang.{zone}")],
        ),
        record(
            &zone,
            "kosong",
            RecordType::CNAME,
            None,
            &[&format!("mail.{zone}")],
        ),
        record(&zone, "mail", RecordType::A, None, &["10.0.0.25"]),
        record(
            &zone,
            "l1",
            RecordType::CNAME,
            None,
            &[&format!("l2.{zone}")],
        ),
        record(
            &zone,
            "l2",
            RecordType::CNAME,
            None,
            &[&format!("l1.{zone}")],
        ),
    ] {
        records.create(&PostParams::default(), &r).await?;
    }
    wait_for("the chain served by Kavling", T, || async {
        Ok((!short(&stack, &format!("l2.{zone}"), "CNAME").is_empty()).then_some(()))
    })
    .await?;

    let (_knot, dir) = knot_secondary(&stack, &zone, knot_port, "knot-diff")?;
    let kport = knot_port.to_string();
    let ours = dns_port(&stack);
    wait_for("Knot has the same zone (serial)", T, || async {
        let serial = |p: &str| {
            let s = summary(p, &zone, "SOA");
            let f: Vec<&str> = s.split_whitespace().collect();
            let at = f.iter().position(|x| *x == "SOA")?;
            f.get(at + 3).map(|x| x.to_string())
        };
        Ok((serial(&kport).is_some() && serial(&kport) == serial(&ours)).then_some(()))
    })
    .await?;
    for (name, t) in [
        ("todeleg", "A"),
        ("putus", "A"),
        ("kosong", "AAAA"),
        ("l1", "A"),
    ] {
        let q = format!("{name}.{zone}");
        let (k, o) = (summary(&kport, &q, t), summary(&ours, &q, t));
        eprintln!("{q} {t}: {o}");
        assert!(o.contains("ANSWER: "), "{q} {t}: no answer section: {o}");
        assert_eq!(o, k, "{q} {t}: Kavling vs Knot");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A zone as an office writes it today: `$ORIGIN`, `$TTL`, `@`, relative names, a blank
/// owner, omitted class and TTL, parentheses, several TXT strings, `;` inside quotes.
const OFFICE_ZONE: &str = r#"$ORIGIN kantor.go.id.
$TTL 1h
@   IN  SOA ns1 hostmaster (
            2026120501 ; serial
            3600 600 1209600 300 )
    86400 IN NS ns1
        IN NS ns2.kantor.go.id.
ns1     A   192.0.2.1
ns2     A   192.0.2.2
www 300 A   192.0.2.80
    300 A   192.0.2.81
mail    IN 5m MX 10 mx
mx      AAAA 2001:db8::25
dkim._domainkey TXT ( "v=DKIM1; k=rsa; "
                      "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC" ) ; two strings
caa     CAA 0 issue "letsencrypt.org; validationmethods=dns-01"
quote   TXT "say \"hi\"" plain
srv._tcp SRV 10 5 443 www
$ORIGIN desa.kantor.go.id.
balai   CNAME www.kantor.go.id.
"#;

/// Knot and kavling-dns serving one master file, side by side, stopped on drop.
struct SideBySide {
    _knot: Killed,
    _kavling: Killed,
    dir: std::path::PathBuf,
    kavling_port: u16,
    knot_port: u16,
}

impl SideBySide {
    /// Starts both on `text` as zone `domain` and waits until both answer its SOA.
    fn start(domain: &str, text: &str, slot: u16) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(unique("master-file"));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(format!("{domain}.zone"));
        std::fs::write(&file, text)?;
        // ports well away from the stacks' (18000+, 19000+)
        let base = 24000 + slot * 2000 + (std::process::id() % 500) as u16 * 4;
        let (kavling_port, knot_port) = (base, base + 1);
        let conf = format!(
            "server:\n    listen: 127.0.0.1@{knot_port}\n    rundir: {d}\n\ndatabase:\n    storage: {d}\n\ntemplate:\n  - id: default\n    storage: {d}\n    zonefile-sync: -1\n    journal-content: none\n\nzone:\n  - domain: {domain}\n    file: {f}\n",
            d = dir.display(),
            f = file.display()
        );
        std::fs::write(dir.join("knot.conf"), conf)?;
        let knot = Killed(
            Command::new("knotd")
                .args(["-c", &dir.join("knot.conf").to_string_lossy()])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("knot.log"))?)
                .spawn()?,
        );
        let kavling = Killed(
            Command::new(kavling_e2e::workspace_bin("kavling-dns"))
                .args([
                    "--no-api",
                    "--listen",
                    &format!("127.0.0.1:{kavling_port}"),
                    "--http",
                    &format!("127.0.0.1:{}", base + 2),
                    "--zone-file",
                    &format!("{domain}={}", file.display()),
                ])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("kavling-dns.log"))?)
                .spawn()?,
        );
        let both = Self {
            _knot: knot,
            _kavling: kavling,
            dir,
            kavling_port,
            knot_port,
        };
        let started = Instant::now();
        while both.answers(both.kavling_port, domain, "SOA").is_empty()
            || both.answers(both.knot_port, domain, "SOA").is_empty()
        {
            anyhow::ensure!(
                started.elapsed() < T,
                "servers not answering; see {}",
                both.dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(both)
    }

    /// Every answer and authority line (owner, TTL, class, type, data), sorted.
    fn answers(&self, port: u16, name: &str, t: &str) -> String {
        let out = Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &port.to_string(),
                "+norec",
                "+time=1",
                "+tries=1",
            ])
            .args(["+noall", "+answer", "+authority", name, t])
            .output()
            .expect("dig");
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with(';') && !l.is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        lines.sort();
        lines.join("\n")
    }

    /// Kavling's answer lines for the question, after checking Knot gives the same lines and
    /// the same status and flags.
    fn same(&self, name: &str, t: &str) -> String {
        let ours = self.answers(self.kavling_port, name, t);
        assert_eq!(ours, self.answers(self.knot_port, name, t), "{name} {t}");
        let (o, k) = (self.kavling_port.to_string(), self.knot_port.to_string());
        assert_eq!(summary(&o, name, t), summary(&k, name, t), "{name} {t}");
        ours
    }
}

impl Drop for SideBySide {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Issue #22, defect 4: kavling-dns and Knot load the same standard master file and give the
/// same answers, TTLs and data included.
#[test]
fn a_standard_master_file_is_answered_as_knot_answers_it() -> anyhow::Result<()> {
    let both = SideBySide::start("kantor.go.id", OFFICE_ZONE, 0)?;
    let questions = [
        ("kantor.go.id", "SOA"),
        ("kantor.go.id", "NS"),
        ("www.kantor.go.id", "A"),
        ("mail.kantor.go.id", "MX"),
        ("mx.kantor.go.id", "AAAA"),
        ("dkim._domainkey.kantor.go.id", "TXT"),
        ("caa.kantor.go.id", "CAA"),
        ("quote.kantor.go.id", "TXT"),
        ("srv._tcp.kantor.go.id", "SRV"),
        ("balai.desa.kantor.go.id", "A"),
        ("nothing.kantor.go.id", "A"),
    ];
    for (name, t) in questions {
        let ours = both.same(name, t);
        assert!(!ours.is_empty(), "{name} {t}: no answer from kavling-dns");
    }
    // what it serves, spelled out once (the comparison alone would pass on two equal errors)
    let txt = both.same("dkim._domainkey.kantor.go.id", "TXT");
    assert!(txt.contains(r#""v=DKIM1; k=rsa; " "p=MIGf"#), "{txt}");
    let caa = both.same("caa.kantor.go.id", "CAA");
    assert!(caa.contains("validationmethods=dns-01"), "{caa}");
    let ns = both.same("kantor.go.id", "NS");
    assert!(ns.starts_with("kantor.go.id. 3600 IN NS"), "{ns}");
    Ok(())
}

/// Wildcards as RFC 4592 §2.2.1 draws them: one at the apex, an empty non-terminal (`ent`)
/// that blocks it, a wildcard CNAME, a CNAME whose target only a wildcard answers, and a
/// delegation whose names stay the child's.
const WILDCARD_ZONE: &str = r#"$ORIGIN wild.go.id.
$TTL 1h
@       SOA ns1 hostmaster 2026120501 3600 600 1209600 300
        NS  ns1
ns1     A   192.0.2.1
*   600 A   192.0.2.99
*       TXT "wildcard"
portal  A   192.0.2.10
host.ent A  192.0.2.2
*.alias CNAME portal
alias   A   192.0.2.3
ke-wild CNAME apa.saja
*.surel MX  10 mail
desa    NS  ns.desa
ns.desa A   192.0.2.53
"#;

/// Issue #22, wildcards: the same questions to kavling-dns and Knot on one file get the same
/// status, flags and records, TTLs included.
#[test]
fn wildcards_are_answered_as_knot_answers_them() -> anyhow::Result<()> {
    let both = SideBySide::start("wild.go.id", WILDCARD_ZONE, 1)?;
    let questions = [
        ("apa.wild.go.id", "A"),
        ("a.b.c.wild.go.id", "A"),
        ("apa.wild.go.id", "TXT"),
        ("apa.wild.go.id", "MX"),
        ("apa.wild.go.id", "AAAA"),
        ("*.wild.go.id", "A"),
        ("portal.wild.go.id", "TXT"),
        ("ent.wild.go.id", "A"),
        ("x.ent.wild.go.id", "A"),
        ("x.alias.wild.go.id", "A"),
        ("x.alias.wild.go.id", "CNAME"),
        ("ke-wild.wild.go.id", "A"),
        ("kotak.surel.wild.go.id", "MX"),
        ("surel.wild.go.id", "MX"),
        ("x.desa.wild.go.id", "A"),
    ];
    for (name, t) in questions {
        both.same(name, t);
    }
    // what it serves, spelled out (two equal wrong answers would pass the comparison)
    assert_eq!(
        both.same("a.b.c.wild.go.id", "A"),
        "a.b.c.wild.go.id. 600 IN A 192.0.2.99"
    );
    let blocked = both.same("x.ent.wild.go.id", "A");
    assert!(blocked.contains(" SOA "), "{blocked}");
    assert!(!blocked.contains("192.0.2.99"), "{blocked}");
    let chain = both.same("ke-wild.wild.go.id", "A");
    assert!(
        chain.contains("apa.saja.wild.go.id. 600 IN A 192.0.2.99"),
        "{chain}"
    );
    Ok(())
}

/// Knot as a secondary holding `secret` for key `transfer.<zone>`, transferring from
/// kavling-dns at `primary`; stopped when the handle drops. Its log is `knot.log` in the dir.
fn knot_with_key(
    dir: &std::path::Path,
    zone: &str,
    knot_port: u16,
    primary: u16,
    secret: &str,
) -> anyhow::Result<Killed> {
    std::fs::create_dir_all(dir)?;
    let conf = format!(
        "log:\n  - target: stderr\n    any: info\n\nserver:\n    listen: 127.0.0.1@{knot_port}\n    rundir: {d}\n\ndatabase:\n    storage: {d}\n\nkey:\n  - id: transfer.{zone}\n    algorithm: hmac-sha256\n    secret: {secret}\n\nremote:\n  - id: kavling\n    address: 127.0.0.1@{primary}\n    key: transfer.{zone}\n\nacl:\n  - id: signed_notify\n    address: 127.0.0.1\n    key: transfer.{zone}\n    action: notify\n\ntemplate:\n  - id: default\n    storage: {d}\n    zonefile-sync: -1\n    journal-content: none\n\nzone:\n  - domain: {zone}\n    master: kavling\n    acl: signed_notify\n",
        d = dir.display(),
    );
    std::fs::write(dir.join("knot.conf"), conf)?;
    Ok(Killed(
        Command::new("knotd")
            .args(["-c", &dir.join("knot.conf").to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("knot.log"))?)
            .spawn()?,
    ))
}

/// Issue #22, TSIG (RFC 8945): Knot holding the key transfers a zone of several thousand
/// records — many messages, each signed over the one before, each checked by Knot — and
/// answers it; Knot with a wrong secret gets nothing; an unsigned request is refused while the
/// zone asks for the key, and kdig checks a signed SOA answer.
#[test]
fn knot_transfers_a_zone_signed_with_tsig_and_a_wrong_key_gets_nothing() -> anyhow::Result<()> {
    use base64::Engine as _;
    let dir = std::env::temp_dir().join(unique("tsig"));
    std::fs::create_dir_all(&dir)?;
    let zone = "tsig.go.id";
    let mut text = format!(
        "$ORIGIN {zone}.\n$TTL 1h\n@ SOA ns1 hostmaster 2026120501 3600 600 1209600 300\n  NS ns1\nns1 A 192.0.2.1\n"
    );
    for i in 0..3000 {
        text.push_str(&format!("host{i} A 10.{}.{}.1\n", i / 250, i % 250));
    }
    let file = dir.join("zone");
    std::fs::write(&file, text)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let secret = b64.encode(b"kunci rahasia transfer 32 oktet!");
    let wrong = b64.encode(b"kunci yang salah sama sekali!!!!");
    let base = 30000 + (std::process::id() % 500) as u16 * 4;
    let key = format!("transfer.{zone}");
    let _kavling = Killed(
        Command::new(kavling_e2e::workspace_bin("kavling-dns"))
            .args(["--no-api", "--listen", &format!("127.0.0.1:{base}")])
            .args(["--http", &format!("127.0.0.1:{}", base + 3)])
            .args(["--zone-file", &format!("{zone}={}", file.display())])
            .args(["--tsig-key", &format!("{key}={secret}")])
            .args(["--transfer-allow", "127.0.0.1", "--transfer-key", &key])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("kavling-dns.log"))?)
            .spawn()?,
    );
    let ours = base.to_string();
    let started = Instant::now();
    while !summary(&ours, zone, "SOA").starts_with("NOERROR") {
        anyhow::ensure!(started.elapsed() < T, "kavling-dns not answering");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _good = knot_with_key(&dir.join("good"), zone, base + 1, base, &secret)?;
    let _bad = knot_with_key(&dir.join("bad"), zone, base + 2, base, &wrong)?;
    let (good, bad) = ((base + 1).to_string(), (base + 2).to_string());
    let started = Instant::now();
    while summary(&good, &format!("host2999.{zone}"), "A")
        != summary(&ours, &format!("host2999.{zone}"), "A")
    {
        anyhow::ensure!(
            started.elapsed() < T,
            "Knot with the key never served the zone; see {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(summary(&good, &format!("host2999.{zone}"), "A").contains("10.11.249.1"));
    // the wrong secret: Knot's request is refused (BADSIG) and it serves nothing
    let bad_answer = summary(&bad, zone, "SOA");
    assert!(!bad_answer.starts_with("NOERROR"), "{bad_answer}");
    let log = std::fs::read_to_string(dir.join("bad/knot.log"))?;
    assert!(log.contains("BADSIG") || log.contains("TSIG"), "{log}");
    // unsigned: refused; signed by kdig: answered and the answer's signature checks out
    let axfr = Command::new("dig")
        .args(["@127.0.0.1", "-p", &ours, zone, "AXFR"])
        .output()?;
    assert!(String::from_utf8_lossy(&axfr.stdout).contains("Transfer failed"));
    let kdig = Command::new("kdig")
        .args([
            "@127.0.0.1",
            "-p",
            &ours,
            "-y",
            &format!("hmac-sha256:{key}:{secret}"),
            zone,
            "SOA",
        ])
        .output()?;
    let out =
        String::from_utf8_lossy(&kdig.stdout).to_string() + &String::from_utf8_lossy(&kdig.stderr);
    assert!(
        out.contains("status: NOERROR") && out.contains("TSIG"),
        "{out}"
    );
    assert!(
        !out.contains("WARNING"),
        "kdig could not verify our signature: {out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Issue #22, TSIG from the API: the key is a Secret in kavling-tsig that kavling-dns reads
/// and a tenant cannot; the Zone names it; Knot holding it transfers the zone and follows a
/// change by the signed NOTIFY; an unsigned transfer is refused.
#[tokio::test]
async fn a_zone_naming_a_tsig_key_is_transferred_only_signed_and_notifies_signed()
-> anyhow::Result<()> {
    use base64::Engine as _;
    let stack = Stack::load()?;
    let admin = stack.client_as("admin").await?;
    let id = unique("tsigapi");
    let zone = format!("{id}.go.id");
    let key = format!("transfer.{zone}");
    let secret = b"kunci transfer dari Secret 32 ok";
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(admin.clone(), "kavling-tsig");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": key, "labels": {"kavling.go.id/tsig-key": "true"}},
                "data": {"secret": base64::engine::general_purpose::STANDARD.encode(secret)}
            }))?,
        )
        .await?;
    // a tenant cannot read the keys
    let rina: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(stack.client_as("rina").await?, "kavling-tsig");
    let denied = rina.get(&key).await.expect_err("rina reads a TSIG key");
    assert_eq!(kavling_e2e::api_code(&denied), Some(403));

    let knot_port = dns_port(&stack).parse::<u16>()? + 14;
    Api::<Zone>::all(admin.clone())
        .create(
            &PostParams::default(),
            &Zone::new(
                &zone,
                zone_spec(
                    &zone,
                    Transfer {
                        allow: vec!["127.0.0.1".into()],
                        notify: vec![format!("127.0.0.1:{knot_port}")],
                        keys: vec![key.clone()],
                    },
                ),
            ),
        )
        .await?;
    wait_for("zone served", T, || async {
        Ok(dig(&stack, &[&zone, "SOA"])
            .contains("status: NOERROR")
            .then_some(()))
    })
    .await?;
    let dir = std::env::temp_dir().join(unique("knot-tsig"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let _knot = knot_with_key(&dir, &zone, knot_port, dns_port(&stack).parse()?, &b64)?;
    let kport = knot_port.to_string();
    wait_for("Knot transferred the zone with the key", T, || async {
        Ok(summary(&kport, &zone, "SOA")
            .starts_with("NOERROR")
            .then_some(()))
    })
    .await?;
    // a change reaches Knot by the signed NOTIFY (its refresh is a minute away)
    let records: Api<DnsRecord> = Api::all(stack.client_as("kavling-restore").await?);
    records
        .create(
            &PostParams::default(),
            &record(&zone, "baru", RecordType::A, None, &["10.8.8.8"]),
        )
        .await?;
    let baru = format!("baru.{zone}");
    wait_for("Knot follows the signed NOTIFY", T, || async {
        Ok(summary(&kport, &baru, "A")
            .contains("10.8.8.8")
            .then_some(()))
    })
    .await?;
    let log = std::fs::read_to_string(dir.join("knot.log"))?;
    assert!(log.contains("notify, incoming"), "{log}");
    // unsigned, from an allowed address: refused
    let axfr = Command::new("dig")
        .args(["@127.0.0.1", "-p", &dns_port(&stack), &zone, "AXFR"])
        .output()?;
    assert!(String::from_utf8_lossy(&axfr.stdout).contains("Transfer failed"));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
