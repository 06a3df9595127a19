//! Naming policy of a zone: label syntax, reserved labels, the zone's label pattern, who may
//! claim there, where aliases may point, and the per-tenant counts (one website per PD).

use std::net::IpAddr;

use super::Violation;
use crate::api::{Target, TenantLimits, TenantType, ZoneSpec};

/// RFC 1123 label: 1–63 lowercase letters, digits or '-', not starting or ending with '-'.
pub fn check_label(field: &str, label: &str) -> Vec<Violation> {
    let ok = !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-');
    if ok {
        vec![]
    } else {
        vec![Violation::new(
            field,
            "label-syntax",
            format!(
                "'{label}' is not a DNS label: 1-63 lowercase letters, digits or '-', not starting or ending with '-'"
            ),
        )]
    }
}

/// The reserved entry that `label` falls under, if any (`ns*` matches a prefix).
pub fn reserved_by<'a>(reserved: &'a [String], label: &str) -> Option<&'a str> {
    let label = label.to_ascii_lowercase();
    reserved.iter().map(String::as_str).find(|r| {
        let r = r.to_ascii_lowercase();
        match r.strip_suffix('*') {
            Some(prefix) => label.starts_with(prefix),
            None => label == r,
        }
    })
}

/// Whether `name` is `zone` or inside it.
pub fn in_zone(name: &str, zone: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// What a tenant holds now (not counting the claim being checked).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Holdings {
    pub subdomains: u32,
    pub websites: u32,
}

/// Everything needed to judge one subdomain claim.
pub struct Claim<'a> {
    pub label: &'a str,
    pub zone_name: &'a str,
    /// The zone, or `None` when no such Zone exists.
    pub zone: Option<&'a ZoneSpec>,
    /// Domains of every Zone Kavling serves (for alias targets).
    pub served_zones: &'a [String],
    pub tenant: &'a str,
    pub tenant_type: TenantType,
    pub limits: &'a TenantLimits,
    pub held: Holdings,
    pub website: bool,
    /// Whether the claim asks for `*.<label>.<zone>` too.
    pub wildcard: bool,
    pub target: &'a Target,
    /// Who holds the alias target's name (when the target is an alias).
    pub alias_holder: Holder<'a>,
    /// Ranges no address may fall in (the cluster's service and pod ranges).
    pub denied_ranges: &'a [Cidr],
}

/// Who holds a name, as far as the caller knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder<'a> {
    /// Not known (offline checks): the live rule is left to approval time.
    Unknown,
    Nobody,
    Tenant(&'a str),
}

/// Judges a claim; every broken rule is returned, each naming its field (relative to the
/// subdomain body: `label`, `zone`, `target.alias`, …).
pub fn check_claim(c: &Claim<'_>) -> Vec<Violation> {
    let mut out = check_label("label", c.label);
    let Some(zone) = c.zone else {
        out.push(Violation::new(
            "zone",
            "zone-exists",
            format!("no Zone '{}' is served by Kavling", c.zone_name),
        ));
        return out;
    };
    if let Some(r) = reserved_by(&zone.policy.reserved_labels, c.label) {
        out.push(Violation::new(
            "label",
            "label-reserved",
            format!("'{}' is reserved in {} (rule '{r}')", c.label, c.zone_name),
        ));
    }
    if let Some(pattern) = &zone.policy.label_pattern {
        match regex::Regex::new(pattern) {
            Ok(re) if !re.is_match(c.label) => out.push(Violation::new(
                "label",
                "label-pattern",
                format!(
                    "'{}' does not follow the naming pattern of {}: {pattern}",
                    c.label, c.zone_name
                ),
            )),
            Ok(_) => {}
            Err(e) => out.push(Violation::new(
                "zone",
                "zone-policy",
                format!("zone {} has an invalid label pattern: {e}", c.zone_name),
            )),
        }
    }
    if c.wildcard && !zone.policy.allow_wildcards {
        out.push(Violation::new(
            "wildcard",
            "wildcard-not-allowed",
            format!(
                "zone {} does not allow wildcard names (the Dinas turns on policy.allowWildcards); ask without wildcard, or ask the Dinas",
                c.zone_name
            ),
        ));
    }
    if !zone.tenants.is_empty() && !zone.tenants.iter().any(|t| t == c.tenant) {
        out.push(Violation::new(
            "zone",
            "zone-tenant",
            format!(
                "tenant '{}' may not claim names in {}",
                c.tenant, c.zone_name
            ),
        ));
    }
    out.extend(check_target(
        "target",
        c.target,
        c.zone_name,
        zone,
        c.served_zones,
        c.label,
        c.denied_ranges,
    ));
    if let Some(alias) = &c.target.alias {
        let alias = alias.trim_end_matches('.');
        if c.served_zones.iter().any(|z| in_zone(alias, z))
            && alias != format!("{}.{}", c.label, c.zone_name)
        {
            match c.alias_holder {
                Holder::Unknown => {}
                Holder::Nobody => out.extend(check_alias_holder("target", alias, c.tenant, None)),
                Holder::Tenant(h) => {
                    out.extend(check_alias_holder("target", alias, c.tenant, Some(h)))
                }
            }
        }
    }
    if c.held.subdomains >= c.limits.subdomains {
        out.push(Violation::new(
            "label",
            "limit-subdomains",
            format!(
                "tenant '{}' already holds {} of its {} subdomains",
                c.tenant, c.held.subdomains, c.limits.subdomains
            ),
        ));
    }
    if c.website {
        let max = if c.tenant_type == TenantType::PerangkatDaerah {
            c.limits.websites.min(1)
        } else {
            c.limits.websites
        };
        if c.held.websites >= max {
            out.push(Violation::new(
                "website",
                "one-website",
                format!(
                    "tenant '{}' already runs {} website(s); a {:?} may run at most {max}",
                    c.tenant, c.held.websites, c.tenant_type
                ),
            ));
        }
    }
    out
}

/// Why `ip` may not be a published target, if it may not: addresses that mean "this host",
/// "this link" or "everyone" to whoever resolves the name (pointing a name there turns
/// visitors against their own machine or network, e.g. cloud metadata at 169.254.169.254).
/// Private ranges stay allowed: the Pusat Data serves intranet names.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_unspecified() || o[0] == 0 {
                Some("in 0.0.0.0/8 (this network)")
            } else if v4.is_loopback() {
                Some("loopback (127.0.0.0/8)")
            } else if v4.is_link_local() {
                Some("link-local (169.254.0.0/16)")
            } else if v4.is_multicast() {
                Some("multicast (224.0.0.0/4)")
            } else if o[0] >= 240 {
                Some("reserved or broadcast (240.0.0.0/4)")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_unspecified() {
                Some("unspecified (::)")
            } else if v6.is_loopback() {
                Some("loopback (::1)")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("link-local (fe80::/10)")
            } else if v6.is_multicast() {
                Some("multicast (ff00::/8)")
            } else if let Some(v4) = v6.to_ipv4_mapped() {
                special_purpose(IpAddr::V4(v4)).map(|_| "an IPv4-mapped special-purpose address")
            } else {
                None
            }
        }
    }
}

/// An address range, `10.96.0.0/12` or `fd00::/8`: the cluster's own service and pod ranges,
/// which a published name must never point into (the operator's `--denied-target-cidr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (net, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}' is not a range like 10.96.0.0/12"))?;
        let net: IpAddr = net
            .parse()
            .map_err(|_| format!("'{net}' is not an address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("'{prefix}' is not a prefix length"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("/{prefix} is longer than {max} bits"));
        }
        Ok(Cidr { net, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> Option<(u128, u32)> {
            match ip {
                IpAddr::V4(v) => Some((u128::from(u32::from(v)), 32)),
                IpAddr::V6(v) => Some((u128::from(v), 128)),
            }
        };
        match (bits(self.net), bits(ip)) {
            (Some((n, w)), Some((a, w2))) if w == w2 => {
                let shift = w - u32::from(self.prefix);
                shift >= w || (n >> shift) == (a >> shift)
            }
            _ => false,
        }
    }
}

/// Whether an alias inside the served zones points at a name the same tenant holds (pure).
/// `holder` is the tenant holding the alias's target name, if anyone does. A name nobody
/// holds yet would resolve to whoever claims it later, and another tenant's name can change
/// under the alias at any time: both are refused.
pub fn check_alias_holder(
    field: &str,
    alias: &str,
    tenant: &str,
    holder: Option<&str>,
) -> Option<Violation> {
    match holder {
        Some(h) if h == tenant => None,
        Some(h) => Some(Violation::new(
            format!("{field}.alias"),
            "alias-held",
            format!(
                "'{alias}' is held by tenant '{h}', not '{tenant}': an alias may point only at the tenant's own names"
            ),
        )),
        None => Some(Violation::new(
            format!("{field}.alias"),
            "alias-held",
            format!(
                "'{alias}' is not a name tenant '{tenant}' holds: an alias to a name nobody holds would follow whoever claims it later; request the target name first"
            ),
        )),
    }
}

/// Checks a target: usable addresses, or an alias inside a zone Kavling serves (unless the
/// zone allows external aliases), never to itself.
pub fn check_target(
    field: &str,
    t: &Target,
    zone_name: &str,
    zone: &ZoneSpec,
    served: &[String],
    label: &str,
    denied: &[Cidr],
) -> Vec<Violation> {
    let mut out = Vec::new();
    let given = usize::from(!t.addresses.is_empty())
        + usize::from(t.alias.is_some())
        + usize::from(t.hosting.is_some());
    if given != 1 {
        out.push(Violation::new(
            field,
            "target-one-of",
            "give exactly one of addresses, alias or hosting",
        ));
    }
    for (i, a) in t.addresses.iter().enumerate() {
        match a.parse::<IpAddr>() {
            Err(_) => out.push(Violation::new(format!("{field}.addresses[{i}]"), "address", format!("'{a}' is not an IPv4 or IPv6 address"))),
            Ok(ip) if special_purpose(ip).is_some() => out.push(Violation::new(
                format!("{field}.addresses[{i}]"),
                "address-usable",
                format!("'{a}' is {}: such addresses reach the resolver's own host or network, not a service; give the service's address", special_purpose(ip).unwrap_or_default()),
            )),
            Ok(ip) => {
                if let Some(c) = denied.iter().find(|c| c.contains(ip)) {
                    out.push(Violation::new(
                        format!("{field}.addresses[{i}]"),
                        "address-cluster-range",
                        format!("'{a}' is inside {c}, the cluster's own service or pod range: a public name must not lead into the cluster's internal network"),
                    ));
                }
            }
        }
    }
    if let Some(alias) = &t.alias {
        let alias = alias.trim_end_matches('.');
        if alias == format!("{label}.{zone_name}") {
            out.push(Violation::new(
                format!("{field}.alias"),
                "alias-self",
                "an alias cannot point at itself",
            ));
        } else if !zone.policy.allow_external_aliases && !served.iter().any(|z| in_zone(alias, z)) {
            out.push(Violation::new(
                format!("{field}.alias"),
                "alias-in-zone",
                format!("'{alias}' is outside the zones Kavling serves; a CNAME to a name someone else controls can be taken over (the zone would have to allow external aliases)"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{NamingPolicy, Soa, Transfer};

    fn zone() -> ZoneSpec {
        ZoneSpec {
            soa: Soa {
                primary: "ns1.kota.go.id".into(),
                hostmaster: "hostmaster@kota.go.id".into(),
                refresh: 3600,
                retry: 600,
                expire: 1209600,
                negative_ttl: 300,
            },
            nameservers: vec!["ns1.kota.go.id".into()],
            default_ttl: 3600,
            transfer: Transfer::default(),
            policy: NamingPolicy {
                label_pattern: Some("^[a-z][a-z0-9-]{2,30}$".into()),
                ..Default::default()
            },
            tenants: vec![],
            dnssec: Default::default(),
        }
    }

    fn claim<'a>(
        label: &'a str,
        z: &'a ZoneSpec,
        limits: &'a TenantLimits,
        target: &'a Target,
        served: &'a [String],
    ) -> Claim<'a> {
        Claim {
            label,
            zone_name: "kota.go.id",
            zone: Some(z),
            served_zones: served,
            tenant: "dinkes",
            tenant_type: TenantType::PerangkatDaerah,
            limits,
            held: Holdings::default(),
            website: false,
            wildcard: false,
            target,
            alias_holder: Holder::Tenant("dinkes"),
            denied_ranges: &[],
        }
    }

    #[test]
    fn addresses_in_the_clusters_own_ranges_are_refused() {
        let r: Cidr = "10.96.0.0/12".parse().unwrap();
        assert!(r.contains("10.96.0.10".parse().unwrap()));
        assert!(r.contains("10.111.255.255".parse().unwrap()));
        assert!(!r.contains("10.112.0.1".parse().unwrap()));
        assert!(!r.contains("2001:db8::1".parse().unwrap()));
        let v6: Cidr = "fd00:10::/32".parse().unwrap();
        assert!(v6.contains("fd00:10::5".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        let (z, limits, served) = (
            zone(),
            TenantLimits::default(),
            vec!["kota.go.id".to_string()],
        );
        let t = Target {
            addresses: vec!["10.96.0.10".into()],
            ..Default::default()
        };
        let mut c = claim("layanan", &z, &limits, &t, &served);
        assert!(check_claim(&c).is_empty());
        let denied = [r];
        c.denied_ranges = &denied;
        let v = check_claim(&c);
        assert_eq!(v[0].rule, "address-cluster-range", "{v:?}");
        assert_eq!(v[0].field, "target.addresses[0]");
    }

    fn addr() -> Target {
        Target {
            addresses: vec!["10.20.0.5".into()],
            ..Default::default()
        }
    }

    fn rules(v: Vec<Violation>) -> Vec<&'static str> {
        v.into_iter().map(|v| v.rule).collect()
    }

    #[test]
    fn a_good_claim_passes() {
        let (z, l, t, s) = (
            zone(),
            TenantLimits::default(),
            addr(),
            vec!["kota.go.id".to_string()],
        );
        assert!(check_claim(&claim("dinkes", &z, &l, &t, &s)).is_empty());
    }

    #[test]
    fn reserved_labels_including_prefixes_are_refused() {
        let (z, l, t, s) = (
            zone(),
            TenantLimits::default(),
            addr(),
            vec!["kota.go.id".to_string()],
        );
        assert_eq!(
            rules(check_claim(&claim("www", &z, &l, &t, &s))),
            ["label-reserved"]
        );
        assert_eq!(
            rules(check_claim(&claim("ns2", &z, &l, &t, &s))),
            ["label-reserved"]
        );
        assert_eq!(
            rules(check_claim(&claim("mail", &z, &l, &t, &s))),
            ["label-reserved"]
        );
    }

    #[test]
    fn a_wildcard_is_claimed_only_where_the_zone_allows_it() {
        let (mut z, l, t, s) = (
            zone(),
            TenantLimits::default(),
            addr(),
            vec!["kota.go.id".to_string()],
        );
        let wild = |z: &ZoneSpec| {
            let mut c = claim("dinkes", z, &l, &t, &s);
            c.wildcard = true;
            rules(check_claim(&c))
        };
        assert_eq!(wild(&z), ["wildcard-not-allowed"]);
        z.policy.allow_wildcards = true;
        assert!(wild(&z).is_empty());
    }

    #[test]
    fn label_syntax_and_zone_pattern() {
        let (z, l, t, s) = (
            zone(),
            TenantLimits::default(),
            addr(),
            vec!["kota.go.id".to_string()],
        );
        assert_eq!(
            rules(check_claim(&claim("-bad", &z, &l, &t, &s))),
            ["label-syntax", "label-pattern"]
        );
        assert_eq!(
            rules(check_claim(&claim("ab", &z, &l, &t, &s))),
            ["label-pattern"]
        );
        assert_eq!(
            rules(check_claim(&claim("Dinkes", &z, &l, &t, &s))),
            ["label-syntax", "label-pattern"]
        );
    }

    #[test]
    fn one_website_per_perangkat_daerah_even_if_limits_say_more() {
        let (z, t, s) = (zone(), addr(), vec!["kota.go.id".to_string()]);
        let l = TenantLimits {
            websites: 3,
            ..Default::default()
        };
        let mut c = claim("portal", &z, &l, &t, &s);
        c.website = true;
        assert!(check_claim(&c).is_empty());
        c.held.websites = 1;
        assert_eq!(rules(check_claim(&c)), ["one-website"]);
        c.tenant_type = TenantType::Kabupaten;
        assert!(check_claim(&c).is_empty());
    }

    #[test]
    fn subdomain_limit_and_zone_tenants() {
        let (mut z, t, s) = (zone(), addr(), vec!["kota.go.id".to_string()]);
        let l = TenantLimits {
            subdomains: 2,
            ..Default::default()
        };
        let mut c = claim("portal", &z, &l, &t, &s);
        c.held.subdomains = 2;
        assert_eq!(rules(check_claim(&c)), ["limit-subdomains"]);
        z.tenants = vec!["sungaipua".into()];
        let c = claim("portal", &z, &l, &t, &s);
        assert_eq!(rules(check_claim(&c)), ["zone-tenant"]);
    }

    #[test]
    fn aliases_stay_inside_served_zones_unless_allowed() {
        let (mut z, l, s) = (
            zone(),
            TenantLimits::default(),
            vec!["kota.go.id".to_string(), "desa.id".to_string()],
        );
        let inside = Target {
            alias: Some("portal.kota.go.id".into()),
            ..Default::default()
        };
        assert!(check_claim(&claim("web", &z, &l, &inside, &s)).is_empty());
        let outside = Target {
            alias: Some("myapp.herokuapp.com".into()),
            ..Default::default()
        };
        assert_eq!(
            rules(check_claim(&claim("web", &z, &l, &outside, &s))),
            ["alias-in-zone"]
        );
        let itself = Target {
            alias: Some("web.kota.go.id".into()),
            ..Default::default()
        };
        assert_eq!(
            rules(check_claim(&claim("web", &z, &l, &itself, &s))),
            ["alias-self"]
        );
        z.policy.allow_external_aliases = true;
        assert!(check_claim(&claim("web", &z, &l, &outside, &s)).is_empty());
    }

    #[test]
    fn unusable_addresses_and_missing_zone() {
        let (z, l, s) = (
            zone(),
            TenantLimits::default(),
            vec!["kota.go.id".to_string()],
        );
        let t = Target {
            addresses: vec!["127.0.0.1".into(), "300.1.1.1".into()],
            ..Default::default()
        };
        assert_eq!(
            rules(check_claim(&claim("web", &z, &l, &t, &s))),
            ["address-usable", "address"]
        );
        let mut c = claim("web", &z, &l, &t, &s);
        c.zone = None;
        assert_eq!(rules(check_claim(&c)), ["zone-exists"]);
    }
}
