//! Kavling next to cert-manager: with cert-manager's own CRDs installed (from its Go module,
//! `dev/build-tools.sh cert-manager-crds`), every name kubectl resolves — plural, singular,
//! short name — means one kind only: `certificates`, `cert`, `issuers` stay cert-manager's,
//! and each of Kavling's kinds is reached by its own names. The CRDs stay installed, so the
//! rest of the suite runs next to them too.

use std::process::Command;

use kavling_e2e::{Stack, unique, wait_for};
use std::time::Duration;

fn kubectl(stack: &Stack, args: &[&str]) -> (bool, String, String) {
    kubectl_as(stack, "admin", args)
}

fn kubectl_as(stack: &Stack, user: &str, args: &[&str]) -> (bool, String, String) {
    // a discovery cache of this test's own: another's may predate cert-manager's CRDs
    let cache = std::env::temp_dir().join(format!("kavling-coexistence-{}", std::process::id()));
    let out = Command::new(stack.get("KAVLING_KUBECTL"))
        .arg("--kubeconfig")
        .arg(stack.kubeconfig(user))
        .arg("--cache-dir")
        .arg(&cache)
        .args(args)
        .output()
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The group and kind `kubectl explain NAME` resolves NAME to.
fn resolved(stack: &Stack, name: &str) -> (String, String) {
    let (ok, out, err) = kubectl(stack, &["explain", name]);
    assert!(ok, "kubectl explain {name}: {err}");
    let field = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    (field("GROUP:"), field("KIND:"))
}

async fn install_cert_manager_crds(stack: &Stack) -> anyhow::Result<()> {
    let dir = stack.get("KAVLING_CERT_MANAGER_CRDS");
    anyhow::ensure!(
        std::path::Path::new(dir)
            .join("cert-manager.io_certificates.yaml")
            .exists(),
        "cert-manager's CRDs are not in {dir}; run dev/build-tools.sh cert-manager-crds"
    );
    let (ok, _, err) = kubectl(stack, &["apply", "--server-side", "-f", dir]);
    anyhow::ensure!(ok, "installing cert-manager's CRDs: {err}");
    for crd in [
        "certificates.cert-manager.io",
        "issuers.cert-manager.io",
        "clusterissuers.cert-manager.io",
        "certificaterequests.cert-manager.io",
    ] {
        // (`kubectl wait` fails outright while a new CRD has no conditions yet)
        wait_for(
            &format!("{crd} established"),
            Duration::from_secs(60),
            || async {
                let (ok, out, _) = kubectl(
                    stack,
                    &[
                        "get",
                        "crd",
                        crd,
                        "-o",
                        "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
                    ],
                );
                Ok((ok && out.trim() == "True").then_some(()))
            },
        )
        .await?;
    }
    // discovery and the OpenAPI document (what `kubectl explain` reads) are published a
    // little after a CRD is Established
    wait_for(
        "kubectl sees cert-manager.io",
        Duration::from_secs(60),
        || async {
            let (ok, out, _) = kubectl(
                stack,
                &["api-resources", "--api-group=cert-manager.io", "-o", "name"],
            );
            let explained = ["certificates.cert-manager.io", "issuers.cert-manager.io"]
                .iter()
                .all(|r| kubectl(stack, &["explain", r]).0);
            Ok((ok && out.contains("certificates.cert-manager.io") && explained).then_some(()))
        },
    )
    .await
}

#[tokio::test]
async fn with_cert_managers_crds_installed_every_name_means_one_kind() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    install_cert_manager_crds(&stack).await?;

    for name in ["certificates", "certificate", "cert", "certs"] {
        assert_eq!(
            resolved(&stack, name),
            ("cert-manager.io".into(), "Certificate".into()),
            "{name} stays cert-manager's"
        );
    }
    for name in ["issuers", "issuer", "iss"] {
        assert_eq!(
            resolved(&stack, name),
            ("cert-manager.io".into(), "Issuer".into()),
            "{name} stays cert-manager's"
        );
    }
    // every Kavling kind by its plural, singular and short names
    for crd in kavling::crds::all() {
        let n = &crd.spec.names;
        let mut names = vec![n.plural.clone(), n.singular.clone().unwrap_or_default()];
        names.extend(n.short_names.clone().unwrap_or_default());
        for name in names {
            assert_eq!(
                resolved(&stack, &name),
                ("kavling.go.id".into(), n.kind.clone()),
                "{name} is Kavling's {}",
                n.kind
            );
        }
    }

    // kubectl explain teaches the kind and its status, not kube's placeholder text
    let (ok, out, err) = kubectl(&stack, &["explain", "tlscertificate"]);
    assert!(ok, "{err}");
    assert!(out.contains("A TLS certificate for names"), "{out}");
    assert!(!out.contains("Auto-generated"), "{out}");
    let (ok, out, err) = kubectl(&stack, &["explain", "tlscertificates.status.renewalTime"]);
    assert!(ok, "{err}");
    assert!(out.contains("When Kavling will renew"), "{out}");

    // one object of each in one namespace: each name lists only its own kind
    let ns = unique("berdua");
    let (ok, _, err) = kubectl(&stack, &["create", "namespace", &ns]);
    assert!(ok, "{err}");
    // cert-manager's as admin; Kavling's as the restore identity (only Kavling makes them)
    let objects = [
        (
            "admin",
            format!(
                r#"apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {{name: milik-cert-manager, namespace: {ns}}}
spec:
  secretName: cm-tls
  dnsNames: [portal.example.go.id]
  issuerRef: {{name: letsencrypt, kind: ClusterIssuer}}
"#
            ),
        ),
        (
            "kavling-restore",
            format!(
                r#"apiVersion: kavling.go.id/v1alpha1
kind: Certificate
metadata: {{name: milik-kavling, namespace: {ns}}}
spec:
  dnsNames: [portal.example.go.id]
  issuer: pusat-data
  secretName: kavling-tls
"#
            ),
        ),
    ];
    for (user, yaml) in objects {
        let path = std::env::temp_dir().join(format!("{ns}-{user}.yaml"));
        std::fs::write(&path, yaml)?;
        let (ok, _, err) = kubectl_as(&stack, user, &["apply", "-f", path.to_str().unwrap()]);
        std::fs::remove_file(&path)?;
        assert!(ok, "{err}");
    }
    let list = |what: &str| kubectl(&stack, &["get", what, "-n", &ns, "-o", "name"]).1;
    assert_eq!(
        list("certificates").trim(),
        "certificate.cert-manager.io/milik-cert-manager"
    );
    assert_eq!(
        list("cert").trim(),
        "certificate.cert-manager.io/milik-cert-manager"
    );
    assert_eq!(
        list("tlscertificates").trim(),
        "certificate.kavling.go.id/milik-kavling"
    );
    assert_eq!(
        list("tlscert").trim(),
        "certificate.kavling.go.id/milik-kavling"
    );
    // the `kavling` category holds Kavling's kinds only
    let all = list("kavling");
    assert!(
        all.contains("certificate.kavling.go.id/milik-kavling"),
        "{all}"
    );
    assert!(!all.contains("cert-manager.io"), "{all}");
    // Kavling's operator never touches cert-manager's object: no status, no finalizer
    let (ok, out, err) = kubectl(
        &stack,
        &[
            "get",
            "certificates.cert-manager.io",
            "milik-cert-manager",
            "-n",
            &ns,
            "-o",
            "json",
        ],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out)?;
    assert!(
        v.get("status").is_none() && v["metadata"].get("finalizers").is_none(),
        "{v}"
    );
    let (ok, _, err) = kubectl(&stack, &["delete", "namespace", &ns, "--wait=false"]);
    assert!(ok, "{err}");
    Ok(())
}
