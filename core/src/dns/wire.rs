//! DNS wire format: names and record data, rendered once when a snapshot is built so the query
//! path only copies bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::api::RecordType;

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_HINFO: u16 = 13;
pub const TYPE_MX: u16 = 15;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const TYPE_DS: u16 = 43;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_IXFR: u16 = 251;
pub const TYPE_AXFR: u16 = 252;
pub const TYPE_ANY: u16 = 255;
pub const TYPE_CAA: u16 = 257;
pub const CLASS_IN: u16 = 1;
pub const CLASS_CH: u16 = 3;

/// The RR type code of a Kavling record type.
pub fn type_code(t: RecordType) -> u16 {
    match t {
        RecordType::A => TYPE_A,
        RecordType::AAAA => TYPE_AAAA,
        RecordType::CNAME => TYPE_CNAME,
        RecordType::MX => TYPE_MX,
        RecordType::TXT => TYPE_TXT,
        RecordType::CAA => TYPE_CAA,
        RecordType::SRV => TYPE_SRV,
        RecordType::NS => TYPE_NS,
    }
}

/// Why a name or a value cannot be put on the wire; the text is what a zone's skipped list
/// and a record's condition show.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("'{0}' has an empty or over-long label")]
    Label(String),
    #[error("'{0}' is longer than 255 octets")]
    NameTooLong(String),
    #[error("{rtype} '{value}': {why}")]
    Value {
        rtype: &'static str,
        value: String,
        why: String,
    },
    #[error("record data too long")]
    DataTooLong,
    #[error("hostmaster '{0}' has a dot before '@'")]
    Hostmaster(String),
}

fn bad(rtype: &'static str, value: &str, why: impl ToString) -> WireError {
    WireError::Value {
        rtype,
        value: value.to_string(),
        why: why.to_string(),
    }
}

/// A presentation name (`portal.kota.go.id`, trailing dot optional) as lowercase wire format.
pub fn name(presentation: &str) -> Result<Vec<u8>, WireError> {
    let p = presentation.trim_end_matches('.');
    let mut out = Vec::with_capacity(p.len() + 2);
    if !p.is_empty() {
        for label in p.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(WireError::Label(presentation.to_string()));
            }
            out.push(label.len() as u8);
            out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    out.push(0);
    if out.len() > 255 {
        return Err(WireError::NameTooLong(presentation.to_string()));
    }
    Ok(out)
}

/// The wire name one label up (`\x06portal\x04kota...` → `\x04kota...`), or `None` at the root.
pub fn parent(wire: &[u8]) -> Option<&[u8]> {
    let len = *wire.first()? as usize;
    if len == 0 { None } else { wire.get(1 + len..) }
}

fn u16be(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn character_string(out: &mut Vec<u8>, s: &[u8]) {
    for chunk in s.chunks(255) {
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
    if s.is_empty() {
        out.push(0);
    }
}

/// The character-strings of a presentation value: quoted strings (RFC 1035 §5.1: `\X` is X,
/// `\DDD` the octet DDD) or bare words, separated by spaces. `"a b" c` is `a b` and `c`.
pub fn character_strings(v: &str) -> Result<Vec<Vec<u8>>, String> {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let quoted = b[i] == b'"';
        if quoted {
            i += 1;
        }
        let mut s = Vec::new();
        loop {
            let Some(&c) = b.get(i) else {
                if quoted {
                    return Err("a quoted string is not closed".into());
                }
                break;
            };
            if quoted && c == b'"' {
                i += 1;
                break;
            }
            if !quoted && (c.is_ascii_whitespace() || c == b'"') {
                break;
            }
            if c == b'\\' {
                let digits = b
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(u8::is_ascii_digit));
                if let Some(d) = digits {
                    let n = (d[0] - b'0') as u16 * 100
                        + (d[1] - b'0') as u16 * 10
                        + (d[2] - b'0') as u16;
                    s.push(u8::try_from(n).map_err(|_| format!("escape \\{n} is above 255"))?);
                    i += 4;
                } else {
                    s.push(*b.get(i + 1).ok_or("a backslash ends the value")?);
                    i += 2;
                }
                continue;
            }
            s.push(c);
            i += 1;
        }
        out.push(s);
    }
    Ok(out)
}

/// The presentation form of character-strings: each quoted, `"` and `\` escaped, octets
/// outside printable ASCII as `\DDD` — what [`character_strings`] reads back.
pub fn quote_strings(strings: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for (k, s) in strings.iter().enumerate() {
        if k > 0 {
            out.push(' ');
        }
        out.push('"');
        for &c in s {
            match c {
                b'"' | b'\\' => {
                    out.push('\\');
                    out.push(c as char);
                }
                0x20..=0x7e => out.push(c as char),
                _ => out.push_str(&format!("\\{c:03}")),
            }
        }
        out.push('"');
    }
    out
}

/// Record data of one value in presentation form (as `DnsRecord.spec.values` holds it).
pub fn rdata(t: RecordType, value: &str) -> Result<Vec<u8>, WireError> {
    let v = value.trim();
    let mut out = Vec::new();
    match t {
        RecordType::A => {
            out.extend_from_slice(&v.parse::<Ipv4Addr>().map_err(|e| bad("A", v, e))?.octets())
        }
        RecordType::AAAA => out.extend_from_slice(
            &v.parse::<Ipv6Addr>()
                .map_err(|e| bad("AAAA", v, e))?
                .octets(),
        ),
        RecordType::CNAME | RecordType::NS => out = name(v)?,
        RecordType::MX => {
            let (pref, host) = v
                .split_once(' ')
                .ok_or_else(|| bad("MX", v, "is not '<preference> <host>'"))?;
            u16be(
                &mut out,
                pref.parse()
                    .map_err(|_| bad("MX", v, format!("preference '{pref}'")))?,
            );
            out.extend(name(host.trim())?);
        }
        RecordType::SRV => {
            let parts: Vec<&str> = v.split_whitespace().collect();
            let [p, w, port, target] = parts[..] else {
                return Err(bad(
                    "SRV",
                    v,
                    "is not '<priority> <weight> <port> <target>'",
                ));
            };
            for n in [p, w, port] {
                u16be(
                    &mut out,
                    n.parse()
                        .map_err(|_| bad("SRV", v, format!("number '{n}'")))?,
                );
            }
            out.extend(name(target)?);
        }
        RecordType::TXT => {
            // `"one" "two"`: several character-strings, with RFC 1035 escapes (`\"`, `\\`,
            // `\DDD`) — how a DKIM key longer than 255 octets is written. Anything else is
            // one text taken as written (split every 255 octets).
            if v.starts_with('"') {
                for s in character_strings(v).map_err(|why| bad("TXT", v, why))? {
                    character_string(&mut out, &s);
                }
            } else {
                character_string(&mut out, v.as_bytes());
            }
        }
        RecordType::CAA => {
            let mut it = v.splitn(3, ' ');
            let (flags, tag, val) = (
                it.next().unwrap_or(""),
                it.next().unwrap_or(""),
                it.next().unwrap_or(""),
            );
            out.push(
                flags
                    .parse()
                    .map_err(|_| bad("CAA", v, format!("flags '{flags}'")))?,
            );
            if tag.is_empty() || tag.len() > 15 {
                return Err(bad("CAA", v, format!("tag '{tag}'")));
            }
            out.push(tag.len() as u8);
            out.extend_from_slice(tag.as_bytes());
            // the value is one string, quoted or not ("letsencrypt.org; validationmethods=dns-01")
            let val = val.trim();
            if val.starts_with('"') {
                match character_strings(val).map_err(|why| bad("CAA", v, why))?[..] {
                    [ref one] => out.extend_from_slice(one),
                    _ => return Err(bad("CAA", v, "the value is one quoted string")),
                }
            } else {
                out.extend_from_slice(val.as_bytes());
            }
        }
    }
    if out.len() > 65535 {
        return Err(WireError::DataTooLong);
    }
    Ok(out)
}

/// SOA record data.
pub fn soa_rdata(
    mname: &str,
    hostmaster: &str,
    serial: u32,
    refresh: u32,
    retry: u32,
    expire: u32,
    minimum: u32,
) -> Result<Vec<u8>, WireError> {
    let mut out = name(mname)?;
    // hostmaster@example.go.id → hostmaster.example.go.id (a dot in the local part would need
    // escaping; such addresses are refused at build time)
    let rname = match hostmaster.split_once('@') {
        Some((local, domain)) if !local.contains('.') => format!("{local}.{domain}"),
        Some(_) => return Err(WireError::Hostmaster(hostmaster.to_string())),
        None => hostmaster.to_string(),
    };
    out.extend(name(&rname)?);
    for v in [serial, refresh, retry, expire, minimum] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    Ok(out)
}

/// Appends one resource record with an already-encoded owner (a full name or a pointer).
pub fn push_rr(out: &mut Vec<u8>, owner: &[u8], type_: u16, class: u16, ttl: u32, rdata: &[u8]) {
    out.extend_from_slice(owner);
    u16be(out, type_);
    u16be(out, class);
    out.extend_from_slice(&ttl.to_be_bytes());
    u16be(out, rdata.len() as u16);
    out.extend_from_slice(rdata);
}

/// A compression pointer to `offset` in the message.
pub fn pointer(offset: usize) -> [u8; 2] {
    [0xC0 | ((offset >> 8) as u8 & 0x3F), offset as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_wire() {
        assert_eq!(name("Portal.Kota.").unwrap(), b"\x06portal\x04kota\x00");
        assert_eq!(name("").unwrap(), b"\x00");
        assert!(name(&format!("{}.id", "a".repeat(64))).is_err());
        assert_eq!(
            parent(b"\x06portal\x04kota\x00"),
            Some(&b"\x04kota\x00"[..])
        );
        assert_eq!(parent(b"\x00"), None);
    }

    #[test]
    fn rdata_per_type() {
        assert_eq!(rdata(RecordType::A, "10.0.0.1").unwrap(), [10, 0, 0, 1]);
        assert_eq!(
            rdata(RecordType::MX, "10 mail.k.id").unwrap(),
            b"\x00\x0a\x04mail\x01k\x02id\x00"
        );
        assert_eq!(
            rdata(RecordType::TXT, "\"v=spf1 -all\"").unwrap(),
            b"\x0bv=spf1 -all"
        );
        assert_eq!(
            rdata(RecordType::CAA, "0 issue \"letsencrypt.org\"").unwrap(),
            b"\x00\x05issueletsencrypt.org"
        );
        assert_eq!(
            rdata(RecordType::SRV, "1 2 443 s.k.id").unwrap(),
            b"\x00\x01\x00\x02\x01\xbb\x01s\x01k\x02id\x00"
        );
        assert!(rdata(RecordType::A, "::1").is_err());
        let long = "x".repeat(300);
        let txt = rdata(RecordType::TXT, &long).unwrap();
        assert_eq!((txt[0], txt[256]), (255, 45));
    }

    #[test]
    fn txt_holds_several_strings_with_escapes() {
        // a DKIM key is written as several strings; each is its own character-string
        assert_eq!(
            rdata(RecordType::TXT, r#""v=DKIM1; k=rsa; " "p=MIGf""#).unwrap(),
            b"\x10v=DKIM1; k=rsa; \x06p=MIGf"
        );
        // an escaped quote and backslash, a decimal escape, a ';' inside quotes
        assert_eq!(
            rdata(RecordType::TXT, r#""say \"hi\"; \\ \065""#).unwrap(),
            b"\x0dsay \"hi\"; \\ A"
        );
        assert!(rdata(RecordType::TXT, r#""not closed"#).is_err());
        assert!(rdata(RecordType::TXT, r#""\256""#).is_err());
        // unquoted stays one text, as written
        assert_eq!(
            rdata(RecordType::TXT, "v=spf1 include:x -all").unwrap(),
            b"\x15v=spf1 include:x -all"
        );
    }

    #[test]
    fn caa_keeps_what_follows_a_semicolon() {
        assert_eq!(
            rdata(
                RecordType::CAA,
                r#"0 issue "letsencrypt.org; validationmethods=dns-01""#
            )
            .unwrap(),
            b"\x00\x05issueletsencrypt.org; validationmethods=dns-01"
        );
    }

    #[test]
    fn quoted_strings_read_back_as_written() {
        let strings = vec![b"a \"b\" \\c".to_vec(), vec![0, 200, b'x'], vec![]];
        let text = quote_strings(&strings);
        assert_eq!(text, r#""a \"b\" \\c" "\000\200x" """#);
        assert_eq!(character_strings(&text).unwrap(), strings);
    }
}
