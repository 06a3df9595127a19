//! The planner with plain values: every way a request can end, without an API server.

use serde_json::json;

use super::*;
use crate::api::{Subdomain, SubdomainSpec, Target, TenantSpec, TenantType, ZoneSpec};

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
}

fn templates() -> Templates {
    Templates::load().unwrap()
}

fn request(ns: &str, uid: &str, body: serde_json::Value) -> Request {
    let mut spec = json!({"requestedBy": "rina", "letter": {"number": "1", "date": "2026-11-01",
        "signer": {"name": "A", "position": "B", "identity": {"nip": "197805122005012003"}}}});
    spec.as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    serde_json::from_value(json!({
        "apiVersion": "kavling.go.id/v1alpha1", "kind": "Request",
        "metadata": {"name": "portal", "namespace": ns, "uid": uid},
        "spec": spec,
    }))
    .unwrap()
}

fn subdomain_body(label: &str, addresses: &[&str]) -> serde_json::Value {
    json!({"subdomain": {"zone": "agamkab.go.id", "label": label, "applicationName": "Portal",
        "description": "d", "businessProcess": "b", "target": {"addresses": addresses}}})
}

fn tenant(name: &str) -> Tenant {
    Tenant::new(
        name,
        TenantSpec {
            display_name: "Dinas Kesehatan".into(),
            type_: TenantType::PerangkatDaerah,
            code: "13.06".into(),
            parent: None,
            contacts: vec![],
            groups: vec![],
            limits: Default::default(),
            suspend: None,
        },
    )
}

fn zone() -> Zone {
    let spec: ZoneSpec = serde_json::from_value(json!({
        "soa": {"primary": "ns1.agamkab.go.id", "hostmaster": "hostmaster@agamkab.go.id"},
        "nameservers": ["ns1.agamkab.go.id"],
    }))
    .unwrap();
    Zone::new("agamkab.go.id", spec)
}

fn view() -> ClusterView {
    ClusterView::from_lists(vec![zone()], vec![tenant("dinkes")], vec![], vec![], vec![])
}

fn held(fqdn: &str, tenant: &str, by: &str) -> Subdomain {
    let (label, zone) = fqdn.split_once('.').unwrap();
    let mut sd = Subdomain::new(
        fqdn,
        SubdomainSpec {
            zone: zone.into(),
            label: label.into(),
            tenant: tenant.into(),
            application_name: None,
            website: false,
            tls: false,
            ttl: None,
            target: Target::default(),
            suspend: None,
            wildcard: false,
        },
    );
    sd.metadata.annotations = Some(
        [(
            crate::outputs::REQUEST_ANNOTATION.to_string(),
            by.to_string(),
        )]
        .into_iter()
        .collect(),
    );
    sd
}

#[test]
fn a_free_name_plans_its_records_and_nothing_stops_it() {
    let req = request(
        "tenant-dinkes",
        "u1",
        subdomain_body("sehat", &["10.30.0.1", "2001:db8::1"]),
    );
    let d = plan(&req, &view(), &templates(), today());
    assert_eq!(d.type_, "subdomain");
    assert!(d.invalid.is_empty() && d.blocked.is_empty(), "{d:?}");
    assert_eq!(d.existing, Existing::Absent);
    assert_eq!(
        d.effects[..3],
        [
            "Subdomain sehat.agamkab.go.id",
            "A sehat.agamkab.go.id → 10.30.0.1",
            "AAAA sehat.agamkab.go.id → 2001:db8::1",
        ]
    );
    let Some(Output::Subdomain(sd)) = d.object else {
        panic!("a subdomain request builds a Subdomain")
    };
    assert_eq!(sd.spec.tenant, "dinkes");
    assert!(crate::outputs::made_for(sd.annotations(), &req));
}

#[test]
fn a_name_held_by_another_tenant_is_refused_with_its_holder() {
    let req = request(
        "tenant-dinkes",
        "u1",
        subdomain_body("sehat", &["10.30.0.1"]),
    );
    let mut v = view();
    v.subdomains.insert(
        "sehat.agamkab.go.id".into(),
        held("sehat.agamkab.go.id", "lain", "tenant-lain/x"),
    );
    let d = plan(&req, &v, &templates(), today());
    let Existing::Theirs(why) = &d.existing else {
        panic!("{d:?}")
    };
    assert_eq!(why.field, "spec.subdomain.label");
    assert!(
        why.message
            .starts_with("sehat.agamkab.go.id is already held by tenant 'lain' (tenant-lain/x)"),
        "{why}"
    );
    assert_eq!(d.refusals().count(), 1);
}

#[test]
fn the_requests_own_output_is_ours_ready_or_not() {
    let req = request(
        "tenant-dinkes",
        "u1",
        subdomain_body("sehat", &["10.30.0.1"]),
    );
    let mut sd = held("sehat.agamkab.go.id", "dinkes", "tenant-dinkes/portal");
    let mut v = view();
    v.subdomains.insert(sd.name_any(), sd.clone());
    let d = plan(&req, &v, &templates(), today());
    assert_eq!(
        d.existing,
        Existing::Ours {
            ready: false,
            message: "being set up".into()
        }
    );
    sd.status = Some(
        serde_json::from_value(json!({"conditions": [
        {"type": "Ready", "status": "True", "reason": "Served", "message": "served",
         "lastTransitionTime": "2026-12-01T00:00:00Z"}]}))
        .unwrap(),
    );
    v.subdomains.insert(sd.name_any(), sd);
    let d = plan(&req, &v, &templates(), today());
    assert!(matches!(d.existing, Existing::Ours { ready: true, .. }));
    assert!(d.blocked.is_empty(), "live rules are not judged again");
}

#[test]
fn live_rules_need_a_live_view() {
    let req = request(
        "tenant-dinkes",
        "u1",
        subdomain_body("sehat", &["10.96.0.10"]),
    );
    let mut v = view();
    v.denied_ranges = vec!["10.96.0.0/24".parse().unwrap()];
    let d = plan(&req, &v, &templates(), today());
    assert!(
        d.blocked
            .iter()
            .any(|x| x.field.starts_with("spec.subdomain.target")),
        "{:?}",
        d.blocked
    );
    // offline: nothing needing the cluster is judged
    let d = plan(&req, &ClusterView::default(), &templates(), today());
    assert!(d.blocked.is_empty() && d.existing == Existing::Absent);
}

#[test]
fn a_missing_tenant_or_a_foreign_namespace_stops_it() {
    let req = request("tenant-baru", "u1", subdomain_body("sehat", &["10.30.0.1"]));
    let d = plan(&req, &view(), &templates(), today());
    assert_eq!(d.blocked[0].rule, "tenant-exists");
    let req = request("default", "u1", subdomain_body("sehat", &["10.30.0.1"]));
    let d = plan(&req, &view(), &templates(), today());
    assert!(
        d.invalid.iter().any(|v| v.rule == "home-namespace"),
        "{d:?}"
    );
}

#[test]
fn hosting_plans_its_namespace_and_checks_template_and_budget() {
    let body = |template: &str, cpu: &str| {
        json!({"hosting": {"name": "web", "applicationName": "Web", "template": template,
            "cpu": cpu, "memory": "512Mi", "disk": "5Gi"}})
    };
    let req = request("tenant-dinkes", "u1", body("static", "500m"));
    let d = plan(&req, &view(), &templates(), today());
    assert!(d.refusals().next().is_none(), "{d:?}");
    assert!(
        d.effects[0].starts_with("namespace dinkes--web from template static"),
        "{:?}",
        d.effects
    );
    let req = request("tenant-dinkes", "u1", body("joomla", "500m"));
    let d = plan(&req, &view(), &templates(), today());
    assert_eq!(d.invalid[0].field, "spec.hosting.template");
    assert!(d.object.is_none());
    let req = request("tenant-dinkes", "u1", body("static", "64"));
    let d = plan(&req, &view(), &templates(), today());
    assert_eq!(d.blocked[0].field, "spec.hosting.cpu", "{:?}", d.blocked);
}

#[test]
fn a_hosting_image_outside_the_registry_or_unpinned_is_refused_at_approval() {
    let body = |image: &str| {
        json!({"hosting": {"name": "app", "applicationName": "App", "template": "container",
            "cpu": "250m", "memory": "256Mi", "disk": "1Gi", "specification": format!("image: {image}")}})
    };
    let mut operator_view = view();
    operator_view.images =
        Some(crate::hosting::Images::under("registry.pusat-data.local/kavling").unwrap());
    for (image, cli_ok, operator_ok) in [
        ("registry.pusat-data.local/dinkes/app:1.4", true, true),
        ("docker.io/library/nginx:1.27", true, false),
        ("registry.pusat-data.local/dinkes/app:latest", false, false),
        ("registry.pusat-data.local/dinkes/app", false, false),
    ] {
        for (v, ok) in [(&view(), cli_ok), (&operator_view, operator_ok)] {
            let d = plan(
                &request("tenant-dinkes", "u1", body(image)),
                v,
                &templates(),
                today(),
            );
            let refused: Vec<_> = d.refusals().map(|x| x.field.as_str()).collect();
            if ok {
                assert!(refused.is_empty(), "{image}: {refused:?}");
            } else {
                assert_eq!(refused, ["spec.hosting.specification.image"], "{image}");
            }
        }
    }
}

#[test]
fn storage_plans_the_derived_bucket_and_checks_the_budget() {
    let body = |size: &str| {
        json!({"storage": {"name": "arsip", "dataDescription": "x", "size": size,
            "classification": "Publik", "personalData": false}})
    };
    let req = request("tenant-dinkes", "u1", body("5Gi"));
    let d = plan(&req, &view(), &templates(), today());
    assert!(d.refusals().next().is_none(), "{d:?}");
    assert!(
        d.effects[0].starts_with("bucket dinkes--arsip with quota 5Gi"),
        "{:?}",
        d.effects
    );
    let req = request("tenant-dinkes", "u1", body("100Ti"));
    let d = plan(&req, &view(), &templates(), today());
    assert_eq!(d.blocked[0].field, "spec.storage.size", "{:?}", d.blocked);
}
