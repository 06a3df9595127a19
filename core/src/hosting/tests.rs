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
        wildcard_domains: vec![],
        groups: vec!["kavling:tenant:dinkes".into()],
        suspended: false,
        suspend_reason: String::new(),
        ingress_namespace: "ingress-nginx".into(),
        ingress_class: "nginx".into(),
        images: Images::under("registry.pusatdata.go.id/kavling").unwrap(),
        source_mirror: Some("git://10.10.0.5:9418".parse().unwrap()),
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
fn a_wildcard_domain_routes_every_name_below_it_to_the_same_site_under_one_secret() {
    let t = Templates::load().unwrap();
    let mut i = input(AppTemplate::Static);
    i.domains.push("lain.bukittinggikota.go.id".into());
    i.wildcard_domains = vec!["sehat.bukittinggikota.go.id".into()];
    let objs = t.render(&i).unwrap();
    let ing = objs.iter().find(|o| o["kind"] == "Ingress").unwrap();
    let hosts: Vec<&str> = ing["spec"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts,
        [
            "sehat.bukittinggikota.go.id",
            "*.sehat.bukittinggikota.go.id",
            "lain.bukittinggikota.go.id"
        ]
    );
    assert_eq!(
        ing["spec"]["tls"][0]["hosts"],
        serde_json::json!([
            "sehat.bukittinggikota.go.id",
            "*.sehat.bukittinggikota.go.id"
        ])
    );
    assert_eq!(
        ing["spec"]["tls"][0]["secretName"],
        "sehat.bukittinggikota.go.id-tls"
    );
    assert_eq!(
        ing["spec"]["tls"][1]["hosts"],
        serde_json::json!(["lain.bukittinggikota.go.id"])
    );
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
        rules(AppTemplate::Php, &[("docroot", "../etc")]),
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
        rules(AppTemplate::Opensid, &[("version", "main; curl evil")]),
        ["template-parameter-invalid"]
    );
    // PHP's version is the Pusat Data's catalog, not a parameter (it was before)
    assert_eq!(
        rules(AppTemplate::Opensid, &[("phpVersion", "8.1")]),
        ["template-parameter-unknown"]
    );
    let resolved = t
        .resolve(AppTemplate::Opensid, &BTreeMap::new(), "p")
        .unwrap();
    assert_eq!(resolved["version"], "master");
}

#[test]
fn containers_share_the_quota_and_opensid_fetches_only_from_the_mirror() {
    let t = Templates::load().unwrap();
    // requests of every container of a pod, in mebibytes
    let pod_memory = |objs: &[serde_json::Value], name: &str| -> u64 {
        let o = objs
            .iter()
            .find(|o| o["metadata"]["name"] == name && o["kind"] != "Service")
            .unwrap();
        o["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let m = c["resources"]["limits"]["memory"].as_str().unwrap();
                m.trim_end_matches("Mi").parse::<u64>().unwrap()
            })
            .sum()
    };
    for app in [AppTemplate::Wordpress, AppTemplate::Opensid] {
        let objs = t.render(&input(app)).unwrap();
        let total = pod_memory(&objs, "web") + pod_memory(&objs, "db");
        // 1Gi: web 3/8 + 1/8, db 3/8 — room left for the suspension notice (32Mi)
        assert_eq!(total, 896, "{app:?}");
        let web = objs.iter().find(|o| o["kind"] == "Deployment").unwrap();
        assert_eq!(web["spec"]["strategy"]["type"], "Recreate");
    }
    let objs = t.render(&input(AppTemplate::Opensid)).unwrap();
    let fetch = &objs.iter().find(|o| o["kind"] == "Deployment").unwrap()["spec"]["template"]["spec"]
        ["initContainers"][0];
    assert_eq!(
        fetch["image"],
        "registry.pusatdata.go.id/kavling/git-fetch:2.47-trixie-1"
    );
    assert!(
        fetch["env"]
            .to_string()
            .contains("git://10.10.0.5:9418/opensid.git")
    );
    let np = objs
        .iter()
        .find(|o| o["metadata"]["name"] == "allow-source-mirror")
        .unwrap();
    assert_eq!(
        np["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"],
        "10.10.0.5/32"
    );
    assert_eq!(np["spec"]["egress"][0]["ports"][0]["port"], 9418);
    // no mirror configured: a clear refusal, never a fetch from elsewhere
    let mut i = input(AppTemplate::Opensid);
    i.source_mirror = None;
    let err = t.render(&i).unwrap_err().to_string();
    assert!(err.contains("--source-mirror"), "{err}");
    // the other templates fetch nothing and open nothing
    let objs = t.render(&input(AppTemplate::Wordpress)).unwrap();
    assert!(
        !objs
            .iter()
            .any(|o| o["metadata"]["name"] == "allow-source-mirror")
    );
}

#[test]
fn a_source_mirror_is_an_address() {
    let m: SourceMirror = "git://172.30.18.2:18419".parse().unwrap();
    assert_eq!((m.ip.to_string(), m.port), ("172.30.18.2".into(), 18419));
    let m: SourceMirror = "https://10.0.0.7/mirror/".parse().unwrap();
    assert_eq!((m.port, m.url.as_str()), (443, "https://10.0.0.7/mirror"));
    let m: SourceMirror = "git://[2001:db8::5]".parse().unwrap();
    assert_eq!(m.port, 9418);
    for bad in [
        "git.pusatdata.go.id",
        "git://git.pusatdata.go.id",
        "ftp://10.0.0.1",
    ] {
        assert!(bad.parse::<SourceMirror>().is_err(), "{bad}");
    }
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
