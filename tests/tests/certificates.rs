//! TLS by ACME against the real Pebble, whose resolver is Kavling's DNS server: DNS-01
//! validation really queries our zones. (dev/test.sh runs Pebble with 60-second
//! certificates, so renewal happens within the test.)

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kavling::acme::cert;
use kavling::api::*;
use kavling_e2e::{Stack, api_code, api_message, letter, wait_for, zone_and_rina_tenant};
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};

const T: Duration = Duration::from_secs(90);

fn subdomain_request(name: &str, zone: &str, label: &str, tls: bool) -> Request {
    Request::new(
        name,
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(),
            subdomain: Some(SubdomainRequest {
                zone: zone.into(),
                label: label.into(),
                application_name: "Aplikasi".into(),
                description: "Uji TLS".into(),
                business_process: "Uji".into(),
                website: false,
                tls,
                target: Target {
                    addresses: vec!["10.20.0.1".into()],
                    ..Default::default()
                },
                wildcard: false,
            }),
            hosting: None,
            storage: None,
        },
    )
}

/// rina files, ani approves, the subdomain is served.
async fn claim(
    stack: &Stack,
    ns: &str,
    zone: &str,
    label: &str,
    tls: bool,
) -> anyhow::Result<String> {
    let name = format!("req-{label}");
    let r = kavling_e2e::file_and_approve(
        stack,
        "rina",
        ns,
        subdomain_request(&name, zone, label, tls),
    )
    .await?;
    let phase = r.status.map(|s| s.phase);
    anyhow::ensure!(phase == Some(RequestPhase::Ready), "{label}: {phase:?}");
    Ok(format!("{label}.{zone}"))
}

fn cond<'a>(c: &'a Certificate, type_: &str) -> Option<&'a Condition> {
    c.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|x| x.type_ == type_))
}

async fn ready_cert(api: &Api<Certificate>, name: &str) -> anyhow::Result<Certificate> {
    wait_for(&format!("certificate {name} Ready"), T, || async {
        let c = api.get(name).await?;
        Ok(cond(&c, "Ready")
            .is_some_and(|x| x.status == "True")
            .then_some(c))
    })
    .await
}

async fn tls_secret(
    stack: &Stack,
    ns: &str,
    name: &str,
) -> anyhow::Result<(String, String, Option<String>)> {
    let s = Api::<Secret>::namespaced(stack.client_as("rina").await?, ns)
        .get(name)
        .await?;
    assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
    let d = s.data.unwrap_or_default();
    let get = |k: &str| d.get(k).map(|b| String::from_utf8_lossy(&b.0).into_owned());
    Ok((
        get("tls.crt").unwrap_or_default(),
        get("tls.key").unwrap_or_default(),
        get("ca.crt"),
    ))
}

/// Pebble's current root, from its management port.
async fn pebble_root(stack: &Stack) -> anyhow::Result<String> {
    let ca = reqwest::Certificate::from_pem(&stack.ca_pem())?;
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()?;
    Ok(http
        .get(format!("{}/roots/0", stack.get("KAVLING_PEBBLE_MGMT")))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// `openssl verify` of the chain's leaf against `root`, with the rest of the chain as
/// intermediates — the real tool, not our parser.
fn verify_chain(chain: &str, root: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let blocks: Vec<String> = chain
        .split_inclusive("-----END CERTIFICATE-----")
        .filter(|b| b.contains("BEGIN CERTIFICATE"))
        .map(|b| b.trim().to_string() + "\n")
        .collect();
    assert!(
        blocks.len() >= 2,
        "a leaf and an intermediate, got {}",
        blocks.len()
    );
    std::fs::create_dir_all(dir)?;
    let (leaf, inter, rootf) = (
        dir.join("leaf.pem"),
        dir.join("inter.pem"),
        dir.join("root.pem"),
    );
    std::fs::write(&leaf, &blocks[0])?;
    std::fs::write(&inter, blocks[1..].concat())?;
    std::fs::write(&rootf, root)?;
    let out = std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(&rootf)
        .arg("-untrusted")
        .arg(&inter)
        .arg(&leaf)
        .output()?;
    assert!(
        out.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

async fn challenge_records(stack: &Stack, ns: &str, cert: &str) -> anyhow::Result<usize> {
    let key = kavling::controllers::label_value(&format!("{ns}.{cert}"));
    Ok(Api::<DnsRecord>::all(stack.client_as("admin").await?)
        .list(&ListParams::default().labels(&format!("kavling.go.id/certificate={key}")))
        .await?
        .items
        .len())
}

async fn check_issued(
    stack: &Stack,
    ns: &str,
    c: &Certificate,
    names: &[&str],
) -> anyhow::Result<()> {
    let (chain, key, ca) = tls_secret(stack, ns, &c.spec.secret_name).await?;
    let leaf = cert::leaf(chain.as_bytes()).expect("tls.crt is a certificate");
    let want: BTreeSet<String> = names.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        leaf.names, want,
        "the certificate covers exactly the requested names"
    );
    assert!(key.contains("PRIVATE KEY"));
    let root = pebble_root(stack).await?;
    verify_chain(
        &chain,
        &root,
        &std::env::temp_dir().join(format!("kavling-e2e-{}", c.name_any())),
    )?;
    assert_eq!(
        ca.as_deref().map(str::trim),
        Some(root.trim()),
        "ca.crt is Pebble's root"
    );
    assert_eq!(
        challenge_records(stack, ns, &c.name_any()).await?,
        0,
        "challenge records removed"
    );
    Ok(())
}

#[tokio::test]
async fn a_subdomain_with_tls_gets_a_certificate_chaining_to_pebble_for_exactly_its_name()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (_, zone, ns) = zone_and_rina_tenant(
        &stack,
        "tls",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let fqdn = claim(&stack, &ns, &zone, "web", true).await?;
    let certs: Api<Certificate> = Api::namespaced(stack.client_as("rina").await?, &ns);
    let c = ready_cert(&certs, &fqdn).await?;
    assert_eq!(c.spec.dns_names, vec![fqdn.clone()]);
    assert_eq!(c.spec.issuer, "pusat-data");
    let st = c.status.clone().unwrap();
    assert!(st.order.is_none() && st.step == OrderStep::Idle);
    assert!(st.renewal_time.is_some() && st.not_after.is_some());
    check_issued(&stack, &ns, &c, &[&fqdn]).await
}

/// Sets the renewal window Pebble's ARI answers for the leaf of `chain` (its management
/// `/set-renewal-info/`), as a CA moves a window after an incident.
async fn set_window(
    stack: &Stack,
    chain: &str,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let leaf = chain
        .split_inclusive("-----END CERTIFICATE-----")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let window = serde_json::json!({"suggestedWindow": {"start": fmt(start), "end": fmt(end)}});
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&stack.ca_pem())?)
        .user_agent("kavling-e2e")
        .build()?;
    // (Pebble wants its ACME content type even on this management call)
    let answer = http
        .post(format!(
            "{}/set-renewal-info/",
            stack.get("KAVLING_PEBBLE_MGMT")
        ))
        .header("Content-Type", "application/jose+json")
        .body(
            serde_json::json!({"Certificate": leaf, "ARIResponse": window.to_string()}).to_string(),
        )
        .send()
        .await?;
    let code = answer.status();
    anyhow::ensure!(
        code.is_success(),
        "set-renewal-info: {code} {}",
        answer.text().await?
    );
    Ok(())
}

/// A Ready certificate whose CA (through ARI) has moved its renewal a day away — past the
/// certificate's own 60-second life here — and Kavling has taken that in: from then on only
/// something else (the CA again, or a person) renews it before it expires.
async fn ready_with_renewal_a_day_away(
    stack: &Stack,
    prefix: &str,
) -> anyhow::Result<(String, String, Api<Certificate>, CertificateStatus)> {
    let (_, zone, ns) = zone_and_rina_tenant(
        stack,
        prefix,
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let fqdn = claim(stack, &ns, &zone, "web", true).await?;
    let certs: Api<Certificate> = Api::namespaced(stack.client_as("rina").await?, &ns);
    let mut first = ready_cert(&certs, &fqdn).await?.status.unwrap();
    assert!(
        first.renewal_window.is_some(),
        "the CA's window is shown: {first:?}"
    );
    assert!(first.renewal_info_next_check.is_some(), "{first:?}");
    // The certificate lives 60 s and Pebble's own window opens at about 40 s: on a loaded
    // machine it may renew before the moved window is taken in. Then move the new one's.
    for _ in 0..4 {
        let (chain, _, _) = tls_secret(stack, &ns, &format!("{fqdn}-tls")).await?;
        let day = chrono::Utc::now() + chrono::Duration::days(1);
        set_window(stack, &chain, day, day + chrono::Duration::hours(1)).await?;
        // ARI is asked every 5 s under dev/test.sh: the renewal follows the CA's window
        let seen = wait_for("the renewal time follows the CA's window", T, || async {
            let st = certs.get(&fqdn).await?.status.unwrap_or_default();
            let at = st
                .renewal_time
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            let moved = st.serial == first.serial
                && at.is_some_and(|t| t >= day - chrono::Duration::minutes(1));
            let renewed_first = st.serial != first.serial && st.last_issued.is_some();
            Ok((moved || renewed_first).then_some((moved, st)))
        })
        .await?;
        match seen {
            (true, moved) => return Ok((ns, fqdn, certs, moved)),
            (false, _) => first = ready_cert(&certs, &fqdn).await?.status.unwrap(),
        }
    }
    anyhow::bail!("{fqdn} kept renewing on Pebble's own window before the moved one was taken in")
}

fn issued(st: &CertificateStatus) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(st.last_issued.as_deref().unwrap()).unwrap()
}

fn expiry(st: &CertificateStatus) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(st.not_after.as_deref().unwrap()).unwrap()
}

/// `kavling renew certificate`: the Dinas asks and a new certificate is issued at once —
/// before the current one expires, though its renewal is scheduled a day away; a tenant may
/// not ask.
#[tokio::test]
async fn a_renewal_asked_for_issues_at_once() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (ns, fqdn, certs, first) = ready_with_renewal_a_day_away(&stack, "baru").await?;
    let (code, _, err) = kavling_e2e::kavling_cli(
        &stack,
        Some("rina"),
        &["renew", "certificate", &fqdn, "-n", &ns],
    );
    assert_ne!(code, 0, "a tenant may not renew: {err}");
    let (code, out, err) = kavling_e2e::kavling_cli(
        &stack,
        Some("ani"),
        &["renew", "certificate", &fqdn, "-n", &ns],
    );
    assert_eq!(code, 0, "{out}{err}");
    let renewed = wait_for("a new certificate", T, || async {
        let st = certs.get(&fqdn).await?.status.unwrap_or_default();
        Ok((st.serial != first.serial && st.last_issued.is_some()).then_some(st))
    })
    .await?;
    assert!(
        issued(&renewed) < expiry(&first),
        "renewed at {} before the old one expired at {}",
        issued(&renewed),
        expiry(&first)
    );
    Ok(())
}

/// ARI (RFC 9773) against Pebble 2.10: Kavling follows the CA's window both ways — a day
/// away (above), then to now, as after a revocation or a CA incident: it notices at its next
/// ask and renews inside the window, before the certificate expires, telling the CA which
/// certificate the order replaces.
#[tokio::test]
async fn a_renewal_window_moved_by_the_ca_is_honoured() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (ns, fqdn, certs, first) = ready_with_renewal_a_day_away(&stack, "ari").await?;
    let (chain, _, _) = tls_secret(&stack, &ns, &format!("{fqdn}-tls")).await?;
    let now = chrono::Utc::now();
    set_window(
        &stack,
        &chain,
        now - chrono::Duration::seconds(30),
        now + chrono::Duration::seconds(5),
    )
    .await?;
    let renewed = wait_for("a renewal inside the CA's new window", T, || async {
        let st = certs.get(&fqdn).await?.status.unwrap_or_default();
        Ok((st.serial != first.serial && st.last_issued.is_some()).then_some(st))
    })
    .await?;
    assert!(
        issued(&renewed) < expiry(&first),
        "renewed at {} before the old one expired at {}, because the CA asked",
        issued(&renewed),
        expiry(&first)
    );
    Ok(())
}

#[tokio::test]
async fn several_names_and_a_wildcard_in_one_certificate() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (_, zone, ns) = zone_and_rina_tenant(
        &stack,
        "tlsw",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let fqdn = claim(&stack, &ns, &zone, "app", false).await?;
    let certs: Api<Certificate> = Api::namespaced(stack.client_as("kavling-restore").await?, &ns);
    let api_name = format!("api.{fqdn}");
    let wild = format!("*.{fqdn}");
    for (name, names) in [
        ("several", vec![fqdn.clone(), api_name.clone()]),
        ("wildcard", vec![wild.clone(), fqdn.clone()]),
    ] {
        certs
            .create(
                &PostParams::default(),
                &Certificate::new(
                    name,
                    CertificateSpec {
                        dns_names: names,
                        issuer: "pusat-data".into(),
                        secret_name: format!("{name}-tls"),
                        key_algorithm: KeyAlgorithm::EcdsaP384,
                    },
                ),
            )
            .await?;
    }
    let several = ready_cert(&certs, "several").await?;
    check_issued(&stack, &ns, &several, &[&fqdn, &api_name]).await?;
    let wildcard = ready_cert(&certs, "wildcard").await?;
    check_issued(&stack, &ns, &wildcard, &[&wild, &fqdn]).await?;
    Ok(())
}

#[tokio::test]
async fn a_certificate_near_expiry_is_renewed_and_the_secret_never_goes_missing()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (_, zone, ns) = zone_and_rina_tenant(
        &stack,
        "tlsr",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let fqdn = claim(&stack, &ns, &zone, "baru", true).await?;
    let certs: Api<Certificate> = Api::namespaced(stack.client_as("rina").await?, &ns);
    let c = ready_cert(&certs, &fqdn).await?;
    let (chain, _, _) = tls_secret(&stack, &ns, &c.spec.secret_name).await?;
    let first = cert::leaf(chain.as_bytes()).unwrap();
    let life = first.not_after - first.not_before;
    assert!(
        life < chrono::Duration::minutes(10),
        "this test needs short-lived certificates (dev/test.sh runs Pebble with KAVLING_PEBBLE_CERT_VALIDITY=60); got {life}"
    );
    // a client reading the Secret all along always finds a valid pair, until a new serial
    let start = Instant::now();
    let renewed = loop {
        assert!(
            start.elapsed() < life.to_std()? + T,
            "not renewed within its lifetime"
        );
        let (chain, key, _) = tls_secret(&stack, &ns, &c.spec.secret_name).await?;
        let leaf = cert::leaf(chain.as_bytes()).expect("the Secret always holds a certificate");
        assert!(
            chrono::Utc::now() < leaf.not_after,
            "the Secret held an expired certificate"
        );
        assert!(key.contains("PRIVATE KEY"));
        if leaf.serial != first.serial {
            break leaf;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(renewed.not_after > first.not_after);
    // the status follows the Secret (written just after it)
    wait_for("status shows the renewed serial", T, || async {
        let c = certs.get(&fqdn).await?;
        let not_after = c
            .status
            .and_then(|s| s.not_after)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok());
        Ok(not_after
            .is_some_and(|t| t >= renewed.not_after)
            .then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn bad_names_and_bad_issuers_are_refused_and_nothing_is_ordered() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (_, zone, ns) = zone_and_rina_tenant(
        &stack,
        "tlsb",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let fqdn = claim(&stack, &ns, &zone, "milik", false).await?;
    let admin = stack.client_as("kavling-restore").await?;
    let certs: Api<Certificate> = Api::namespaced(admin.clone(), &ns);
    let make = |name: &str, names: Vec<String>, issuer: &str| {
        Certificate::new(
            name,
            CertificateSpec {
                dns_names: names,
                issuer: issuer.into(),
                secret_name: format!("{name}-tls"),
                key_algorithm: KeyAlgorithm::EcdsaP256,
            },
        )
    };
    for (name, n, rule) in [
        (
            "luar",
            "portal.example.com".to_string(),
            "cert-name-outside-zones",
        ),
        ("bukan", format!("lain.{zone}"), "cert-name-not-held"),
    ] {
        certs
            .create(&PostParams::default(), &make(name, vec![n], "pusat-data"))
            .await?;
        let msg = wait_for(&format!("{name} refused"), T, || async {
            let c = certs.get(name).await?;
            Ok(cond(&c, "Failed").map(|x| x.message.clone()))
        })
        .await?;
        assert!(
            msg.contains(rule) && msg.contains("spec.dnsNames[0]"),
            "{msg}"
        );
        let st = certs.get(name).await?.status.unwrap();
        assert!(
            st.order.is_none() && st.recent_orders.is_empty(),
            "nothing ordered: {st:?}"
        );
    }
    // too many names: the API server refuses
    let many: Vec<String> = (0..101).map(|i| format!("n{i}.{fqdn}")).collect();
    let e = certs
        .create(&PostParams::default(), &make("banyak", many, "pusat-data"))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), Some(422), "{}", api_message(&e));

    // an issuer whose directory is not a URL: refused; one that does not answer: not Ready,
    // and its certificates wait without ordering
    let issuers: Api<Issuer> = Api::all(admin.clone());
    let bad = Issuer::new(
        "ftp-ca",
        IssuerSpec {
            directory: "ftp://ca.example".into(),
            contact: vec![],
            external_account_binding: None,
            ca_bundle: None,
            ca_certificate: None,
            limits: Default::default(),
        },
    );
    let e = issuers
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err();
    assert!(
        api_message(&e).contains("spec.directory"),
        "{}",
        api_message(&e)
    );
    let down_name = format!("down-{}", ns.trim_start_matches("tenant-"));
    let mut down = bad.clone();
    down.metadata.name = Some(down_name.clone());
    down.spec.directory = "https://127.0.0.1:9/dir".into();
    issuers.create(&PostParams::default(), &down).await?;
    certs
        .create(
            &PostParams::default(),
            &make("tunggu", vec![fqdn.clone()], &down_name),
        )
        .await?;
    let msg = wait_for("certificate waits for its issuer", T, || async {
        let c = certs.get("tunggu").await?;
        Ok(cond(&c, "Ready")
            .filter(|x| x.reason == "IssuerNotReady")
            .map(|x| x.message.clone()))
    })
    .await?;
    assert!(msg.contains(&down_name), "{msg}");
    let st = certs.get("tunggu").await?.status.unwrap();
    assert!(st.order.is_none() && st.recent_orders.is_empty());
    issuers.delete(&down_name, &Default::default()).await?;
    Ok(())
}

/// An Issuer trusting the wrong CA says so: the TLS cause, not "client error (Connect)". The
/// operator runs with an unwritable temp directory (dev/stack.sh), as under
/// readOnlyRootFilesystem, so the right CA bundle working elsewhere proves it is read from
/// memory.
#[tokio::test]
async fn an_issuer_trusting_the_wrong_ca_names_the_tls_cause() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let admin = stack.client_as("kavling-restore").await?;
    let issuers: Api<Issuer> = Api::all(admin.clone());
    let good = issuers.get("pusat-data").await?;
    assert!(
        good.spec.ca_bundle.is_some(),
        "the stack's issuer trusts the stack's CA through caBundle"
    );
    let dir = std::env::temp_dir().join(kavling_e2e::unique("wrong-ca"));
    std::fs::create_dir_all(&dir)?;
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=Bukan CA Pusat Data"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("ca.pem"))
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = kavling_e2e::unique("salah-ca");
    let mut wrong = Issuer::new(&name, good.spec.clone());
    wrong.spec.ca_bundle = Some(std::fs::read_to_string(dir.join("ca.pem"))?);
    issuers.create(&PostParams::default(), &wrong).await?;
    let msg = wait_for("the wrong CA is named", T, || async {
        let i = issuers.get(&name).await?;
        Ok(i.status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .filter(|c| c.status == "False" && c.reason == "AccountFailed")
            .map(|c| c.message.clone()))
    })
    .await?;
    assert!(
        msg.contains("invalid peer certificate") && msg.contains("UnknownIssuer"),
        "the condition names the TLS cause: {msg}"
    );
    issuers.delete(&name, &Default::default()).await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
async fn the_weekly_budget_of_a_registered_domain_is_kept_and_said() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (id, zone, ns) = zone_and_rina_tenant(
        &stack,
        "tlsq",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let a = claim(&stack, &ns, &zone, "satu", false).await?;
    let b = claim(&stack, &ns, &zone, "dua", false).await?;
    let admin = stack.client_as("kavling-restore").await?;
    // an issuer (same Pebble, own account) that allows one new certificate per domain per week
    let pebble = Api::<Issuer>::all(admin.clone()).get("pusat-data").await?;
    let mut spec = pebble.spec.clone();
    spec.limits.certificates_per_registered_domain_per_week = 1;
    let issuer = format!("hemat-{id}");
    Api::<Issuer>::all(admin.clone())
        .create(&PostParams::default(), &Issuer::new(&issuer, spec))
        .await?;
    let certs: Api<Certificate> = Api::namespaced(admin, &ns);
    for (name, n) in [("pertama", &a), ("kedua", &b)] {
        certs
            .create(
                &PostParams::default(),
                &Certificate::new(
                    name,
                    CertificateSpec {
                        dns_names: vec![n.clone()],
                        issuer: issuer.clone(),
                        secret_name: format!("{name}-tls"),
                        key_algorithm: KeyAlgorithm::EcdsaP256,
                    },
                ),
            )
            .await?;
        if name == "pertama" {
            ready_cert(&certs, name).await?;
        }
    }
    let msg = wait_for("the second waits for budget", T, || async {
        let c = certs.get("kedua").await?;
        Ok(c.status
            .as_ref()
            .filter(|s| s.step == OrderStep::WaitingForBudget)
            .and_then(|_| cond(&c, "Ready").map(|x| x.message.clone())))
    })
    .await?;
    assert!(msg.contains(&zone) && msg.contains("wildcard"), "{msg}");
    let st = certs.get("kedua").await?.status.unwrap();
    assert!(st.order.is_none() && st.recent_orders.is_empty());
    Api::<Issuer>::all(stack.client_as("ani").await?)
        .delete(&issuer, &Default::default())
        .await?;
    Ok(())
}
