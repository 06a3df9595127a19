//! The audit trail on the local stack: the commits a request → approval → provisioning flow
//! makes, their trailers, real `git verify-commit`, tamper detection by `kavling audit verify`,
//! no secret in the repository, and `kavling restore` into a second, fresh local stack.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kavling::api::*;
use kavling_e2e::{
    GitCommit, Stack, audit_history, audit_local, git, kavling_cli, letter, wait_for,
    wait_for_commit,
};
use kube::Api;
use kube::api::ListParams;

fn subdomain_request(name: &str, zone: &str, label: &str, address: &str) -> Request {
    Request::new(
        name,
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(),
            subdomain: Some(SubdomainRequest {
                zone: zone.into(),
                label: label.into(),
                application_name: "Portal".into(),
                description: "Portal layanan".into(),
                business_process: "Layanan publik".into(),
                website: false,
                tls: false,
                target: Target {
                    addresses: vec![address.into()],
                    ..Default::default()
                },
                wildcard: false,
            }),
            hosting: None,
            storage: None,
        },
    )
}

fn storage_request(name: &str, bucket: &str) -> Request {
    Request::new(
        name,
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(),
            subdomain: None,
            hosting: None,
            storage: Some(StorageRequest {
                name: bucket.into(),
                data_description: "Arsip digital".into(),
                size: "1Gi".into(),
                classification: DataClassification::Terbatas,
                personal_data: false,
                versioning: false,
            }),
        },
    )
}

fn position(h: &[GitCommit], what: &str, pred: impl Fn(&GitCommit) -> bool) -> usize {
    h.iter()
        .position(pred)
        .unwrap_or_else(|| panic!("no audit commit for {what}"))
}

/// The allowed-signers file the CLI prints for ani (Dinas), written to a temp file.
fn allowed_signers(stack: &Stack) -> anyhow::Result<std::path::PathBuf> {
    let (code, out, err) = kavling_cli(stack, Some("ani"), &["audit", "allowed-signers"]);
    anyhow::ensure!(code == 0, "kavling audit allowed-signers: {err}");
    anyhow::ensure!(out.contains("ssh-ed25519 "), "no key in: {out}");
    let path = std::env::temp_dir().join(format!("{}-signers", kavling_e2e::unique("audit")));
    std::fs::write(&path, out)?;
    Ok(path)
}

#[tokio::test]
async fn a_flow_gives_signed_commits_with_who_and_why_and_nothing_secret() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (id, zone, ns) = kavling_e2e::zone_and_rina_tenant(
        &stack,
        "aud",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let req = kavling_e2e::file_and_approve(
        &stack,
        "rina",
        &ns,
        subdomain_request("portal", &zone, "portal", "10.40.0.7"),
    )
    .await?;
    assert_eq!(req.status.unwrap().phase, RequestPhase::Ready);
    let fqdn = format!("portal.{zone}");
    let request_key = format!("{ns}/portal");
    let history = wait_for_commit(
        &stack,
        "the request's Ready commit",
        Duration::from_secs(30),
        |c| c.trailers.get("Object") == Some(&request_key) && c.summary.contains("phase Ready"),
    )
    .await?;
    let find = |kind: &str, object: &str, change: &str| {
        let (kind, object, change) = (kind.to_string(), object.to_string(), change.to_string());
        move |c: &GitCommit| {
            c.trailers.get("Kind") == Some(&kind)
                && c.trailers.get("Object") == Some(&object)
                && c.trailers.get("Change") == Some(&change)
        }
    };
    let zone_created = position(&history, "zone create", find("Zone", &zone, "create"));
    let tenant_created = position(&history, "tenant create", find("Tenant", &id, "create"));
    let filed = position(
        &history,
        "request create",
        find("Request", &request_key, "create"),
    );
    let approved = position(
        &history,
        "approval create",
        find("Approval", &request_key, "create"),
    );
    let made = position(
        &history,
        "subdomain create",
        find("Subdomain", &fqdn, "create"),
    );
    let ready = position(&history, "subdomain Ready", |c| {
        find("Subdomain", &fqdn, "status")(c) && c.summary.ends_with(": Ready")
    });
    assert!(
        zone_created < filed
            && tenant_created < filed
            && filed < approved
            && approved < made
            && made < ready,
        "order: {zone_created} {tenant_created} {filed} {approved} {made} {ready}"
    );
    let t = &history[filed].trailers;
    assert_eq!(t.get("Actor").map(String::as_str), Some("rina"));
    assert_eq!(
        t.get("Letter").map(String::as_str),
        Some("045/900/E2E/2026")
    );
    let t = &history[approved].trailers;
    assert_eq!(
        (
            t.get("Actor").map(String::as_str),
            t.get("Approver").map(String::as_str)
        ),
        (Some("ani"), Some("ani"))
    );
    let t = &history[made].trailers;
    assert_eq!(t.get("Actor").map(String::as_str), Some("kavling-operator"));
    assert_eq!(t.get("Approver").map(String::as_str), Some("ani"));
    assert_eq!(t.get("Request"), Some(&request_key));
    assert_eq!(
        t.get("Letter").map(String::as_str),
        Some("045/900/E2E/2026")
    );
    assert_eq!(t.get("Tenant"), Some(&id));
    // Exactly one commit per change: the Subdomain was created once, and became Ready once.
    assert_eq!(
        history
            .iter()
            .filter(|c| find("Subdomain", &fqdn, "create")(c))
            .count(),
        1
    );
    // The document at its stable path is the object's desired state, without noise.
    let dir = audit_local(&stack);
    let doc = git(&[
        "--git-dir",
        &dir,
        "show",
        &format!(
            "main:{}",
            kavling::kinds::Kind::by_kind("Subdomain")
                .unwrap()
                .path(None, &fqdn)
        ),
    ])?;
    assert!(
        doc.contains("kind: Subdomain") && doc.contains("10.40.0.7"),
        "{doc}"
    );
    // (metadata.uid; the kavling.go.id/request-uid annotation is provenance and stays)
    for noise in ["resourceVersion", "managedFields", "\n  uid:"] {
        assert!(!doc.contains(noise), "{noise} in {doc}");
    }

    // A bucket: its credentials Secret exists in the cluster, and must never reach git.
    let req = kavling_e2e::file_and_approve(
        &stack,
        "rina",
        &ns,
        storage_request("arsip", &format!("{id}-arsip")),
    )
    .await?;
    assert_eq!(
        req.status.unwrap().phase,
        RequestPhase::Ready,
        "storage request"
    );
    wait_for_commit(
        &stack,
        "the bucket's Ready commit",
        Duration::from_secs(30),
        |c| {
            c.trailers.get("Kind").map(String::as_str) == Some("Bucket")
                && c.trailers.get("Tenant") == Some(&id)
                && c.summary.ends_with("Ready")
        },
    )
    .await?;

    // Real git accepts every commit's signature with the key the CLI publishes.
    let signers = allowed_signers(&stack)?;
    let signers = signers.to_str().unwrap();
    let marks = git(&[
        "--git-dir",
        &dir,
        "-c",
        "gpg.format=ssh",
        "-c",
        &format!("gpg.ssh.allowedSignersFile={signers}"),
        "log",
        "--format=%G? %H",
        "main",
    ])?;
    let bad: Vec<&str> = marks.lines().filter(|l| !l.starts_with("G ")).collect();
    assert!(bad.is_empty(), "commits git does not accept: {bad:?}");
    let head = git(&["--git-dir", &dir, "rev-parse", "main"])?;
    git(&[
        "--git-dir",
        &dir,
        "-c",
        "gpg.format=ssh",
        "-c",
        &format!("gpg.ssh.allowedSignersFile={signers}"),
        "verify-commit",
        head.trim(),
    ])?;
    // … and so does `kavling audit verify`, fetching the pushed copy over git://.
    let remote = stack.get("KAVLING_AUDIT_REPO");
    let (code, out, err) = kavling_cli(&stack, Some("ani"), &["audit", "verify", "--repo", remote]);
    assert_eq!(code, 0, "verify: {out}{err}");
    assert!(out.starts_with("verified: "), "{out}");
    // The log filters by tenant.
    let (code, out, _) = kavling_cli(
        &stack,
        None,
        &[
            "audit", "log", "--repo", &dir, "--tenant", &id, "-o", "json",
        ],
    );
    assert_eq!(code, 0);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out)?;
    assert!(
        rows.iter().all(|r| r["tenant"] == id.as_str()) && rows.len() >= 6,
        "{out}"
    );

    // No secret value anywhere in the repository's history.
    let admin = stack.client_as("admin").await?;
    let secrets = Api::<Secret>::all(admin)
        .list(&ListParams::default())
        .await?;
    // Sensitive entries only: a Secret may also carry public facts (a CA certificate that the
    // Issuer's spec rightly holds, an endpoint).
    let sensitive = |k: &str| {
        let k = k.to_ascii_lowercase();
        ["key", "secret", "token", "password", "private"]
            .iter()
            .any(|w| k.contains(w))
            && k != "ca.crt"
    };
    let values: Vec<(String, String)> = secrets
        .items
        .iter()
        .flat_map(|s| {
            let name = format!(
                "{}/{}",
                s.metadata.namespace.clone().unwrap_or_default(),
                s.metadata.name.clone().unwrap_or_default()
            );
            s.data
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| sensitive(k))
                .map(move |(k, v)| (format!("{name} {k}"), v))
        })
        .filter_map(|(k, v)| String::from_utf8(v.0).ok().map(|v| (k, v)))
        .flat_map(|(k, v)| {
            v.lines()
                .map(|l| (k.clone(), l.to_string()))
                .collect::<Vec<_>>()
        })
        .filter(|(_, l)| l.len() >= 16 && !l.starts_with("-----"))
        .collect();
    assert!(
        values.iter().any(|(k, _)| k.starts_with(&format!("{ns}/"))),
        "the bucket's key should be among the secrets checked"
    );
    assert!(
        values
            .iter()
            .any(|(k, _)| k.contains("kavling-audit-signing-key")),
        "the signing key should be among the secrets checked"
    );
    let everything = git(&["--git-dir", &dir, "log", "-p", "--format=%B", "main"])?;
    let leaked: Vec<&String> = values
        .iter()
        .filter(|(_, v)| everything.contains(v.as_str()))
        .map(|(k, _)| k)
        .collect();
    assert!(
        leaked.is_empty(),
        "secret values in the audit history: {leaked:?}"
    );
    let paths = git(&["--git-dir", &dir, "log", "--name-only", "--format=", "main"])?;
    assert!(!paths.lines().any(|p| p.starts_with("secrets/")));
    Ok(())
}

/// Rewrites the history of the bare repository `dir` with the real git plumbing: `edit` may
/// change the raw commit texts (oldest first); parents are re-linked, signatures kept as they
/// were (so they no longer match). The new ids, oldest first.
fn rewrite(dir: &str, edit: impl FnOnce(&mut Vec<String>)) -> anyhow::Result<Vec<String>> {
    let ids = git(&["--git-dir", dir, "rev-list", "--reverse", "main"])?;
    let mut texts: Vec<String> = ids
        .lines()
        .map(|id| git(&["--git-dir", dir, "cat-file", "commit", id]))
        .collect::<Result<_, _>>()?;
    edit(&mut texts);
    let mut new_ids: Vec<String> = Vec::new();
    for text in texts {
        let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        lines.retain(|l| !l.starts_with("parent "));
        if let Some(prev) = new_ids.last() {
            lines.insert(1, format!("parent {prev}"));
        }
        let path = std::env::temp_dir().join(kavling_e2e::unique("commit"));
        std::fs::write(&path, lines.join("\n"))?;
        let id = git(&[
            "--git-dir",
            dir,
            "hash-object",
            "-t",
            "commit",
            "-w",
            path.to_str().unwrap(),
        ])?;
        new_ids.push(id.trim().to_string());
    }
    git(&[
        "--git-dir",
        dir,
        "update-ref",
        "refs/heads/main",
        new_ids.last().unwrap(),
    ])?;
    Ok(new_ids)
}

#[tokio::test]
async fn rewriting_one_commit_or_their_order_is_caught_and_named() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (_, zone, _) = kavling_e2e::zone_and_rina_tenant(
        &stack,
        "tamp",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    wait_for_commit(&stack, "the zone's commit", Duration::from_secs(30), |c| {
        c.trailers.get("Object") == Some(&zone)
    })
    .await?;
    let signers = allowed_signers(&stack)?;
    let signers = signers.to_str().unwrap().to_string();
    let copy = |tag: &str| -> anyhow::Result<String> {
        let dir = std::env::temp_dir().join(kavling_e2e::unique(tag));
        git(&[
            "clone",
            "-q",
            "--bare",
            "--no-local",
            &audit_local(&stack),
            dir.to_str().unwrap(),
        ])?;
        Ok(dir.to_str().unwrap().to_string())
    };
    let verify = |dir: &str| {
        kavling_cli(
            &stack,
            None,
            &[
                "audit",
                "verify",
                "--repo",
                dir,
                "--allowed-signers",
                &signers,
            ],
        )
    };

    // The untouched copy verifies.
    let clean = copy("clean")?;
    let (code, out, err) = verify(&clean);
    assert_eq!(code, 0, "{out}{err}");

    // Content: someone edits who acted in one commit in the middle.
    let dir = copy("content")?;
    let n = audit_history(&dir)?.len();
    assert!(n >= 6, "history too short to tamper with: {n}");
    let k = n / 2;
    let ids = rewrite(&dir, |texts| {
        let t = &mut texts[k];
        *t = t.replacen("\nKind: ", "\nActor: mallory\nKind: ", 1);
    })?;
    let (code, _, err) = verify(&dir);
    assert_eq!(code, 1, "a rewritten commit must fail verification: {err}");
    assert!(
        err.contains(&ids[k]),
        "the first bad commit ({}) must be named: {err}",
        ids[k]
    );

    // Order: two neighbouring commits swapped.
    let dir = copy("order")?;
    let ids = rewrite(&dir, |texts| texts.swap(k, k + 1))?;
    let (code, _, err) = verify(&dir);
    assert_eq!(code, 1, "reordered commits must fail verification: {err}");
    assert!(
        err.contains(&ids[k]),
        "the first bad commit ({}) must be named: {err}",
        ids[k]
    );
    Ok(())
}

/// `dig +short` of `name`/`type_` at a server.
fn dig(addr: &str, name: &str, type_: &str) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let out = std::process::Command::new("dig")
        .args([
            &format!("@{host}"),
            "-p",
            port,
            "+short",
            "+norecurse",
            name,
            type_,
        ])
        .output()
        .expect("dig");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines.join("\n")
}

#[tokio::test]
async fn restore_rebuilds_the_platform_in_a_fresh_stack() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (id, zone, ns) = kavling_e2e::zone_and_rina_tenant(
        &stack,
        "rst",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    kavling_e2e::file_and_approve(
        &stack,
        "rina",
        &ns,
        subdomain_request("web", &zone, "web", "10.41.0.9"),
    )
    .await?;
    let fqdn = format!("web.{zone}");
    let remote = stack.get("KAVLING_AUDIT_REPO").to_string();
    // Restore from what reached the remote (the copy that survives the data centre).
    let local = audit_local(&stack);
    wait_for(
        "the audit remote to have the subdomain's Ready commit",
        Duration::from_secs(60),
        || {
            let (local, remote, fqdn) = (local.clone(), remote.clone(), fqdn.clone());
            async move {
                let head = git(&["--git-dir", &local, "rev-parse", "main"])?;
                let history = audit_history(&local)?;
                let ready = history.iter().any(|c| {
                    c.trailers.get("Object") == Some(&fqdn) && c.summary.ends_with(": Ready")
                });
                let pushed = git(&["ls-remote", &remote, "refs/heads/main"])?;
                Ok((ready && pushed.starts_with(head.trim())).then_some(()))
            }
        },
    )
    .await?;

    // The old cluster's signing keys, as the Dinas keeps them: restore verifies with them.
    let (code, signers, err) = kavling_cli(&stack, Some("ani"), &["audit", "allowed-signers"]);
    anyhow::ensure!(code == 0, "allowed-signers: {err}");
    let signers_file = std::env::temp_dir().join(format!("{id}-allowed-signers"));
    std::fs::write(&signers_file, signers)?;
    let signers_file = signers_file.to_string_lossy().to_string();

    // A second, empty local Pusat Data on its own ports.
    let fresh_dir = std::path::PathBuf::from(stack.get("KAVLING_STACK_DIR"))
        .with_file_name("e2e-restore-stack");
    let base = stack.get("KAVLING_PORT_BASE").parse::<u32>()? + 700;
    let script = |args: &[&str]| {
        let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let cmd = args[0];
        let path = repo.join(format!("dev/{cmd}"));
        let out = std::process::Command::new("bash")
            .arg(path)
            .args(&args[1..])
            .env("KAVLING_STACK_DIR", &fresh_dir)
            .env("KAVLING_PORT_BASE", base.to_string())
            .output()
            .expect("run dev script");
        assert!(
            out.status.success(),
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    script(&["stack.sh", "destroy"]);
    script(&["stack.sh", "start"]);
    let result = async {
        script(&["install-manifests.sh"]);
        script(&["stack.sh", "operator", "start"]);
        script(&["stack.sh", "dns", "start"]);
        let fresh = {
            let mut env = stack.env.clone();
            let text = std::fs::read_to_string(fresh_dir.join("stack.env"))?;
            for (k, v) in text.lines().filter_map(|l| l.split_once('=')) {
                env.insert(k.into(), v.into());
            }
            Stack { env }
        };
        let restore = |extra: &[&str]| {
            let mut args = vec![
                "restore",
                "--from",
                remote.as_str(),
                "--allowed-signers",
                signers_file.as_str(),
                "-o",
                "json",
            ];
            args.extend_from_slice(extra);
            kavling_cli(&fresh, Some("admin"), &args)
        };
        let (code, out, err) = restore(&[]);
        anyhow::ensure!(code == 0, "restore failed: {out}\n{err}");
        let report: Vec<serde_json::Value> = serde_json::from_str(&out)?;
        let restored = |kind: &str, object: &str| {
            report
                .iter()
                .any(|r| r["kind"] == kind && r["object"] == object && r["result"] == "restored")
        };
        anyhow::ensure!(
            restored("Zone", &zone) && restored("Tenant", &id) && restored("Subdomain", &fqdn),
            "report: {out}"
        );
        anyhow::ensure!(
            report
                .iter()
                .any(|r| r["kind"] == "Request" && r["result"] == "record only"),
            "requests are records: {out}"
        );
        anyhow::ensure!(
            report
                .iter()
                .any(|r| r["kind"] == "DnsRecord" && r["result"] == "from its owner"),
            "owned records come back from their subdomain: {out}"
        );
        // Idempotent: a second restore changes nothing and succeeds.
        let (code, _, err) = restore(&[]);
        anyhow::ensure!(code == 0, "second restore: {err}");

        // The same specs …
        let old_admin = stack.client_as("admin").await?;
        let new_admin = fresh.client_as("admin").await?;
        let spec = |v: serde_json::Value| v["spec"].clone();
        let old_sd: Api<Subdomain> = Api::all(old_admin.clone());
        let new_sd: Api<Subdomain> = Api::all(new_admin.clone());
        anyhow::ensure!(
            spec(serde_json::to_value(old_sd.get(&fqdn).await?)?)
                == spec(serde_json::to_value(new_sd.get(&fqdn).await?)?),
            "subdomain spec differs"
        );
        let old_t: Api<Tenant> = Api::all(old_admin.clone());
        let new_t: Api<Tenant> = Api::all(new_admin.clone());
        anyhow::ensure!(
            old_t.get(&id).await?.spec == new_t.get(&id).await?.spec,
            "tenant spec differs"
        );
        let old_z: Api<Zone> = Api::all(old_admin);
        let new_z: Api<Zone> = Api::all(new_admin);
        anyhow::ensure!(
            old_z.get(&zone).await?.spec == new_z.get(&zone).await?.spec,
            "zone spec differs"
        );
        // … and the fresh DNS server answers what the old one does.
        let (old_dns, new_dns) = (
            stack.get("KAVLING_DNS_ADDR").to_string(),
            fresh.get("KAVLING_DNS_ADDR").to_string(),
        );
        let expected = dig(&old_dns, &fqdn, "A");
        anyhow::ensure!(expected.contains("10.41.0.9"), "old server: {expected}");
        wait_for(
            "the restored name to be served",
            Duration::from_secs(60),
            || {
                let got = dig(&new_dns, &fqdn, "A");
                let expected = expected.clone();
                async move { Ok((got == expected).then_some(())) }
            },
        )
        .await?;
        anyhow::ensure!(
            dig(&old_dns, &zone, "NS") == dig(&new_dns, &zone, "NS"),
            "NS differs"
        );
        Ok(())
    }
    .await;
    script(&["stack.sh", "destroy"]);
    result
}
