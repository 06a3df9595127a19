//! Kubernetes quantities ("500m", "4Gi", "10G") as numbers, for limit arithmetic.

/// Parses a quantity into its value in base units (cores, bytes). `None` when malformed.
pub fn parse(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    if num.is_empty() || num.starts_with('.') && num.len() == 1 {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        _ => return None,
    };
    Some(n * mult)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse("500m"), Some(0.5));
        assert_eq!(parse("2"), Some(2.0));
        assert_eq!(parse("4Gi"), Some(4.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse("10G"), Some(10e9));
        assert_eq!(parse("1.5Mi"), Some(1.5 * 1024.0 * 1024.0));
        assert_eq!(parse("lots"), None);
        assert_eq!(parse("5GB"), None);
        assert_eq!(parse(""), None);
    }
}
