//! When to renew, when to retry, and whether the CA's budget allows an order — pure
//! functions of an injected clock, so the policy is tested without waiting.

use chrono::{DateTime, Duration, Utc};

/// Renewal time: inside the CA's ARI window when it offers one (at a point derived from the
/// serial, so many certificates spread out instead of renewing at once), otherwise at two
/// thirds of the lifetime.
pub fn renewal_time(
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    ari_window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    serial: &str,
) -> DateTime<Utc> {
    if let Some((start, end)) = ari_window.filter(|(s, e)| e > s) {
        let span = (end - start).num_seconds().max(1) as u64;
        let spread: u64 = serial
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
        return start + Duration::seconds((spread % span) as i64);
    }
    not_before + (not_after - not_before) * 2 / 3
}

/// Delay after `failures` consecutive failures: 5 s doubling, capped at 30 minutes, so a CA
/// that is down or refusing is never hammered.
pub fn retry_delay(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    (Duration::seconds(5) * 2i32.pow(exp.min(12))).min(Duration::minutes(30))
}

/// The CA's budget over a sliding window: `used` are the times of earlier events (issuances
/// for one registered domain, or new orders of the account). `Ok` when one more fits, else
/// the time when it will.
pub fn budget(
    now: DateTime<Utc>,
    used: &[DateTime<Utc>],
    limit: u32,
    window: Duration,
) -> Result<(), DateTime<Utc>> {
    let mut inside: Vec<DateTime<Utc>> =
        used.iter().copied().filter(|t| *t > now - window).collect();
    if (inside.len() as u32) < limit {
        return Ok(());
    }
    inside.sort();
    // the (len - limit + 1)-th oldest must leave the window
    let idx = inside.len() - limit as usize;
    Err(inside[idx] + window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn two_thirds_without_ari() {
        let nb = t("2026-01-01T00:00:00Z");
        let na = t("2026-03-31T00:00:00Z"); // 89 days
        let r = renewal_time(nb, na, None, "01");
        assert_eq!(r, nb + (na - nb) * 2 / 3);
    }

    #[test]
    fn inside_the_ari_window_and_spread_by_serial() {
        let nb = t("2026-01-01T00:00:00Z");
        let na = t("2026-03-31T00:00:00Z");
        let (s, e) = (t("2026-03-01T00:00:00Z"), t("2026-03-03T00:00:00Z"));
        let a = renewal_time(nb, na, Some((s, e)), "0a1b");
        let b = renewal_time(nb, na, Some((s, e)), "ffee");
        assert!(a >= s && a < e && b >= s && b < e);
        assert_ne!(a, b);
        // an empty or inverted window is ignored
        assert_eq!(
            renewal_time(nb, na, Some((e, s)), "x"),
            nb + (na - nb) * 2 / 3
        );
    }

    #[test]
    fn retries_back_off_and_cap() {
        assert_eq!(retry_delay(1), Duration::seconds(5));
        assert_eq!(retry_delay(3), Duration::seconds(20));
        assert_eq!(retry_delay(50), Duration::minutes(30));
    }

    #[test]
    fn weekly_budget_per_registered_domain() {
        let now = t("2026-11-23T00:00:00Z");
        let week = Duration::days(7);
        let used: Vec<_> = (0..3).map(|d| now - Duration::days(d)).collect();
        assert!(budget(now, &used, 4, week).is_ok());
        assert_eq!(
            budget(now, &used, 3, week),
            Err(now - Duration::days(2) + week)
        );
        // old issuances do not count
        let old = vec![now - Duration::days(8); 10];
        assert!(budget(now, &old, 1, week).is_ok());
    }
}
