//! NIP (civil servant number) and NIK (population identity number) checks.

use chrono::NaiveDate;

use super::Violation;
use crate::api::Identity;

/// Checks an 18-digit NIP: `YYYYMMDD` birth date, `YYYYMM` appointment, sex digit (1 or 2) and
/// a three-digit sequence that is not `000`. Spaces are allowed between the groups.
pub fn check_nip(field: &str, nip: &str) -> Vec<Violation> {
    let digits: String = nip.chars().filter(|c| *c != ' ').collect();
    if digits.len() != 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return vec![Violation::new(
            field,
            "nip-format",
            format!("a NIP is 18 digits (spaces allowed), got '{nip}'"),
        )];
    }
    let mut out = Vec::new();
    let birth = NaiveDate::parse_from_str(&digits[0..8], "%Y%m%d").ok();
    match birth {
        None => out.push(Violation::new(
            field,
            "nip-birth-date",
            format!(
                "digits 1-8 of a NIP are the birth date YYYYMMDD; '{}' is not a date",
                &digits[0..8]
            ),
        )),
        Some(d) if chrono::Datelike::year(&d) < 1940 => out.push(Violation::new(
            field,
            "nip-birth-date",
            format!(
                "digits 1-8 of a NIP are the birth date; {} is before 1940",
                &digits[0..8]
            ),
        )),
        _ => {}
    }
    let year: i32 = digits[8..12].parse().unwrap_or(0);
    let month: u32 = digits[12..14].parse().unwrap_or(0);
    if !(1..=12).contains(&month) || !(1950..=2100).contains(&year) {
        out.push(Violation::new(
            field,
            "nip-appointment",
            format!(
                "digits 9-14 of a NIP are the appointment month YYYYMM; '{}' is not one",
                &digits[8..14]
            ),
        ));
    } else if let Some(b) = birth {
        use chrono::Datelike;
        if year < b.year() + 15 {
            out.push(Violation::new(
                field,
                "nip-appointment",
                format!("the appointment ({}) in a NIP must come at least 15 years after the birth date ({})", &digits[8..14], &digits[0..8]),
            ));
        }
    }
    if !matches!(&digits[14..15], "1" | "2") {
        out.push(Violation::new(
            field,
            "nip-sex",
            format!(
                "digit 15 of a NIP is 1 (male) or 2 (female), got {}",
                &digits[14..15]
            ),
        ));
    }
    if &digits[15..18] == "000" {
        out.push(Violation::new(
            field,
            "nip-sequence",
            "digits 16-18 of a NIP are a sequence number and cannot be 000",
        ));
    }
    out
}

/// Checks a 16-digit NIK: region code (6 digits), birth date `DDMMYY` (day + 40 for women) and a
/// four-digit sequence that is not `0000`.
pub fn check_nik(field: &str, nik: &str) -> Vec<Violation> {
    let digits: String = nik.chars().filter(|c| *c != ' ').collect();
    if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return vec![Violation::new(
            field,
            "nik-format",
            format!("a NIK is 16 digits, got '{nik}'"),
        )];
    }
    let mut out = Vec::new();
    let province: u32 = digits[0..2].parse().unwrap_or(0);
    if !(11..=96).contains(&province) {
        out.push(Violation::new(
            field,
            "nik-region",
            format!("digits 1-2 of a NIK are a province code (11-96), got {province:02}"),
        ));
    }
    let mut day: u32 = digits[6..8].parse().unwrap_or(0);
    if day > 40 {
        day -= 40;
    }
    let month: u32 = digits[8..10].parse().unwrap_or(0);
    let year: i32 = digits[10..12].parse().unwrap_or(0);
    // Two-digit year: any century gives a valid date except for 29 February, so try a leap year.
    if NaiveDate::from_ymd_opt(2000 + year, month, day).is_none()
        && NaiveDate::from_ymd_opt(1900 + year, month, day).is_none()
    {
        out.push(Violation::new(
            field,
            "nik-birth-date",
            format!("digits 7-12 of a NIK are the birth date DDMMYY (day + 40 for women); '{}' is not one", &digits[6..12]),
        ));
    }
    if &digits[12..16] == "0000" {
        out.push(Violation::new(
            field,
            "nik-sequence",
            "digits 13-16 of a NIK are a sequence number and cannot be 0000",
        ));
    }
    out
}

/// Checks an [`Identity`]: exactly one of NIP or NIK, and that one well-formed.
pub fn check_identity(field: &str, id: &Identity) -> Vec<Violation> {
    match (&id.nip, &id.nik) {
        (Some(nip), None) => check_nip(&format!("{field}.nip"), nip),
        (None, Some(nik)) => check_nik(&format!("{field}.nik"), nik),
        _ => vec![Violation::new(
            field,
            "identity-one-of",
            "give exactly one of nip (civil servants) or nik (officials without NIP)",
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(v: Vec<Violation>) -> Vec<&'static str> {
        v.into_iter().map(|v| v.rule).collect()
    }

    #[test]
    fn a_well_formed_nip_passes_with_or_without_spaces() {
        assert!(check_nip("f", "198503142010011002").is_empty());
        assert!(check_nip("f", "19850314 201001 1 002").is_empty());
    }

    #[test]
    fn nip_errors_name_the_broken_part() {
        assert_eq!(rules(check_nip("f", "12345")), ["nip-format"]);
        assert_eq!(rules(check_nip("f", "19851314201001100A")), ["nip-format"]);
        assert_eq!(
            rules(check_nip("f", "198502302010011002")),
            ["nip-birth-date"]
        );
        assert_eq!(
            rules(check_nip("f", "198503142010131002")),
            ["nip-appointment"]
        );
        assert_eq!(
            rules(check_nip("f", "198503141990011002")),
            ["nip-appointment"]
        );
        assert_eq!(rules(check_nip("f", "198503142010013002")), ["nip-sex"]);
        assert_eq!(
            rules(check_nip("f", "198503142010011000")),
            ["nip-sequence"]
        );
    }

    #[test]
    fn nik_checks_region_date_with_female_offset_and_sequence() {
        assert!(check_nik("f", "1306094503900001").is_empty()); // woman born 5 March 1990
        assert!(check_nik("f", "1306090503900001").is_empty());
        assert_eq!(rules(check_nik("f", "0006090503900001")), ["nik-region"]);
        assert_eq!(
            rules(check_nik("f", "1306093213900001")),
            ["nik-birth-date"]
        );
        assert_eq!(rules(check_nik("f", "1306090503900000")), ["nik-sequence"]);
        assert_eq!(rules(check_nik("f", "13060905039")), ["nik-format"]);
    }

    #[test]
    fn identity_needs_exactly_one_number() {
        let both = Identity {
            nip: Some("198503142010011002".into()),
            nik: Some("1306090503900001".into()),
        };
        assert_eq!(rules(check_identity("f", &both)), ["identity-one-of"]);
        let none = Identity {
            nip: None,
            nik: None,
        };
        assert_eq!(rules(check_identity("f", &none)), ["identity-one-of"]);
        let nik = Identity {
            nip: None,
            nik: Some("1306090503900001".into()),
        };
        assert!(check_identity("f", &nik).is_empty());
    }
}
