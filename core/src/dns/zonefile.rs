//! Master files (RFC 1035 §5): the zone an office runs today on BIND, NSD or Knot, read
//! as those servers read it — `$ORIGIN`, `$TTL`, `@`, relative names, a blank owner meaning
//! the previous one, omitted TTL and class, parentheses across lines, quoted strings with
//! `\X` and `\DDD` escapes, `;` comments outside quotes, BIND's `1h30m` TTLs.
//!
//! Used by `kavling-dns --zone-file` (the benchmark serves the very file NSD and Knot load)
//! and by `kavling zone import`. Nothing is dropped silently: a record Kavling cannot serve
//! (a type it does not serve, data outside the zone, `$INCLUDE`) is an error naming its line.

use crate::api::{NamingPolicy, RecordType, Soa, Transfer, ZoneSpec};

use super::wire::{self, TYPE_NS, TYPE_SOA, character_strings, quote_strings};
use super::zone::{self, RRset, RecordData, Snapshot};

/// What is wrong, and on which line (1-based).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct ZoneFileError {
    pub line: usize,
    pub why: String,
}

fn err(line: usize, why: impl Into<String>) -> ZoneFileError {
    ZoneFileError {
        line,
        why: why.into(),
    }
}

/// A master file read: the apex's SOA and NS (which become the Zone's spec) and every other
/// record, one entry per record, names absolute without the final dot.
#[derive(Clone, Debug, PartialEq)]
pub struct MasterFile {
    pub apex: String,
    pub soa: Soa,
    pub serial: u32,
    pub soa_ttl: u32,
    /// `$TTL` if the file sets one, else the SOA's TTL.
    pub default_ttl: u32,
    /// The apex NS records, with their TTL.
    pub nameservers: Vec<(String, u32)>,
    pub records: Vec<RecordData>,
}

/// One token: its text as written (escapes kept) and whether it was in quotes.
#[derive(Debug)]
struct Token {
    text: String,
    quoted: bool,
}

/// One entry: a line, or several joined by parentheses.
#[derive(Debug)]
struct Entry {
    line: usize,
    /// The line began with a space or tab: the owner is the previous entry's.
    blank_owner: bool,
    tokens: Vec<Token>,
}

fn entries(text: &str) -> Result<Vec<Entry>, ZoneFileError> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut depth = 0usize;
    let mut cur: Option<Entry> = None;
    let mut chars = text.chars().peekable();
    let mut at_line_start = true;
    while let Some(c) = chars.next() {
        if at_line_start && depth == 0 {
            cur = Some(Entry {
                line,
                blank_owner: c == ' ' || c == '\t',
                tokens: Vec::new(),
            });
        }
        at_line_start = false;
        let entry = cur.as_mut().expect("an entry is open");
        match c {
            '\n' => {
                if depth == 0
                    && let Some(e) = cur.take()
                    && !e.tokens.is_empty()
                {
                    out.push(e);
                }
                line += 1;
                at_line_start = true;
            }
            ' ' | '\t' | '\r' => {}
            ';' => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| err(line, "')' without '('"))?;
            }
            '"' => {
                let start = line;
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(err(start, "a quoted string is not closed")),
                        Some('"') => break,
                        Some('\\') => {
                            s.push('\\');
                            if let Some(n) = chars.next() {
                                line += usize::from(n == '\n');
                                s.push(n);
                            }
                        }
                        Some(ch) => {
                            line += usize::from(ch == '\n');
                            s.push(ch);
                        }
                    }
                }
                entry.tokens.push(Token {
                    text: s,
                    quoted: true,
                });
            }
            _ => {
                let mut s = String::from(c);
                if c == '\\'
                    && let Some(n) = chars.next()
                {
                    s.push(n);
                }
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, ';' | '(' | ')' | '"') {
                        break;
                    }
                    chars.next();
                    s.push(n);
                    if n == '\\'
                        && let Some(e) = chars.next()
                    {
                        s.push(e);
                    }
                }
                entry.tokens.push(Token {
                    text: s,
                    quoted: false,
                });
            }
        }
    }
    if depth > 0 {
        return Err(err(line, "'(' is never closed"));
    }
    if let Some(e) = cur
        && !e.tokens.is_empty()
    {
        out.push(e);
    }
    Ok(out)
}

/// A TTL: seconds, or BIND's units (`1w2d3h4m5s`, any case).
fn ttl(s: &str) -> Option<u32> {
    if s.is_empty() || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    let (mut total, mut n) = (0u64, None::<u64>);
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            n = Some(n.unwrap_or(0).checked_mul(10)?.checked_add(d.into())?);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return None,
        };
        total = total.checked_add(n.take()?.checked_mul(unit)?)?;
    }
    if n.is_some() {
        return None; // digits after the last unit: "1h30"
    }
    u32::try_from(total).ok()
}

const CLASSES: [&str; 5] = ["IN", "CH", "HS", "CS", "NONE"];

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

/// `name` made absolute against `origin`, lowercase, without the final dot.
fn absolute(name: &str, origin: &str, line: usize) -> Result<String, ZoneFileError> {
    if name.contains('\\') {
        return Err(err(
            line,
            format!("name '{name}': escapes in names are not supported"),
        ));
    }
    let name = name.to_ascii_lowercase();
    Ok(if name == "@" {
        origin.to_string()
    } else if let Some(abs) = name.strip_suffix('.') {
        abs.to_string()
    } else if origin.is_empty() {
        name
    } else {
        format!("{name}.{origin}")
    })
}

fn in_zone(name: &str, apex: &str) -> bool {
    name == apex || name.ends_with(&format!(".{apex}"))
}

/// The character-strings of `tokens`, each decoded.
fn strings(tokens: &[Token], line: usize) -> Result<Vec<Vec<u8>>, ZoneFileError> {
    let mut out = Vec::new();
    for t in tokens {
        // a token holds no bare '"' (the tokenizer ends it there): quoting it is safe
        let decoded = character_strings(&format!("\"{}\"", t.text)).map_err(|e| err(line, e))?;
        out.extend(decoded);
    }
    Ok(out)
}

/// Reads `text` as the master file of zone `domain`.
pub fn parse(domain: &str, text: &str) -> Result<MasterFile, ZoneFileError> {
    let apex = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut origin = apex.clone();
    let mut default_ttl: Option<u32> = None;
    let mut last_ttl: Option<u32> = None;
    let mut last_owner: Option<String> = None;
    let mut soa: Option<(Soa, u32, u32)> = None;
    let mut nameservers = Vec::new();
    let mut records = Vec::new();

    for entry in entries(text)? {
        let line = entry.line;
        let t = &entry.tokens;
        let first = &t[0].text;
        if !entry.blank_owner && !t[0].quoted && first.starts_with('$') {
            match first.to_ascii_uppercase().as_str() {
                "$ORIGIN" => {
                    let [_, o] = &t[..] else {
                        return Err(err(line, "$ORIGIN takes one name"));
                    };
                    if !o.text.ends_with('.') {
                        return Err(err(line, "$ORIGIN must be absolute (end with '.')"));
                    }
                    origin = absolute(&o.text, &origin, line)?;
                }
                "$TTL" => {
                    let v = t
                        .get(1)
                        .and_then(|v| ttl(&v.text))
                        .ok_or_else(|| err(line, "$TTL takes a TTL (3600, 1h)"))?;
                    default_ttl = Some(v);
                }
                d => {
                    return Err(err(
                        line,
                        format!("{d} is not supported (only $ORIGIN and $TTL)"),
                    ));
                }
            }
            continue;
        }
        let (owner, mut i) = if entry.blank_owner {
            let o = last_owner
                .clone()
                .ok_or_else(|| err(line, "the first record has no owner name"))?;
            (o, 0)
        } else {
            (absolute(first, &origin, line)?, 1)
        };
        last_owner = Some(owner.clone());
        if !in_zone(&owner, &apex) {
            return Err(err(line, format!("{owner} is outside the zone {apex}")));
        }
        // [ttl] [class] or [class] [ttl], both optional
        let mut explicit_ttl = None;
        for _ in 0..2 {
            let Some(tok) = t.get(i) else { break };
            let upper = tok.text.to_ascii_uppercase();
            if CLASSES.contains(&upper.as_str()) {
                if upper != "IN" {
                    return Err(err(line, format!("class {upper}: only IN is served")));
                }
                i += 1;
            } else if let Some(v) = ttl(&tok.text) {
                explicit_ttl = Some(v);
                i += 1;
            } else {
                break;
            }
        }
        let rtype = t
            .get(i)
            .map(|x| x.text.to_ascii_uppercase())
            .ok_or_else(|| err(line, format!("{owner}: no record type")))?;
        if rtype == "NS" && owner.starts_with("*.") {
            return Err(err(
                line,
                format!("{owner} NS: a wildcard cannot be delegated (RFC 4592 §4.2)"),
            ));
        }
        let rdata = &t[i + 1..];
        if rdata.is_empty() {
            return Err(err(line, format!("{owner} {rtype}: no record data")));
        }
        let plain = |k: usize| -> Result<&str, ZoneFileError> {
            rdata.get(k).map(|x| x.text.as_str()).ok_or_else(|| {
                err(
                    line,
                    format!("{owner} {rtype}: expected more fields in the record data"),
                )
            })
        };
        let arity = |n: usize| -> Result<(), ZoneFileError> {
            if rdata.len() == n {
                Ok(())
            } else {
                Err(err(
                    line,
                    format!(
                        "{owner} {rtype}: {n} field(s) of record data expected, found {}",
                        rdata.len()
                    ),
                ))
            }
        };
        if rtype == "SOA" {
            if owner != apex {
                return Err(err(
                    line,
                    format!("SOA at {owner}: only at the apex {apex}"),
                ));
            }
            arity(7)?;
            let num = |k: usize| {
                ttl(&rdata[k].text).ok_or_else(|| {
                    err(
                        line,
                        format!("SOA field '{}' is not a number", rdata[k].text),
                    )
                })
            };
            let rname = absolute(plain(1)?, &origin, line)?;
            let (local, domain) = rname
                .split_once('.')
                .ok_or_else(|| err(line, format!("SOA mailbox '{rname}' has no domain")))?;
            let ttl_here = explicit_ttl.or(default_ttl).or(last_ttl).unwrap_or(num(6)?);
            soa = Some((
                Soa {
                    primary: absolute(plain(0)?, &origin, line)?,
                    hostmaster: format!("{local}@{domain}"),
                    refresh: num(3)?,
                    retry: num(4)?,
                    expire: num(5)?,
                    negative_ttl: num(6)?,
                },
                rdata[2]
                    .text
                    .parse()
                    .map_err(|_| err(line, format!("SOA serial '{}'", rdata[2].text)))?,
                ttl_here,
            ));
            last_ttl = Some(ttl_here);
            continue;
        }
        let record_ttl = explicit_ttl
            .or(default_ttl)
            .or(last_ttl)
            .ok_or_else(|| err(line, "no TTL: give one, or a $TTL line before"))?;
        last_ttl = Some(record_ttl);
        let type_ = record_type(&rtype).ok_or_else(|| {
            err(
                line,
                format!(
                    "{owner}: type {rtype} is not served by Kavling (served: A, AAAA, CNAME, MX, TXT, CAA, SRV, NS)"
                ),
            )
        })?;
        let name = |k: usize| absolute(plain(k)?, &origin, line);
        let value = match type_ {
            RecordType::A | RecordType::AAAA => {
                arity(1)?;
                plain(0)?.to_string()
            }
            RecordType::CNAME | RecordType::NS => {
                arity(1)?;
                name(0)?
            }
            RecordType::MX => {
                arity(2)?;
                format!("{} {}", plain(0)?, name(1)?)
            }
            RecordType::SRV => {
                arity(4)?;
                format!("{} {} {} {}", plain(0)?, plain(1)?, plain(2)?, name(3)?)
            }
            RecordType::TXT => {
                let s = strings(rdata, line)?;
                if let Some(long) = s.iter().find(|s| s.len() > 255) {
                    return Err(err(
                        line,
                        format!(
                            "{owner} TXT: a character-string of {} octets (at most 255; split it into several quoted strings)",
                            long.len()
                        ),
                    ));
                }
                quote_strings(&s)
            }
            RecordType::CAA => {
                arity(3)?;
                let v = strings(&rdata[2..], line)?;
                format!(
                    "{} {} {}",
                    plain(0)?,
                    plain(1)?.to_ascii_lowercase(),
                    quote_strings(&v)
                )
            }
        };
        // the data must go on the wire: say so here, not by a record missing later
        wire::rdata(type_, &value).map_err(|e| err(line, e.to_string()))?;
        if type_ == RecordType::NS && owner == apex {
            nameservers.push((value, record_ttl));
            continue;
        }
        records.push(RecordData {
            name: owner,
            type_,
            ttl: Some(record_ttl),
            values: vec![value],
        });
    }
    let (soa, serial, soa_ttl) = soa.ok_or_else(|| err(1, format!("no SOA record at {apex}")))?;
    if nameservers.is_empty() {
        return Err(err(1, format!("no NS record at {apex}")));
    }
    Ok(MasterFile {
        apex,
        soa,
        serial,
        soa_ttl,
        default_ttl: default_ttl.unwrap_or(soa_ttl),
        nameservers,
        records,
    })
}

/// The Zone spec a master file describes (its SOA and nameservers; transfers and policy at
/// their defaults).
pub fn zone_spec(file: &MasterFile) -> ZoneSpec {
    ZoneSpec {
        soa: file.soa.clone(),
        nameservers: file.nameservers.iter().map(|(n, _)| n.clone()).collect(),
        default_ttl: file.default_ttl,
        transfer: Transfer::default(),
        policy: NamingPolicy::default(),
        tenants: vec![],
        dnssec: Default::default(),
    }
}

/// Parses `text` as zone `domain` and builds its snapshot, with the SOA and apex NS served
/// at the TTLs the file gives them.
pub fn load(domain: &str, text: &str) -> Result<Snapshot, String> {
    let file = parse(domain, text).map_err(|e| e.to_string())?;
    let mut snap = zone::build(&file.apex, &zone_spec(&file), file.serial, &file.records)
        .map_err(|e| e.to_string())?;
    if let Some(first) = snap.skipped.first() {
        return Err(format!("cannot serve {first}"));
    }
    let ns_ttl = file.nameservers.iter().map(|(_, t)| *t).min();
    if let Some(apex) = snap.nodes.get_mut(&snap.apex) {
        for rrset in apex.rrsets.iter_mut() {
            let ttl = match rrset.type_ {
                TYPE_SOA => file.soa_ttl,
                TYPE_NS => ns_ttl.unwrap_or(file.default_ttl),
                _ => continue,
            };
            let rdatas = rrset.rdatas().map(<[u8]>::to_vec).collect();
            *rrset = RRset::new(rrset.type_, ttl, rdatas);
        }
    }
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::{TYPE_A, TYPE_CAA, TYPE_TXT};

    /// A zone written the way NSD's and Knot's documentation write one.
    const STANDARD: &str = r#"$ORIGIN kota.go.id.
$TTL 1h
@   IN  SOA ns1 hostmaster (
            2026120501 ; serial
            3600 600 1209600
            300 )
    86400 IN NS ns1
        IN NS ns2.kota.go.id.
ns1     A   192.0.2.1
ns2     A   192.0.2.2
www 300 A   192.0.2.80
        A   192.0.2.81
mail    IN 5m MX 10 mx.kota.go.id.
dkim._domainkey TXT ( "v=DKIM1; k=rsa; "
                      "p=MIGfMA0" ) ; two strings
caa     CAA 0 issue "letsencrypt.org; validationmethods=dns-01"
quote   TXT "say \"hi\"" plain
$ORIGIN desa.kota.go.id.
balai   CNAME www.kota.go.id.
"#;

    #[test]
    fn reads_a_standard_master_file() {
        let f = parse("kota.go.id", STANDARD).unwrap();
        assert_eq!(f.serial, 2026120501);
        assert_eq!(f.soa.primary, "ns1.kota.go.id");
        assert_eq!(f.soa.hostmaster, "hostmaster@kota.go.id");
        assert_eq!(f.soa.negative_ttl, 300);
        assert_eq!(f.default_ttl, 3600);
        assert_eq!(
            f.nameservers,
            vec![
                ("ns1.kota.go.id".to_string(), 86400),
                ("ns2.kota.go.id".to_string(), 3600)
            ]
        );
        let find = |name: &str, t: RecordType| {
            f.records
                .iter()
                .filter(|r| r.name == name && r.type_ == t)
                .map(|r| (r.ttl.unwrap(), r.values[0].clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            find("www.kota.go.id", RecordType::A),
            // an omitted TTL is the $TTL (RFC 2308 §4), not the previous record's
            vec![(300, "192.0.2.80".into()), (3600, "192.0.2.81".into())]
        );
        assert_eq!(
            find("mail.kota.go.id", RecordType::MX),
            vec![(300, "10 mx.kota.go.id".into())]
        );
        assert_eq!(
            find("dkim._domainkey.kota.go.id", RecordType::TXT),
            vec![(3600, r#""v=DKIM1; k=rsa; " "p=MIGfMA0""#.into())]
        );
        assert_eq!(
            find("caa.kota.go.id", RecordType::CAA),
            vec![(
                3600,
                r#"0 issue "letsencrypt.org; validationmethods=dns-01""#.into()
            )]
        );
        assert_eq!(
            find("quote.kota.go.id", RecordType::TXT),
            vec![(3600, r#""say \"hi\"" "plain""#.into())]
        );
        assert_eq!(
            find("balai.desa.kota.go.id", RecordType::CNAME),
            vec![(3600, "www.kota.go.id".into())]
        );
    }

    #[test]
    fn the_served_zone_keeps_strings_ttls_and_every_record() {
        let z = load("kota.go.id", STANDARD).unwrap();
        let node = |n: &str| z.node(&wire::name(n).unwrap()).unwrap();
        let txt = node("dkim._domainkey.kota.go.id").get(TYPE_TXT).unwrap();
        assert_eq!(txt.rdata(0), b"\x10v=DKIM1; k=rsa; \x09p=MIGfMA0");
        let caa = node("caa.kota.go.id").get(TYPE_CAA).unwrap();
        assert!(
            caa.rdata(0)
                .ends_with(b"letsencrypt.org; validationmethods=dns-01")
        );
        assert_eq!(
            node("www.kota.go.id").get(TYPE_A).unwrap().rdatas().count(),
            2
        );
        let apex = node("kota.go.id");
        assert_eq!(apex.get(TYPE_NS).unwrap().ttl, 3600, "the NS RRset's TTL");
        assert_eq!(apex.get(TYPE_SOA).unwrap().ttl, 3600);
    }

    #[test]
    fn ttls_take_bind_units() {
        assert_eq!(ttl("3600"), Some(3600));
        assert_eq!(ttl("1h30m"), Some(5400));
        assert_eq!(ttl("1W"), Some(604800));
        assert_eq!(ttl("1h30"), None);
        assert_eq!(ttl("h"), None);
        assert_eq!(ttl("A"), None);
    }

    #[test]
    fn what_cannot_be_served_is_an_error_naming_its_line() {
        let soa = "@ 60 IN SOA ns1 h 1 60 60 60 60\n@ 60 NS ns1\n";
        let cases = [
            ("x 60 IN PTR y\n", 3, "type PTR is not served"),
            ("x 60 CH TXT y\n", 3, "only IN is served"),
            ("other.id. 60 A 192.0.2.1\n", 3, "outside the zone"),
            ("$INCLUDE other.zone\n", 3, "not supported"),
            ("x 60 A 300.0.0.1\n", 3, "A '300.0.0.1'"),
            ("x 60 TXT \"open\n", 3, "not closed"),
            ("x 60 MX mail\n", 3, "2 field(s)"),
            ("x 60 A (192.0.2.1\n", 4, "never closed"),
            (
                "*.sub 60 NS ns.example.org.\n",
                3,
                "wildcard cannot be delegated",
            ),
        ];
        for (tail, line, why) in cases {
            let e = parse("k.id", &format!("{soa}{tail}")).unwrap_err();
            assert_eq!(e.line, line, "{tail}: {e}");
            assert!(e.why.contains(why), "{tail}: {e}");
        }
        let long = format!("{soa}t 60 TXT \"{}\"\n", "x".repeat(300));
        assert!(parse("k.id", &long).unwrap_err().why.contains("300 octets"));
        assert!(
            parse("k.id", "x 60 A 192.0.2.1\n")
                .unwrap_err()
                .why
                .contains("no SOA")
        );
        assert!(
            parse("k.id", "x A 192.0.2.1\n@ 60 SOA a b 1 1 1 1 1\n")
                .unwrap_err()
                .why
                .contains("no TTL")
        );
    }

    #[test]
    fn absolute_names_and_the_old_subset_still_load() {
        let text = "k.id. 3600 IN SOA ns1.k.id. hostmaster.k.id. 7 3600 600 1209600 300\nk.id. 3600 IN NS ns1.k.id.\n; comment\nh1.k.id. 60 IN A 10.0.0.1\nh1.k.id. 60 IN A 10.0.0.2\nt.k.id. 60 IN TXT \"hello world\"\n";
        let z = load("k.id", text).unwrap();
        assert_eq!(z.serial, 7);
        let node = z.node(&wire::name("h1.k.id").unwrap()).unwrap();
        assert_eq!(node.get(TYPE_A).unwrap().rdatas().count(), 2);
        let t = z.node(&wire::name("t.k.id").unwrap()).unwrap();
        assert_eq!(t.get(TYPE_TXT).unwrap().rdata(0), b"\x0bhello world");
    }
}
