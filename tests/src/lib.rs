//! Helpers for the end-to-end tests: the local Pusat Data's addresses, a kube client per user,
//! bounded waits. `dev/test.sh` starts the stack and the operator, then runs these tests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use kube::runtime::WatchStreamExt;

use anyhow::{Context as _, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

pub mod chaos;
pub mod validator;

/// The local Pusat Data, as described by `<stack dir>/stack.env`.
pub struct Stack {
    pub env: HashMap<String, String>,
}

impl Stack {
    /// Reads the stack's environment; fails with instructions when the stack is not running.
    pub fn load() -> anyhow::Result<Self> {
        let dir = std::env::var("KAVLING_STACK_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.stack"));
        let path = dir.join("stack.env");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{} not found: start the local Pusat Data with dev/stack.sh start (dev/test.sh does it for you)", path.display()))?;
        let env = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(Self { env })
    }

    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{key} missing from stack.env"))
    }

    /// A client authenticated as one of the stack's users (admin, ani, rina, joko, …).
    pub async fn client_as(&self, user: &str) -> anyhow::Result<Client> {
        let path = PathBuf::from(self.get("KAVLING_KUBECONFIG_DIR")).join(format!("{user}.yaml"));
        let kc = Kubeconfig::read_from(&path)
            .with_context(|| format!("no kubeconfig for user {user}"))?;
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }

    /// The stack CA's PEM (API server, Pebble's listener).
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.get("KAVLING_CA")).expect("stack CA")
    }

    /// Path to the kubeconfig of a user, for running the CLI.
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        PathBuf::from(self.get("KAVLING_KUBECONFIG_DIR")).join(format!("{user}.yaml"))
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or fails after `timeout` saying what was
/// awaited.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let start = Instant::now();
    let mut last_err = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if start.elapsed() > timeout {
            bail!(
                "timed out after {timeout:?} waiting for {what}{}",
                last_err
                    .map(|e| format!(" (last error: {e:#})"))
                    .unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Zone spec for tests and benchmarks: SOA and one nameserver derived from the zone name,
/// TTL 300, default naming policy, no transfers.
pub fn zone_spec(zone: &str) -> kavling::api::ZoneSpec {
    use kavling::api::{NamingPolicy, Soa, Transfer, ZoneSpec};
    ZoneSpec {
        soa: Soa {
            primary: format!("ns1.{zone}"),
            hostmaster: format!("h@{zone}"),
            refresh: 3600,
            retry: 600,
            expire: 1209600,
            negative_ttl: 300,
        },
        nameservers: vec![format!("ns1.{zone}")],
        default_ttl: 300,
        transfer: Transfer::default(),
        policy: NamingPolicy::default(),
        tenants: vec![],
        dnssec: Default::default(),
    }
}

/// A name no other test run uses: a random per-process base plus a counter, so two
/// tests of one binary never get the same name (the clock alone collided in CI when
/// two threads read the same nanosecond).
pub fn unique(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    static BASE: OnceLock<u32> = OnceLock::new();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let base = *BASE.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        h.write_u32(std::process::id());
        h.finish() as u32
    });
    let n = base.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{prefix}-{n:08x}")
}

/// The path of a workspace binary built by `cargo build` (the e2e crate cannot use
/// CARGO_BIN_EXE of another package).
pub fn workspace_bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("KAVLING_BIN_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug").join(name)
}

/// The status code of an API error, if it is one.
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// The message of an API error (empty for other errors).
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            let causes = s
                .details
                .as_ref()
                .map(|d| {
                    d.causes
                        .iter()
                        .map(|c| format!("{}: {}", c.field, c.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            format!("{} {causes}", s.message)
        }
        other => other.to_string(),
    }
}

/// The peer every Kavling latency benchmark is compared against, measured in the same run:
/// create a ConfigMap and time until a watch delivers it. No controller fed by watches can
/// beat the API server's own floor.
pub async fn api_watch_floor(stack: &Stack, n: usize) -> anyhow::Result<Vec<Duration>> {
    let admin = stack.client_as("admin").await?;
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(admin, "default");
    let prefix = unique("floor");
    let seen: std::sync::Arc<std::sync::Mutex<HashMap<String, Instant>>> = Default::default();
    let s = seen.clone();
    let w = api.clone();
    tokio::spawn(async move {
        let stream =
            kube::runtime::watcher(w, kube::runtime::watcher::Config::default()).applied_objects();
        futures::pin_mut!(stream);
        while let Ok(Some(cm)) = stream.try_next().await {
            s.lock()
                .unwrap()
                .entry(kube::ResourceExt::name_any(&cm))
                .or_insert_with(Instant::now);
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut out = Vec::new();
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        let t = Instant::now();
        api.create(
            &kube::api::PostParams::default(),
            &k8s_openapi::api::core::v1::ConfigMap {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.clone()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await?;
        let seen_at = wait_for("watch event", Duration::from_secs(10), || async {
            Ok(seen.lock().unwrap().get(&name).copied())
        })
        .await?;
        out.push(seen_at - t);
    }
    Ok(out)
}

/// A fresh zone `<id>.go.id` and a tenant `<id>` of `type_` whose group is rina's
/// (`kavling:tenant:dinkes`); waits until rina may file requests in the tenant's home
/// namespace. Returns `(id, zone, namespace)`.
pub async fn zone_and_rina_tenant(
    stack: &Stack,
    prefix: &str,
    type_: kavling::api::TenantType,
    limits: kavling::api::TenantLimits,
) -> anyhow::Result<(String, String, String)> {
    use kavling::api::{Request, Tenant, TenantSpec, Zone, home_namespace};
    use kube::api::PostParams;
    let admin = stack.client_as("admin").await?;
    let id = unique(prefix);
    let zone = format!("{id}.go.id");
    kube::Api::<Zone>::all(admin.clone())
        .create(&PostParams::default(), &Zone::new(&zone, zone_spec(&zone)))
        .await?;
    let code = if type_.is_region() {
        "13.06"
    } else {
        "1.02.77"
    };
    let spec = TenantSpec {
        display_name: id.clone(),
        type_,
        code: code.into(),
        parent: None,
        contacts: vec![],
        groups: vec!["kavling:tenant:dinkes".into()],
        limits,
        suspend: None,
    };
    kube::Api::<Tenant>::all(admin)
        .create(&PostParams::default(), &Tenant::new(&id, spec))
        .await?;
    let ns = home_namespace(&id);
    let rina: kube::Api<Request> = kube::Api::namespaced(stack.client_as("rina").await?, &ns);
    wait_for("tenant RBAC", Duration::from_secs(60), || async {
        Ok(rina.list(&Default::default()).await.ok().map(|_| ()))
    })
    .await?;
    Ok((id, zone, ns))
}

/// Runs `dev/stack.sh ARGS…` against this stack (e.g. `["operator", "kill"]`) and fails the
/// test with the script's message when it fails.
pub fn stack_script(stack: &Stack, args: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dev/stack.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .env("KAVLING_STACK_DIR", stack.get("KAVLING_STACK_DIR"))
        .env("KAVLING_PORT_BASE", stack.get("KAVLING_PORT_BASE"))
        .output()
        .expect("run dev/stack.sh");
    assert!(
        out.status.success(),
        "dev/stack.sh {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A valid request letter for tests.
pub fn letter() -> kavling::api::Letter {
    use kavling::api::{Identity, Letter, Signer};
    Letter {
        number: "045/900/E2E/2026".into(),
        date: "2026-11-02".into(),
        subject: None,
        signer: Signer {
            name: "dr. Linda".into(),
            position: "Kepala Dinas".into(),
            identity: Identity {
                nip: Some("197805122005012003".into()),
                nik: None,
            },
        },
    }
}

/// An S3 client made from a Bucket's credentials Secret — what a tenant's app would do.
pub struct S3Client {
    pub bucket: rusty_s3::Bucket,
    pub creds: rusty_s3::Credentials,
    pub access_key_id: String,
    http: reqwest::Client,
}

impl S3Client {
    /// From the Secret's `endpoint`, `region`, `bucket`, `accessKeyId`, `secretAccessKey`.
    pub fn from_secret(secret: &k8s_openapi::api::core::v1::Secret) -> anyhow::Result<Self> {
        let data = secret.data.as_ref().context("secret has no data")?;
        let get = |k: &str| -> anyhow::Result<String> {
            Ok(String::from_utf8(
                data.get(k)
                    .with_context(|| format!("secret has no {k}"))?
                    .0
                    .clone(),
            )?)
        };
        Self::new(
            &get("endpoint")?,
            &get("region")?,
            &get("bucket")?,
            &get("accessKeyId")?,
            &get("secretAccessKey")?,
        )
    }

    pub fn new(
        endpoint: &str,
        region: &str,
        bucket: &str,
        key_id: &str,
        secret: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            bucket: rusty_s3::Bucket::new(
                endpoint.parse()?,
                rusty_s3::UrlStyle::Path,
                bucket.to_string(),
                region.to_string(),
            )?,
            creds: rusty_s3::Credentials::new(key_id.to_string(), secret.to_string()),
            access_key_id: key_id.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    /// PUT an object; the HTTP status.
    pub async fn put(&self, key: &str, body: Vec<u8>) -> anyhow::Result<u16> {
        use rusty_s3::S3Action as _;
        let url = self
            .bucket
            .put_object(Some(&self.creds), key)
            .sign(Duration::from_secs(60));
        Ok(self
            .http
            .put(url)
            .body(body)
            .send()
            .await?
            .status()
            .as_u16())
    }

    /// GET an object; the HTTP status and body.
    pub async fn get(&self, key: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        use rusty_s3::S3Action as _;
        let url = self
            .bucket
            .get_object(Some(&self.creds), key)
            .sign(Duration::from_secs(60));
        let r = self.http.get(url).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.bytes().await?.to_vec()))
    }
}

/// A Garage admin API listing (`ListKeys`, `ListBuckets`…) as its root admin token sees it.
pub async fn garage_admin_get(stack: &Stack, call: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let token = std::fs::read_to_string(stack.get("KAVLING_GARAGE_ADMIN_TOKEN_FILE"))?;
    Ok(reqwest::Client::new()
        .get(format!("{}/v2/{call}", stack.get("KAVLING_GARAGE_ADMIN")))
        .bearer_auth(token.trim())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Garage's keys (id, name) as its root admin token sees them.
pub async fn garage_keys(stack: &Stack) -> anyhow::Result<Vec<(String, String)>> {
    Ok(garage_admin_get(stack, "ListKeys")
        .await?
        .iter()
        .map(|k| {
            (
                k["id"].as_str().unwrap_or_default().to_string(),
                k["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// Whether Garage has a bucket with this global alias (root admin token).
pub async fn garage_bucket_exists(stack: &Stack, alias: &str) -> anyhow::Result<bool> {
    let token = std::fs::read_to_string(stack.get("KAVLING_GARAGE_ADMIN_TOKEN_FILE"))?;
    let r = reqwest::Client::new()
        .get(format!(
            "{}/v2/GetBucketInfo",
            stack.get("KAVLING_GARAGE_ADMIN")
        ))
        .query(&[("globalAlias", alias)])
        .bearer_auth(token.trim())
        .send()
        .await?;
    match r.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        s => bail!("GetBucketInfo {alias}: {s}"),
    }
}

/// `user` files `req` in `ns`, ani (the Dinas) approves it, and this waits (60 s) until the
/// request is decided: Ready or Failed.
pub async fn file_and_approve(
    stack: &Stack,
    user: &str,
    ns: &str,
    req: kavling::api::Request,
) -> anyhow::Result<kavling::api::Request> {
    use kavling::api::{Approval, Decision, Request, RequestPhase};
    use kube::api::PostParams;
    let name = kube::ResourceExt::name_any(&req);
    let filed = kube::Api::<Request>::namespaced(stack.client_as(user).await?, ns)
        .create(&PostParams::default(), &req)
        .await?;
    let approval = Approval::deciding(&filed, Decision::Approve, "ani", "");
    kube::Api::<Approval>::namespaced(stack.client_as("ani").await?, ns)
        .create(&PostParams::default(), &approval)
        .await?;
    let admin: kube::Api<Request> = kube::Api::namespaced(stack.client_as("admin").await?, ns);
    wait_for(
        &format!("request {name} to be decided"),
        Duration::from_secs(60),
        || async {
            let r = admin.get(&name).await?;
            Ok(r.status
                .as_ref()
                .is_some_and(|s| matches!(s.phase, RequestPhase::Ready | RequestPhase::Failed))
                .then_some(r))
        },
    )
    .await
}

/// One commit of the audit repository, read with the real `git`.
#[derive(Debug, Clone)]
pub struct GitCommit {
    pub id: String,
    pub summary: String,
    /// Trailers (`Key: value`) of the message.
    pub trailers: HashMap<String, String>,
}

/// Runs real `git` with `args` and returns stdout; fails with its stderr.
pub fn git(args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("git").args(args).output()?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The history of the audit repository at `git_dir` (bare), oldest first.
pub fn audit_history(git_dir: &str) -> anyhow::Result<Vec<GitCommit>> {
    if git(&["--git-dir", git_dir, "rev-parse", "--verify", "-q", "main"]).is_err() {
        return Ok(Vec::new());
    }
    let text = git(&[
        "--git-dir",
        git_dir,
        "log",
        "--reverse",
        "--format=%H%x1f%B%x1e",
        "main",
    ])?;
    Ok(text
        .split('\x1e')
        .filter(|c| !c.trim().is_empty())
        .filter_map(|c| {
            let (id, body) = c.trim_start().split_once('\x1f')?;
            let summary = body.lines().next().unwrap_or_default().to_string();
            let trailers = body
                .lines()
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Some(GitCommit {
                id: id.to_string(),
                summary,
                trailers,
            })
        })
        .collect())
}

/// The operator's local audit repository of this stack.
pub fn audit_local(stack: &Stack) -> String {
    stack.get("KAVLING_AUDIT_LOCAL").to_string()
}

/// Waits until the audit history holds a commit matching `pred`; returns the history.
pub async fn wait_for_commit(
    stack: &Stack,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&GitCommit) -> bool,
) -> anyhow::Result<Vec<GitCommit>> {
    let dir = audit_local(stack);
    wait_for(what, timeout, || {
        let h = audit_history(&dir);
        let found = h.as_ref().map(|h| h.iter().any(&pred)).unwrap_or(false);
        async move { Ok(if found { Some(h?) } else { None }) }
    })
    .await
}

/// Runs the `kavling` CLI as `user` (None: no kubeconfig) and returns (exit code, stdout,
/// stderr).
pub fn kavling_cli(stack: &Stack, user: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(workspace_bin("kavling"));
    if let Some(u) = user {
        cmd.arg("--kubeconfig").arg(stack.kubeconfig(u));
    }
    let out = cmd
        .args(args)
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("run kavling");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Applies rendered hosting objects (JSON, as `hosting::Templates::render` gives them) with
/// server-side apply as `admin`, in order: what a hand-made namespace takes, for the peers of
/// the hosting benchmarks.
pub async fn apply_rendered(
    stack: &Stack,
    ns: &str,
    objs: &[serde_json::Value],
) -> anyhow::Result<()> {
    use kube::api::{DynamicObject, Patch, PatchParams};
    use kube::core::{ApiResource, GroupVersionKind};
    let admin = stack.client_as("admin").await?;
    let pp = PatchParams::apply("bench").force();
    for o in objs {
        let kind = o["kind"].as_str().unwrap_or_default();
        let api_version = o["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let plural = format!("{}s", kind.to_lowercase())
            .replace("policys", "policies")
            .replace("ingresss", "ingresses");
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, kind),
            &plural,
        );
        let name = o["metadata"]["name"].as_str().unwrap_or_default();
        let api: kube::Api<DynamicObject> = if kind == "Namespace" {
            kube::Api::all_with(admin.clone(), &ar)
        } else {
            kube::Api::namespaced_with(admin.clone(), ns, &ar)
        };
        api.patch(name, &pp, &Patch::Apply(o)).await?;
    }
    Ok(())
}

/// Creates a Zone and waits until a leader has reconciled it (its Ready condition is True);
/// returns its name and how long that took (the failover and install tests time takeovers
/// with it).
pub async fn reconciled_zone(
    zones: &kube::Api<kavling::api::Zone>,
    prefix: &str,
    timeout: Duration,
) -> anyhow::Result<(String, Duration)> {
    use kube::api::PostParams;
    let name = format!("{}.go.id", unique(prefix));
    let t0 = std::time::Instant::now();
    zones
        .create(
            &PostParams::default(),
            &kavling::api::Zone::new(&name, zone_spec(&name)),
        )
        .await?;
    wait_for(&format!("zone {name} reconciled"), timeout, || async {
        let z = zones.get(&name).await?;
        Ok(z.status
            .is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
            .then_some(()))
    })
    .await?;
    Ok((name, t0.elapsed()))
}
