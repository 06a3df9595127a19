//! The query path, checked by decoding every response with hickory-proto.

use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType as HType};
use hickory_proto::serialize::binary::BinEncodable;

use super::answer::{Catalog, Outcome, Transport, answer};
use super::wire;
use super::zone::{RecordData, build};
use crate::api::{NamingPolicy, RecordType, Soa, Transfer, ZoneSpec};

pub(super) fn spec() -> ZoneSpec {
    ZoneSpec {
        soa: Soa {
            primary: "ns1.kota.go.id".into(),
            hostmaster: "hostmaster@kota.go.id".into(),
            refresh: 3600,
            retry: 600,
            expire: 1209600,
            negative_ttl: 300,
        },
        nameservers: vec!["ns1.kota.go.id".into(), "ns2.kota.go.id".into()],
        default_ttl: 3600,
        transfer: Transfer::default(),
        policy: NamingPolicy::default(),
        tenants: vec![],
        dnssec: Default::default(),
    }
}

fn rec(name: &str, t: RecordType, values: &[&str]) -> RecordData {
    RecordData {
        name: name.into(),
        type_: t,
        ttl: Some(600),
        values: values.iter().map(|s| s.to_string()).collect(),
    }
}

fn catalog() -> Catalog {
    let records = vec![
        rec(
            "portal.kota.go.id",
            RecordType::A,
            &["10.0.0.1", "10.0.0.2"],
        ),
        rec("portal.kota.go.id", RecordType::AAAA, &["2001:db8::1"]),
        rec(
            "www.portal.kota.go.id",
            RecordType::CNAME,
            &["portal.kota.go.id"],
        ),
        rec("a.b.c.kota.go.id", RecordType::TXT, &["deep"]),
        rec("kota.go.id", RecordType::MX, &["10 mail.kota.go.id"]),
        rec("mail.kota.go.id", RecordType::A, &["10.0.0.25"]),
        rec("ext.kota.go.id", RecordType::CNAME, &["example.org"]),
        rec("desa.kota.go.id", RecordType::NS, &["ns.desa.kota.go.id"]),
        rec("ns.desa.kota.go.id", RecordType::A, &["10.9.9.9"]),
        rec(
            "big.kota.go.id",
            RecordType::TXT,
            &[&"x".repeat(250), &"y".repeat(250), &"z".repeat(250)],
        ),
    ];
    let snap = build("kota.go.id", &spec(), 2026112301, &records).unwrap();
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
    let mut c = Catalog {
        complete: true,
        ..Default::default()
    };
    c.zones.insert(snap.apex.clone(), Arc::new(snap));
    c
}

fn query(name: &str, t: HType, edns: Option<u16>) -> Vec<u8> {
    let mut m = Message::new(0xBEEF, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    if let Some(size) = edns {
        let mut e = hickory_proto::op::Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m.to_bytes().unwrap()
}

fn ask(c: &Catalog, q: &[u8], t: Transport) -> Message {
    let mut out = Vec::new();
    match answer(c, q, t, &mut out) {
        Outcome::Reply { .. } => Message::from_vec(&out).expect("our response parses"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn positive_answer_is_authoritative_and_echoes_case() {
    let c = catalog();
    let r = ask(
        &c,
        &query("PoRtAl.Kota.Go.Id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(r.metadata.id, 0xBEEF);
    assert_eq!(r.metadata.message_type, MessageType::Response);
    assert!(
        r.metadata.authoritative && r.metadata.recursion_desired && !r.metadata.recursion_available
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.queries[0].name().to_ascii(), "PoRtAl.Kota.Go.Id.");
    let addrs: Vec<String> = r.answers.iter().map(|a| a.data.to_string()).collect();
    assert_eq!(addrs, ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(r.answers[0].ttl, 600);
}

#[test]
fn nxdomain_and_nodata_carry_the_soa_with_the_negative_ttl() {
    let c = catalog();
    let nx = ask(
        &c,
        &query("nope.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(nx.answers.is_empty());
    assert_eq!(nx.authorities.len(), 1);
    assert_eq!(nx.authorities[0].record_type(), HType::SOA);
    assert_eq!(nx.authorities[0].name.to_ascii(), "kota.go.id.");
    assert_eq!(nx.authorities[0].ttl, 300);
    let RData::SOA(soa) = &nx.authorities[0].data else {
        panic!()
    };
    assert_eq!(soa.serial, 2026112301);
    assert_eq!(soa.rname.to_ascii(), "hostmaster.kota.go.id.");

    let nodata = ask(
        &c,
        &query("portal.kota.go.id.", HType::MX, None),
        Transport::Udp,
    );
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities[0].record_type(), HType::SOA);
}

#[test]
fn empty_non_terminals_are_nodata_not_nxdomain() {
    let c = catalog();
    for n in ["b.c.kota.go.id.", "c.kota.go.id."] {
        let r = ask(&c, &query(n, HType::A, None), Transport::Udp);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{n}");
        assert!(r.answers.is_empty());
    }
    let r = ask(
        &c,
        &query("x.c.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn apex_has_soa_ns_and_mx() {
    let c = catalog();
    let ns = ask(&c, &query("kota.go.id.", HType::NS, None), Transport::Udp);
    let names: Vec<String> = ns.answers.iter().map(|a| a.data.to_string()).collect();
    assert_eq!(names, ["ns1.kota.go.id.", "ns2.kota.go.id."]);
    let soa = ask(&c, &query("kota.go.id.", HType::SOA, None), Transport::Udp);
    assert_eq!(soa.answers.len(), 1);
    let mx = ask(&c, &query("kota.go.id.", HType::MX, None), Transport::Udp);
    let RData::MX(m) = &mx.answers[0].data else {
        panic!()
    };
    assert_eq!(
        (m.preference, m.exchange.to_ascii()),
        (10, "mail.kota.go.id.".to_string())
    );
}

#[test]
fn cname_is_chased_inside_the_zone_but_not_outside() {
    let c = catalog();
    let r = ask(
        &c,
        &query("www.portal.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    let types: Vec<HType> = r.answers.iter().map(|a| a.record_type()).collect();
    assert_eq!(types, [HType::CNAME, HType::A, HType::A]);
    assert_eq!(r.answers[1].name.to_ascii(), "portal.kota.go.id.");
    let ext = ask(
        &c,
        &query("ext.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(ext.answers.len(), 1);
    assert_eq!(ext.metadata.response_code, ResponseCode::NoError);
    let own = ask(
        &c,
        &query("www.portal.kota.go.id.", HType::CNAME, None),
        Transport::Udp,
    );
    assert_eq!(own.answers.len(), 1);
}

#[test]
fn delegation_refers_with_glue_and_is_not_authoritative() {
    let c = catalog();
    for n in ["desa.kota.go.id.", "www.desa.kota.go.id."] {
        let r = ask(&c, &query(n, HType::A, None), Transport::Udp);
        assert!(!r.metadata.authoritative, "{n}");
        assert!(r.answers.is_empty());
        assert_eq!(r.authorities[0].record_type(), HType::NS);
        assert_eq!(r.authorities[0].name.to_ascii(), "desa.kota.go.id.");
        assert_eq!(r.additionals[0].name.to_ascii(), "ns.desa.kota.go.id.");
        assert_eq!(r.additionals[0].data.to_string(), "10.9.9.9");
    }
}

#[test]
fn outside_our_zones_is_refused() {
    let c = catalog();
    let r = ask(&c, &query("example.org.", HType::A, None), Transport::Udp);
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert!(!r.metadata.authoritative);
}

#[test]
fn edns_is_echoed_and_big_answers_truncate_on_udp_only() {
    let c = catalog();
    let plain = ask(
        &c,
        &query("big.kota.go.id.", HType::TXT, None),
        Transport::Udp,
    );
    assert!(plain.metadata.truncation && plain.answers.is_empty());
    let edns = ask(
        &c,
        &query("big.kota.go.id.", HType::TXT, Some(1232)),
        Transport::Udp,
    );
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 3);
    assert!(edns.edns.is_some());
    let tcp = ask(
        &c,
        &query("big.kota.go.id.", HType::TXT, None),
        Transport::Tcp,
    );
    assert_eq!(tcp.answers.len(), 3);
}

#[test]
fn any_gets_the_rfc8482_answer_and_chaos_says_who_we_are() {
    let c = catalog();
    let any = ask(
        &c,
        &query("portal.kota.go.id.", HType::ANY, None),
        Transport::Udp,
    );
    assert_eq!(any.answers.len(), 1);
    assert_eq!(any.answers[0].record_type(), HType::HINFO);
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    let mut qq = Query::query(Name::from_ascii("version.bind.").unwrap(), HType::TXT);
    qq.set_query_class(DNSClass::CH);
    m.add_query(qq);
    let r = ask(&c, &m.to_bytes().unwrap(), Transport::Udp);
    assert!(r.answers[0].data.to_string().contains("kavling 0."));
    // id.server and hostname.bind name the instance (RFC 4892), not the version
    let mut c = c;
    c.identity = "kavling-dns-7f9c".into();
    for name in ["id.server.", "hostname.bind."] {
        let mut m = Message::new(8, MessageType::Query, OpCode::Query);
        let mut qq = Query::query(Name::from_ascii(name).unwrap(), HType::TXT);
        qq.set_query_class(DNSClass::CH);
        m.add_query(qq);
        let r = ask(&c, &m.to_bytes().unwrap(), Transport::Udp);
        assert_eq!(r.answers[0].data.to_string(), "kavling-dns-7f9c", "{name}");
    }
}

#[test]
fn formerr_to_an_edns_query_carries_opt_with_its_do_bit() {
    let c = catalog();
    // two questions and an OPT with DO: FORMERR, and OPT back with DO (RFC 6891 §7)
    let mut m = Message::new(11, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(
        Name::from_ascii("portal.kota.go.id.").unwrap(),
        HType::A,
    ));
    m.add_query(Query::query(
        Name::from_ascii("www.portal.kota.go.id.").unwrap(),
        HType::A,
    ));
    let mut e = hickory_proto::op::Edns::new();
    e.set_dnssec_ok(true);
    m.set_edns(e);
    let mut out = Vec::new();
    assert!(matches!(
        answer(&c, &m.to_bytes().unwrap(), Transport::Udp, &mut out),
        Outcome::Reply { rcode: 1, .. }
    ));
    let r = Message::from_vec(&out).unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    let opt = r.edns.as_ref().expect("OPT in the FORMERR");
    assert!(opt.flags().dnssec_ok);
    // no question at all, same
    let mut none = Message::new(12, MessageType::Query, OpCode::Query);
    none.set_edns(hickory_proto::op::Edns::new());
    answer(&c, &none.to_bytes().unwrap(), Transport::Udp, &mut out);
    let r = Message::from_vec(&out).unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    assert!(r.edns.is_some(), "no question, still OPT");
    // without EDNS, none
    let mut plain = query("portal.kota.go.id.", HType::A, None);
    plain[5] = 2;
    answer(&c, &plain, Transport::Udp, &mut out);
    assert!(Message::from_vec(&out).unwrap().edns.is_none());
}

#[test]
fn malformed_messages_get_formerr_or_nothing() {
    let c = catalog();
    let mut out = Vec::new();
    assert_eq!(
        answer(&c, &[0u8; 5], Transport::Udp, &mut out),
        Outcome::Drop
    );
    // a response is never answered
    let mut resp = query("portal.kota.go.id.", HType::A, None);
    resp[2] |= 0x80;
    assert_eq!(answer(&c, &resp, Transport::Udp, &mut out), Outcome::Drop);
    // two questions
    let mut two = query("portal.kota.go.id.", HType::A, None);
    two[5] = 2;
    assert!(matches!(
        answer(&c, &two, Transport::Udp, &mut out),
        Outcome::Reply { rcode: 1, .. }
    ));
    // compression pointer loop in the question
    let mut lp = query("a.kota.go.id.", HType::A, None);
    lp.truncate(12);
    lp.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
    assert!(matches!(
        answer(&c, &lp, Transport::Udp, &mut out),
        Outcome::Reply { rcode: 1, .. }
    ));
    // truncated question
    let mut cut = query("portal.kota.go.id.", HType::A, None);
    cut.truncate(20);
    assert!(matches!(
        answer(&c, &cut, Transport::Udp, &mut out),
        Outcome::Reply { rcode: 1, .. }
    ));
    // over-long label
    let mut long = vec![0u8; 12];
    long[5] = 1;
    long.push(64);
    long.extend(std::iter::repeat_n(b'a', 64));
    long.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert!(matches!(
        answer(&c, &long, Transport::Udp, &mut out),
        Outcome::Reply { rcode: 1, .. }
    ));
    // unknown class
    let mut cls = query("portal.kota.go.id.", HType::A, None);
    let n = cls.len();
    cls[n - 1] = 9;
    assert!(matches!(
        answer(&c, &cls, Transport::Udp, &mut out),
        Outcome::Reply { rcode: 5, .. }
    ));
}

#[test]
fn edns_version_1_is_badvers_and_axfr_over_udp_is_not_served() {
    let c = catalog();
    let mut m = Message::new(9, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(
        Name::from_ascii("portal.kota.go.id.").unwrap(),
        HType::A,
    ));
    let mut e = hickory_proto::op::Edns::new();
    e.set_version(1);
    m.set_edns(e);
    let r = ask(&c, &m.to_bytes().unwrap(), Transport::Udp);
    // BADVERS and BADSIG share code 16; hickory names it BADSIG
    assert_eq!(u16::from(r.metadata.response_code), 16);
    let axfr = ask(&c, &query("kota.go.id.", HType::AXFR, None), Transport::Udp);
    assert_ne!(axfr.metadata.response_code, ResponseCode::NoError);
    let mut out = Vec::new();
    assert!(matches!(
        answer(
            &c,
            &query("kota.go.id.", HType::AXFR, None),
            Transport::Tcp,
            &mut out
        ),
        Outcome::Transfer { .. }
    ));
}

#[test]
fn bad_records_are_skipped_and_named_not_fatal() {
    let snap = build(
        "kota.go.id",
        &spec(),
        1,
        &[
            rec("x.other.id", RecordType::A, &["10.0.0.1"]),
            rec("y.kota.go.id", RecordType::A, &["nope"]),
        ],
    )
    .unwrap();
    assert_eq!(snap.skipped.len(), 2);
    assert!(snap.node(&wire::name("y.kota.go.id").unwrap()).is_none());
}

/// Found by `cargo fuzz` (fuzz/fuzz_targets/query.rs): answer and authority counts whose sum
/// overflows u16 used to panic in debug builds and misjudge the OPT position in release.
#[test]
fn fuzz_regression_section_counts_overflow() {
    let c = catalog();
    let hex = "b2b262000001e4fffffffc00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000029000000000000000000000000000000000000000000000000000000000001";
    let q: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let mut out = Vec::new();
    for t in [Transport::Udp, Transport::Tcp] {
        let _ = answer(&c, &q, t, &mut out);
    }
}

/// The CNAME chains of issue #22's conformance defects 1, 2 and 5, in a zone of their own.
fn chains() -> Catalog {
    let records = vec![
        rec("desa.kota.go.id", RecordType::NS, &["ns.desa.kota.go.id"]),
        rec("ns.desa.kota.go.id", RecordType::A, &["10.9.9.9"]),
        rec(
            "todeleg.kota.go.id",
            RecordType::CNAME,
            &["portal.desa.kota.go.id"],
        ),
        rec(
            "putus.kota.go.id",
            RecordType::CNAME,
            &["hilang.kota.go.id"],
        ),
        rec("kosong.kota.go.id", RecordType::CNAME, &["mail.kota.go.id"]),
        rec("mail.kota.go.id", RecordType::A, &["10.0.0.25"]),
        rec("l1.kota.go.id", RecordType::CNAME, &["l2.kota.go.id"]),
        rec("l2.kota.go.id", RecordType::CNAME, &["l1.kota.go.id"]),
        rec(
            "dup.kota.go.id",
            RecordType::A,
            &["10.0.0.7", "10.0.0.7", "10.0.0.8"],
        ),
    ];
    let snap = build("kota.go.id", &spec(), 2026120301, &records).unwrap();
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
    let mut c = Catalog {
        complete: true,
        ..Default::default()
    };
    c.zones.insert(snap.apex.clone(), Arc::new(snap));
    c
}

#[test]
fn a_cname_into_a_delegated_child_gives_the_cname_and_a_referral() {
    let r = ask(
        &chains(),
        &query("todeleg.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    let types: Vec<HType> = r.answers.iter().map(|a| a.record_type()).collect();
    assert_eq!(types, [HType::CNAME], "nothing below the cut is answered");
    assert_eq!(r.authorities.len(), 1);
    assert_eq!(r.authorities[0].record_type(), HType::NS);
    assert_eq!(r.authorities[0].name.to_ascii(), "desa.kota.go.id.");
    assert_eq!(r.additionals[0].name.to_ascii(), "ns.desa.kota.go.id.");
    assert!(
        r.metadata.authoritative,
        "the CNAME is ours (RFC 1034 §4.3.2)"
    );
}

#[test]
fn negative_answers_at_the_end_of_a_chain_carry_the_soa() {
    let c = chains();
    let nx = ask(
        &c,
        &query("putus.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx.answers.len(), 1);
    assert_eq!(nx.authorities.len(), 1);
    assert_eq!(nx.authorities[0].record_type(), HType::SOA);
    let nodata = ask(
        &c,
        &query("kosong.kota.go.id.", HType::AAAA, None),
        Transport::Udp,
    );
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert_eq!(nodata.answers.len(), 1);
    assert_eq!(nodata.authorities[0].record_type(), HType::SOA);
}

#[test]
fn a_cname_loop_stops_where_it_closes_and_rrsets_have_no_duplicates() {
    let c = chains();
    let r = ask(&c, &query("l1.kota.go.id.", HType::A, None), Transport::Udp);
    let names: Vec<String> = r.answers.iter().map(|a| a.name.to_ascii()).collect();
    assert_eq!(
        names,
        ["l1.kota.go.id.", "l2.kota.go.id."],
        "peers give two"
    );
    let d = ask(
        &c,
        &query("dup.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    let values: Vec<String> = d.answers.iter().map(|a| a.data.to_string()).collect();
    assert_eq!(values, ["10.0.0.7", "10.0.0.8"]);
}

#[test]
fn the_do_bit_is_copied_back_and_refusals_of_edns_queries_carry_opt() {
    let c = catalog();
    let with_do = |name: &str| {
        let mut m = Message::new(11, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), HType::A));
        let mut e = hickory_proto::op::Edns::new();
        e.set_max_payload(1232);
        e.set_dnssec_ok(true);
        m.set_edns(e);
        m.to_bytes().unwrap()
    };
    let r = ask(&c, &with_do("portal.kota.go.id."), Transport::Udp);
    assert!(
        r.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
        "DO echoed (RFC 3225 §3)"
    );
    let plain = ask(
        &c,
        &query("portal.kota.go.id.", HType::A, Some(1232)),
        Transport::Udp,
    );
    assert!(plain.edns.as_ref().is_some_and(|e| !e.flags().dnssec_ok));
    let refused = ask(&c, &with_do("example.org."), Transport::Udp);
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(
        refused.edns.is_some(),
        "a refusal of an EDNS query has OPT (RFC 6891 §6.1.1)"
    );
}

#[test]
fn an_unknown_opcode_without_a_question_is_notimp_and_ixfr_over_udp_gets_the_soa() {
    let c = catalog();
    let mut status = vec![0u8; 12];
    status[0] = 0x12;
    status[2] = 2 << 3; // opcode STATUS, no question
    let mut out = Vec::new();
    assert!(matches!(
        answer(&c, &status, Transport::Udp, &mut out),
        Outcome::Reply { rcode: 4, .. }
    ));
    let r = ask(&c, &query("kota.go.id.", HType::IXFR, None), Transport::Udp);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    let types: Vec<HType> = r.answers.iter().map(|a| a.record_type()).collect();
    assert_eq!(
        types,
        [HType::SOA],
        "RFC 1995 §2: the current SOA alone over UDP"
    );
    assert!(r.metadata.authoritative);
}

#[test]
fn any_at_an_empty_non_terminal_is_nodata() {
    let r = ask(
        &catalog(),
        &query("b.c.kota.go.id.", HType::ANY, None),
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty(), "{:?}", r.answers);
    assert_eq!(r.authorities[0].record_type(), HType::SOA);
}

#[test]
fn transfers_are_allowed_to_addresses_and_ranges() {
    let mut s = spec();
    s.transfer.allow = vec![
        "192.0.2.53".into(),
        "10.20.0.0/24".into(),
        "2001:db8::/64".into(),
    ];
    let snap = build("kota.go.id", &s, 1, &[]).unwrap();
    for (ip, ok) in [
        ("192.0.2.53", true),
        ("192.0.2.54", false),
        ("10.20.0.77", true),
        ("10.20.1.1", false),
        ("2001:db8::35", true),
    ] {
        assert_eq!(snap.may_transfer(ip.parse().unwrap()), ok, "{ip}");
    }
}

#[test]
fn ds_at_a_delegation_is_answered_from_the_parent_side() {
    let c = catalog();
    let r = ask(
        &c,
        &query("desa.kota.go.id.", HType::DS, None),
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(
        r.metadata.authoritative,
        "the parent is authoritative for DS"
    );
    assert!(r.answers.is_empty());
    assert_eq!(
        r.authorities[0].record_type(),
        HType::SOA,
        "NODATA, not a referral"
    );
    let below = ask(
        &c,
        &query("www.desa.kota.go.id.", HType::DS, None),
        Transport::Udp,
    );
    assert!(!below.metadata.authoritative);
    assert_eq!(below.authorities[0].record_type(), HType::NS);
}

#[test]
fn before_the_first_complete_catalog_our_names_get_servfail_not_refused() {
    let early = Catalog::default();
    let r = ask(
        &early,
        &query("portal.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    let r = ask(
        &catalog(),
        &query("example.org.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
}

/// A zone with wildcards as RFC 4592 §2.2.1 draws them: `*.kota.go.id`, an empty non-terminal
/// (`sub.*`'s parent) blocking it below `ent`, a wildcard CNAME, and a child zone below one.
fn wildcards() -> Catalog {
    let records = vec![
        rec("*.kota.go.id", RecordType::A, &["10.0.0.99"]),
        rec("*.kota.go.id", RecordType::TXT, &["wildcard"]),
        rec("portal.kota.go.id", RecordType::A, &["10.0.0.1"]),
        rec("host.ent.kota.go.id", RecordType::A, &["10.0.0.2"]),
        rec(
            "*.alias.kota.go.id",
            RecordType::CNAME,
            &["portal.kota.go.id"],
        ),
        rec("alias.kota.go.id", RecordType::A, &["10.0.0.3"]),
        rec(
            "*.putus.kota.go.id",
            RecordType::CNAME,
            &["x.hilang.kota.go.id"],
        ),
        rec(
            "ke-wild.kota.go.id",
            RecordType::CNAME,
            &["apa.saja.kota.go.id"],
        ),
        rec("*.desa.kota.go.id", RecordType::NS, &["ns.example.org"]),
        rec("desa.kota.go.id", RecordType::NS, &["ns.desa.kota.go.id"]),
        rec("ns.desa.kota.go.id", RecordType::A, &["10.9.9.9"]),
    ];
    let snap = build("kota.go.id", &spec(), 2026112301, &records).unwrap();
    assert_eq!(
        snap.skipped,
        ["*.desa.kota.go.id NS: a wildcard cannot be delegated (RFC 4592 §4.2)"]
    );
    assert!(snap.has_wildcards());
    let mut c = Catalog {
        complete: true,
        ..Default::default()
    };
    c.zones.insert(snap.apex.clone(), Arc::new(snap));
    c
}

fn rows(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| format!("{} {} {}", r.name.to_ascii(), r.record_type(), r.data))
        .collect()
}

#[test]
fn a_wildcard_answers_for_names_that_do_not_exist_under_the_name_asked() {
    let c = wildcards();
    for name in ["Apa.Kota.Go.Id.", "a.b.c.kota.go.id."] {
        let r = ask(&c, &query(name, HType::A, None), Transport::Udp);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(r.metadata.authoritative);
        assert_eq!(rows(&r), [format!("{name} A 10.0.0.99")], "{name}");
    }
    // the wildcard has no MX: NODATA with the SOA, not NXDOMAIN
    let r = ask(
        &c,
        &query("apa.kota.go.id.", HType::MX, None),
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities[0].record_type(), HType::SOA);
    // an existing name is answered from its own data, never the wildcard's
    let r = ask(
        &c,
        &query("portal.kota.go.id.", HType::TXT, None),
        Transport::Udp,
    );
    assert!(r.answers.is_empty(), "{:?}", rows(&r));
    // the wildcard itself, asked literally
    let r = ask(
        &c,
        &query("*.kota.go.id.", HType::TXT, None),
        Transport::Udp,
    );
    assert_eq!(rows(&r), ["*.kota.go.id. TXT wildcard"]);
}

#[test]
fn an_existing_name_even_empty_blocks_a_wildcard_above_it() {
    let c = wildcards();
    // `ent` exists only as the parent of host.ent: it is the closest encloser of x.ent, and
    // there is no `*.ent` — NXDOMAIN, not *.kota.go.id's address (RFC 4592 §2.2.2)
    let r = ask(
        &c,
        &query("x.ent.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.answers.is_empty());
    // and `ent` itself is NODATA
    let r = ask(
        &c,
        &query("ent.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    // below an existing name with its own wildcard, that one applies
    let r = ask(
        &c,
        &query("x.alias.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(
        rows(&r),
        [
            "x.alias.kota.go.id. CNAME portal.kota.go.id.",
            "portal.kota.go.id. A 10.0.0.1"
        ]
    );
}

#[test]
fn cname_chains_meet_wildcards_and_delegations_stay_referrals() {
    let c = wildcards();
    // a CNAME whose target only a wildcard answers
    let r = ask(
        &c,
        &query("ke-wild.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(
        rows(&r),
        [
            "ke-wild.kota.go.id. CNAME apa.saja.kota.go.id.",
            "apa.saja.kota.go.id. A 10.0.0.99"
        ]
    );
    // a wildcard CNAME whose target does not exist: the CNAME, then NXDOMAIN with the SOA
    // (x.hilang has closest encloser the apex, whose wildcard answers A: so the chain ends
    // there with the wildcard's address)
    let r = ask(
        &c,
        &query("q.putus.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(
        rows(&r),
        [
            "q.putus.kota.go.id. CNAME x.hilang.kota.go.id.",
            "x.hilang.kota.go.id. A 10.0.0.99"
        ]
    );
    // below a delegation the child answers: a referral, never the parent's wildcard
    let r = ask(
        &c,
        &query("x.desa.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert!(!r.metadata.authoritative);
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities[0].record_type(), HType::NS);
}

#[test]
fn a_child_zone_answers_its_names_not_the_parents_wildcard() {
    let mut c = wildcards();
    let child = build(
        "anak.kota.go.id",
        &spec(),
        7,
        &[rec("ada.anak.kota.go.id", RecordType::A, &["10.1.1.1"])],
    )
    .unwrap();
    assert!(!child.has_wildcards());
    c.zones.insert(child.apex.clone(), Arc::new(child));
    let r = ask(
        &c,
        &query("tidak.anak.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    let r = ask(
        &c,
        &query("ada.anak.kota.go.id.", HType::A, None),
        Transport::Udp,
    );
    assert_eq!(rows(&r), ["ada.anak.kota.go.id. A 10.1.1.1"]);
}

#[test]
fn ns_mx_and_srv_answers_carry_their_hosts_addresses_while_they_fit() {
    let c = catalog();
    let r = ask(&c, &query("kota.go.id.", HType::MX, None), Transport::Udp);
    let extra: Vec<String> = r
        .additionals
        .iter()
        .map(|a| format!("{} {}", a.name.to_ascii(), a.data))
        .collect();
    assert_eq!(extra, ["mail.kota.go.id. 10.0.0.25"]);

    // ten mail hosts: the answer fits in 512 octets, their addresses only in part — and an
    // optional record is never a reason to truncate
    let mut records: Vec<RecordData> = (0..10)
        .map(|i| rec(&format!("mx{i}.kota.go.id"), RecordType::A, &["10.0.0.9"]))
        .collect();
    let hosts: Vec<String> = (0..10).map(|i| format!("10 mx{i}.kota.go.id")).collect();
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    records.push(rec("kota.go.id", RecordType::MX, &hosts));
    let snap = build("kota.go.id", &spec(), 1, &records).unwrap();
    let mut c = Catalog::default();
    c.zones.insert(snap.apex.clone(), Arc::new(snap));
    let mut out = Vec::new();
    answer(
        &c,
        &query("kota.go.id.", HType::MX, None),
        Transport::Udp,
        &mut out,
    );
    assert!(out.len() <= 512, "{}", out.len());
    let r = Message::from_vec(&out).unwrap();
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 10);
    assert!(
        (1..10).contains(&r.additionals.len()),
        "{}",
        r.additionals.len()
    );
    // over TCP, all of them
    let r = ask(&c, &query("kota.go.id.", HType::MX, None), Transport::Tcp);
    assert_eq!(r.additionals.len(), 10);
}

/// A signed copy of [`catalog`]'s zone (ECDSA P-256, a key made for the test).
fn signed_catalog() -> Catalog {
    let c = catalog();
    let apex = wire::name("kota.go.id").unwrap().into_boxed_slice();
    let mut snap = build("kota.go.id", &spec(), 2026112301, &[]).unwrap();
    // the same records as catalog(): rebuild from its snapshot's owner of each RRset
    snap.nodes = c.zones[&apex].nodes.clone();
    snap.cuts = c.zones[&apex].cuts;
    let der =
        super::dnssec::SigningKey::generate(super::dnssec::Algorithm::EcdsaP256Sha256).unwrap();
    let key = super::dnssec::SigningKey::from_pkcs8(&der).unwrap();
    let mut cache = super::dnssec::SignatureCache::default();
    let stats = super::dnssec::sign(
        &mut snap,
        &super::dnssec::KeySet::single(Arc::new(key)),
        1_796_000_000,
        &mut cache,
    )
    .unwrap();
    assert_eq!(stats.reused, 0);
    // signing again reuses every signature
    let again = super::dnssec::sign(
        &mut snap,
        &super::dnssec::KeySet::single(Arc::new(
            super::dnssec::SigningKey::from_pkcs8(&der).unwrap(),
        )),
        1_796_000_100,
        &mut cache,
    )
    .unwrap();
    assert_eq!((again.signed, again.reused), (0, stats.signed));
    let mut s = Catalog {
        complete: true,
        ..Default::default()
    };
    s.zones.insert(snap.apex.clone(), Arc::new(snap));
    s
}

/// Record type codes of a section, in order.
fn types(records: &[hickory_proto::rr::Record]) -> Vec<u16> {
    records.iter().map(|r| u16::from(r.record_type())).collect()
}

fn with_do(name: &str, t: HType) -> Vec<u8> {
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    let mut e = hickory_proto::op::Edns::new();
    e.set_dnssec_ok(true);
    e.set_max_payload(1232);
    m.set_edns(e);
    m.to_bytes().unwrap()
}

#[test]
fn a_signed_zone_answers_without_do_exactly_as_unsigned_and_with_do_adds_proofs() {
    let (plain, signed) = (catalog(), signed_catalog());
    let mut a = Vec::new();
    let mut b = Vec::new();
    for (name, t) in [
        ("portal.kota.go.id.", HType::A),
        ("nx.kota.go.id.", HType::A),
        ("www.portal.kota.go.id.", HType::A),
        ("x.desa.kota.go.id.", HType::A),
    ] {
        let q = query(name, t, Some(1232));
        answer(&plain, &q, Transport::Udp, &mut a);
        answer(&signed, &q, Transport::Udp, &mut b);
        assert_eq!(a, b, "{name} without DO: as if unsigned");
    }
    const RRSIG: u16 = 46;
    const NSEC3: u16 = 50;
    const SOA: u16 = 6;
    // positive: the RRset and its RRSIG
    let r = ask(
        &signed,
        &with_do("portal.kota.go.id.", HType::A),
        Transport::Udp,
    );
    assert_eq!(types(&r.answers), vec![1, 1, RRSIG]);
    assert!(r.edns.as_ref().unwrap().flags().dnssec_ok);
    // NXDOMAIN: SOA + RRSIG, then the closest encloser's, next closer's and wildcard's NSEC3s
    // (each signed; two of them may be one link)
    let r = ask(
        &signed,
        &with_do("nx.kota.go.id.", HType::A),
        Transport::Udp,
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    let auth = types(&r.authorities);
    assert_eq!(&auth[..2], &[SOA, RRSIG]);
    let links = auth.iter().filter(|&&t| t == NSEC3).count();
    assert!((2..=3).contains(&links), "{auth:?}");
    assert_eq!(auth.iter().filter(|&&t| t == RRSIG).count(), 1 + links);
    // NODATA: SOA + RRSIG + the name's own NSEC3 + RRSIG
    let r = ask(
        &signed,
        &with_do("portal.kota.go.id.", HType::TXT),
        Transport::Udp,
    );
    assert_eq!(types(&r.authorities), vec![SOA, RRSIG, NSEC3, RRSIG]);
    // a delegation: NS unsigned, the NSEC3 that shows there is no DS, glue
    let r = ask(
        &signed,
        &with_do("x.desa.kota.go.id.", HType::A),
        Transport::Udp,
    );
    assert_eq!(types(&r.authorities), vec![2, NSEC3, RRSIG]);
    assert_eq!(types(&r.additionals), vec![1]);
    // DNSKEY at the apex, signed
    let r = ask(
        &signed,
        &with_do("kota.go.id.", HType::DNSKEY),
        Transport::Udp,
    );
    assert_eq!(types(&r.answers), vec![48, RRSIG]);
}
