//! Kemendagri region codes: `PP` province, `PP.KK` regency (01–69 kabupaten, 71–99 kota),
//! `PP.KK.CC` district, `PP.KK.CC.TNNN` village (T = 1 kelurahan, 2 desa).

use super::Violation;
use crate::api::TenantType;

/// The level a region code denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionLevel {
    Province,
    Kabupaten,
    Kota,
    District,
    Kelurahan,
    Desa,
}

/// Why a code is not a Kemendagri region code: the part at fault, so a person sees which.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegionCodeError {
    #[error("'{0}' is not a region code (PP, PP.KK, PP.KK.CC or PP.KK.CC.TNNN)")]
    Shape(String),
    #[error("'{part}' in '{code}' is not a province code (two digits, 11-96)")]
    Province { part: String, code: String },
    #[error("'{part}' in '{code}' is not a regency code (01-69 kabupaten, 71-99 kota)")]
    Regency { part: String, code: String },
    #[error("'{part}' in '{code}' is not a district code (two digits, 01-99)")]
    District { part: String, code: String },
    #[error(
        "'{part}' in '{code}' is not a village code (TNNN: T=1 kelurahan or 2 desa, NNN from 001)"
    )]
    Village { part: String, code: String },
    #[error("village type digit '{digit}' in '{code}' must be 1 (kelurahan) or 2 (desa)")]
    VillageType { digit: String, code: String },
}

/// Parses a region code and says which level it is, or why it is not one.
pub fn parse(code: &str) -> Result<RegionLevel, RegionCodeError> {
    use RegionCodeError::*;
    let at = |part: &str| (part.to_string(), code.to_string());
    let parts: Vec<&str> = code.split('.').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let num = |s: &str| s.parse::<u32>().unwrap_or(0);
    if parts.is_empty() || parts.len() > 4 {
        return Err(Shape(code.to_string()));
    }
    if !digits(parts[0], 2) || !(11..=96).contains(&num(parts[0])) {
        let (part, code) = at(parts[0]);
        return Err(Province { part, code });
    }
    if parts.len() == 1 {
        return Ok(RegionLevel::Province);
    }
    if !digits(parts[1], 2) || num(parts[1]) == 0 || num(parts[1]) == 70 {
        let (part, code) = at(parts[1]);
        return Err(Regency { part, code });
    }
    let kota = num(parts[1]) >= 71;
    if parts.len() == 2 {
        return Ok(if kota {
            RegionLevel::Kota
        } else {
            RegionLevel::Kabupaten
        });
    }
    if !digits(parts[2], 2) || num(parts[2]) == 0 {
        let (part, code) = at(parts[2]);
        return Err(District { part, code });
    }
    if parts.len() == 3 {
        return Ok(RegionLevel::District);
    }
    if !digits(parts[3], 4) || num(&parts[3][1..]) == 0 {
        let (part, code) = at(parts[3]);
        return Err(Village { part, code });
    }
    match &parts[3][0..1] {
        "1" => Ok(RegionLevel::Kelurahan),
        "2" => Ok(RegionLevel::Desa),
        t => {
            let (digit, code) = at(t);
            Err(VillageType { digit, code })
        }
    }
}

/// Checks a tenant's code against its type and, if it has one, its parent's code.
pub fn check_tenant_code(
    field: &str,
    type_: TenantType,
    code: &str,
    parent_code: Option<&str>,
) -> Vec<Violation> {
    if !type_.is_region() {
        let ok = !code.is_empty()
            && code.len() <= 32
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        return if ok {
            vec![]
        } else {
            vec![Violation::new(
                field,
                "org-code",
                format!("'{code}' is not an organisation code (letters, digits, '.', '-')"),
            )]
        };
    }
    let level = match parse(code) {
        Ok(l) => l,
        Err(e) => return vec![Violation::new(field, "region-code", e.to_string())],
    };
    let expected = match type_ {
        TenantType::Kabupaten => RegionLevel::Kabupaten,
        TenantType::Kota => RegionLevel::Kota,
        TenantType::Desa => RegionLevel::Desa,
        TenantType::Kelurahan => RegionLevel::Kelurahan,
        _ => unreachable!("checked by is_region"),
    };
    let mut out = Vec::new();
    if level != expected {
        out.push(Violation::new(
            field,
            "region-level",
            format!("'{code}' is the code of a {level:?}, but the tenant is a {type_:?}"),
        ));
    }
    if let Some(parent) = parent_code
        && !code.starts_with(&format!("{parent}."))
    {
        out.push(Violation::new(
            field,
            "region-parent",
            format!("'{code}' must extend its parent's code '{parent}'"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_recognised() {
        assert_eq!(parse("13"), Ok(RegionLevel::Province));
        assert_eq!(parse("13.06"), Ok(RegionLevel::Kabupaten));
        assert_eq!(parse("13.75"), Ok(RegionLevel::Kota));
        assert_eq!(parse("13.06.09"), Ok(RegionLevel::District));
        assert_eq!(parse("13.06.09.2001"), Ok(RegionLevel::Desa));
        assert_eq!(parse("13.75.01.1001"), Ok(RegionLevel::Kelurahan));
    }

    #[test]
    fn malformed_codes_say_which_part_is_wrong() {
        assert!(parse("99").unwrap_err().to_string().contains("province"));
        assert!(parse("13.70").unwrap_err().to_string().contains("regency"));
        assert!(
            parse("13.06.00")
                .unwrap_err()
                .to_string()
                .contains("district")
        );
        assert!(
            parse("13.06.09.3001")
                .unwrap_err()
                .to_string()
                .contains("type digit")
        );
        assert!(
            parse("13.06.09.2000")
                .unwrap_err()
                .to_string()
                .contains("village code")
        );
        assert!(parse("13.6").is_err());
    }

    #[test]
    fn tenant_codes_match_type_and_extend_the_parent() {
        assert!(
            check_tenant_code("c", TenantType::Desa, "13.06.09.2001", Some("13.06")).is_empty()
        );
        let wrong_parent = check_tenant_code("c", TenantType::Desa, "13.06.09.2001", Some("13.07"));
        assert_eq!(wrong_parent[0].rule, "region-parent");
        let wrong_level = check_tenant_code("c", TenantType::Kota, "13.06", None);
        assert_eq!(wrong_level[0].rule, "region-level");
        assert!(check_tenant_code("c", TenantType::PerangkatDaerah, "1.02.01", None).is_empty());
        assert_eq!(
            check_tenant_code("c", TenantType::PerangkatDaerah, "a b", None)[0].rule,
            "org-code"
        );
    }
}
