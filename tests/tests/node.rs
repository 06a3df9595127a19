//! Hosting that hosts: on the local Pusat Data's node (containerd, kubelet, Traefik as the
//! ingress controller, images from the Pusat Data's own registry), an approved hosting request
//! and a subdomain pointing at it end in a site that answers over HTTPS at its official name,
//! resolved by Kavling's DNS, with the certificate Kavling obtained — checked with real `dig`,
//! `curl` and `openssl`, not through the API.

use std::process::Command;
use std::time::Duration;

use kavling::api::*;
use kavling_e2e::{Stack, file_and_approve, letter, wait_for, zone_and_rina_tenant};
use kube::Api;
use kube::api::{Patch, PatchParams};

const T: Duration = Duration::from_secs(120);

fn hosting_request(name: &str, template: &str, spec: Option<&str>) -> Request {
    sized_hosting_request(name, template, spec, ("250m", "256Mi", "1Gi"))
}

/// A hosting request with its plan: (cpu, memory, disk).
fn sized_hosting_request(
    name: &str,
    template: &str,
    spec: Option<&str>,
    (cpu, memory, disk): (&str, &str, &str),
) -> Request {
    Request::new(
        &format!("hosting-{name}"),
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(),
            subdomain: None,
            hosting: Some(HostingRequest {
                name: name.into(),
                application_name: "Situs uji".into(),
                template: template.into(),
                cpu: cpu.into(),
                memory: memory.into(),
                disk: disk.into(),
                specification: spec.map(String::from),
            }),
            storage: None,
        },
    )
}

fn name_for_hosting(zone: &str, label: &str, hosting: &str) -> Request {
    Request::new(
        &format!("name-{label}"),
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(),
            subdomain: Some(SubdomainRequest {
                zone: zone.into(),
                label: label.into(),
                application_name: "Situs uji".into(),
                description: "Situs resmi".into(),
                business_process: "Informasi publik".into(),
                website: false,
                tls: true,
                target: Target {
                    hosting: Some(hosting.into()),
                    ..Default::default()
                },
                wildcard: false,
            }),
            hosting: None,
            storage: None,
        },
    )
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What Kavling's DNS server answers for `name` (real `dig`).
fn resolve(stack: &Stack, name: &str) -> anyhow::Result<String> {
    let (host, port) = stack.get("KAVLING_DNS_ADDR").rsplit_once(':').unwrap();
    Ok(run(Command::new("dig").args([
        "+short",
        "+norec",
        "-p",
        port,
        &format!("@{host}"),
        name,
        "A",
    ]))?
    .trim()
    .to_string())
}

/// GET https://name/ at `addr`:443, trusting only the ACME CA's root: (status, body).
fn https_get(stack: &Stack, name: &str, addr: &str) -> anyhow::Result<(u16, String)> {
    https_get_path(stack, name, addr, "/")
}

/// GET https://name<path> at `addr`:443 (redirects not followed): (status, body).
fn https_get_path(
    stack: &Stack,
    name: &str,
    addr: &str,
    path: &str,
) -> anyhow::Result<(u16, String)> {
    let out = run(Command::new("curl").args([
        "-sS",
        "--max-time",
        "5",
        "--resolve",
        &format!("{name}:443:{addr}"),
        "--cacert",
        stack.get("KAVLING_PEBBLE_ROOT"),
        "-w",
        "\n%{http_code}",
        &format!("https://{name}{path}"),
    ]))?;
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
    Ok((code.trim().parse().unwrap_or(0), body.to_string()))
}

/// The serial (upper-case hex, as openssl prints it) of the certificate served for `name`.
fn served_serial(name: &str, addr: &str) -> anyhow::Result<String> {
    let chain = run(Command::new("sh").args([
        "-c",
        &format!(
            "openssl s_client -connect {addr}:443 -servername {name} </dev/null 2>/dev/null | openssl x509 -noout -serial"
        ),
    ]))?;
    Ok(chain.trim().trim_start_matches("serial=").to_string())
}

fn same_serial(status_serial: &str, served: &str) -> bool {
    let norm = |s: &str| {
        s.replace(':', "")
            .trim_start_matches('0')
            .to_ascii_uppercase()
    };
    norm(status_serial) == norm(served)
}

/// The ingress controller's pods, as `uids/restart counts`: unchanged means not restarted.
fn ingress_pods(stack: &Stack) -> anyhow::Result<String> {
    run(&mut kubectl(
        stack,
        "admin",
        &[
            "get",
            "pods",
            "-n",
            stack.get("KAVLING_INGRESS_NAMESPACE"),
            "-o",
            "jsonpath={.items[*].metadata.uid}/{.items[*].status.containerStatuses[*].restartCount}",
        ],
    ))
}

fn kubectl(stack: &Stack, user: &str, args: &[&str]) -> Command {
    let mut c = Command::new(stack.get("KAVLING_KUBECTL"));
    c.arg("--kubeconfig").arg(stack.kubeconfig(user)).args(args);
    c
}

#[tokio::test]
async fn a_static_hosting_answers_over_https_at_its_name_with_kavlings_certificate_and_suspension_shows_the_notice()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let node_ip = stack.get("KAVLING_NODE_IP").to_string();
    anyhow::ensure!(
        !node_ip.is_empty(),
        "the stack runs without a node (KAVLING_NODE=0)"
    );
    let (tenant, zone, home) = zone_and_rina_tenant(
        &stack,
        "situs",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    for req in [
        hosting_request("web", "static", None),
        name_for_hosting(&zone, "situs", "web"),
    ] {
        let st = file_and_approve(&stack, "rina", &home, req)
            .await?
            .status
            .unwrap();
        assert_eq!(st.phase, RequestPhase::Ready, "{:?}", st.conditions);
    }
    let name = format!("situs.{zone}");
    let hns = format!("{tenant}--web");

    // The name resolves, through Kavling's DNS, to the ingress on the node …
    let addr = wait_for("the name published", T, || async {
        let a = resolve(&stack, &name)?;
        Ok((!a.is_empty()).then_some(a))
    })
    .await?;
    assert_eq!(addr, node_ip, "{name} should point at the node's ingress");

    // … and the site opens over HTTPS with the platform's placeholder (nothing uploaded yet).
    let (code, body) = wait_for("the site answering over HTTPS", T, || async {
        Ok(https_get(&stack, &name, &addr)
            .ok()
            .filter(|(c, _)| *c == 200))
    })
    .await?;
    assert_eq!(code, 200);
    assert!(body.contains("Situs ini belum berisi halaman"), "{body}");

    // Plain HTTP at the name only redirects to HTTPS.
    let redirect = run(Command::new("curl").args([
        "-s",
        "-o",
        "/dev/null",
        "--max-time",
        "5",
        "-w",
        "%{http_code} %{redirect_url}",
        "--resolve",
        &format!("{name}:80:{addr}"),
        &format!("http://{name}/"),
    ]))?;
    assert!(
        redirect.starts_with("30") && redirect.contains(&format!("https://{name}/")),
        "{redirect}"
    );

    // A pod beyond the hosting's quota is refused: 250m CPU is within the per-container
    // maximum, but with the web pod already running the namespace would exceed its 250m.
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(stack.client_as("rina").await?, &hns);
    let big: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "besar"},
        "spec": {"securityContext": {"runAsNonRoot": true, "runAsUser": 101, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": stack.get("KAVLING_IMAGE_REGISTRY").to_string() + "/web:1",
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "250m", "memory": "64Mi"}},
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}
    }))?;
    let err = pods
        .create(&kube::api::PostParams::default(), &big)
        .await
        .expect_err("a pod beyond the quota was admitted");
    let msg = kavling_e2e::api_message(&err);
    assert!(msg.contains("exceeded quota"), "{msg}");

    // The certificate served is the one the Certificate's status names.
    let certs: Api<Certificate> = Api::namespaced(stack.client_as("admin").await?, &hns);
    let cert = certs.get(&name).await?;
    let serial = cert.status.and_then(|s| s.serial).unwrap_or_default();
    let served = served_serial(&name, &addr)?;
    assert!(
        same_serial(&serial, &served),
        "served {served}, status says {serial}"
    );

    // The tenant puts its page in; the site shows it.
    kubectl_with_input(
        &stack,
        "rina",
        &[
            "exec",
            "-i",
            "-n",
            &hns,
            "deploy/web",
            "--",
            "sh",
            "-c",
            "cat > /usr/share/nginx/html/index.html",
        ],
        b"<h1>Selamat datang</h1>\n",
    )
    .map_err(|e| anyhow::anyhow!("kubectl exec as rina failed: {e}"))?;
    let (_, body) = https_get(&stack, &name, &addr)?;
    assert!(body.contains("Selamat datang"), "{body}");

    // Suspension: the notice over HTTPS (same name, same certificate); resume brings the
    // site — and the tenant's page, kept on its volume — back.
    let hostings: Api<Hosting> = Api::namespaced(stack.client_as("ani").await?, &home);
    let pp = PatchParams::default();
    hostings
        .patch(
            "web",
            &pp,
            &Patch::Merge(serde_json::json!({"spec": {"suspend": {"reason": "pemeliharaan uji"}}})),
        )
        .await?;
    wait_for("the suspension notice over HTTPS", T, || async {
        Ok(https_get(&stack, &name, &addr)
            .ok()
            .filter(|(_, b)| b.contains("ditangguhkan") && b.contains("pemeliharaan uji")))
    })
    .await?;
    hostings
        .patch(
            "web",
            &pp,
            &Patch::Merge(serde_json::json!({"spec": {"suspend": null}})),
        )
        .await?;
    wait_for("the site back after resume", T, || async {
        Ok(https_get(&stack, &name, &addr)
            .ok()
            .filter(|(c, b)| *c == 200 && b.contains("Selamat datang")))
    })
    .await?;

    // Renewal (Pebble's certificates last 60 s here): the ingress serves the new
    // certificate without being restarted.
    let traefik_before = ingress_pods(&stack)?;
    let renewed = wait_for(
        "the certificate renewed",
        Duration::from_secs(150),
        || async {
            let c = certs.get(&name).await?;
            Ok(c.status.and_then(|s| s.serial).filter(|s| *s != serial))
        },
    )
    .await?;
    wait_for("the renewed certificate served", T, || async {
        Ok(served_serial(&name, &addr)
            .ok()
            .filter(|s| same_serial(&renewed, s)))
    })
    .await?;
    let traefik_after = ingress_pods(&stack)?;
    assert_eq!(
        traefik_before, traefik_after,
        "the ingress controller was restarted"
    );
    Ok(())
}

#[tokio::test]
async fn an_image_outside_the_pusat_data_registry_is_refused_with_a_clear_message()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (_, _, home) = zone_and_rina_tenant(
        &stack,
        "img",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    for (name, image, why) in [
        (
            "hub",
            "docker.io/library/nginx:1.27",
            "not in the Pusat Data's registry",
        ),
        (
            "latest",
            "registry.pusat-data.local/dinkes/app:latest",
            "not pinned",
        ),
    ] {
        let st = file_and_approve(
            &stack,
            "rina",
            &home,
            hosting_request(name, "container", Some(&format!("image: {image}"))),
        )
        .await?
        .status
        .unwrap();
        // refused at approval: no namespace is made for a pod that could never start
        assert_eq!(
            st.phase,
            RequestPhase::Failed,
            "{image}: {:?}",
            st.conditions
        );
        let msg = st
            .conditions
            .iter()
            .find(|c| c.type_ == "Failed")
            .map(|c| c.message.clone())
            .unwrap_or_default();
        assert!(msg.contains("spec.hosting.specification.image"), "{msg}");
        let hostings: Api<Hosting> = Api::namespaced(stack.client_as("rina").await?, &home);
        assert!(
            hostings.get_opt(name).await?.is_none(),
            "{image}: a Hosting was made"
        );
        assert!(msg.contains(why), "{image}: {msg}");
    }
    Ok(())
}

/// A TCP connection from inside `ns`'s web pod to `ip:port` (bash's /dev/tcp, 3 s): whether
/// it was established.
fn connects_from(stack: &Stack, ns: &str, ip: &str, port: u16) -> anyhow::Result<bool> {
    let out = kubectl(
        stack,
        "admin",
        &[
            "exec",
            "-n",
            ns,
            "deploy/web",
            "--",
            "timeout",
            "3",
            "bash",
            "-c",
            &format!("exec 3<>/dev/tcp/{ip}/{port}"),
        ],
    )
    .output()?;
    Ok(out.status.success())
}

fn pod_ip(stack: &Stack, ns: &str) -> anyhow::Result<String> {
    Ok(run(&mut kubectl(
        stack,
        "admin",
        &[
            "get",
            "pods",
            "-n",
            ns,
            "-l",
            "app.kubernetes.io/name=web",
            "-o",
            "jsonpath={.items[0].status.podIP}",
        ],
    ))?
    .trim()
    .to_string())
}

#[tokio::test]
async fn a_hosting_pod_resolves_its_service_but_cannot_reach_another_hostings_pods()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    anyhow::ensure!(
        !stack.get("KAVLING_NODE_IP").is_empty(),
        "the stack runs without a node"
    );
    let mut namespaces = vec![];
    for prefix in ["neta", "netb"] {
        let (tenant, _, home) = zone_and_rina_tenant(
            &stack,
            prefix,
            TenantType::PerangkatDaerah,
            TenantLimits::default(),
        )
        .await?;
        let st = file_and_approve(
            &stack,
            "rina",
            &home,
            hosting_request("web", "static", None),
        )
        .await?
        .status
        .unwrap();
        assert_eq!(st.phase, RequestPhase::Ready, "{:?}", st.conditions);
        let ns = format!("{tenant}--web");
        run(&mut kubectl(
            &stack,
            "admin",
            &[
                "wait",
                "--for=condition=Available",
                "--timeout=120s",
                "-n",
                &ns,
                "deploy/web",
            ],
        ))?;
        namespaces.push(ns);
    }
    let (a, b) = (&namespaces[0], &namespaces[1]);
    let (ip_a, ip_b) = (pod_ip(&stack, a)?, pod_ip(&stack, b)?);
    // within its own namespace the connection is allowed (through its Service: kube-proxy,
    // the bridge and the policies): the probe itself works …
    let svc_a = run(&mut kubectl(
        &stack,
        "admin",
        &[
            "get",
            "svc",
            "web",
            "-n",
            a,
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
    ))?;
    assert!(
        connects_from(&stack, a, svc_a.trim(), 80)?,
        "A's pod cannot reach its own Service"
    );
    // … and resolves that Service by name through the cluster DNS (CoreDNS in kube-system,
    // which the hosting's DNS egress policy admits)
    let resolved = run(&mut kubectl(
        &stack,
        "admin",
        &[
            "exec",
            "-n",
            a,
            "deploy/web",
            "--",
            "getent",
            "hosts",
            &format!("web.{a}.svc.cluster.local"),
        ],
    ))?;
    assert!(
        resolved.starts_with(svc_a.trim()),
        "web.{a} resolved to {resolved:?}, Service is {svc_a}"
    );
    // … and across tenants it is dropped, both ways, by the hostings' default deny
    assert!(
        !connects_from(&stack, a, &ip_b, 8080)?,
        "A reached B's pod {ip_b}"
    );
    assert!(
        !connects_from(&stack, b, &ip_a, 8080)?,
        "B reached A's pod {ip_a}"
    );
    // (the ingress controller's namespace is admitted: the HTTPS test goes through it)
    Ok(())
}

/// Files a hosting of `template` with `plan` and a name for it, approves both, and waits until
/// the site answers `want` over HTTPS at its name (with Kavling's certificate); returns the
/// name, the hosting namespace and the time from approval to that answer.
async fn site_of(
    stack: &Stack,
    prefix: &str,
    template: &str,
    spec: Option<&str>,
    plan: (&str, &str, &str),
    path: &str,
    want: impl Fn(u16, &str) -> bool,
) -> anyhow::Result<(String, String, Duration)> {
    let (tenant, zone, home) = zone_and_rina_tenant(
        stack,
        prefix,
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let start = std::time::Instant::now();
    for req in [
        sized_hosting_request("app", template, spec, plan),
        name_for_hosting(&zone, "app", "app"),
    ] {
        let st = file_and_approve(stack, "rina", &home, req)
            .await?
            .status
            .unwrap();
        assert_eq!(st.phase, RequestPhase::Ready, "{:?}", st.conditions);
    }
    let name = format!("app.{zone}");
    let hns = format!("{tenant}--app");
    let node_ip = stack.get("KAVLING_NODE_IP").to_string();
    let mut last = (0, String::new());
    let answered = wait_for(
        &format!("{template}: {path} answering over HTTPS"),
        Duration::from_secs(240),
        || {
            let r = https_get_path(stack, &name, &node_ip, path);
            if let Ok(r) = &r {
                last = r.clone();
            }
            let ok = r.ok().filter(|(c, b)| want(*c, b));
            async move { Ok(ok) }
        },
    )
    .await;
    if answered.is_err() {
        let pods = run(&mut kubectl(
            stack,
            "admin",
            &["get", "pods,pvc", "-n", &hns, "-o", "wide"],
        ))
        .unwrap_or_default();
        let events =
            run(&mut kubectl(stack, "admin", &["get", "events", "-n", &hns])).unwrap_or_default();
        anyhow::bail!(
            "{template}: {path} never answered as expected; last answer {} {}\n{pods}\n{events}",
            last.0,
            last.1.chars().take(600).collect::<String>()
        );
    }
    Ok((name, hns, start.elapsed()))
}

/// Every container of every pod in `ns` is Ready and ran as a non-root uid under the
/// namespace's `restricted` Pod Security level (admission would have refused it otherwise).
fn all_pods_ready(stack: &Stack, ns: &str) -> anyhow::Result<()> {
    let out = run(&mut kubectl(
        stack,
        "admin",
        &[
            "get",
            "pods",
            "-n",
            ns,
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[*].ready}{\"\\n\"}{end}",
        ],
    ))?;
    anyhow::ensure!(!out.trim().is_empty(), "no pods in {ns}");
    for line in out.lines() {
        anyhow::ensure!(!line.contains("false"), "not ready in {ns}: {line}");
    }
    let level = run(&mut kubectl(
        stack,
        "admin",
        &[
            "get",
            "ns",
            ns,
            "-o",
            "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}",
        ],
    ))?;
    assert_eq!(level, "restricted");
    Ok(())
}

#[tokio::test]
async fn wordpress_shows_its_install_page_over_https_with_its_database_reachable()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    // WordPress answers its install page only once it has reached its database; without it,
    // "Error establishing a database connection" with status 500.
    let (name, hns, took) = site_of(
        &stack,
        "wp",
        "wordpress",
        None,
        ("1", "1Gi", "4Gi"),
        "/wp-admin/install.php",
        |c, b| c == 200 && b.contains("WordPress") && b.contains("<form id=\"setup\""),
    )
    .await?;
    eprintln!("wordpress: approval → install page over HTTPS in {took:?}");
    all_pods_ready(&stack, &hns)?;
    // the site's root sends a new visitor to the installer, at the official name over HTTPS
    let (code, _) = https_get(&stack, &name, stack.get("KAVLING_NODE_IP"))?;
    assert_eq!(code, 302, "{name}/ before installation");
    // the database password never appears in what the tenant's site serves
    let (code, body) = https_get_path(
        &stack,
        &name,
        stack.get("KAVLING_NODE_IP"),
        "/wp-config.php",
    )?;
    // (PHP runs it: before installation WordPress redirects to the installer, after it the
    // file prints nothing; its source never comes back)
    assert!(code == 302 || code == 200, "{code}");
    assert!(!body.contains("define("), "wp-config.php leaked: {body}");
    Ok(())
}

#[tokio::test]
async fn opensid_is_fetched_from_the_pusat_data_mirror_and_answers_over_https_with_its_database()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (name, hns, took) = site_of(
        &stack,
        "sid",
        "opensid",
        Some("version: v2411.0.0"),
        ("1", "1Gi", "4Gi"),
        "/",
        |c, b| c == 200 && b.contains("Basis data: terhubung"),
    )
    .await?;
    eprintln!("opensid: approval → page over HTTPS in {took:?}");
    all_pods_ready(&stack, &hns)?;
    let (_, body) = https_get(&stack, &name, stack.get("KAVLING_NODE_IP"))?;
    for ext in ["mysqli", "gd", "curl", "mbstring", "xml", "zip", "intl"] {
        assert!(body.contains(ext), "PHP lacks {ext}: {body}");
    }
    assert!(body.contains("PHP 8.4"), "{body}");
    // the code's repository is not served
    let (code, _) = https_get_path(&stack, &name, stack.get("KAVLING_NODE_IP"), "/.git/config")?;
    assert_eq!(code, 403, "/.git/config");
    // the fetch could reach the mirror only: from the same pod, the audit remote (same
    // address, another port) is closed to it
    // (both are git:// URLs by IP address: the operator's own parser reads their ports)
    let port = |key: &str| -> anyhow::Result<u16> {
        Ok(stack
            .get(key)
            .parse::<kavling::hosting::SourceMirror>()
            .map_err(anyhow::Error::msg)?
            .port)
    };
    let (audit_port, mirror_port) = (port("KAVLING_AUDIT_REPO")?, port("KAVLING_SOURCE_MIRROR")?);
    let node_ip = stack.get("KAVLING_NODE_IP").to_string();
    assert!(
        connects_from(&stack, &hns, &node_ip, mirror_port)?,
        "the mirror is closed to its hosting"
    );
    assert!(
        !connects_from(&stack, &hns, &node_ip, audit_port)?,
        "the audit remote is open to a hosting"
    );
    Ok(())
}

#[tokio::test]
async fn the_php_and_container_templates_serve_the_tenants_code_over_https() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    // php: nginx's /healthz is PHP-FPM's own ping, so "pong" over HTTPS means both run
    let (name, hns, took) = site_of(
        &stack,
        "php",
        "php",
        Some("docroot: /public"),
        ("500m", "512Mi", "1Gi"),
        "/healthz",
        |c, b| c == 200 && b.contains("pong"),
    )
    .await?;
    eprintln!("php: approval → PHP-FPM answering over HTTPS in {took:?}");
    all_pods_ready(&stack, &hns)?;
    let put = run(&mut kubectl(
        &stack,
        "rina",
        &[
            "exec",
            "-n",
            &hns,
            "deploy/web",
            "-c",
            "php",
            "--",
            "sh",
            "-c",
            "mkdir -p /var/www/html/public && echo '<?php echo \"Halo dari PHP \" . PHP_VERSION;' > /var/www/html/public/index.php",
        ],
    ));
    put?;
    let (code, body) = https_get(&stack, &name, stack.get("KAVLING_NODE_IP"))?;
    assert_eq!(code, 200, "{body}");
    assert!(body.starts_with("Halo dari PHP 8.4"), "{body}");

    // container: the tenant's own image from the Pusat Data's registry (here the web image)
    let image = format!("{}/{}", stack.get("KAVLING_IMAGE_REGISTRY"), {
        let web = &kavling::hosting::catalog()?["web"];
        format!("{}:{}", web.name, web.tag)
    });
    let (_, hns, took) = site_of(
        &stack,
        "ctr",
        "container",
        Some(&format!("image: {image}\nport: 8080")),
        ("250m", "256Mi", "1Gi"),
        "/",
        // the web image's own nginx page: the container template mounts nothing over it
        |c, b| c == 200 && b.contains("nginx"),
    )
    .await?;
    eprintln!("container: approval → page over HTTPS in {took:?}");
    all_pods_ready(&stack, &hns)?;
    Ok(())
}

/// `kubectl apply -f -` of `doc` as `user`: Ok(stdout) or Err(the API server's message).
fn apply_as(stack: &Stack, user: &str, doc: &serde_json::Value) -> Result<String, String> {
    kubectl_with_input(
        stack,
        user,
        &["apply", "-f", "-"],
        doc.to_string().as_bytes(),
    )
}

/// `kubectl ARGS` as `user` with `input` on its stdin: Ok(stdout) or Err(stderr).
fn kubectl_with_input(
    stack: &Stack,
    user: &str,
    args: &[&str],
    input: &[u8],
) -> Result<String, String> {
    use std::io::Write;
    let mut c = kubectl(stack, user, args);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input)
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn service_traffic_tricks_from_a_hosting_reach_nothing() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let node_ip = stack.get("KAVLING_NODE_IP").to_string();
    // the victim: tenant B's site, with a page of its own
    let placeholder = |c: u16, b: &str| c == 200 && b.contains("belum berisi halaman");
    let (b_name, b_ns, _) = site_of(
        &stack,
        "korban",
        "static",
        None,
        ("250m", "256Mi", "1Gi"),
        "/",
        placeholder,
    )
    .await?;
    run(&mut kubectl(
        &stack,
        "admin",
        &[
            "exec",
            "-n",
            &b_ns,
            "deploy/web",
            "--",
            "sh",
            "-c",
            "echo '<h1>Situs B</h1>' > /usr/share/nginx/html/index.html",
        ],
    ))?;
    let b_pod = pod_ip(&stack, &b_ns)?;
    // the attacker: tenant A (rina) with a hosting of its own
    let (a_name, a_ns, _) = site_of(
        &stack,
        "penyerang",
        "static",
        None,
        ("250m", "256Mi", "1Gi"),
        "/",
        placeholder,
    )
    .await?;
    let svc = |name: &str, spec: serde_json::Value| {
        serde_json::json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": a_ns}, "spec": spec})
    };

    // 1. externalIPs (CVE-2020-8554): claiming the node's address would make kube-proxy send
    //    every connection to it — the ingress's included — to A's pods. Refused for the tenant
    //    by Kavling's hosting policy, and for everyone, break-glass admins too, by
    //    kavling-service-external-ips (only kavling-system/kavling-dns may, on port 53).
    let ext = svc(
        "ambil-ip",
        serde_json::json!({"selector": {"app.kubernetes.io/name": "web"},
            "ports": [{"port": 443, "targetPort": 8080}], "externalIPs": [node_ip]}),
    );
    for user in ["rina", "admin"] {
        let err = apply_as(&stack, user, &ext).expect_err("externalIPs admitted");
        assert!(err.contains("external IPs"), "{user}: {err}");
    }

    // 2. ExternalName to B's Service, and 3. a selectorless Service with a hand-made
    //    EndpointSlice pointing at B's pod (CVE-2021-25740): both refused for the tenant …
    let alias = svc(
        "alias",
        serde_json::json!({"type": "ExternalName",
            "externalName": format!("web.{b_ns}.svc.cluster.local")}),
    );
    let err = apply_as(&stack, "rina", &alias).expect_err("ExternalName admitted");
    assert!(err.contains("spec.type"), "{err}");
    let slice = serde_json::json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "tangan", "namespace": a_ns,
            "labels": {"kubernetes.io/service-name": "tangan"}},
        "addressType": "IPv4", "endpoints": [{"addresses": [b_pod]}],
        "ports": [{"port": 8080, "protocol": "TCP"}]});
    let err = apply_as(&stack, "rina", &slice).expect_err("EndpointSlice admitted");
    assert!(
        err.contains("Forbidden") || err.contains("forbidden"),
        "{err}"
    );
    // … and should a Service of type ExternalName exist anyway (made by an admin), the
    // ingress still does not follow it to another namespace: Traefik leaves it unserved.
    apply_as(&stack, "admin", &alias).map_err(anyhow::Error::msg)?;
    let trick_host = format!("trik.{}", a_name);
    let ingress = serde_json::json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "trik", "namespace": a_ns},
        "spec": {"ingressClassName": stack.get("KAVLING_INGRESS_CLASS"),
            "rules": [{"host": trick_host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "alias", "port": {"number": 80}}}}]}}]}});
    apply_as(&stack, "admin", &ingress).map_err(anyhow::Error::msg)?;
    // give the ingress time to see it (it reloads within a second or two)
    tokio::time::sleep(Duration::from_secs(5)).await;
    let out = run(Command::new("curl").args([
        "-sk",
        "--max-time",
        "5",
        "-w",
        "\n%{http_code}",
        "--resolve",
        &format!("{trick_host}:443:{node_ip}"),
        &format!("https://{trick_host}/"),
    ]))?;
    assert!(
        !out.contains("Situs B"),
        "the ingress followed ExternalName: {out}"
    );
    assert!(out.ends_with("404"), "{out}");
    run(&mut kubectl(
        &stack,
        "admin",
        &["delete", "ingress", "-n", &a_ns, "trik"],
    ))?;
    run(&mut kubectl(
        &stack,
        "admin",
        &["delete", "svc", "-n", &a_ns, "alias"],
    ))?;

    // Nothing moved: each name still serves its own site.
    let (_, body) = https_get(&stack, &b_name, &node_ip)?;
    assert!(body.contains("Situs B"), "{body}");
    let (code, body) = https_get(&stack, &a_name, &node_ip)?;
    assert!(code == 200 && !body.contains("Situs B"), "{code} {body}");
    // and A's pod still cannot open B's pod directly
    assert!(!connects_from(&stack, &a_ns, &b_pod, 8080)?);
    Ok(())
}

/// Issue #22, wildcards on the node: a hosting named by a wildcard subdomain opens over HTTPS
/// at any name below it — resolved by Kavling's DNS, routed by the Ingress's `*.` rule, under
/// the one certificate Kavling obtained for the name and its wildcard (DNS-01 for both).
#[tokio::test]
async fn a_wildcard_name_serves_every_name_below_it_over_https_with_one_certificate()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let node_ip = stack.get("KAVLING_NODE_IP").to_string();
    anyhow::ensure!(!node_ip.is_empty(), "the stack runs without a node");
    let (_, zone, home) = zone_and_rina_tenant(
        &stack,
        "pasar",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    Api::<kavling::api::Zone>::all(stack.client_as("admin").await?)
        .patch(
            &zone,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                serde_json::json!({"spec": {"policy": {"allowWildcards": true}}}),
            ),
        )
        .await?;
    let mut name_req = name_for_hosting(&zone, "pasar", "web");
    if let Some(s) = name_req.spec.subdomain.as_mut() {
        s.wildcard = true;
    }
    for req in [hosting_request("web", "static", None), name_req] {
        let st = file_and_approve(&stack, "rina", &home, req)
            .await?
            .status
            .unwrap();
        assert_eq!(st.phase, RequestPhase::Ready, "{:?}", st.conditions);
    }
    let below = format!("kios-7.pasar.{zone}");
    let addr = wait_for("a name below answered by the wildcard", T, || async {
        let a = resolve(&stack, &below)?;
        Ok((!a.is_empty()).then_some(a))
    })
    .await?;
    assert_eq!(addr, node_ip);
    // curl checks the certificate against the name below: only `*.pasar.<zone>` covers it
    for name in [below.clone(), format!("pasar.{zone}")] {
        let (code, body) = wait_for(&format!("{name} over HTTPS"), T, || async {
            Ok(https_get(&stack, &name, &addr)
                .ok()
                .filter(|(c, _)| *c == 200))
        })
        .await?;
        assert!(
            body.contains("Situs ini belum berisi halaman"),
            "{name}: {code} {body}"
        );
    }
    Ok(())
}
