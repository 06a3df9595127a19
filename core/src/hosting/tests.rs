//! Every template rendered with a fixed input and compared with its snapshot
//! (`KAVLING_UPDATE_SNAPSHOTS=1 cargo test -p kavling-operator hosting` rewrites them), plus
//! the parameter rules.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;

fn input(t: AppTemplate) -> RenderInput {
    let mut params = BTreeMap::new();
    if t == AppTemplate::Container {
        params.insert(
            "image".to_string(),
            "registry.pusatdata.go.id/dinkes/sehat:1.4".to_string(),
        );
    }
    let templates = Templates::load().unwrap();
    RenderInput {
        tenant: "dinkes".into(),
        hosting: "sehat".into(),
        namespace: "dinkes-sehat".into(),
        template: t,
        params: templates.resolve(t, &params, "spec.parameters").unwrap(),
        resources: HostingResources {
            cpu: "1".into(),
            memory: "1Gi".into(),
            disk: "5Gi".into(),
            pods: 10,
        },
        domains: vec!["sehat.bukittinggikota.go.id".into()],
        groups: vec!["kavling:tenant:dinkes".into()],
        suspended: false,
        suspend_reason: String::new(),
        ingress_namespace: "ingress-nginx".into(),
        ingress_class: "nginx".into(),
        images: Images::under("registry.pusatdata.go.id/kavling").unwrap(),
    }
}

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/hosting/snapshots")
}

#[test]
fn every_template_renders_as_its_snapshot() {
    let t = Templates::load().unwrap();
    for app in AppTemplate::ALL {
        let objs = t.render(&input(app)).unwrap();
        let text = objs
            .iter()
            .map(|o| serde_norway::to_string(o).unwrap())
            .collect::<Vec<_>>()
            .join("---\n");
        let path = snapshot_dir().join(format!("{}.yaml", app.as_str()));
        if std::env::var_os("KAVLING_UPDATE_SNAPSHOTS").is_some() {
            std::fs::create_dir_all(snapshot_dir()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "{} missing; run with KAVLING_UPDATE_SNAPSHOTS=1",
                path.display()
            )
        });
        assert_eq!(text, want, "{} differs from its snapshot", app.as_str());
        // every object is labelled as ours and lives in the hosting namespace
        for o in &objs {
            assert_eq!(
                o["metadata"]["labels"][HOSTING_LABEL],
                "dinkes-sehat",
                "{}",
                object_key(o)
            );
            if o["kind"] != "Namespace" {
                assert_eq!(
                    o["metadata"]["namespace"],
                    "dinkes-sehat",
                    "{}",
                    object_key(o)
                );
            }
        }
    }
}

#[test]
fn base_objects_isolate_and_limit() {
    let t = Templates::load().unwrap();
    let objs = t.render(&input(AppTemplate::Static)).unwrap();
    let keys: Vec<String> = objs.iter().map(object_key).collect();
    for k in [
        "Namespace/dinkes-sehat",
        "ResourceQuota/kavling-quota",
        "LimitRange/kavling-limits",
        "NetworkPolicy/default-deny",
        "NetworkPolicy/allow-ingress-controller",
        "NetworkPolicy/allow-dns-egress",
        "RoleBinding/kavling-hosting-tenant",
        "ServiceAccount/app",
        "Ingress/web",
        "Deployment/web",
        "Service/web",
        "PersistentVolumeClaim/data",
    ] {
        assert!(keys.contains(&k.to_string()), "{k} missing from {keys:?}");
    }
    let ns = &objs[0];
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let quota = objs.iter().find(|o| o["kind"] == "ResourceQuota").unwrap();
    assert_eq!(quota["spec"]["hard"]["limits.memory"], "1Gi");
    assert_eq!(quota["spec"]["hard"]["requests.storage"], "5Gi");
    let ing = objs.iter().find(|o| o["kind"] == "Ingress").unwrap();
    assert_eq!(
        ing["spec"]["tls"][0]["secretName"],
        "sehat.bukittinggikota.go.id-tls"
    );
    // no replicas in the Deployment: the tenant scales, Kavling only suspends
    let dep = objs
        .iter()
        .find(|o| object_key(o) == "Deployment/web")
        .unwrap();
    assert!(dep["spec"].get("replicas").is_none());
}

#[test]
fn suspension_points_the_ingress_at_a_notice_and_no_domains_no_ingress() {
    let t = Templates::load().unwrap();
    let mut i = input(AppTemplate::Php);
    i.suspended = true;
    i.suspend_reason = "evaluasi keamanan".into();
    let objs = t.render(&i).unwrap();
    let ing = objs.iter().find(|o| o["kind"] == "Ingress").unwrap();
    assert_eq!(
        ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "kavling-notice"
    );
    assert!(
        objs.iter()
            .any(|o| object_key(o) == "Deployment/kavling-notice")
    );
    let mut i = input(AppTemplate::Php);
    i.domains.clear();
    assert!(!t.render(&i).unwrap().iter().any(|o| o["kind"] == "Ingress"));
}

#[test]
fn parameters_are_checked_against_the_declarations() {
    let t = Templates::load().unwrap();
    let rules = |app, kv: &[(&str, &str)]| -> Vec<&'static str> {
        let m: BTreeMap<String, String> = kv
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match t.resolve(app, &m, "spec.parameters") {
            Ok(_) => vec![],
            Err(v) => v.into_iter().map(|x| x.rule).collect(),
        }
    };
    assert!(rules(AppTemplate::Php, &[]).is_empty());
    assert_eq!(
        rules(AppTemplate::Php, &[("phpVersion", "7.4")]),
        ["template-parameter-invalid"]
    );
    assert_eq!(
        rules(AppTemplate::Php, &[("nodeVersion", "20")]),
        ["template-parameter-unknown"]
    );
    assert_eq!(
        rules(AppTemplate::Container, &[]),
        ["template-parameter-required"]
    );
    assert!(
        rules(
            AppTemplate::Container,
            &[("image", "ghcr.io/desa/web:1"), ("port", "8080")]
        )
        .is_empty()
    );
    assert_eq!(
        rules(AppTemplate::Container, &[("image", "x; rm -rf /")]),
        ["template-parameter-invalid"]
    );
    assert_eq!(
        rules(AppTemplate::Opensid, &[("phpVersion", "8.0")]),
        ["template-parameter-invalid"]
    );
    let resolved = t
        .resolve(AppTemplate::Opensid, &BTreeMap::new(), "p")
        .unwrap();
    assert_eq!(resolved["phpVersion"], "8.1");
}

#[test]
fn an_image_outside_the_registry_or_unpinned_is_refused_by_render_naming_the_field() {
    let t = Templates::load().unwrap();
    for (template, image, why) in [
        (
            AppTemplate::Container,
            "nginx:latest",
            "not in the Pusat Data's registry",
        ),
        (
            AppTemplate::Container,
            "docker.io/library/nginx:1.27",
            "not in the Pusat Data's registry",
        ),
        (
            AppTemplate::Container,
            "registry.pusatdata.go.id/dinkes/sehat:latest",
            "not pinned",
        ),
        (
            AppTemplate::Static,
            "registry.pusatdata.go.id/web/nginx",
            "not pinned",
        ),
    ] {
        let mut i = input(template);
        i.params.insert("image".into(), image.into());
        let e = t.render(&i).unwrap_err();
        assert!(
            matches!(
                e,
                TemplateError::Invalid {
                    field: "spec.parameters.image",
                    ..
                }
            ),
            "{image}: {e}"
        );
        assert!(e.to_string().contains(why), "{image}: {e}");
    }
    // the platform's own image is the catalog's, under the configured registry
    let objs = t.render(&input(AppTemplate::Static)).unwrap();
    let text = serde_json::to_string(&objs).unwrap();
    assert!(
        text.contains("registry.pusatdata.go.id/kavling/web:"),
        "{text}"
    );
    assert!(!text.contains("nginxinc/"), "{text}");
}
