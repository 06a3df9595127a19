//! Names Kavling derives for things outside its own objects: the object store's bucket and
//! the hosting namespace. Both are `<tenant>--<name>`: tenant names and object names are DNS
//! labels without `--` (the CRDs' CEL rules on Tenant, Bucket, Hosting and request names), so the first `--` splits every derived
//! name back into exactly one (tenant, name) pair — the derivation is injective across
//! tenants, where the old `<tenant>-<name>` let tenant `dinkes` with `lab-data` and tenant
//! `dinkes-lab` with `data` share one bucket.
//!
//! A hosting namespace must also never land among the platform's own: `kube-*`,
//! `kavling-*`, `openshift-*`, `default`, tenants' home namespaces, and the ingress
//! controller's namespace that every hosting's NetworkPolicy trusts. Pure; no I/O.

use super::Violation;

/// What joins the tenant and the object's name.
pub const SEPARATOR: &str = "--";

/// Namespace prefixes that belong to the platform, never to a hosting.
pub const RESERVED_NAMESPACE_PREFIXES: &[&str] = &["kube-", "kavling-", "openshift-", "tenant-"];
/// Namespaces that belong to the platform, never to a hosting.
pub const RESERVED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];
/// Tenant names that would make derived names look like the platform's own.
pub const RESERVED_TENANT_NAMES: &[&str] = &[
    "kube",
    "kavling",
    "openshift",
    "default",
    "system",
    "tenant",
];

/// The object store's bucket of tenant `tenant`'s Bucket `name`.
pub fn bucket_name(tenant: &str, name: &str) -> String {
    format!("{tenant}{SEPARATOR}{name}")
}

/// The namespace of tenant `tenant`'s Hosting `name`.
pub fn hosting_namespace(tenant: &str, name: &str) -> String {
    format!("{tenant}{SEPARATOR}{name}")
}

/// The (tenant, name) a derived name came from — the inverse that proves injectivity.
pub fn split(derived: &str) -> Option<(&str, &str)> {
    derived.split_once(SEPARATOR)
}

/// Whether `ns` may be a hosting's namespace: not the platform's, not the ingress
/// controller's, at most 63 characters.
pub fn check_hosting_namespace(field: &str, ns: &str, ingress_namespace: &str) -> Vec<Violation> {
    let mut v = vec![];
    if ns.len() > 63 {
        v.push(Violation::new(
            field,
            "hosting-namespace-length",
            format!(
                "the namespace '{ns}' would have {} characters; at most 63 — choose a shorter name",
                ns.len()
            ),
        ));
    }
    if ns == ingress_namespace
        || RESERVED_NAMESPACES.contains(&ns)
        || RESERVED_NAMESPACE_PREFIXES
            .iter()
            .any(|p| ns.starts_with(p))
    {
        v.push(Violation::new(field, "hosting-namespace-reserved", format!("the namespace '{ns}' belongs to the platform (kube-*, kavling-*, openshift-*, tenant-*, default, or the ingress controller's {ingress_namespace}); choose another name")));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_colliding_pairs_of_the_old_scheme_get_distinct_names() {
        // dinkes/lab-data vs dinkes-lab/data: one bucket and one namespace before
        assert_ne!(
            bucket_name("dinkes", "lab-data"),
            bucket_name("dinkes-lab", "data")
        );
        assert_ne!(
            hosting_namespace("dinkes", "lab-web"),
            hosting_namespace("dinkes-lab", "web")
        );
        // ingress/nginx was the ingress controller's namespace
        assert_ne!(hosting_namespace("ingress", "nginx"), "ingress-nginx");
    }

    #[test]
    fn a_derived_name_splits_back_into_its_one_pair() {
        let parts = ["a", "a-b", "dinkes", "dinkes-lab", "lab-data", "x1-2-3"];
        let mut seen = std::collections::BTreeMap::new();
        for t in parts {
            for n in parts {
                let d = bucket_name(t, n);
                assert_eq!(split(&d), Some((t, n)));
                assert_eq!(seen.insert(d.clone(), (t, n)), None, "{d} derived twice");
            }
        }
    }

    #[test]
    fn platform_namespaces_are_refused() {
        for ns in [
            "kube--x",
            "kavling--x",
            "default",
            "tenant--x",
            "ingress-nginx",
        ] {
            assert!(
                !check_hosting_namespace("metadata.name", ns, "ingress-nginx").is_empty(),
                "{ns}"
            );
        }
        assert!(
            check_hosting_namespace("metadata.name", "dinkes--web", "ingress-nginx").is_empty()
        );
        assert_eq!(
            check_hosting_namespace("metadata.name", &"a".repeat(64), "x")[0].rule,
            "hosting-namespace-length"
        );
    }
}
