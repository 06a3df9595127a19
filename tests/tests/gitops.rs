//! `kavling apply` files requests (and never approves them); `kavling plan --cluster` shows
//! what approving would create and notices a name already claimed — on the local stack.

use std::process::Command;
use std::time::Duration;

use kavling::api::*;
use kavling_e2e::{Stack, wait_for, workspace_bin};
use kube::Api;
use kube::api::PostParams;

fn kavling(stack: &Stack, user: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(workspace_bin("kavling"))
        .args(args)
        .env("KUBECONFIG", stack.kubeconfig(user))
        .output()
        .expect("kavling is built");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn request_yaml(ns: &str, name: &str, body: &str) -> String {
    format!(
        "apiVersion: kavling.go.id/v1alpha1\nkind: Request\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {{kavling.go.id/source: e2e}}\nspec:\n  requestedBy: rina\n  letter:\n    number: 1/{name}/2026\n    date: \"2026-11-02\"\n    signer:\n      name: dr. Linda\n      position: Kepala Dinas\n      identity: {{nip: \"197805122005012003\"}}\n{body}"
    )
}

#[tokio::test]
async fn apply_files_requests_pending_and_plan_shows_what_approval_would_make() -> anyhow::Result<()>
{
    let stack = Stack::load()?;
    let (id, zone, ns) = kavling_e2e::zone_and_rina_tenant(
        &stack,
        "gitops",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let rina: Api<Request> = Api::namespaced(stack.client_as("rina").await?, &ns);

    // a name someone else already holds
    let taken = format!("dipakai.{zone}");
    Api::<Subdomain>::all(stack.client_as("kavling-restore").await?)
        .create(
            &PostParams::default(),
            &Subdomain::new(
                &taken,
                SubdomainSpec {
                    zone: zone.clone(),
                    label: "dipakai".into(),
                    tenant: "lain".into(),
                    application_name: None,
                    website: false,
                    tls: false,
                    ttl: None,
                    target: Target {
                        addresses: vec!["10.0.0.9".into()],
                        ..Default::default()
                    },
                    suspend: None,
                    wildcard: false,
                },
            ),
        )
        .await?;

    let dir = std::env::temp_dir().join(&id);
    std::fs::create_dir_all(&dir)?;
    let sub = |label: &str| {
        format!(
            "  subdomain:\n    zone: {zone}\n    label: {label}\n    applicationName: App\n    description: Uji\n    businessProcess: Uji\n    website: true\n    target: {{addresses: [10.30.0.1]}}\n"
        )
    };
    std::fs::write(
        dir.join("baru.yaml"),
        request_yaml(&ns, "baru", &sub("baru")),
    )?;
    std::fs::write(
        dir.join("dipakai.yaml"),
        request_yaml(&ns, "dipakai", &sub("dipakai")),
    )?;
    std::fs::write(
        dir.join("simpan.yaml"),
        request_yaml(
            &ns,
            "simpan",
            "  storage: {name: arsip, dataDescription: Arsip, size: 5Gi, classification: Terbatas, personalData: false}\n",
        ),
    )?;
    let d = dir.to_string_lossy().to_string();

    // plan (read-only, as the Dinas would in CI)
    let (code, md, _) = kavling(
        &stack,
        "ani",
        &["plan", &d, "--cluster", "--format", "markdown"],
    );
    assert_eq!(code, 1, "a blocked request makes plan fail: {md}");
    let row = |name: &str| {
        md.lines()
            .find(|l| l.contains(&format!("`{ns}/{name}`")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("baru").contains(&format!("Subdomain baru.{zone} (website)"))
            && row("baru").contains(&format!("A baru.{zone} → 10.30.0.1"))
            && row("baru").contains("✅"),
        "{md}"
    );
    assert!(
        row("dipakai").contains(&format!("⛔ {taken} is already held by tenant 'lain'")),
        "{md}"
    );
    assert!(
        row("simpan").contains(&format!("bucket {id}--arsip with quota 5Gi")),
        "{md}"
    );

    // validate: clean offline (nothing in the files is wrong), refused with --cluster (the name is held)
    let (code, out, _) = kavling(&stack, "ani", &["validate", &d]);
    assert_eq!((code, out.as_str()), (0, ""), "offline validate: {out}");
    let (code, out, _) = kavling(&stack, "ani", &["validate", "--cluster", &d]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("dipakai.yaml:")
            && out.contains(&format!(
                "error[cluster]: request {ns}/dipakai: {taken} is already held by tenant 'lain'"
            )),
        "{out}"
    );

    // apply as the department user: filed, pending — never approved
    let (code, out, err) = kavling(&stack, "rina", &["apply", &d]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches(" applied").count(), 3, "{out}");
    wait_for("requests pending", Duration::from_secs(60), || async {
        let list = rina.list(&Default::default()).await?;
        Ok((list.items.len() == 3
            && list.items.iter().all(|r| {
                r.status
                    .as_ref()
                    .is_some_and(|s| s.phase == RequestPhase::Pending)
            }))
        .then_some(()))
    })
    .await?;
    let (_, get, _) = kavling(&stack, "rina", &["get", "requests", "-n", &ns]);
    assert_eq!(
        get.lines().filter(|l| l.contains("Pending")).count(),
        3,
        "{get}"
    );
    // applying again changes nothing (idempotent), and an approval cannot come through apply
    let (code, _, _) = kavling(&stack, "rina", &["apply", &d]);
    assert_eq!(code, 0);
    std::fs::write(
        dir.join("approve.yaml"),
        format!(
            "apiVersion: kavling.go.id/v1alpha1\nkind: Approval\nmetadata: {{name: baru, namespace: {ns}}}\nspec: {{request: baru, decision: Approve, approver: rina}}\n"
        ),
    )?;
    let (code, _, err) = kavling(
        &stack,
        "rina",
        &["apply", &dir.join("approve.yaml").to_string_lossy()],
    );
    assert_eq!(code, 1);
    assert!(err.contains("forbidden"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
