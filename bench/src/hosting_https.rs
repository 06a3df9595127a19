//! Approve → the site answering 200 over HTTPS at its official name with its own certificate,
//! on the local Pusat Data's node, per template, next to a peer in the same run: the very
//! objects the template renders (with an Ingress for the name, a ready-made TLS Secret and,
//! for the database templates, the `db` Secret) applied directly with server-side apply —
//! what any hand-made namespace would take.
//!
//! Kavling's figure includes everything a person waits for: the hosting planned and
//! rendered, the ACME order (DNS-01 through Kavling's own zone at Pebble), the TLS Secret
//! written, the pod pulled and started, the ingress picking up the route and the certificate.
//! The peer skips the approval, the planning and the certificate (it brings its own).
//!
//! "Answering" is what a person would call the site up, per template: static and container
//! `/` (the placeholder page), php `/healthz` (nginx asking PHP-FPM), wordpress
//! `/wp-admin/install.php` (only once its database answers), opensid `/` (the page reads its
//! database).
//!
//! Usage: hosting-https [N=10] [TEMPLATE...]   (default every template; one hosting at a
//! time; `dev/bench.sh hosting-https`)

use std::process::Command;
use std::time::{Duration, Instant};

use kavling::api::*;
use kavling::hosting::{Images, RenderInput, Templates};
use kavling_e2e::Stack;
use kube::Api;
use kube::api::{DeleteParams, PostParams};

const T: Duration = Duration::from_secs(180);

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn letter(n: &str) -> Letter {
    Letter {
        number: format!("B/{n}"),
        date: "2026-11-01".into(),
        subject: None,
        signer: Signer {
            name: "A".into(),
            position: "B".into(),
            identity: Identity {
                nip: Some("197805122005012003".into()),
                nik: None,
            },
        },
    }
}

/// Per template: the plan (cpu, memory, disk), the specification, and the path that answers 200
/// once the app is up.
fn plan(
    t: AppTemplate,
    web_image: &str,
) -> (
    (&'static str, &'static str, &'static str),
    String,
    &'static str,
) {
    match t {
        AppTemplate::Static => (("100m", "64Mi", "100Mi"), String::new(), "/"),
        AppTemplate::Php => (("250m", "256Mi", "200Mi"), String::new(), "/healthz"),
        AppTemplate::Container => (
            ("100m", "64Mi", "100Mi"),
            format!("image: {web_image}\nport: 8080"),
            "/",
        ),
        AppTemplate::Wordpress => (
            ("500m", "768Mi", "1Gi"),
            "databaseSize: 512Mi".into(),
            "/wp-admin/install.php",
        ),
        AppTemplate::Opensid => (
            ("500m", "768Mi", "1Gi"),
            "databaseSize: 512Mi\nversion: v2411.0.0".into(),
            "/",
        ),
    }
}

fn hosting_request(name: &str, t: AppTemplate, web_image: &str) -> Request {
    let ((cpu, memory, disk), spec, _) = plan(t, web_image);
    Request::new(
        &format!("hosting-{name}"),
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(name),
            subdomain: None,
            hosting: Some(HostingRequest {
                name: name.into(),
                application_name: "bench".into(),
                template: t.as_str().into(),
                cpu: cpu.into(),
                memory: memory.into(),
                disk: disk.into(),
                specification: (!spec.is_empty()).then_some(spec),
            }),
            storage: None,
        },
    )
}

fn name_request(zone: &str, name: &str) -> Request {
    Request::new(
        &format!("name-{name}"),
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(name),
            subdomain: Some(SubdomainRequest {
                zone: zone.into(),
                label: name.into(),
                application_name: "bench".into(),
                description: "bench".into(),
                business_process: "bench".into(),
                website: false,
                tls: true,
                target: Target {
                    hosting: Some(name.into()),
                    ..Default::default()
                },
                wildcard: false,
            }),
            hosting: None,
            storage: None,
        },
    )
}

/// `curl` GET https://name<path> at the node's ingress: 200 or not. `ca` = the CA to trust
/// (`None`: the peer's self-signed certificate, not verified).
fn https_ok(name: &str, path: &str, addr: &str, ca: Option<&str>) -> bool {
    let mut c = Command::new("curl");
    c.args([
        "-s",
        "-o",
        "/dev/null",
        "--max-time",
        "2",
        "-w",
        "%{http_code}",
    ])
    .args(["--resolve", &format!("{name}:443:{addr}")]);
    match ca {
        Some(ca) => c.args(["--cacert", ca]),
        None => c.arg("-k"),
    };
    c.arg(format!("https://{name}{path}"))
        .output()
        .is_ok_and(|o| o.stdout == b"200")
}

async fn until_https(name: &str, path: &str, addr: &str, ca: Option<&str>) -> anyhow::Result<()> {
    let start = Instant::now();
    while !https_ok(name, path, addr, ca) {
        anyhow::ensure!(start.elapsed() < T, "{name} never answered 200 over HTTPS");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn approve(stack: &Stack, ns: &str, req: &Request) -> anyhow::Result<()> {
    let filed = Api::<Request>::namespaced(stack.client_as("rina").await?, ns)
        .create(&PostParams::default(), req)
        .await?;
    Api::<Approval>::namespaced(stack.client_as("ani").await?, ns)
        .create(
            &PostParams::default(),
            &Approval::deciding(&filed, Decision::Approve, "ani", ""),
        )
        .await?;
    Ok(())
}

/// A self-signed certificate for `name` (openssl), as a TLS Secret object.
fn tls_secret(name: &str, ns: &str) -> anyhow::Result<serde_json::Value> {
    let dir = std::env::temp_dir().join(kavling_e2e::unique("peer-cert"));
    std::fs::create_dir_all(&dir)?;
    let (key, crt) = (dir.join("k.pem"), dir.join("c.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "1", "-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName=DNS:{name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()?
        .status
        .success();
    anyhow::ensure!(ok, "openssl could not make the peer's certificate");
    use k8s_openapi::ByteString;
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("{name}-tls")),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(
            [
                ("tls.crt".to_string(), ByteString(std::fs::read(&crt)?)),
                ("tls.key".to_string(), ByteString(std::fs::read(&key)?)),
            ]
            .into(),
        ),
        ..Default::default()
    };
    let mut v = serde_json::to_value(&secret)?;
    v["apiVersion"] = "v1".into();
    v["kind"] = "Secret".into();
    std::fs::remove_dir_all(&dir)?;
    Ok(v)
}

/// The `db` Secret Kavling generates for the database templates, for the peer.
fn db_secret(ns: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": ns},
        "stringData": {"password": "peerpassword0123", "root-password": "peerrootpassword0123"}})
}

struct Figures {
    template: AppTemplate,
    kavling: Vec<Duration>,
    peer: Vec<Duration>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let templates: Vec<AppTemplate> = {
        let given: Vec<String> = args.collect();
        if given.is_empty() {
            AppTemplate::ALL.to_vec()
        } else {
            given
                .iter()
                .map(|g| {
                    AppTemplate::ALL
                        .iter()
                        .copied()
                        .find(|t| t.as_str() == g)
                        .ok_or_else(|| anyhow::anyhow!("no template '{g}'"))
                })
                .collect::<anyhow::Result<_>>()?
        }
    };
    let stack = Stack::load()?;
    let node = stack.get("KAVLING_NODE_IP").to_string();
    anyhow::ensure!(
        !node.is_empty(),
        "hosting-https needs the stack's node (KAVLING_NODE=1)"
    );
    let mut all = vec![];
    for t in templates {
        all.push(one_template(&stack, t, n).await?);
    }
    println!(
        "approve → 200 over HTTPS at the official name, {n} hostings per template one at a time, local node"
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>11} {:>11}",
        "template", "peer p50", "peer p95", "kav p50", "kav p95", "ratio p50", "ratio p95"
    );
    for mut f in all {
        let (kp50, kp95, pp50, pp95) = (
            pct(&mut f.kavling, 0.5),
            pct(&mut f.kavling, 0.95),
            pct(&mut f.peer, 0.5),
            pct(&mut f.peer, 0.95),
        );
        println!(
            "{:<10} {:>10} {:>10} {:>10} {:>10} {:>11.2} {:>11.2}",
            f.template.as_str(),
            secs(pp50),
            secs(pp95),
            secs(kp50),
            secs(kp95),
            kp50.as_secs_f64() / pp50.as_secs_f64(),
            kp95.as_secs_f64() / pp95.as_secs_f64()
        );
    }
    println!(
        "peer: the rendered objects + a ready-made certificate (and db Secret), applied directly; kavling: approve hosting + name, ACME order included"
    );
    Ok(())
}

async fn one_template(stack: &Stack, template: AppTemplate, n: usize) -> anyhow::Result<Figures> {
    let node = stack.get("KAVLING_NODE_IP").to_string();
    let ca = stack.get("KAVLING_PEBBLE_ROOT").to_string();
    let limits = TenantLimits {
        subdomains: 2 * n as u32 + 10,
        websites: 5,
        buckets: 1,
        bucket_bytes: "1Gi".into(),
        hosting_cpu: "100".into(),
        hosting_memory: "100Gi".into(),
        hosting_disk: "100Gi".into(),
    };
    let (tenant, zone, home) = kavling_e2e::zone_and_rina_tenant(
        stack,
        &format!("b{}", &template.as_str()[..3]),
        TenantType::Kabupaten,
        limits,
    )
    .await?;
    let images = Images::under(stack.get("KAVLING_IMAGE_REGISTRY"))?;
    let web_image = format!("{}/{}", stack.get("KAVLING_IMAGE_REGISTRY"), {
        let w = &kavling::hosting::catalog()?["web"];
        format!("{}:{}", w.name, w.tag)
    });
    let ((cpu, memory, disk), spec, path) = plan(template, &web_image);
    let source_mirror = match stack.get("KAVLING_SOURCE_MIRROR") {
        "" => None,
        m => Some(m.parse().map_err(anyhow::Error::msg)?),
    };

    // peer: the rendered objects, a ready-made certificate, applied directly
    let t = Templates::load()?;
    let params = t
        .resolve(
            template,
            &kavling::plan::hosting::parameters_from_specification(Some(&spec)),
            "p",
        )
        .map_err(|v| anyhow::anyhow!("{v:?}"))?;
    let admin_ns: Api<k8s_openapi::api::core::v1::Namespace> =
        Api::all(stack.client_as("admin").await?);
    let mut peer = Vec::with_capacity(n);
    for i in 0..n {
        let ns = format!("{tenant}-peer{i}");
        let name = format!("peer{i}.{zone}");
        let mut objs = t
            .render(&RenderInput {
                tenant: tenant.clone(),
                hosting: format!("peer{i}"),
                namespace: ns.clone(),
                template,
                params: params.clone(),
                resources: HostingResources {
                    cpu: cpu.into(),
                    memory: memory.into(),
                    disk: disk.into(),
                    pods: 10,
                },
                domains: vec![name.clone()],
                wildcard_domains: vec![],
                groups: vec!["kavling:tenant:dinkes".into()],
                suspended: false,
                suspend_reason: String::new(),
                ingress_namespace: stack.get("KAVLING_INGRESS_NAMESPACE").into(),
                ingress_class: stack.get("KAVLING_INGRESS_CLASS").into(),
                images: images.clone(),
                source_mirror: source_mirror.clone(),
            })
            .map_err(anyhow::Error::msg)?;
        objs.insert(1, tls_secret(&name, &ns)?);
        if matches!(template, AppTemplate::Wordpress | AppTemplate::Opensid) {
            objs.insert(2, db_secret(&ns));
        }
        let start = Instant::now();
        kavling_e2e::apply_rendered(stack, &ns, &objs).await?;
        until_https(&name, path, &node, None).await?;
        peer.push(start.elapsed());
        eprintln!("{} peer {i}: {}", template.as_str(), secs(peer[i]));
    }

    // The peer's namespaces go before Kavling's half starts, so each half has the node to
    // itself (2 cores hold about 18 database templates' CPU requests at this plan).
    for i in 0..n {
        admin_ns
            .delete(&format!("{tenant}-peer{i}"), &DeleteParams::default())
            .await?;
    }
    let gone = Instant::now();
    for i in 0..n {
        while admin_ns
            .get_opt(&format!("{tenant}-peer{i}"))
            .await?
            .is_some()
        {
            anyhow::ensure!(gone.elapsed() < T, "the peer's namespaces were not deleted");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let mut kav = Vec::with_capacity(n);
    for i in 0..n {
        let h = format!("k{i}");
        let name = format!("{h}.{zone}");
        let start = Instant::now();
        approve(stack, &home, &hosting_request(&h, template, &web_image)).await?;
        approve(stack, &home, &name_request(&zone, &h)).await?;
        until_https(&name, path, &node, Some(&ca)).await?;
        kav.push(start.elapsed());
        eprintln!("{} kavling {i}: {}", template.as_str(), secs(kav[i]));
    }
    // Kavling's hostings are scaled to zero (their namespaces stay: deleting a Hosting keeps
    // its data), so the next template's pods have the node to themselves.
    for i in 0..n {
        let _ = std::process::Command::new(stack.get("KAVLING_KUBECTL"))
            .arg("--kubeconfig")
            .arg(stack.kubeconfig("admin"))
            .args(["scale", "deploy,statefulset", "--all", "--replicas=0", "-n"])
            .arg(format!("{tenant}--k{i}"))
            .output();
    }
    Ok(Figures {
        template,
        kavling: kav,
        peer,
    })
}
