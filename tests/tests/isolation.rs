//! A hostile tenant (and a careless admin, and a forger of history) against every path of
//! tenant isolation: collide, pre-approve, re-file, create outputs directly, forge the audit
//! history, redirect traffic from a hosting namespace, widen a tenant's groups, point a name
//! at someone else's or at the visitor's own machine, race for a second website. Each attack
//! must be refused where a person sees it, naming the field or the rule.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Service};
use kavling::api::*;
use kavling_e2e::{
    Stack, api_code, api_message, file_and_approve, garage_bucket_exists, git, kavling_cli, letter,
    unique, wait_for, zone_and_rina_tenant,
};
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

const T: Duration = Duration::from_secs(60);

fn subdomain_request(
    name: &str,
    zone: &str,
    label: &str,
    target: Target,
    website: bool,
) -> Request {
    Request::new(
        name,
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(),
            subdomain: Some(SubdomainRequest {
                zone: zone.into(),
                label: label.into(),
                application_name: "Layanan".into(),
                description: "Layanan publik".into(),
                business_process: "Pelayanan".into(),
                website,
                tls: false,
                target,
                wildcard: false,
            }),
            hosting: None,
            storage: None,
        },
    )
}

fn addresses(a: &[&str]) -> Target {
    Target {
        addresses: a.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn alias(a: &str) -> Target {
    Target {
        alias: Some(a.into()),
        ..Default::default()
    }
}

fn storage_request(user: &str, name: &str, bucket: &str) -> Request {
    Request::new(
        name,
        RequestSpec {
            requested_by: user.into(),
            letter: letter(),
            subdomain: None,
            hosting: None,
            storage: Some(StorageRequest {
                name: bucket.into(),
                data_description: "Arsip".into(),
                size: "1Gi".into(),
                classification: DataClassification::Terbatas,
                personal_data: false,
                versioning: false,
            }),
        },
    )
}

fn condition<'a>(conds: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conds.iter().find(|c| c.type_ == type_)
}

fn ready_message(r: &Request) -> (String, String) {
    r.status
        .as_ref()
        .and_then(|s| condition(&s.conditions, "Ready"))
        .map(|c| (c.reason.clone(), c.message.clone()))
        .unwrap_or_default()
}

/// A second tenant `name` whose group is joko's (`kavling:tenant:disdik`); waits for its RBAC.
async fn joko_tenant(stack: &Stack, name: &str) -> anyhow::Result<String> {
    let spec = TenantSpec {
        display_name: name.into(),
        type_: TenantType::PerangkatDaerah,
        code: "1.02.78".into(),
        parent: None,
        contacts: vec![],
        groups: vec!["kavling:tenant:disdik".into()],
        limits: TenantLimits::default(),
        suspend: None,
    };
    Api::<Tenant>::all(stack.client_as("ani").await?)
        .create(&PostParams::default(), &Tenant::new(name, spec))
        .await?;
    let ns = home_namespace(name);
    let joko: Api<Request> = Api::namespaced(stack.client_as("joko").await?, &ns);
    wait_for("joko's tenant RBAC", T, || async {
        Ok(joko.list(&Default::default()).await.ok().map(|_| ()))
    })
    .await?;
    Ok(ns)
}

async fn bucket_status(stack: &Stack, ns: &str, name: &str) -> anyhow::Result<BucketStatus> {
    let api: Api<Bucket> = Api::namespaced(stack.client_as("admin").await?, ns);
    wait_for(&format!("bucket {ns}/{name} to report"), T, || async {
        Ok(api
            .get_opt(name)
            .await?
            .and_then(|b| b.status)
            .filter(|s| condition(&s.conditions, "Ready").is_some()))
    })
    .await
}

/// Holes 1 and 9 of the issue: derived names collide; a bucket found by name is adopted.
#[tokio::test]
async fn derived_names_never_collide_across_tenants_and_a_foreign_bucket_is_never_adopted()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (id, _zone, ns) = zone_and_rina_tenant(
        &stack,
        "iso",
        TenantType::PerangkatDaerah,
        Default::default(),
    )
    .await?;
    // tenant <id> with bucket lab-data, tenant <id>-lab with bucket data: one bucket before
    let ns_lab = joko_tenant(&stack, &format!("{id}-lab")).await?;
    let a = file_and_approve(
        &stack,
        "rina",
        &ns,
        storage_request("rina", "satu", "lab-data"),
    )
    .await?;
    let b = file_and_approve(
        &stack,
        "joko",
        &ns_lab,
        storage_request("joko", "dua", "data"),
    )
    .await?;
    assert_eq!(a.status.unwrap().phase, RequestPhase::Ready);
    assert_eq!(b.status.unwrap().phase, RequestPhase::Ready);
    let (sa, sb) = (
        bucket_status(&stack, &ns, "lab-data").await?,
        bucket_status(&stack, &ns_lab, "data").await?,
    );
    assert_eq!(
        sa.bucket_name.as_deref(),
        Some(format!("{id}--lab-data").as_str())
    );
    assert_eq!(
        sb.bucket_name.as_deref(),
        Some(format!("{id}-lab--data").as_str())
    );
    assert_ne!(sa.bucket_id, sb.bucket_id, "two tenants share one bucket");

    // A bucket that exists on the object store under the derived name (made by hand, or by
    // anyone) is refused, never adopted: no key of the tenant gets a grant on it.
    let foreign = format!("{id}--asing");
    let token = std::fs::read_to_string(stack.get("KAVLING_GARAGE_ADMIN_TOKEN_FILE"))?;
    reqwest::Client::new()
        .post(format!(
            "{}/v2/CreateBucket",
            stack.get("KAVLING_GARAGE_ADMIN")
        ))
        .bearer_auth(token.trim())
        .json(&json!({"globalAlias": foreign}))
        .send()
        .await?
        .error_for_status()?;
    let filed = Api::<Request>::namespaced(stack.client_as("rina").await?, &ns)
        .create(
            &PostParams::default(),
            &storage_request("rina", "tiga", "asing"),
        )
        .await?;
    Api::<Approval>::namespaced(stack.client_as("ani").await?, &ns)
        .create(
            &PostParams::default(),
            &Approval::deciding(&filed, Decision::Approve, "ani", ""),
        )
        .await?;
    let st = wait_for("the foreign bucket to be refused", T, || async {
        let s = bucket_status(&stack, &ns, "asing").await?;
        Ok(condition(&s.conditions, "Failed")
            .is_some_and(|c| c.reason == "ObjectConflict")
            .then_some(s))
    })
    .await?;
    let msg = &condition(&st.conditions, "Failed").unwrap().message;
    assert!(msg.contains("never adopts"), "{msg}");
    assert_eq!(st.bucket_id, None);
    let info: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/v2/GetBucketInfo",
            stack.get("KAVLING_GARAGE_ADMIN")
        ))
        .query(&[("globalAlias", foreign.as_str())])
        .bearer_auth(token.trim())
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(info["keys"].as_array().map(Vec::len), Some(0), "{info}");
    assert!(garage_bucket_exists(&stack, &foreign).await?);
    Ok(())
}

/// Hole 2: an Approval bound to a name approved whatever was filed under it, before or after.
#[tokio::test]
async fn an_approval_decides_one_request_never_one_filed_before_or_after_it() -> anyhow::Result<()>
{
    let stack = Stack::load()?;
    let (_, zone, ns) = zone_and_rina_tenant(
        &stack,
        "apv",
        TenantType::PerangkatDaerah,
        Default::default(),
    )
    .await?;
    let rina: Api<Request> = Api::namespaced(stack.client_as("rina").await?, &ns);
    let ani: Api<Approval> = Api::namespaced(stack.client_as("ani").await?, &ns);
    let subdomains: Api<Subdomain> = Api::all(stack.client_as("admin").await?);

    // Pre-approval: an Approval made before any request exists decides nothing filed later.
    let mut early = Approval::deciding(
        &subdomain_request("pra", &zone, "pra", addresses(&["10.60.0.1"]), false),
        Decision::Approve,
        "ani",
        "",
    );
    early.spec.request_uid = "00000000-0000-0000-0000-000000000000".into();
    ani.create(&PostParams::default(), &early).await?;
    rina.create(
        &PostParams::default(),
        &subdomain_request("pra", &zone, "pra", addresses(&["10.60.0.1"]), false),
    )
    .await?;
    let pending = wait_for("the early approval to be ignored", T, || async {
        let r = rina.get("pra").await?;
        Ok((ready_message(&r).0 == "ApprovalIgnored").then_some(r))
    })
    .await?;
    assert_eq!(
        pending.status.as_ref().unwrap().phase,
        RequestPhase::Pending
    );
    assert!(
        ready_message(&pending).1.contains("never carries over"),
        "{:?}",
        ready_message(&pending)
    );
    assert!(subdomains.get_opt(&format!("pra.{zone}")).await?.is_none());

    // Re-filing: a request deleted and filed again under its name with another spec does not
    // inherit the old decision.
    let first = file_and_approve(
        &stack,
        "rina",
        &ns,
        subdomain_request("ulang", &zone, "satu", addresses(&["10.60.0.2"]), false),
    )
    .await?;
    assert_eq!(first.status.unwrap().phase, RequestPhase::Ready);
    Api::<Request>::namespaced(stack.client_as("admin").await?, &ns)
        .delete("ulang", &DeleteParams::default())
        .await?;
    wait_for("the first request gone", T, || async {
        Ok(rina.get_opt("ulang").await?.is_none().then_some(()))
    })
    .await?;
    rina.create(
        &PostParams::default(),
        &subdomain_request("ulang", &zone, "dua", addresses(&["10.60.0.3"]), false),
    )
    .await?;
    wait_for(
        "the re-filed request to wait for its own decision",
        T,
        || async {
            let r = rina.get("ulang").await?;
            Ok((ready_message(&r).0 == "ApprovalIgnored").then_some(()))
        },
    )
    .await?;
    assert!(subdomains.get_opt(&format!("dua.{zone}")).await?.is_none());
    // the Dinas decides the new one with the CLI, which binds it to this exact request
    let (code, out, err) = kavling_cli(&stack, Some("ani"), &["approve", "-n", &ns, "ulang"]);
    assert_eq!(code, 0, "{out}{err}");
    wait_for("the re-filed request served", T, || async {
        Ok(subdomains
            .get_opt(&format!("dua.{zone}"))
            .await?
            .map(|_| ()))
    })
    .await?;
    Ok(())
}

/// Hole 3: outputs made without any approval, by an admin or by the Dinas.
#[tokio::test]
async fn only_kavling_creates_what_a_request_produces() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (id, zone, ns) = zone_and_rina_tenant(
        &stack,
        "out",
        TenantType::PerangkatDaerah,
        Default::default(),
    )
    .await?;
    let fqdn = format!("langsung.{zone}");
    let sd = Subdomain::new(
        &fqdn,
        SubdomainSpec {
            zone: zone.clone(),
            label: "langsung".into(),
            tenant: id.clone(),
            application_name: None,
            website: false,
            tls: false,
            ttl: None,
            target: addresses(&["10.61.0.1"]),
            suspend: None,
            wildcard: false,
        },
    );
    for user in ["admin", "ani"] {
        let err = Api::<Subdomain>::all(stack.client_as(user).await?)
            .create(&PostParams::default(), &sd)
            .await
            .expect_err("a Subdomain without a request");
        assert_eq!(api_code(&err), Some(403), "{user}: {err}");
        let msg = api_message(&err);
        assert!(
            msg.contains("kavling-outputs-by-operator")
                && msg.contains("only Kavling creates subdomains"),
            "{user}: {msg}"
        );
    }
    let record = DnsRecord::new(
        &record_object_name(&format!("rekam.{zone}"), RecordType::A),
        DnsRecordSpec {
            zone: zone.clone(),
            name: format!("rekam.{zone}"),
            type_: RecordType::A,
            ttl: None,
            values: vec!["10.61.0.2".into()],
        },
    );
    let err = Api::<DnsRecord>::all(stack.client_as("admin").await?)
        .create(&PostParams::default(), &record)
        .await
        .expect_err("a DnsRecord by hand");
    assert!(
        api_message(&err).contains("only Kavling creates dnsrecords"),
        "{err}"
    );
    let bucket = Bucket::new(
        "liar",
        BucketSpec {
            size: "1Gi".into(),
            max_objects: None,
            classification: DataClassification::Publik,
            personal_data: false,
            versioning: false,
            rotation: Default::default(),
            deletion_policy: DeletionPolicy::Retain,
            purge: false,
            suspend: None,
        },
    );
    let err = Api::<Bucket>::namespaced(stack.client_as("ani").await?, &ns)
        .create(&PostParams::default(), &bucket)
        .await
        .expect_err("a Bucket by hand");
    assert!(
        api_message(&err).contains("only Kavling creates buckets"),
        "{err}"
    );

    // restore's identity may (disaster recovery), and the Dinas may suspend what exists …
    let restorer: Api<Subdomain> = Api::all(stack.client_as("kavling-restore").await?);
    restorer.create(&PostParams::default(), &sd).await?;
    let suspend = json!({"spec": {"suspend": {"reason": "uji"}}});
    Api::<Subdomain>::all(stack.client_as("ani").await?)
        .patch(&fqdn, &PatchParams::default(), &Patch::Merge(&suspend))
        .await?;
    // … but a cluster admin outside the Dinas changes nothing, and nobody but Kavling moves
    // an output to another request or tenant
    let err = Api::<Subdomain>::all(stack.client_as("admin").await?)
        .patch(&fqdn, &PatchParams::default(), &Patch::Merge(&suspend))
        .await
        .expect_err("admin changes an output");
    assert!(
        api_message(&err).contains("only Kavling and the Dinas"),
        "{err}"
    );
    let err = Api::<Subdomain>::all(stack.client_as("ani").await?)
        .patch(
            &fqdn,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"kavling.go.id/request": "tenant-lain/curian"}}})),
        )
        .await
        .expect_err("re-owning an output");
    assert!(
        api_message(&err).contains("only Kavling sets them"),
        "{err}"
    );
    restorer.delete(&fqdn, &DeleteParams::default()).await?;
    Ok(())
}

/// Hole 4: restore applied unverified history; the remote accepted anyone's pushes.
#[tokio::test]
async fn a_forged_audit_history_is_refused_by_the_remote_and_by_restore() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let remote = stack.get("KAVLING_AUDIT_REPO").to_string();
    wait_for("the audit remote to have history", T, || async {
        Ok(git(&["ls-remote", &remote, "refs/heads/main"])
            .ok()
            .filter(|o| !o.trim().is_empty())
            .map(|_| ()))
    })
    .await?;
    let dir = std::env::temp_dir().join(unique("forged-audit"));
    let d = dir.to_string_lossy().to_string();
    git(&["clone", "-q", &remote, &d])?;
    // A forged commit on top of the remote's head (the operator keeps pushing meanwhile, so a
    // push that is merely behind is made again on the new head).
    let forge = || -> anyhow::Result<std::process::Output> {
        git(&["-C", &d, "fetch", "-q", "origin", "main"])?;
        git(&["-C", &d, "reset", "-q", "--hard", "origin/main"])?;
        std::fs::create_dir_all(dir.join("subdomains"))?;
        std::fs::write(
            dir.join("subdomains/curian.bukittinggikota.go.id.yaml"),
            "apiVersion: kavling.go.id/v1alpha1\nkind: Subdomain\nmetadata:\n  name: curian.bukittinggikota.go.id\n",
        )?;
        git(&["-C", &d, "add", "-A"])?;
        git(&[
            "-C",
            &d,
            "-c",
            "user.name=Kavling",
            "-c",
            "user.email=kavling-audit@kavling.go.id",
            "commit",
            "-q",
            "-m",
            "Subdomain curian.bukittinggikota.go.id: create",
        ])?;
        Ok(std::process::Command::new("git")
            .args(["-C", &d, "push", "origin", "HEAD:main"])
            .output()?)
    };
    let mut push = forge()?;
    for _ in 0..10 {
        let why = String::from_utf8_lossy(&push.stderr).to_string();
        if !(why.contains("fetch first") || why.contains("non-fast-forward")) {
            break;
        }
        push = forge()?;
    }
    // the remote refuses it …
    assert!(!push.status.success(), "a forged commit was pushed");
    let why = String::from_utf8_lossy(&push.stderr);
    assert!(
        why.contains("not signed by the operator's audit key"),
        "{why}"
    );
    // … and a rewrite of the operator's history (a forced push of an older head)
    let rewrite = std::process::Command::new("git")
        .args(["-C", &d, "push", "--force", "origin", "HEAD~2:main"])
        .output()?;
    assert!(!rewrite.status.success(), "history was rewritten");
    let why = String::from_utf8_lossy(&rewrite.stderr);
    assert!(why.contains("the audit trail only grows"), "{why}");
    // … and restore refuses to apply it, naming the commit
    let (code, out, err) = kavling_cli(
        &stack,
        Some("admin"),
        &["restore", "--from", &d, "--dry-run"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("refusing to restore") && err.contains("not signed"),
        "{err}"
    );
    // only an explicit, loud override reads it
    let (code, _, err) = kavling_cli(
        &stack,
        Some("admin"),
        &["restore", "--from", &d, "--dry-run", "--unverified"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("WARNING: --unverified"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

fn hosting_request(name: &str) -> Request {
    Request::new(
        name,
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(),
            subdomain: None,
            hosting: Some(HostingRequest {
                name: name.into(),
                application_name: "Aplikasi".into(),
                template: "php".into(),
                cpu: "500m".into(),
                memory: "512Mi".into(),
                disk: "2Gi".into(),
                specification: Some("docroot: /public".into()),
            }),
            storage: None,
        },
    )
}

fn service(name: &str, spec: serde_json::Value) -> anyhow::Result<Service> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": spec,
    }))?)
}

/// Hole 5: a hosting tenant redirects traffic or replaces Kavling's Service.
#[tokio::test]
async fn a_hosting_tenant_cannot_redirect_traffic_or_replace_what_kavling_renders()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (tenant, _, home) = zone_and_rina_tenant(
        &stack,
        "trf",
        TenantType::PerangkatDaerah,
        Default::default(),
    )
    .await?;
    let r = file_and_approve(&stack, "rina", &home, hosting_request("web")).await?;
    assert_eq!(r.status.unwrap().phase, RequestPhase::Ready);
    let hns = format!("{tenant}--web");
    let rina = stack.client_as("rina").await?;
    let services: Api<Service> = Api::namespaced(rina.clone(), &hns);
    let refused = |what: &'static str, want: &'static str| {
        let services = services.clone();
        move |spec: serde_json::Value| async move {
            let err = services
                .create(&PostParams::default(), &service(what, spec)?)
                .await
                .expect_err(what);
            assert_eq!(api_code(&err), Some(403), "{what}: {err}");
            assert!(
                api_message(&err).contains(want),
                "{what}: {}",
                api_message(&err)
            );
            anyhow::Ok(())
        }
    };
    // (refused twice: by the hosting policy, and by kavling-service-external-ips, which allows
    // external IPs to kavling-system/kavling-dns alone)
    refused("ext-ip", "external IPs")(
        json!({"selector": {"app": "x"}, "ports": [{"port": 80}], "externalIPs": ["10.62.0.1"]}),
    )
    .await?;
    refused("ext-name", "spec.type")(
        json!({"type": "ExternalName", "externalName": "kubernetes.default.svc"}),
    )
    .await?;
    refused("node-port", "spec.type")(
        json!({"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80}]}),
    )
    .await?;
    // hand-made Endpoints (CVE-2021-25740): refused (RBAC, and the policy behind it)
    let ep: Endpoints = serde_json::from_value(json!({
        "metadata": {"name": "tanpa-selektor"},
        "subsets": [{"addresses": [{"ip": "10.62.0.2"}], "ports": [{"port": 80}]}],
    }))?;
    let err = Api::<Endpoints>::namespaced(rina.clone(), &hns)
        .create(&PostParams::default(), &ep)
        .await
        .expect_err("hand-made endpoints");
    assert_eq!(api_code(&err), Some(403), "{err}");
    // Kavling's own Service cannot be deleted or replaced, nor can one masquerade as Kavling's
    let err = services
        .delete("web", &DeleteParams::default())
        .await
        .expect_err("delete Kavling's Service");
    assert!(
        api_message(&err).contains("rendered by Kavling"),
        "{}",
        api_message(&err)
    );
    let err = services
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"selector": {"app": "punyaku"}}})),
        )
        .await
        .expect_err("change Kavling's Service");
    assert_eq!(api_code(&err), Some(403), "{err}");
    // the tenant scales Kavling's Deployment (its replicas are the tenant's) but may not
    // change what it runs
    let deployments: Api<Deployment> = Api::namespaced(rina.clone(), &hns);
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await?;
    let err = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"template": {"metadata": {"labels": {"disusupi": "ya"}}}}}),
            ),
        )
        .await
        .expect_err("change what Kavling's Deployment runs");
    assert!(
        api_message(&err).contains("rendered by Kavling"),
        "{}",
        api_message(&err)
    );
    let fake = ConfigMap {
        metadata: ObjectMeta {
            name: Some("palsu".into()),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_string(),
                    "kavling".to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = Api::<ConfigMap>::namespaced(rina.clone(), &hns)
        .create(&PostParams::default(), &fake)
        .await
        .expect_err("masquerade as Kavling");
    assert_eq!(api_code(&err), Some(403), "{err}");
    // an ordinary Service of the tenant's own is fine
    services
        .create(
            &PostParams::default(),
            &service(
                "milikku",
                json!({"selector": {"app": "milikku"}, "ports": [{"port": 8080}]}),
            )?,
        )
        .await?;
    assert!(services.get_opt("web").await?.is_some());
    Ok(())
}

/// Hole 6: adding the Dinas (or any group) to a tenant hands it the tenant's Secrets.
#[tokio::test]
async fn tenant_groups_never_include_platform_groups_and_change_only_with_a_reason()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (id, _, _) = zone_and_rina_tenant(
        &stack,
        "grp",
        TenantType::PerangkatDaerah,
        Default::default(),
    )
    .await?;
    let tenants: Api<Tenant> = Api::all(stack.client_as("ani").await?);
    for bad in ["kavling:dinas", "system:masters", "kavling:operator"] {
        let err = tenants
            .patch(
                &id,
                &PatchParams::default(),
                &Patch::Merge(json!({
                    "metadata": {"annotations": {"kavling.go.id/change-reason": format!("coba {bad}")}},
                    "spec": {"groups": ["kavling:tenant:dinkes", bad]},
                })),
            )
            .await
            .expect_err(bad);
        assert_eq!(api_code(&err), Some(422), "{bad}: {err}");
        assert!(api_message(&err).contains("spec.groups"), "{bad}: {err}");
    }
    let add = |reason: Option<&str>| {
        let mut patch =
            json!({"spec": {"groups": ["kavling:tenant:dinkes", "kavling:tenant:disdik"]}});
        if let Some(r) = reason {
            patch["metadata"] = json!({"annotations": {"kavling.go.id/change-reason": r}});
        }
        patch
    };
    let err = tenants
        .patch(&id, &PatchParams::default(), &Patch::Merge(add(None)))
        .await
        .expect_err("groups changed without a reason");
    assert!(api_message(&err).contains("needs a reason"), "{err}");
    tenants
        .patch(
            &id,
            &PatchParams::default(),
            &Patch::Merge(add(Some("surat 800/12/2026: staf disdik membantu"))),
        )
        .await?;
    Ok(())
}

/// Hole 7: the operator held pods, exec and port-forward everywhere.
#[tokio::test]
async fn the_operator_holds_no_pod_rights() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let op = stack.client_as("kavling-operator").await?;
    let can = |verb: &str, resource: &str, sub: Option<&str>| {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.into()),
                    resource: Some(resource.into()),
                    subresource: sub.map(str::to_string),
                    namespace: Some("default".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(op.clone());
        async move {
            let r = api.create(&PostParams::default(), &review).await?;
            anyhow::Ok(r.status.is_some_and(|s| s.allowed))
        }
    };
    assert!(!can("create", "pods", None).await?);
    assert!(!can("create", "pods", Some("exec")).await?);
    assert!(!can("create", "pods", Some("portforward")).await?);
    assert!(!can("create", "endpoints", None).await?);
    // what it renders, it may
    assert!(can("create", "services", None).await?);
    Ok(())
}

/// Hole 8: targets at the visitor's own machine, aliases to names nobody (or another) holds.
#[tokio::test]
async fn names_point_only_at_services_and_at_the_tenants_own_names() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (id, zone, ns) =
        zone_and_rina_tenant(&stack, "tgt", TenantType::Kabupaten, Default::default()).await?;
    // link-local (cloud metadata): the API server refuses it
    let err = Api::<Request>::namespaced(stack.client_as("rina").await?, &ns)
        .create(
            &PostParams::default(),
            &subdomain_request(
                "meta",
                &zone,
                "meta",
                addresses(&["169.254.169.254"]),
                false,
            ),
        )
        .await
        .expect_err("link-local target");
    assert_eq!(api_code(&err), Some(422), "{err}");
    assert!(
        api_message(&err).contains("spec.subdomain.target.addresses"),
        "{err}"
    );
    // reserved 240/4 passes the schema; approval refuses it, naming the rule
    let r = file_and_approve(
        &stack,
        "rina",
        &ns,
        subdomain_request("rsv", &zone, "rsv", addresses(&["240.0.0.1"]), false),
    )
    .await?;
    assert_eq!(r.status.as_ref().unwrap().phase, RequestPhase::Failed);
    assert!(
        ready_message(&r).1.contains("reserved or broadcast"),
        "{:?}",
        ready_message(&r)
    );
    // the cluster's own service range (the operator's --denied-target-cidr; the local stack
    // gives it 10.96.0.0/24): refused at approval, naming the range
    let r = file_and_approve(
        &stack,
        "rina",
        &ns,
        subdomain_request("svc", &zone, "svc", addresses(&["10.96.0.10"]), false),
    )
    .await?;
    assert_eq!(r.status.as_ref().unwrap().phase, RequestPhase::Failed);
    assert!(
        ready_message(&r).1.contains("inside 10.96.0.0/24"),
        "{:?}",
        ready_message(&r)
    );
    // an alias to a name nobody holds (it would follow whoever claims it later)
    let r = file_and_approve(
        &stack,
        "rina",
        &ns,
        subdomain_request(
            "kosong",
            &zone,
            "kosong",
            alias(&format!("belum.{zone}")),
            false,
        ),
    )
    .await?;
    assert_eq!(r.status.as_ref().unwrap().phase, RequestPhase::Failed);
    assert!(
        ready_message(&r).1.contains("not a name tenant"),
        "{:?}",
        ready_message(&r)
    );
    // an alias to another tenant's name
    let other = format!("{id}x");
    let ns_other = joko_tenant(&stack, &other).await?;
    let mut theirs = subdomain_request("punya", &zone, "punya", addresses(&["10.63.0.1"]), false);
    theirs.spec.requested_by = "joko".into();
    let t = file_and_approve(&stack, "joko", &ns_other, theirs).await?;
    assert_eq!(t.status.unwrap().phase, RequestPhase::Ready);
    let r = file_and_approve(
        &stack,
        "rina",
        &ns,
        subdomain_request(
            "pinjam",
            &zone,
            "pinjam",
            alias(&format!("punya.{zone}")),
            false,
        ),
    )
    .await?;
    assert_eq!(r.status.as_ref().unwrap().phase, RequestPhase::Failed);
    assert!(
        ready_message(&r)
            .1
            .contains(&format!("held by tenant '{other}'")),
        "{:?}",
        ready_message(&r)
    );
    // an alias to its own name is fine
    let own = file_and_approve(
        &stack,
        "rina",
        &ns,
        subdomain_request("asli", &zone, "asli", addresses(&["10.63.0.2"]), false),
    )
    .await?;
    assert_eq!(own.status.unwrap().phase, RequestPhase::Ready);
    let ok = file_and_approve(
        &stack,
        "rina",
        &ns,
        subdomain_request(
            "alias-asli",
            &zone,
            "cermin",
            alias(&format!("asli.{zone}")),
            false,
        ),
    )
    .await?;
    assert_eq!(
        ok.status.as_ref().unwrap().phase,
        RequestPhase::Ready,
        "{:?}",
        ready_message(&ok)
    );
    // the target changes hands (withdrawn, then claimed by another tenant): the alias is
    // withdrawn with it, not left resolving to the new holder
    // (the request goes first: an approved request that still exists makes its name again)
    Api::<Request>::namespaced(stack.client_as("admin").await?, &ns)
        .delete("asli", &DeleteParams::default())
        .await?;
    let subdomains: Api<Subdomain> = Api::all(stack.client_as("ani").await?);
    subdomains
        .delete(&format!("asli.{zone}"), &DeleteParams::default())
        .await?;
    wait_for("the target gone", T, || async {
        Ok(subdomains
            .get_opt(&format!("asli.{zone}"))
            .await?
            .is_none()
            .then_some(()))
    })
    .await?;
    let mut taken = subdomain_request("rebut", &zone, "asli", addresses(&["10.63.0.9"]), false);
    taken.spec.requested_by = "joko".into();
    let t = file_and_approve(&stack, "joko", &ns_other, taken).await?;
    assert_eq!(
        t.status.as_ref().unwrap().phase,
        RequestPhase::Ready,
        "{:?}",
        ready_message(&t)
    );
    let records: Api<DnsRecord> = Api::all(stack.client_as("admin").await?);
    let mirror = format!("cermin.{zone}");
    let withdrawn = wait_for("the alias withdrawn", T, || async {
        let sd = subdomains.get(&mirror).await?;
        let reason = sd
            .status
            .as_ref()
            .and_then(|s| condition(&s.conditions, "Ready"))
            .map(|c| (c.reason.clone(), c.message.clone()));
        let cname = records
            .get_opt(&record_object_name(&mirror, RecordType::CNAME))
            .await?;
        Ok(reason
            .filter(|(r, _)| r == "AliasNotHeld" && cname.is_none())
            .map(|(_, m)| m))
    })
    .await?;
    assert!(
        withdrawn.contains(&format!("held by tenant '{other}'")),
        "{withdrawn}"
    );
    Ok(())
}

/// Hole 9: two website requests of one PD approved at the same instant both passed.
#[tokio::test]
async fn two_websites_of_one_pd_approved_at_once_give_exactly_one() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let limits = TenantLimits {
        subdomains: 10,
        websites: 1,
        ..Default::default()
    };
    let (_, zone, ns) =
        zone_and_rina_tenant(&stack, "web1", TenantType::PerangkatDaerah, limits).await?;
    let rina: Api<Request> = Api::namespaced(stack.client_as("rina").await?, &ns);
    let ani: Api<Approval> = Api::namespaced(stack.client_as("ani").await?, &ns);
    let a = rina
        .create(
            &PostParams::default(),
            &subdomain_request("situs-a", &zone, "situs-a", addresses(&["10.64.0.1"]), true),
        )
        .await?;
    let b = rina
        .create(
            &PostParams::default(),
            &subdomain_request("situs-b", &zone, "situs-b", addresses(&["10.64.0.2"]), true),
        )
        .await?;
    let (pp, approve_a, approve_b) = (
        PostParams::default(),
        Approval::deciding(&a, Decision::Approve, "ani", ""),
        Approval::deciding(&b, Decision::Approve, "ani", ""),
    );
    let (x, y) = tokio::join!(ani.create(&pp, &approve_a), ani.create(&pp, &approve_b));
    x?;
    y?;
    let phases = wait_for("both decided", T, || async {
        let mut out = vec![];
        for n in ["situs-a", "situs-b"] {
            match rina.get(n).await?.status.map(|s| s.phase) {
                Some(p @ (RequestPhase::Ready | RequestPhase::Failed)) => out.push(p),
                _ => return Ok(None),
            }
        }
        Ok(Some(out))
    })
    .await?;
    assert_eq!(
        phases.iter().filter(|p| **p == RequestPhase::Ready).count(),
        1,
        "{phases:?}"
    );
    let websites = Api::<Subdomain>::all(stack.client_as("admin").await?)
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|s| s.spec.zone == zone && s.spec.website)
        .count();
    assert_eq!(websites, 1);
    Ok(())
}
