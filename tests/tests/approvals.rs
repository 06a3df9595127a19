//! Request → Approval → Subdomain → DnsRecord on the local stack, with the rules enforced by the
//! API server (CEL, admission policies, RBAC) and by the operator.

use std::time::Duration;

use kavling::api::*;
use kavling_e2e::{Stack, api_code, api_message, file_and_approve, letter, unique, wait_for};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};

const T: Duration = Duration::from_secs(60);

/// A fresh zone and a PD tenant whose group is rina's (or joko's).
struct World {
    zone: String,
    tenant: String,
    ns: String,
}

async fn world(stack: &Stack, group: &str, type_: TenantType) -> anyhow::Result<World> {
    let admin = stack.client_as("admin").await?;
    let id = unique("e2e");
    let zone = format!("{id}.go.id");
    let z = Zone::new(
        &zone,
        ZoneSpec {
            default_ttl: 3600,
            policy: NamingPolicy {
                suspension: SuspensionPolicy {
                    mode: SuspensionMode::Redirect,
                    addresses: vec!["10.99.0.1".into()],
                },
                ..Default::default()
            },
            ..kavling_e2e::zone_spec(&zone)
        },
    );
    Api::<Zone>::all(admin.clone())
        .create(&PostParams::default(), &z)
        .await?;
    let tenant = id.clone();
    let code = if type_.is_region() {
        "13.06".to_string()
    } else {
        "1.02.99".to_string()
    };
    let t = Tenant::new(
        &tenant,
        TenantSpec {
            display_name: format!("E2E {tenant}"),
            type_,
            code,
            parent: None,
            contacts: vec![],
            groups: vec![group.into()],
            limits: TenantLimits::default(),
            suspend: None,
        },
    );
    Api::<Tenant>::all(admin.clone())
        .create(&PostParams::default(), &t)
        .await?;
    let ns = home_namespace(&tenant);
    let tenants: Api<Tenant> = Api::all(admin.clone());
    wait_for("tenant home namespace", T, || async {
        Ok(tenants
            .get(&tenant)
            .await?
            .status
            .and_then(|s| s.namespace)
            .filter(|n| *n == ns)
            .map(|_| ()))
    })
    .await?;
    // the RoleBinding must be in place before the tenant user acts
    let rina_like = if group.ends_with("dinkes") {
        "rina"
    } else {
        "joko"
    };
    let reqs: Api<Request> = Api::namespaced(stack.client_as(rina_like).await?, &ns);
    wait_for("tenant RBAC", T, || async {
        Ok(reqs.list(&ListParams::default()).await.ok().map(|_| ()))
    })
    .await?;
    Ok(World { zone, tenant, ns })
}

fn subdomain_request(
    name: &str,
    by: &str,
    zone: &str,
    label: &str,
    website: bool,
    addresses: &[&str],
) -> Request {
    Request::new(
        name,
        RequestSpec {
            requested_by: by.into(),
            letter: letter(),
            subdomain: Some(SubdomainRequest {
                zone: zone.into(),
                label: label.into(),
                application_name: "Aplikasi".into(),
                description: "Uji".into(),
                business_process: "Uji".into(),
                website,
                tls: false,
                target: Target {
                    addresses: addresses.iter().map(|s| s.to_string()).collect(),
                    ..Default::default()
                },
                wildcard: false,
            }),
            hosting: None,
            storage: None,
        },
    )
}

fn approval(req: &Request, approver: &str, decision: Decision, reason: &str) -> Approval {
    Approval::deciding(req, decision, approver, reason)
}

async fn phase_of(api: &Api<Request>, name: &str, want: RequestPhase) -> anyhow::Result<Request> {
    wait_for(&format!("request {name} to be {want:?}"), T, || async {
        let r = api.get(name).await?;
        Ok(r.status
            .as_ref()
            .is_some_and(|s| s.phase == want)
            .then_some(r))
    })
    .await
}

fn ready_message(r: &Request) -> String {
    r.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn approved_request_becomes_a_served_subdomain_and_only_the_dinas_may_approve()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let w = world(&stack, "kavling:tenant:dinkes", TenantType::PerangkatDaerah).await?;
    let rina = stack.client_as("rina").await?;
    let reqs: Api<Request> = Api::namespaced(rina.clone(), &w.ns);
    reqs.create(
        &PostParams::default(),
        &subdomain_request(
            "portal",
            "rina",
            &w.zone,
            "portal",
            true,
            &["10.20.0.11", "2001:db8::11"],
        ),
    )
    .await?;
    let pending = phase_of(&reqs, "portal", RequestPhase::Pending).await?;
    assert!(
        ready_message(&pending).contains("waiting for a Dinas decision"),
        "{}",
        ready_message(&pending)
    );
    let serial_before = Api::<Zone>::all(rina.clone())
        .get(&w.zone)
        .await?
        .status
        .unwrap_or_default()
        .serial;

    // The tenant cannot approve its own request (RBAC) …
    let as_rina: Api<Approval> = Api::namespaced(rina.clone(), &w.ns);
    let err = as_rina
        .create(
            &PostParams::default(),
            &approval(&reqs.get("portal").await?, "rina", Decision::Approve, ""),
        )
        .await
        .expect_err("tenant approves");
    assert_eq!(api_code(&err), Some(403), "{err}");
    // … nor can a cluster admin outside the Dinas group: the admission policy names itself …
    let as_admin: Api<Approval> = Api::namespaced(stack.client_as("admin").await?, &w.ns);
    let err = as_admin
        .create(
            &PostParams::default(),
            &approval(&reqs.get("portal").await?, "admin", Decision::Approve, ""),
        )
        .await
        .expect_err("admin approves");
    assert!(
        api_message(&err).contains("kavling-approval-by-dinas")
            && api_message(&err).contains("only members of the Dinas group"),
        "{}",
        api_message(&err)
    );
    // … nor a Dinas member in someone else's name.
    let as_ani: Api<Approval> = Api::namespaced(stack.client_as("ani").await?, &w.ns);
    let err = as_ani
        .create(
            &PostParams::default(),
            &approval(&reqs.get("portal").await?, "budi", Decision::Approve, ""),
        )
        .await
        .expect_err("forged approver");
    assert!(
        api_message(&err).contains("spec.approver must be the user creating the Approval"),
        "{}",
        api_message(&err)
    );
    assert_eq!(
        phase_of(&reqs, "portal", RequestPhase::Pending)
            .await?
            .status
            .unwrap()
            .decision,
        None
    );

    // The Dinas approves in its own name.
    as_ani
        .create(
            &PostParams::default(),
            &approval(
                &reqs.get("portal").await?,
                "ani",
                Decision::Approve,
                "sesuai",
            ),
        )
        .await?;
    let ready = phase_of(&reqs, "portal", RequestPhase::Ready).await?;
    let st = ready.status.unwrap();
    assert_eq!(
        st.decision.as_ref().map(|d| d.approver.as_str()),
        Some("ani")
    );
    let fqdn = format!("portal.{}", w.zone);
    assert_eq!(
        st.outputs,
        vec![OutputRef {
            kind: "Subdomain".into(),
            name: fqdn.clone(),
            namespace: None
        }]
    );

    let admin = stack.client_as("admin").await?;
    let sd = Api::<Subdomain>::all(admin.clone()).get(&fqdn).await?;
    assert_eq!(sd.spec.tenant, w.tenant);
    assert!(sd.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    }));
    let records: Api<DnsRecord> = Api::all(admin.clone());
    let a = records.get(&format!("a.{fqdn}")).await?;
    assert_eq!(
        (a.spec.type_, a.spec.values.clone(), a.spec.zone.clone()),
        (
            RecordType::A,
            vec!["10.20.0.11".to_string()],
            w.zone.clone()
        )
    );
    let aaaa = records.get(&format!("aaaa.{fqdn}")).await?;
    assert_eq!(aaaa.spec.values, vec!["2001:db8::11".to_string()]);
    wait_for("record Ready", T, || async {
        Ok(records
            .get(&format!("a.{fqdn}"))
            .await?
            .status
            .is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
            .then_some(()))
    })
    .await?;
    // The zone's serial moved on and it counts both RRsets.
    let zones: Api<Zone> = Api::all(admin.clone());
    wait_for("zone serial to increase", T, || async {
        let st = zones.get(&w.zone).await?.status.unwrap_or_default();
        Ok((st.serial > serial_before && st.records == 2).then_some(()))
    })
    .await?;
    // Tenant usage counts the website.
    let tenants: Api<Tenant> = Api::all(admin);
    wait_for("tenant usage", T, || async {
        let u = tenants
            .get(&w.tenant)
            .await?
            .status
            .unwrap_or_default()
            .usage;
        Ok((u.subdomains == 1 && u.websites == 1).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_request_must_be_filed_in_ones_own_name() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let w = world(&stack, "kavling:tenant:dinkes", TenantType::PerangkatDaerah).await?;
    let reqs: Api<Request> = Api::namespaced(stack.client_as("rina").await?, &w.ns);
    let err = reqs
        .create(
            &PostParams::default(),
            &subdomain_request("forged", "joko", &w.zone, "forged", false, &["10.20.0.9"]),
        )
        .await
        .expect_err("forged requestedBy");
    assert!(
        api_message(&err).contains("kavling-request-by-self")
            && api_message(&err).contains("spec.requestedBy must be the user filing the Request"),
        "{}",
        api_message(&err)
    );
    Ok(())
}

#[tokio::test]
async fn a_name_held_by_another_tenant_fails_with_a_clear_reason() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let a = world(&stack, "kavling:tenant:dinkes", TenantType::PerangkatDaerah).await?;
    let r = file_and_approve(
        &stack,
        "rina",
        &a.ns,
        subdomain_request("layanan", "rina", &a.zone, "layanan", false, &["10.20.0.5"]),
    )
    .await?;
    assert_eq!(r.status.unwrap().phase, RequestPhase::Ready);
    // joko's tenant asks for the same name in the same zone
    let b = world(&stack, "kavling:tenant:disdik", TenantType::PerangkatDaerah).await?;
    let r = file_and_approve(
        &stack,
        "joko",
        &b.ns,
        subdomain_request("layanan", "joko", &a.zone, "layanan", false, &["10.20.0.6"]),
    )
    .await?;
    let st = r.status.clone().unwrap();
    assert_eq!(st.phase, RequestPhase::Failed);
    let failed = st
        .conditions
        .iter()
        .find(|c| c.type_ == "Failed")
        .expect("Failed condition");
    assert_eq!(failed.reason, "NameTaken");
    assert!(
        failed.message.contains(&format!(
            "layanan.{} is already held by tenant '{}'",
            a.zone, a.tenant
        )),
        "{}",
        failed.message
    );
    // and the first holder's records are untouched
    let rec = Api::<DnsRecord>::all(stack.client_as("admin").await?)
        .get(&format!("a.layanan.{}", a.zone))
        .await?;
    assert_eq!(rec.spec.values, vec!["10.20.0.5".to_string()]);
    Ok(())
}

#[tokio::test]
async fn a_second_website_for_the_same_pd_fails_and_reserved_labels_are_refused()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let w = world(&stack, "kavling:tenant:dinkes", TenantType::PerangkatDaerah).await?;
    let first = file_and_approve(
        &stack,
        "rina",
        &w.ns,
        subdomain_request("web1", "rina", &w.zone, "web1", true, &["10.20.0.7"]),
    )
    .await?;
    assert_eq!(first.status.unwrap().phase, RequestPhase::Ready);
    let second = file_and_approve(
        &stack,
        "rina",
        &w.ns,
        subdomain_request("web2", "rina", &w.zone, "web2", true, &["10.20.0.8"]),
    )
    .await?;
    let msg = ready_message(&second);
    assert_eq!(second.status.unwrap().phase, RequestPhase::Failed);
    assert!(
        msg.contains("spec.subdomain.website") && msg.contains("[one-website]"),
        "{msg}"
    );
    let reserved = file_and_approve(
        &stack,
        "rina",
        &w.ns,
        subdomain_request("mail", "rina", &w.zone, "mail", false, &["10.20.0.9"]),
    )
    .await?;
    let msg = ready_message(&reserved);
    assert!(
        msg.contains("spec.subdomain.label") && msg.contains("[label-reserved]"),
        "{msg}"
    );
    // nothing was created for the refused ones
    let sds: Api<Subdomain> = Api::all(stack.client_as("kavling-restore").await?);
    assert!(sds.get_opt(&format!("web2.{}", w.zone)).await?.is_none());
    assert!(sds.get_opt(&format!("mail.{}", w.zone)).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn a_rejected_request_is_closed_with_the_reason_and_creates_nothing() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let w = world(&stack, "kavling:tenant:dinkes", TenantType::PerangkatDaerah).await?;
    let reqs: Api<Request> = Api::namespaced(stack.client_as("rina").await?, &w.ns);
    reqs.create(
        &PostParams::default(),
        &subdomain_request(
            "ditolak",
            "rina",
            &w.zone,
            "ditolak",
            false,
            &["10.20.0.10"],
        ),
    )
    .await?;
    let ani: Api<Approval> = Api::namespaced(stack.client_as("ani").await?, &w.ns);
    // a rejection without a reason is refused by the schema (CEL)
    let err = ani
        .create(
            &PostParams::default(),
            &approval(&reqs.get("ditolak").await?, "ani", Decision::Reject, ""),
        )
        .await
        .expect_err("reject without reason");
    assert!(
        api_message(&err).contains("a rejection must give a reason"),
        "{}",
        api_message(&err)
    );
    ani.create(
        &PostParams::default(),
        &approval(
            &reqs.get("ditolak").await?,
            "ani",
            Decision::Reject,
            "nama tidak sesuai nomenklatur",
        ),
    )
    .await?;
    let r = phase_of(&reqs, "ditolak", RequestPhase::Rejected).await?;
    assert!(ready_message(&r).contains("nama tidak sesuai nomenklatur"));
    // an Approval is immutable
    let err = ani
        .patch(
            "ditolak",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"decision": "Approve"}})),
        )
        .await
        .expect_err("approval changed");
    assert!(
        api_message(&err).contains("immutable"),
        "{}",
        api_message(&err)
    );
    let sds: Api<Subdomain> = Api::all(stack.client_as("kavling-restore").await?);
    assert!(sds.get_opt(&format!("ditolak.{}", w.zone)).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn suspend_redirects_the_records_and_resume_restores_them() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let w = world(&stack, "kavling:tenant:dinkes", TenantType::PerangkatDaerah).await?;
    file_and_approve(
        &stack,
        "rina",
        &w.ns,
        subdomain_request(
            "jeda",
            "rina",
            &w.zone,
            "jeda",
            false,
            &["10.20.0.12", "2001:db8::12"],
        ),
    )
    .await?;
    let fqdn = format!("jeda.{}", w.zone);
    let ani = stack.client_as("ani").await?;
    let sds: Api<Subdomain> = Api::all(ani.clone());
    let records: Api<DnsRecord> = Api::all(stack.client_as("kavling-restore").await?);
    // a tenant cannot suspend or resume (cluster-scoped Subdomains are Dinas-only)
    let rina_sds: Api<Subdomain> = Api::all(stack.client_as("rina").await?);
    let err = rina_sds
        .patch(
            &fqdn,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"suspend": null}})),
        )
        .await
        .expect_err("tenant resumes");
    assert_eq!(api_code(&err), Some(403));

    sds.patch(
        &fqdn,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"suspend": {"reason": "evaluasi keamanan"}}})),
    )
    .await?;
    // The records change before the status says so (the status is written last), so
    // wait for both rather than reading the condition once the records moved.
    wait_for(
        "records redirected to the notice page and Suspended=True",
        T,
        || async {
            let a = records.get_opt(&format!("a.{fqdn}")).await?;
            let aaaa = records.get_opt(&format!("aaaa.{fqdn}")).await?;
            let redirected = a.is_some_and(|a| a.spec.values == ["10.99.0.1"]) && aaaa.is_none();
            let suspended = sds
                .get(&fqdn)
                .await?
                .status
                .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Suspended"))
                .filter(|c| c.status == "True");
            Ok(suspended.filter(|_| redirected))
        },
    )
    .await
    .map(|susp| {
        assert!(
            susp.message.contains("evaluasi keamanan"),
            "{}",
            susp.message
        )
    })?;

    sds.patch(
        &fqdn,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"suspend": null}})),
    )
    .await?;
    wait_for("records restored", T, || async {
        let a = records.get_opt(&format!("a.{fqdn}")).await?;
        let aaaa = records.get_opt(&format!("aaaa.{fqdn}")).await?;
        Ok((a.is_some_and(|a| a.spec.values == ["10.20.0.12"])
            && aaaa.is_some_and(|r| r.spec.values == ["2001:db8::12"]))
        .then_some(()))
    })
    .await?;
    Ok(())
}

/// Creates `path` (with `dryRun`, sent as-is so the API server judges it) as `user` and
/// returns the API server's error message.
async fn refused(client: Client, ns: &str, path: &std::path::Path) -> anyhow::Result<String> {
    use kube::core::{ApiResource, DynamicObject};
    let text = std::fs::read_to_string(path)?;
    let obj: DynamicObject = serde_norway::from_str(&text)?;
    let kind = obj
        .types
        .as_ref()
        .map(|t| t.kind.clone())
        .unwrap_or_default();
    let (ar, namespaced) = match kind.as_str() {
        "Request" => (ApiResource::erase::<Request>(&()), true),
        "Approval" => (ApiResource::erase::<Approval>(&()), true),
        "Tenant" => (ApiResource::erase::<Tenant>(&()), false),
        "Zone" => (ApiResource::erase::<Zone>(&()), false),
        "Subdomain" => (ApiResource::erase::<Subdomain>(&()), false),
        "DnsRecord" => (ApiResource::erase::<DnsRecord>(&()), false),
        "Bucket" => (ApiResource::erase::<Bucket>(&()), true),
        "Certificate" => (ApiResource::erase::<Certificate>(&()), true),
        "Issuer" => (ApiResource::erase::<Issuer>(&()), false),
        "Hosting" => (ApiResource::erase::<Hosting>(&()), true),
        other => anyhow::bail!("{}: unexpected kind {other}", path.display()),
    };
    let api: Api<DynamicObject> = if namespaced {
        Api::namespaced_with(client, ns, &ar)
    } else {
        Api::all_with(client, &ar)
    };
    let mut obj = obj;
    obj.metadata.namespace = None;
    match api
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &obj,
        )
        .await
    {
        Ok(_) => anyhow::bail!("{} was accepted by the API server", path.display()),
        Err(e) => {
            assert_eq!(api_code(&e), Some(422), "{}: {e}", path.display());
            Ok(api_message(&e))
        }
    }
}

#[tokio::test]
async fn every_invalid_example_is_refused_by_the_api_server_naming_its_field() -> anyhow::Result<()>
{
    let stack = Stack::load()?;
    // requests and approvals are judged in a tenant namespace where rina may file requests
    let w = world(&stack, "kavling:tenant:dinkes", TenantType::PerangkatDaerah).await?;
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/invalid/api");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        let expect = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
                .map(str::to_string)
                .unwrap_or_else(|| panic!("{} lacks '# {key}:'", path.display()))
        };
        let (field, message) = (expect("expect-field"), expect("expect-message"));
        let user = if text.contains("kind: Approval") {
            "ani"
        } else if text.contains("kind: Request") {
            "rina"
        } else {
            "admin"
        };
        let got = refused(stack.client_as(user).await?, &w.ns, &path).await?;
        assert!(
            got.contains(&field) && got.contains(&message),
            "{}: expected field '{field}' and '{message}', got: {got}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} invalid examples found");
    Ok(())
}
