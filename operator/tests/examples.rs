//! Every example is valid under the regulation rules; every `examples/invalid/rules` file
//! breaks exactly the rule it names. (The API-level invalid examples are checked against the
//! real API server in tests/tests/approvals.rs.)

use std::path::{Path, PathBuf};

use kavling::api::{Request, Tenant};
use kavling::controllers::tenant::validate as validate_tenant;
use kavling::rules::{self, Violation};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn docs(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split("\n---")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|d| serde_norway::from_str(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

fn tenants() -> Vec<Tenant> {
    docs(&examples().join("tenants.yaml"))
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}

fn zones() -> Vec<kavling::api::Zone> {
    docs(&examples().join("zones.yaml"))
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}

fn check(doc: &serde_json::Value) -> Vec<Violation> {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    match doc["kind"].as_str() {
        Some("Request") => {
            let r: Request = serde_json::from_value(doc.clone()).unwrap();
            let mut v = rules::request::check(&r.spec, today);
            // a subdomain claim is judged against its zone's naming policy (zones.yaml)
            if let Some(s) = &r.spec.subdomain
                && let Some(z) = zones()
                    .into_iter()
                    .find(|z| z.metadata.name.as_deref() == Some(&s.zone))
            {
                let served: Vec<String> = zones()
                    .iter()
                    .filter_map(|z| z.metadata.name.clone())
                    .collect();
                // the tenant whose home namespace the request is filed in
                let tenant = r
                    .metadata
                    .namespace
                    .as_deref()
                    .and_then(|n| n.strip_prefix("tenant-"))
                    .unwrap_or_default()
                    .to_string();
                let tenant_type = tenants()
                    .iter()
                    .find(|t| t.metadata.name.as_deref() == Some(tenant.as_str()))
                    .map(|t| t.spec.type_)
                    .unwrap_or(kavling::api::TenantType::PerangkatDaerah);
                let limits = kavling::api::TenantLimits::default();
                let claim = rules::naming::Claim {
                    label: &s.label,
                    zone_name: &s.zone,
                    zone: Some(&z.spec),
                    served_zones: &served,
                    tenant: &tenant,
                    tenant_type,
                    limits: &limits,
                    held: rules::naming::Holdings::default(),
                    website: s.website,
                    wildcard: s.wildcard,
                    target: &s.target,
                    alias_holder: rules::naming::Holder::Unknown,
                    denied_ranges: &[],
                };
                v.extend(rules::naming::check_claim(&claim).into_iter().map(|mut x| {
                    x.field = format!("spec.subdomain.{}", x.field);
                    x
                }));
            }
            v
        }
        Some("Tenant") => {
            let t: Tenant = serde_json::from_value(doc.clone()).unwrap();
            let all = tenants();
            let parent = t
                .spec
                .parent
                .as_ref()
                .and_then(|p| all.iter().find(|x| x.metadata.name.as_deref() == Some(p)))
                .map(|p| p.spec.code.clone());
            validate_tenant(&t, parent.as_deref())
        }
        Some("Hosting") => {
            let h: kavling::api::Hosting = serde_json::from_value(doc.clone()).unwrap();
            kavling::hosting::Templates::load()
                .unwrap()
                .resolve(h.spec.template, &h.spec.parameters, "spec.parameters")
                .err()
                .unwrap_or_default()
        }
        Some("Bucket") => {
            let b: kavling::api::Bucket = serde_json::from_value(doc.clone()).unwrap();
            rules::storage::check_bucket_object(&b)
        }
        _ => vec![],
    }
}

#[test]
fn every_example_obeys_the_rules() {
    let mut files = vec![
        examples().join("tenants.yaml"),
        examples().join("zones.yaml"),
    ];
    files.extend(
        std::fs::read_dir(examples().join("requests"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    let mut n = 0;
    for f in files {
        for d in docs(&f) {
            let v = check(&d);
            assert!(v.is_empty(), "{}: {}", f.display(), rules::summarize(&v));
            n += 1;
        }
    }
    assert!(n >= 15, "only {n} example documents");
}

#[test]
fn every_rules_level_invalid_example_breaks_the_rule_it_names() {
    let dir = examples().join("invalid/rules");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("# {k}: ")))
                .unwrap_or_else(|| panic!("{} lacks # {k}:", path.display()))
                .to_string()
        };
        let (field, rule) = (expect("expect-field"), expect("expect-rule"));
        let v = check(&docs(&path)[0]);
        assert!(
            v.iter().any(|x| x.field == field && x.rule == rule),
            "{}: expected {field} [{rule}], got {}",
            path.display(),
            rules::summarize(&v)
        );
        n += 1;
    }
    assert!(n >= 5);
}
