//! The rules of a hosting plan: its quantities, and the tenant's hosting limits.

use crate::api::{HostingResources, TenantLimits};
use crate::rules::{Violation, quantity};

/// Tenant limits on hosting (pure): the sum of the tenant's hosting plans.
pub fn check_tenant_budget(
    limits: &TenantLimits,
    others: &[&HostingResources],
    this: &HostingResources,
) -> Vec<Violation> {
    let mut out = vec![];
    for (field, limit, get) in [
        (
            "spec.resources.cpu",
            &limits.hosting_cpu,
            (|r: &HostingResources| r.cpu.clone()) as fn(&HostingResources) -> String,
        ),
        ("spec.resources.memory", &limits.hosting_memory, |r| {
            r.memory.clone()
        }),
        ("spec.resources.disk", &limits.hosting_disk, |r| {
            r.disk.clone()
        }),
    ] {
        let total: f64 = others
            .iter()
            .map(|r| quantity::parse(&get(r)).unwrap_or(0.0))
            .sum::<f64>()
            + quantity::parse(&get(this)).unwrap_or(0.0);
        match quantity::parse(limit) {
            Some(l) if total > l + 1e-9 => out.push(Violation::new(
                field,
                "tenant-hosting-limit",
                format!(
                    "{} with the tenant's other hosting exceeds the tenant's limit of {limit}; ask the Dinas to raise spec.limits or choose a smaller plan",
                    get(this)
                ),
            )),
            _ => {}
        }
    }
    out
}

/// A hosting plan's own quantities (pure): each a positive Kubernetes quantity.
pub fn check_resources(r: &HostingResources) -> Vec<Violation> {
    let mut out = vec![];
    for (field, q) in [
        ("spec.resources.cpu", &r.cpu),
        ("spec.resources.memory", &r.memory),
        ("spec.resources.disk", &r.disk),
    ] {
        if quantity::parse(q).is_none_or(|v| v <= 0.0) {
            out.push(Violation::new(
                field,
                "quantity",
                format!("'{q}' is not a positive quantity such as 500m, 512Mi or 5Gi"),
            ));
        }
    }
    out
}
