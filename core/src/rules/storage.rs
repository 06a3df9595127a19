//! Storage rules: the object store's name for a bucket, S3's naming rules, and a tenant's
//! storage limits (count and total bytes, which the object store cannot enforce across
//! buckets, so Kavling does).

use super::{Violation, quantity};
use crate::api::{BucketSpec, TenantLimits};
use crate::keys;

/// The object store's name of a tenant's bucket: `<tenant>--<name>`, injective across tenants
/// ([`super::derived`]).
pub fn backend_name(tenant: &str, name: &str) -> String {
    super::derived::bucket_name(tenant, name)
}

/// The credentials Secret of a Bucket, in the Bucket's namespace.
pub fn secret_name(bucket: &str) -> String {
    format!("{bucket}-s3-credentials")
}

/// S3's bucket naming rules (the subset every S3 server enforces, Garage included).
pub fn check_bucket_name(field: &str, name: &str) -> Vec<Violation> {
    let mut out = vec![];
    let bad = |out: &mut Vec<Violation>, rule, msg: String| {
        out.push(Violation::new(field, rule, msg));
    };
    if !(3..=63).contains(&name.len()) {
        bad(
            &mut out,
            "s3-bucket-length",
            format!(
                "the object store's bucket name '{name}' has {} characters; S3 allows 3 to 63 (tenant name + '--' + bucket name)",
                name.len()
            ),
        );
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        bad(
            &mut out,
            "s3-bucket-charset",
            format!("'{name}': S3 bucket names use only lowercase letters, digits, '-' and '.'"),
        );
    }
    if name.starts_with(['-', '.']) || name.ends_with(['-', '.']) || name.contains("..") {
        bad(
            &mut out,
            "s3-bucket-edges",
            format!("'{name}': must start and end with a letter or digit, without '..'"),
        );
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        bad(
            &mut out,
            "s3-bucket-ip",
            format!("'{name}' looks like an IP address, which S3 refuses"),
        );
    }
    if name.starts_with("xn--") || name.starts_with("sthree-") {
        bad(
            &mut out,
            "s3-bucket-prefix",
            format!("'{name}': the prefixes 'xn--' and 'sthree-' are reserved by S3"),
        );
    }
    if name.ends_with("-s3alias") || name.ends_with("--ol-s3") {
        bad(
            &mut out,
            "s3-bucket-suffix",
            format!("'{name}': the suffixes '-s3alias' and '--ol-s3' are reserved by S3"),
        );
    }
    out
}

/// Bytes of a size quantity, when valid and positive.
pub fn size_bytes(size: &str) -> Option<u64> {
    quantity::parse(size)
        .filter(|b| *b >= 1.0)
        .map(|b| b.round() as u64)
}

/// The Bucket spec on its own (pure): size, rotation durations.
pub fn check_bucket(spec: &BucketSpec) -> Vec<Violation> {
    let mut out = vec![];
    if size_bytes(&spec.size).is_none() {
        out.push(Violation::new(
            "spec.size",
            "quantity",
            format!("'{}' is not a size such as 10Gi or 500Mi", spec.size),
        ));
    }
    let period = keys::parse_duration(&spec.rotation.period);
    match period {
        Some(p) if p >= keys::MIN_PERIOD => {}
        _ => out.push(Violation::new(
            "spec.rotation.period",
            "rotation-period",
            format!(
                "'{}' is not a rotation period of at least 10s (e.g. 90d)",
                spec.rotation.period
            ),
        )),
    }
    match (keys::parse_duration(&spec.rotation.grace), period) {
        (Some(g), Some(p)) if g < p => {}
        (Some(_), Some(_)) => out.push(Violation::new(
            "spec.rotation.grace",
            "rotation-grace",
            "the grace period must be shorter than the rotation period, or two old keys would work at once",
        )),
        (None, _) => out.push(Violation::new(
            "spec.rotation.grace",
            "rotation-grace",
            format!("'{}' is not a duration such as 24h", spec.rotation.grace),
        )),
        _ => {}
    }
    out
}

/// A whole Bucket object offline (pure): its spec, and S3's naming of `<tenant>-<name>`
/// when it sits in a tenant's home namespace. What `kavling validate` and the operator's
/// example tests check.
pub fn check_bucket_object(b: &crate::api::Bucket) -> Vec<Violation> {
    let mut v = check_bucket(&b.spec);
    if let (Some(ns), Some(name)) = (&b.metadata.namespace, &b.metadata.name)
        && let Some(t) = crate::api::tenant_of_namespace(ns)
    {
        v.extend(check_bucket_name("metadata.name", &backend_name(t, name)));
    }
    v
}

/// A tenant's storage limits (pure): `others` are the byte quotas of the tenant's other
/// buckets, `size` this bucket's.
pub fn check_budget(
    field: &str,
    limits: &TenantLimits,
    others: &[u64],
    size: u64,
) -> Vec<Violation> {
    let mut out = vec![];
    if others.len() as u32 + 1 > limits.buckets {
        out.push(Violation::new(
            "spec.limits.buckets",
            "tenant-bucket-count",
            format!(
                "the tenant holds {} bucket(s) and may hold {}; ask the Dinas to raise spec.limits.buckets",
                others.len(),
                limits.buckets
            ),
        ));
    }
    let Some(limit) = size_bytes(&limits.bucket_bytes) else {
        out.push(Violation::new(
            "spec.limits.bucketBytes",
            "quantity",
            format!("the tenant's limit '{}' is not a size", limits.bucket_bytes),
        ));
        return out;
    };
    let total: u64 = others.iter().sum::<u64>() + size;
    if total > limit {
        out.push(Violation::new(
            field,
            "tenant-bucket-bytes",
            format!(
                "{} with the tenant's other buckets ({}) exceeds the tenant's storage limit of {}",
                human_bytes(size),
                human_bytes(others.iter().sum()),
                limits.bucket_bytes
            ),
        ));
    }
    out
}

/// 10737418240 → "10Gi".
pub fn human_bytes(b: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (u, n) in UNITS {
        if b >= n && b.is_multiple_of(n) {
            return format!("{}{u}", b / n);
        }
        if b >= n {
            return format!("{:.1}{u}", b as f64 / n as f64);
        }
    }
    format!("{b}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(v: Vec<Violation>) -> Vec<&'static str> {
        v.into_iter().map(|v| v.rule).collect()
    }

    #[test]
    fn s3_names() {
        assert!(check_bucket_name("f", "dinkes-arsip").is_empty());
        assert_eq!(rules(check_bucket_name("f", "ab")), ["s3-bucket-length"]);
        assert_eq!(
            rules(check_bucket_name("f", &"a".repeat(64))),
            ["s3-bucket-length"]
        );
        assert_eq!(
            rules(check_bucket_name("f", "Dinkes")),
            ["s3-bucket-charset"]
        );
        assert_eq!(
            rules(check_bucket_name("f", "xn--abc")),
            ["s3-bucket-prefix"]
        );
        assert_eq!(
            rules(check_bucket_name("f", "data-s3alias")),
            ["s3-bucket-suffix"]
        );
        assert_eq!(rules(check_bucket_name("f", "10.0.0.1")), ["s3-bucket-ip"]);
        assert_eq!(rules(check_bucket_name("f", "a..b")), ["s3-bucket-edges"]);
    }

    #[test]
    fn tenant_budget() {
        let limits = TenantLimits {
            buckets: 2,
            bucket_bytes: "50Gi".into(),
            ..Default::default()
        };
        let gi = 1u64 << 30;
        assert!(check_budget("spec.size", &limits, &[20 * gi], 30 * gi).is_empty());
        assert_eq!(
            rules(check_budget("spec.size", &limits, &[20 * gi], 31 * gi)),
            ["tenant-bucket-bytes"]
        );
        assert_eq!(
            rules(check_budget("spec.size", &limits, &[gi, gi], gi)),
            ["tenant-bucket-count"]
        );
    }

    #[test]
    fn sizes_print_back() {
        assert_eq!(human_bytes(10 << 30), "10Gi");
        assert_eq!(human_bytes(1536 << 20), "1.5Gi");
        assert_eq!(human_bytes(12), "12B");
    }
}
