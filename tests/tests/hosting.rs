//! Hosting on the local stack. No kubelet runs here, so pods never start: what is tested is
//! what Kavling owns — the rendered namespace, the rights, the quota, the ingress rules,
//! suspension and deletion — against the real API server.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kavling::api::*;
use kavling::hosting::{HOSTING_LABEL, RenderInput, Templates, object_key};
use kavling_e2e::{Stack, api_code, file_and_approve, letter, wait_for, zone_and_rina_tenant};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, ResourceExt};
use serde_json::json;

const T: Duration = Duration::from_secs(60);

fn hosting_request(name: &str, template: &str, cpu: &str, memory: &str, disk: &str) -> Request {
    Request::new(
        name,
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(),
            subdomain: None,
            hosting: Some(HostingRequest {
                name: name.into(),
                application_name: "Aplikasi".into(),
                template: template.into(),
                cpu: cpu.into(),
                memory: memory.into(),
                disk: disk.into(),
                specification: Some("Aplikasi layanan.\ndocroot: /public".into()),
            }),
            storage: None,
        },
    )
}

fn ready(h: &Hosting) -> bool {
    h.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

fn gvk(kind: &str) -> ApiResource {
    let (g, v, p) = match kind {
        "ResourceQuota" => ("", "v1", "resourcequotas"),
        "LimitRange" => ("", "v1", "limitranges"),
        "ServiceAccount" => ("", "v1", "serviceaccounts"),
        "ConfigMap" => ("", "v1", "configmaps"),
        "Service" => ("", "v1", "services"),
        "PersistentVolumeClaim" => ("", "v1", "persistentvolumeclaims"),
        "NetworkPolicy" => ("networking.k8s.io", "v1", "networkpolicies"),
        "Ingress" => ("networking.k8s.io", "v1", "ingresses"),
        "RoleBinding" => ("rbac.authorization.k8s.io", "v1", "rolebindings"),
        "Deployment" => ("apps", "v1", "deployments"),
        "StatefulSet" => ("apps", "v1", "statefulsets"),
        "Namespace" => ("", "v1", "namespaces"),
        other => panic!("unexpected kind {other}"),
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, kind), p)
}

/// `Kind/name` of every object labelled for this hosting namespace.
async fn objects_in(stack: &Stack, ns: &str) -> anyhow::Result<BTreeSet<String>> {
    let admin = stack.client_as("admin").await?;
    let mut out = BTreeSet::new();
    let lp = ListParams::default().labels(&format!("{HOSTING_LABEL}={ns}"));
    for kind in [
        "ResourceQuota",
        "LimitRange",
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "PersistentVolumeClaim",
        "NetworkPolicy",
        "Ingress",
        "RoleBinding",
        "Deployment",
        "StatefulSet",
    ] {
        let api: Api<DynamicObject> = Api::namespaced_with(admin.clone(), ns, &gvk(kind));
        for o in api.list(&lp).await?.items {
            out.insert(format!("{kind}/{}", o.name_any()));
        }
    }
    if Api::<Namespace>::all(admin).get_opt(ns).await?.is_some() {
        out.insert(format!("Namespace/{ns}"));
    }
    Ok(out)
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {
                "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "c", "image": "registry.example/app:1",
                    "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
                    "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}}
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn an_approved_hosting_request_renders_exactly_its_template_and_the_tenant_deploys_only_there()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (tenant, _, home) = zone_and_rina_tenant(
        &stack,
        "hs",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let r = file_and_approve(
        &stack,
        "rina",
        &home,
        hosting_request("portal", "php", "500m", "512Mi", "5Gi"),
    )
    .await?;
    let st = r.status.unwrap();
    assert_eq!(st.phase, RequestPhase::Ready, "{:?}", st.conditions);
    let hns = format!("{tenant}--portal");

    // exactly what the template renders — computed here with the same pure function
    let t = Templates::load().map_err(anyhow::Error::msg)?;
    let mut params = std::collections::BTreeMap::new();
    params.insert("docroot".to_string(), "/public".to_string());
    let input = RenderInput {
        tenant: tenant.clone(),
        hosting: "portal".into(),
        namespace: hns.clone(),
        template: AppTemplate::Php,
        params: t.resolve(AppTemplate::Php, &params, "p").unwrap(),
        resources: HostingResources {
            cpu: "500m".into(),
            memory: "512Mi".into(),
            disk: "5Gi".into(),
            pods: 10,
        },
        domains: vec![],
        wildcard_domains: vec![],
        groups: vec!["kavling:tenant:dinkes".into()],
        suspended: false,
        suspend_reason: String::new(),
        ingress_namespace: "ingress-nginx".into(),
        ingress_class: "nginx".into(),
        images: kavling::hosting::Images::under("registry.pusat-data.local/kavling").unwrap(),
        source_mirror: None,
    };
    let want: BTreeSet<String> = t
        .render(&input)
        .map_err(anyhow::Error::msg)?
        .iter()
        .map(object_key)
        .collect();
    assert_eq!(objects_in(&stack, &hns).await?, want);
    let ns = Api::<Namespace>::all(stack.client_as("admin").await?)
        .get(&hns)
        .await?;
    assert_eq!(
        ns.labels()
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );

    // the tenant deploys in its hosting namespace …
    let rina = stack.client_as("rina").await?;
    Api::<Deployment>::namespaced(rina.clone(), &hns)
        .create(&PostParams::default(), &deployment("tambahan"))
        .await?;
    // … but may not change the quota or the network policy
    let e = Api::<ResourceQuota>::namespaced(rina.clone(), &hns)
        .patch(
            "kavling-quota",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"hard": {"limits.cpu": "64"}}})),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), Some(403));
    let e = Api::<NetworkPolicy>::namespaced(rina.clone(), &hns)
        .delete("default-deny", &DeleteParams::default())
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), Some(403));

    // … and not in another tenant's hosting namespace
    let admin = stack.client_as("admin").await?;
    let other = format!("{tenant}x");
    Api::<Tenant>::all(admin.clone())
        .create(
            &PostParams::default(),
            &Tenant::new(
                &other,
                TenantSpec {
                    display_name: other.clone(),
                    type_: TenantType::PerangkatDaerah,
                    code: "1.02.78".into(),
                    parent: None,
                    contacts: vec![],
                    groups: vec!["kavling:tenant:disdik".into()],
                    limits: TenantLimits::default(),
                    suspend: None,
                },
            ),
        )
        .await?;
    let other_home = home_namespace(&other);
    wait_for("other tenant's namespace", T, || async {
        Ok(Api::<Namespace>::all(admin.clone())
            .get_opt(&other_home)
            .await?
            .map(|_| ()))
    })
    .await?;
    let hostings: Api<Hosting> =
        Api::namespaced(stack.client_as("kavling-restore").await?, &other_home);
    hostings
        .create(
            &PostParams::default(),
            &Hosting::new(
                "web",
                HostingSpec {
                    template: AppTemplate::Static,
                    parameters: Default::default(),
                    resources: HostingResources {
                        cpu: "250m".into(),
                        memory: "256Mi".into(),
                        disk: "1Gi".into(),
                        pods: 5,
                    },
                    domains: vec![],
                    suspend: None,
                },
            ),
        )
        .await?;
    wait_for("other hosting Ready", T, || async {
        Ok(hostings.get_opt("web").await?.filter(ready).map(|_| ()))
    })
    .await?;
    let e = Api::<Deployment>::namespaced(rina, &format!("{other}--web"))
        .create(&PostParams::default(), &deployment("menyusup"))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), Some(403));
    Ok(())
}

#[tokio::test]
async fn a_plan_above_the_tenant_limit_is_refused_and_nothing_is_created() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (tenant, _, home) =
        zone_and_rina_tenant(&stack, "hq", TenantType::Kabupaten, TenantLimits::default()).await?;
    let r = file_and_approve(
        &stack,
        "rina",
        &home,
        hosting_request("besar", "static", "3", "1Gi", "5Gi"),
    )
    .await?;
    let st = r.status.unwrap();
    assert_eq!(st.phase, RequestPhase::Failed);
    let msg = &st
        .conditions
        .iter()
        .find(|c| c.type_ == "Failed")
        .unwrap()
        .message;
    assert!(
        msg.contains("spec.hosting.cpu") && msg.contains("tenant-hosting-limit"),
        "{msg}"
    );
    assert!(
        Api::<Hosting>::namespaced(stack.client_as("admin").await?, &home)
            .get_opt("besar")
            .await?
            .is_none()
    );
    assert!(
        Api::<Namespace>::all(stack.client_as("admin").await?)
            .get_opt(&format!("{tenant}--besar"))
            .await?
            .is_none()
    );
    Ok(())
}

#[tokio::test]
async fn plan_domains_suspension_and_deletion_change_only_what_they_should() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (tenant, zone, home) = zone_and_rina_tenant(
        &stack,
        "hp",
        TenantType::PerangkatDaerah,
        TenantLimits {
            subdomains: 10,
            ..Default::default()
        },
    )
    .await?;
    // two names the tenant holds (plain addresses), and one that points at the hosting
    let admin = stack.client_as("admin").await?;
    let ani = stack.client_as("ani").await?;
    for (label, target) in [
        (
            "satu",
            Target {
                addresses: vec!["10.1.0.1".into()],
                ..Default::default()
            },
        ),
        (
            "dua",
            Target {
                addresses: vec!["10.1.0.2".into()],
                ..Default::default()
            },
        ),
        (
            "tiga",
            Target {
                hosting: Some("app".into()),
                ..Default::default()
            },
        ),
    ] {
        let req = Request::new(
            label,
            RequestSpec {
                requested_by: "rina".into(),
                letter: letter(),
                subdomain: Some(SubdomainRequest {
                    zone: zone.clone(),
                    label: label.into(),
                    application_name: "x".into(),
                    description: "x".into(),
                    business_process: "x".into(),
                    website: false,
                    tls: false,
                    target,
                    wildcard: false,
                }),
                hosting: None,
                storage: None,
            },
        );
        let filed = Api::<Request>::namespaced(stack.client_as("rina").await?, &home)
            .create(&PostParams::default(), &req)
            .await?;
        Api::<Approval>::namespaced(ani.clone(), &home)
            .create(
                &PostParams::default(),
                &Approval::deciding(&filed, Decision::Approve, "ani", "ok"),
            )
            .await?;
    }
    let (a, b, c) = (
        format!("satu.{zone}"),
        format!("dua.{zone}"),
        format!("tiga.{zone}"),
    );
    let subdomains: Api<Subdomain> = Api::all(admin.clone());
    wait_for("subdomains claimed", T, || async {
        Ok((subdomains.get_opt(&a).await?.is_some()
            && subdomains.get_opt(&b).await?.is_some()
            && subdomains.get_opt(&c).await?.is_some())
        .then_some(()))
    })
    .await?;

    let hostings: Api<Hosting> = Api::namespaced(stack.client_as("kavling-restore").await?, &home);
    hostings
        .create(
            &PostParams::default(),
            &Hosting::new(
                "app",
                HostingSpec {
                    template: AppTemplate::Static,
                    parameters: Default::default(),
                    resources: HostingResources {
                        cpu: "500m".into(),
                        memory: "512Mi".into(),
                        disk: "2Gi".into(),
                        pods: 5,
                    },
                    domains: vec![a.clone(), b.clone()],
                    suspend: None,
                },
            ),
        )
        .await?;
    let hns = format!("{tenant}--app");
    let ingresses: Api<Ingress> = Api::namespaced(admin.clone(), &hns);
    let hosts = || async {
        let i = ingresses.get_opt("web").await?;
        Ok::<_, anyhow::Error>(
            i.and_then(|i| i.spec)
                .and_then(|s| s.rules)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| r.host)
                .collect::<BTreeSet<String>>(),
        )
    };
    let all3: BTreeSet<String> = [a.clone(), b.clone(), c.clone()].into_iter().collect();
    wait_for("ingress for the three names", T, || async {
        Ok((hosts().await? == all3).then_some(()))
    })
    .await?;
    // the name pointing at the hosting is published at the ingress address
    let records: Api<DnsRecord> = Api::all(admin.clone());
    let a_rec = format!("a.{c}");
    wait_for("the hosting's name published", T, || async {
        Ok(records
            .get_opt(&a_rec)
            .await?
            .filter(|r| r.spec.values == [stack.get("KAVLING_INGRESS_ADDRESS")])
            .map(|_| ()))
    })
    .await?;

    // a plan change updates the quota
    hostings
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"resources": {"cpu": "1"}}})),
        )
        .await?;
    let quotas: Api<ResourceQuota> = Api::namespaced(admin.clone(), &hns);
    wait_for("quota follows the plan", T, || async {
        let q = quotas.get("kavling-quota").await?;
        Ok(q.spec
            .and_then(|s| s.hard)
            .and_then(|h| h.get("limits.cpu").cloned())
            .filter(|v| v.0 == "1")
            .map(|_| ()))
    })
    .await?;

    // removing a domain removes its rule
    hostings
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"domains": [a.clone()]}})),
        )
        .await?;
    let two: BTreeSet<String> = [a.clone(), c.clone()].into_iter().collect();
    wait_for("rule for the removed domain gone", T, || async {
        Ok((hosts().await? == two).then_some(()))
    })
    .await?;

    // suspension: the tenant had scaled to 2; zero while suspended, exactly 2 after resume
    let deps: Api<Deployment> = Api::namespaced(stack.client_as("rina").await?, &hns);
    wait_for("web deployment", T, || async {
        Ok(deps.get_opt("web").await?.map(|_| ()))
    })
    .await?;
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 2}})),
    )
    .await?;
    hostings
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": {"reason": "pembaruan keamanan"}}})),
        )
        .await?;
    wait_for("scaled to zero and a notice", T, || async {
        let d = deps.get("web").await?;
        let backend = ingresses
            .get("web")
            .await?
            .spec
            .and_then(|s| s.rules)
            .and_then(|r| r.into_iter().next())
            .and_then(|r| r.http)
            .and_then(|h| h.paths.into_iter().next())
            .and_then(|p| p.backend.service)
            .map(|s| s.name);
        Ok((d.spec.and_then(|s| s.replicas) == Some(0)
            && backend.as_deref() == Some("kavling-notice"))
        .then_some(()))
    })
    .await?;
    hostings
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": null}})),
        )
        .await?;
    wait_for("resumed with exactly the replicas it had", T, || async {
        let d = deps.get("web").await?;
        let notice_gone = Api::<Deployment>::namespaced(admin.clone(), &hns)
            .get_opt("kavling-notice")
            .await?
            .is_none();
        Ok((d.spec.and_then(|s| s.replicas) == Some(2) && notice_gone).then_some(()))
    })
    .await?;

    // deleting the Hosting: its name is withdrawn first, the namespace stays (no decommission)
    hostings.delete("app", &DeleteParams::default()).await?;
    wait_for("hosting gone", T, || async {
        Ok(hostings.get_opt("app").await?.is_none().then_some(()))
    })
    .await?;
    assert!(
        records.get_opt(&a_rec).await?.is_none(),
        "the name pointing at the hosting is withdrawn"
    );
    assert!(
        Api::<Namespace>::all(admin.clone())
            .get_opt(&hns)
            .await?
            .is_some(),
        "the namespace stays without an explicit decommission"
    );

    // with the explicit decommission, the namespace goes
    let mut tmp = Hosting::new(
        "sementara",
        HostingSpec {
            template: AppTemplate::Static,
            parameters: Default::default(),
            resources: HostingResources {
                cpu: "250m".into(),
                memory: "256Mi".into(),
                disk: "1Gi".into(),
                pods: 2,
            },
            domains: vec![],
            suspend: None,
        },
    );
    tmp.metadata.annotations =
        Some([("kavling.go.id/decommission".to_string(), "true".to_string())].into());
    hostings.create(&PostParams::default(), &tmp).await?;
    wait_for("tmp Ready", T, || async {
        Ok(hostings
            .get_opt("sementara")
            .await?
            .filter(ready)
            .map(|_| ()))
    })
    .await?;
    hostings
        .delete("sementara", &DeleteParams::default())
        .await?;
    let nsapi: Api<Namespace> = Api::all(admin);
    let tmp_ns = format!("{tenant}--sementara");
    wait_for("decommissioned namespace terminating", T, || async {
        Ok(match nsapi.get_opt(&tmp_ns).await? {
            None => Some(()),
            Some(n) => n.metadata.deletion_timestamp.map(|_| ()),
        })
    })
    .await?;
    Ok(())
}

/// A template, its parameters, and the plan (cpu, memory, disk).
type Case = (
    AppTemplate,
    Vec<(&'static str, &'static str)>,
    (&'static str, &'static str, &'static str),
);

#[tokio::test]
async fn every_template_renders_and_passes_server_side_dry_run_for_a_range_of_parameters()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let admin = stack.client_as("admin").await?;
    let t = Templates::load().map_err(anyhow::Error::msg)?;
    let cases: Vec<Case> = vec![
        (AppTemplate::Static, vec![], ("250m", "128Mi", "1Gi")),
        (
            AppTemplate::Static,
            vec![("image", "registry.pusat-data.local/web/nginx:1.27")],
            ("2", "4Gi", "50Gi"),
        ),
        (AppTemplate::Php, vec![], ("500m", "512Mi", "5Gi")),
        (
            AppTemplate::Php,
            vec![("docroot", "/public")],
            ("1500m", "1536Mi", "20Gi"),
        ),
        (AppTemplate::Wordpress, vec![], ("1", "1Gi", "10Gi")),
        (
            AppTemplate::Wordpress,
            vec![("databaseSize", "5Gi")],
            ("2", "2Gi", "20Gi"),
        ),
        (AppTemplate::Opensid, vec![], ("500m", "1Gi", "10Gi")),
        (
            AppTemplate::Opensid,
            vec![("version", "v2411.0.0"), ("databaseSize", "4Gi")],
            ("1", "2Gi", "30Gi"),
        ),
        (
            AppTemplate::Container,
            vec![("image", "registry.pusat-data.local/desa/web:1.0")],
            ("250m", "256Mi", "1Gi"),
        ),
        (
            AppTemplate::Container,
            vec![
                (
                    "image",
                    "registry.pusat-data.local/dinkes/sehat@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                ),
                ("port", "3000"),
            ],
            ("1", "1Gi", "2Gi"),
        ),
    ];
    let run = kavling_e2e::unique("dry");
    for (i, (template, kv, (cpu, mem, disk))) in cases.into_iter().enumerate() {
        let params = t
            .resolve(
                template,
                &kv.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                "p",
            )
            .map_err(|v| anyhow::anyhow!("{v:?}"))?;
        for suspended in [false, true] {
            let ns = format!("{run}-{i}{}", if suspended { "s" } else { "" });
            let input = RenderInput {
                tenant: "uji".into(),
                hosting: format!("app{i}"),
                namespace: ns.clone(),
                template,
                params: params.clone(),
                resources: HostingResources {
                    cpu: cpu.into(),
                    memory: mem.into(),
                    disk: disk.into(),
                    pods: 10,
                },
                domains: vec![format!("app{i}.uji.go.id"), format!("www.app{i}.uji.go.id")],
                wildcard_domains: vec![],
                groups: vec!["kavling:tenant:uji".into()],
                suspended,
                suspend_reason: "uji".into(),
                ingress_namespace: "ingress-nginx".into(),
                ingress_class: "nginx".into(),
                images: kavling::hosting::Images::under("registry.pusat-data.local/kavling")
                    .unwrap(),
                source_mirror: Some("git://10.10.0.5:9418".parse().unwrap()),
            };
            let objs = t.render(&input).map_err(anyhow::Error::msg)?;
            // the namespace for real (namespaced dry-runs need it), everything else dry-run
            let pp = PatchParams::apply("kavling-e2e").force();
            let dry = PatchParams::apply("kavling-e2e").force().dry_run();
            for o in &objs {
                let kind = o["kind"].as_str().unwrap();
                let name = o["metadata"]["name"].as_str().unwrap();
                let r = if kind == "Namespace" {
                    Api::<DynamicObject>::all_with(admin.clone(), &gvk(kind))
                        .patch(name, &pp, &Patch::Apply(o))
                        .await
                } else {
                    Api::<DynamicObject>::namespaced_with(admin.clone(), &ns, &gvk(kind))
                        .patch(name, &dry, &Patch::Apply(o))
                        .await
                };
                if let Err(e) = r {
                    panic!(
                        "{} ({:?}, suspended={suspended}) {}: the API server refused: {}",
                        template.as_str(),
                        kv,
                        object_key(o),
                        kavling_e2e::api_message(&e)
                    );
                }
            }
            Api::<Namespace>::all(admin.clone())
                .delete(&ns, &DeleteParams::default())
                .await?;
        }
    }
    Ok(())
}
