//! The rules of a Tenant's own fields: its region code (Kepmendagri), its contacts'
//! identities, its limits, and (live) that its parent exists.

use crate::api::Tenant;
use crate::rules::{self, Violation};

/// The live rule on `spec.parent` (pure): the parent must exist. Offline checks (`kavling
/// validate`) may not see the parent, so this is separate from [`validate`]. A missing parent
/// is a broken spec like any other: Failed, not Ready (before, Ready=False here was
/// overwritten by Ready=True further down the same reconcile).
pub fn check_parent_exists(tenant: &Tenant, found: bool) -> Option<Violation> {
    let parent = tenant.spec.parent.as_ref()?;
    (!found).then(|| {
        Violation::new(
            "spec.parent",
            "parent-exists",
            format!("no tenant named '{parent}'; create the parent tenant first"),
        )
    })
}

/// Checks a tenant's own fields (pure).
pub fn validate(tenant: &Tenant, parent_code: Option<&str>) -> Vec<Violation> {
    let s = &tenant.spec;
    let mut out = rules::region::check_tenant_code("spec.code", s.type_, &s.code, parent_code);
    for (i, c) in s.contacts.iter().enumerate() {
        out.extend(rules::identity::check_identity(
            &format!("spec.contacts[{i}].identity"),
            &c.identity,
        ));
    }
    for (field, q) in [
        ("spec.limits.hostingCpu", &s.limits.hosting_cpu),
        ("spec.limits.hostingMemory", &s.limits.hosting_memory),
        ("spec.limits.hostingDisk", &s.limits.hosting_disk),
        ("spec.limits.bucketBytes", &s.limits.bucket_bytes),
    ] {
        if rules::quantity::parse(q).is_none() {
            out.push(Violation::new(
                field,
                "quantity",
                format!("'{q}' is not a Kubernetes quantity"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{TenantSpec, TenantType};

    fn desa(parent: Option<&str>) -> Tenant {
        Tenant::new(
            "sungaipua",
            TenantSpec {
                display_name: "Nagari Sungai Pua".into(),
                type_: TenantType::Desa,
                code: "13.06.01.2001".into(),
                parent: parent.map(str::to_string),
                contacts: vec![],
                groups: vec![],
                limits: Default::default(),
                suspend: None,
            },
        )
    }

    #[test]
    fn a_missing_parent_is_a_broken_rule_not_a_passing_note() {
        let v = check_parent_exists(&desa(Some("agam")), false).expect("missing parent");
        assert_eq!((v.field.as_str(), v.rule), ("spec.parent", "parent-exists"));
        assert!(check_parent_exists(&desa(Some("agam")), true).is_none());
        assert!(check_parent_exists(&desa(None), false).is_none());
    }
}
