//! Access-key identity and the rotation schedule, as pure functions of an injected clock.
//!
//! A Bucket's n-th key has an id derived from the Bucket's uid and n. A rotation that is
//! interrupted at any line and retried therefore asks the object store for the same id and
//! finds the key it already made: no duplicate keys, whatever the crash point.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

/// The id of the `serial`-th access key of the Bucket with this uid: `GK` and 24 hex digits,
/// the shape Garage gives its own keys.
pub fn key_id(bucket_uid: &str, serial: u32) -> String {
    let digest = Sha256::digest(format!("kavling-bucket-key:{bucket_uid}:{serial}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("GK{}", &hex[..24])
}

/// `90d`, `24h`, `30m`, `45s` → a duration. `None` when malformed or zero.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = num.parse().ok().filter(|n| *n > 0)?;
    match unit {
        "s" => Some(Duration::seconds(n)),
        "m" => Some(Duration::minutes(n)),
        "h" => Some(Duration::hours(n)),
        "d" => Some(Duration::days(n)),
        _ => None,
    }
}

/// The shortest rotation period accepted: shorter would have clients chasing their Secret.
pub const MIN_PERIOD: Duration = Duration::seconds(10);

/// What the key schedule asks for at `now`.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyPlan {
    /// The serial of the key that should be current after this reconcile.
    pub serial: u32,
    /// Whether that is a new key (first key or a rotation).
    pub new_key: bool,
    /// Whether the retiring key's grace has ended (remove it now).
    pub retire_now: bool,
    /// When to look again (the next rotation or the end of a grace period).
    pub wake_at: DateTime<Utc>,
}

/// The schedule (pure): `serial` keys made so far, the current one made at `last_rotation`;
/// a retiring key (if any) works until `retiring_until`. While suspended nothing rotates.
/// `requested`: a rotation asked for at that time (`kavling rotate bucket`), done once if it
/// is after the current key was made and not in the future.
pub fn plan(
    now: DateTime<Utc>,
    serial: u32,
    last_rotation: Option<DateTime<Utc>>,
    retiring_until: Option<DateTime<Utc>>,
    period: Duration,
    suspended: bool,
    requested: Option<DateTime<Utc>>,
) -> KeyPlan {
    let asked = |t: DateTime<Utc>| requested.is_some_and(|r| r > t && r <= now);
    let (serial_after, new_key, current_since) = match last_rotation {
        _ if serial == 0 => (1, true, now),
        Some(t) if !suspended && (now >= t + period || asked(t)) => (serial + 1, true, now),
        Some(t) => (serial, false, t),
        // a key without a recorded time: count from now
        None => (serial, false, now),
    };
    // a new rotation retires the previous key with a fresh grace period; the caller sets it
    let retire_now = retiring_until.is_some_and(|u| now >= u);
    let mut wake_at = current_since + period;
    if let Some(u) = retiring_until.filter(|u| *u > now) {
        wake_at = wake_at.min(u);
    }
    KeyPlan {
        serial: serial_after,
        new_key,
        retire_now,
        wake_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn key_ids_are_stable_distinct_and_garage_shaped() {
        let a = key_id("uid-1", 1);
        assert_eq!(a, key_id("uid-1", 1));
        assert_ne!(a, key_id("uid-1", 2));
        assert_ne!(a, key_id("uid-2", 1));
        assert_eq!(a.len(), 26);
        assert!(a.starts_with("GK") && a[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Some(Duration::days(90)));
        assert_eq!(parse_duration("45s"), Some(Duration::seconds(45)));
        assert_eq!(parse_duration("0h"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("3w"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn first_key_then_rotation_at_the_period() {
        let p = Duration::days(90);
        let now = t("2026-01-01T00:00:00Z");
        let first = plan(now, 0, None, None, p, false, None);
        assert_eq!((first.serial, first.new_key), (1, true));
        assert_eq!(first.wake_at, now + p);

        let made = now;
        let before = plan(
            now + Duration::days(89),
            1,
            Some(made),
            None,
            p,
            false,
            None,
        );
        assert_eq!((before.serial, before.new_key), (1, false));
        assert_eq!(before.wake_at, made + p);

        let due = plan(made + p, 1, Some(made), None, p, false, None);
        assert_eq!((due.serial, due.new_key), (2, true));
    }

    #[test]
    fn suspended_buckets_do_not_rotate() {
        let p = Duration::hours(1);
        let made = t("2026-01-01T00:00:00Z");
        let late = plan(
            made + Duration::hours(5),
            3,
            Some(made),
            None,
            p,
            true,
            None,
        );
        assert_eq!((late.serial, late.new_key), (3, false));
    }

    #[test]
    fn grace_ends_and_wakes_us() {
        let p = Duration::days(90);
        let made = t("2026-01-01T00:00:00Z");
        let until = made + Duration::hours(24);
        let during = plan(
            made + Duration::hours(1),
            2,
            Some(made),
            Some(until),
            p,
            false,
            None,
        );
        assert!(!during.retire_now);
        assert_eq!(during.wake_at, until);
        let after = plan(until, 2, Some(made), Some(until), p, false, None);
        assert!(after.retire_now);
        assert_eq!(after.wake_at, made + p);
    }

    #[test]
    fn a_requested_rotation_happens_once_and_not_before_its_time() {
        let p = Duration::days(90);
        let made = t("2026-01-01T00:00:00Z");
        let now = made + Duration::days(3);
        let asked = plan(
            now,
            1,
            Some(made),
            None,
            p,
            false,
            Some(now - Duration::minutes(1)),
        );
        assert!(asked.new_key && asked.serial == 2);
        // the next reconcile: the key was made after the request, nothing more
        let again = plan(
            now + Duration::minutes(1),
            2,
            Some(now),
            None,
            p,
            false,
            Some(now - Duration::minutes(1)),
        );
        assert!(!again.new_key && again.serial == 2);
        // a request dated in the future waits; one from before the key is stale
        assert!(
            !plan(
                now,
                1,
                Some(made),
                None,
                p,
                false,
                Some(now + Duration::hours(1))
            )
            .new_key
        );
        assert!(
            !plan(
                now,
                1,
                Some(made),
                None,
                p,
                false,
                Some(made - Duration::days(1))
            )
            .new_key
        );
        // suspended: nothing rotates
        assert!(!plan(now, 1, Some(made), None, p, true, Some(now)).new_key);
    }
}
