//! Which names a certificate may cover, where their DNS-01 challenges go, and which
//! registered domain (rate-limit bucket) they fall in — pure functions.

use crate::rules::Violation;

/// Public suffixes under which Indonesian government and village names are registered
/// (from the Public Suffix List's `id` section). A name's registered domain is one label
/// below the longest of these it ends with.
const PUBLIC_SUFFIXES: &[&str] = &[
    "go.id",
    "desa.id",
    "ac.id",
    "co.id",
    "or.id",
    "web.id",
    "sch.id",
    "mil.id",
    "my.id",
    "biz.id",
    "net.id",
    "ponpes.id",
    "id",
];

/// The most names one certificate may carry (Let's Encrypt's limit).
pub const MAX_NAMES: usize = 100;

/// `*.x.go.id` → `x.go.id`; other names unchanged.
pub fn base_name(name: &str) -> &str {
    name.strip_prefix("*.").unwrap_or(name)
}

/// Where the DNS-01 TXT record for a name goes. For a wildcard it is the base name's — use
/// the order's raw identifier, never its display form (`*.`).
pub fn challenge_name(identifier: &str) -> String {
    format!("_acme-challenge.{}", base_name(identifier))
}

/// The registered domain of a name: `dinkes.bukittinggikota.go.id` → `bukittinggikota.go.id`.
pub fn registered_domain(name: &str) -> String {
    let name = base_name(name).trim_end_matches('.');
    let suffix = PUBLIC_SUFFIXES
        .iter()
        .filter(|s| name == **s || name.ends_with(&format!(".{s}")))
        .max_by_key(|s| s.len())
        .copied();
    let labels: Vec<&str> = name.split('.').collect();
    let keep = suffix.map(|s| s.split('.').count() + 1).unwrap_or(2);
    labels[labels.len().saturating_sub(keep)..].join(".")
}

/// The zone (of `zones`) a name belongs to: the longest zone it is in.
pub fn zone_of<'a>(name: &str, zones: &'a [String]) -> Option<&'a str> {
    let name = base_name(name);
    zones
        .iter()
        .filter(|z| name == z.as_str() || name.ends_with(&format!(".{z}")))
        .max_by_key(|z| z.len())
        .map(String::as_str)
}

/// The names rule (pure): every name inside a zone Kavling serves, and at or under a
/// subdomain the tenant holds (`held`, FQDNs); not too many; no duplicates.
pub fn check(names: &[String], zones: &[String], held: &[String]) -> Vec<Violation> {
    let mut out = vec![];
    if names.is_empty() {
        out.push(Violation::new(
            "spec.dnsNames",
            "cert-names-empty",
            "give at least one name",
        ));
    }
    if names.len() > MAX_NAMES {
        out.push(Violation::new(
            "spec.dnsNames",
            "cert-too-many-names",
            format!(
                "{} names; a certificate carries at most {MAX_NAMES} — split them, or use a wildcard",
                names.len()
            ),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, n) in names.iter().enumerate() {
        let field = format!("spec.dnsNames[{i}]");
        if !seen.insert(n.as_str()) {
            out.push(Violation::new(
                field,
                "cert-duplicate-name",
                format!("{n} is listed twice"),
            ));
            continue;
        }
        let base = base_name(n);
        if zone_of(base, zones).is_none() {
            out.push(Violation::new(
                field,
                "cert-name-outside-zones",
                format!("{n} is not in a zone this Pusat Data serves, so DNS-01 cannot prove it"),
            ));
            continue;
        }
        let owned = held
            .iter()
            .any(|h| base == h || base.ends_with(&format!(".{h}")));
        if !owned {
            out.push(Violation::new(
                field,
                "cert-name-not-held",
                format!(
                    "{n} is not a subdomain this tenant holds (or a name under one); request the subdomain first"
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn registered_domains_follow_the_public_suffixes() {
        assert_eq!(
            registered_domain("dinkes.bukittinggikota.go.id"),
            "bukittinggikota.go.id"
        );
        assert_eq!(
            registered_domain("*.a.b.bukittinggikota.go.id"),
            "bukittinggikota.go.id"
        );
        assert_eq!(
            registered_domain("www.sungaipua.desa.id"),
            "sungaipua.desa.id"
        );
        assert_eq!(registered_domain("portal.example.id"), "example.id");
        assert_eq!(registered_domain("x.example.com"), "example.com");
    }

    #[test]
    fn wildcard_challenges_go_at_the_base_name() {
        assert_eq!(
            challenge_name("*.dinkes.kota.go.id"),
            "_acme-challenge.dinkes.kota.go.id"
        );
        assert_eq!(
            challenge_name("dinkes.kota.go.id"),
            "_acme-challenge.dinkes.kota.go.id"
        );
    }

    #[test]
    fn names_must_be_served_and_held() {
        let zones = s(&["kota.go.id", "desa.desa.id"]);
        let held = s(&["dinkes.kota.go.id"]);
        let ok = s(&[
            "dinkes.kota.go.id",
            "*.dinkes.kota.go.id",
            "api.dinkes.kota.go.id",
        ]);
        assert!(check(&ok, &zones, &held).is_empty());
        let rules: Vec<_> = check(
            &s(&[
                "disdik.kota.go.id",
                "x.example.com",
                "dinkes.kota.go.id",
                "dinkes.kota.go.id",
            ]),
            &zones,
            &held,
        )
        .into_iter()
        .map(|v| (v.field, v.rule))
        .collect();
        assert_eq!(
            rules,
            vec![
                ("spec.dnsNames[0]".to_string(), "cert-name-not-held"),
                ("spec.dnsNames[1]".to_string(), "cert-name-outside-zones"),
                ("spec.dnsNames[3]".to_string(), "cert-duplicate-name"),
            ]
        );
        let many: Vec<String> = (0..101)
            .map(|i| format!("a{i}.dinkes.kota.go.id"))
            .collect();
        assert_eq!(check(&many, &zones, &held)[0].rule, "cert-too-many-names");
    }
}
