//! One controller per kind. Each reconcile is a pipeline of named steps — read, validate,
//! build, apply, report — where only the first and the last two talk to the API server.

pub mod bucket;
pub mod certificate;
pub mod dnsrecord;
pub mod harness;
pub mod hosting;
pub mod issuer;
pub mod record_index;
pub mod request;
pub mod shared;
pub mod subdomain;
pub mod tenant;
pub mod website;
pub mod zone;
pub mod zone_key;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;

pub use kavling_core::outputs::{
    MANAGER, REQUEST_ANNOTATION, REQUEST_UID_ANNOTATION, label_value, made_for,
    request_annotations, request_key,
};
pub use kavling_core::status;

/// How often a healthy object is looked at again, in case something outside the watches moved.
pub const SAFETY_REQUEUE: Duration = Duration::from_secs(300);

/// Errors of a reconcile, classified: an invalid spec waits for the object to change; a
/// transient error is retried with a capped per-object backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("failed to serialise {what}: {source}")]
    Serialize {
        what: String,
        source: serde_json::Error,
    },
    #[error("object has no {0}")]
    MissingField(&'static str),
    #[error("reconcile did not finish within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Store(#[from] crate::objectstore::StoreError),
    /// Waiting for a person (e.g. a bucket that still holds data); retried with backoff.
    #[error("{0}")]
    Blocked(String),
}

impl Error {
    /// A stable category for metrics, Events and conditions.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(_) => "api",
            Error::Serialize { .. } => "serialize",
            Error::MissingField(_) => "invalid-object",
            Error::Timeout(_) => "timeout",
            Error::Store(_) => "object-store",
            Error::Blocked(_) => "blocked",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The operator's own settings (from its command line).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where the operator keeps its own state (ACME account Secrets).
    pub namespace: String,
    /// Every Kavling DNS server replica (a fixed list, the ready endpoints of a headless
    /// Service, or both): a challenge is handed to the CA only once all of them answer it.
    pub dns: crate::acme::replicas::DnsReplicas,
    /// The Issuer of Certificates made for Subdomains with `tls: true`.
    pub default_issuer: String,
    /// The ingress controller's namespace (hosting namespaces admit traffic only from it).
    pub ingress_namespace: String,
    /// The IngressClass of hosting Ingresses.
    pub ingress_class: String,
    /// The ingress controller's public addresses: what a Subdomain pointing at a hosting
    /// publishes.
    pub ingress_addresses: Vec<String>,
    /// Ranges a published address may not fall in: the cluster's service and pod ranges.
    pub denied_target_ranges: Vec<crate::rules::naming::Cidr>,
    /// The images hostings run: the catalog under the Pusat Data's registry.
    pub images: crate::hosting::Images,
    /// The Pusat Data's git mirror of application sources (`--source-mirror`).
    pub source_mirror: Option<crate::hosting::SourceMirror>,
    /// The longest wait between two asks for a certificate's renewal window (ARI): the CA's
    /// Retry-After is honoured below it.
    pub ari_poll_max: std::time::Duration,
    /// Where the DNS keys live (TSIG keys, and the DNSSEC keys the operator makes): a namespace
    /// only kavling-dns and the operator read.
    pub keys_namespace: String,
}

/// The local Pusat Data's registry prefix (dev/node/node.sh); production names its own.
pub const DEFAULT_IMAGE_REGISTRY: &str = "registry.pusat-data.local/kavling";

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespace: "kavling-system".into(),
            dns: Default::default(),
            default_issuer: "pusat-data".into(),
            keys_namespace: "kavling-tsig".into(),
            ingress_namespace: "ingress-nginx".into(),
            ingress_class: "nginx".into(),
            ingress_addresses: vec![],
            denied_target_ranges: vec![],
            images: crate::hosting::Images::under(DEFAULT_IMAGE_REGISTRY)
                .expect("the default registry prefix is valid"),
            source_mirror: None,
            ari_poll_max: std::time::Duration::from_secs(6 * 3600),
        }
    }
}

/// Shared by every controller.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    /// The object store's admin plane, when the operator was given one.
    pub store: Option<Arc<dyn crate::objectstore::ObjectStore>>,
    /// ACME accounts, restored once per Issuer.
    pub acme: crate::acme::account::Accounts,
    /// The hosting templates, loaded once.
    pub templates: crate::hosting::Templates,
    pub settings: Settings,
    backoff: Backoff,
    /// Counters, durations and per-object gauges for `/metrics`.
    pub metrics: crate::metrics::Metrics,
}

impl Context {
    pub fn new(client: Client) -> Arc<Self> {
        Self::with(client, None, Settings::default())
    }

    /// A context with the object store (if any) and the operator's settings.
    pub fn with(
        client: Client,
        store: Option<Arc<dyn crate::objectstore::ObjectStore>>,
        settings: Settings,
    ) -> Arc<Self> {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: std::env::var("HOSTNAME").ok(),
        };
        Arc::new(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            store,
            acme: Default::default(),
            templates: crate::hosting::Templates::load()
                .expect("the compiled-in templates load (unit-tested)"),
            settings,
            backoff: Backoff::default(),
            metrics: Default::default(),
        })
    }

    /// Publishes an Event for a person to see; failing to publish is logged, never fatal.
    pub async fn event<K>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) where
        K: kube::Resource<DynamicType = ()>,
    {
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "failed to publish event");
        }
    }

    /// Call after a successful reconcile: resets the object's backoff.
    pub fn succeeded<K: kube::Resource<DynamicType = ()>>(&self, obj: &K) {
        self.backoff.reset(&ObjectRef::from_obj(obj).erase());
        self.count(K::kind(&()).into_owned(), "success");
    }

    fn count(&self, kind: String, result: &'static str) {
        self.metrics.count(&kind, result);
    }

    /// Prometheus text exposition of the operator's metrics.
    pub fn render_metrics(&self) -> String {
        self.metrics.render()
    }

    /// The error policy shared by every controller: capped exponential backoff per object.
    pub fn retry_after<K: kube::Resource<DynamicType = ()>>(&self, obj: &K, err: &Error) -> Action {
        let delay = self.backoff.next(&ObjectRef::from_obj(obj).erase());
        self.count(K::kind(&()).into_owned(), err.category());
        tracing::warn!(category = err.category(), error = %err, retry_in = ?delay, "reconcile failed");
        Action::requeue(delay)
    }
}

/// Runs every controller until shutdown, each DnsRecord watch shared by the controllers that
/// need it (the DnsRecord, Zone and Subdomain controllers read one store, and the DnsRecord
/// and Zone controllers one index of it).
pub async fn run_all(ctx: Arc<Context>) {
    let mut records = shared::SharedWatch::new(
        kube::Api::<crate::api::DnsRecord>::all(ctx.client.clone()),
        kube::runtime::watcher::Config::default(),
    );
    let index = Arc::new(record_index::RecordIndex::default());
    records.on_event({
        let index = index.clone();
        move |event| {
            use kube::runtime::watcher::Event;
            match event {
                Event::Apply(r) | Event::InitApply(r) => index.apply(r),
                Event::Delete(r) => index.delete(r),
                Event::Init => index.begin_relist(),
                Event::InitDone => index.finish_relist(),
            }
        }
    });
    let dnsrecords = dnsrecord::run(ctx.clone(), &mut records, index.clone());
    let zones = zone::run(ctx.clone(), &mut records, index.clone());
    let subdomains = subdomain::run(ctx.clone(), &mut records, index);
    tokio::join!(
        records.run(),
        tenant::run(ctx.clone()),
        zones,
        request::run(ctx.clone()),
        subdomains,
        dnsrecords,
        bucket::run(ctx.clone()),
        issuer::run(ctx.clone()),
        certificate::run(ctx.clone()),
        hosting::run(ctx.clone()),
    );
}

/// List parameters for reads inside a reconcile: served from the API server's watch cache at
/// once (`resourceVersion=0`), instead of a consistent read. Measured on the local stack: a
/// consistent LIST waits for the cache to be proven fresh, 80–100 ms each, which made
/// approve→Ready ~200 ms. The cache already holds the event that triggered the reconcile, and
/// every decision that must not race (claiming a name) is a `create`, not a read.
pub fn cached() -> kube::api::ListParams {
    kube::api::ListParams::default().match_any()
}

/// The longest one reconcile may take. A reconcile that hangs (an API call that never
/// answers, a cache that never syncs) would otherwise hold every later trigger for its object.
pub const RECONCILE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one reconcile with [`RECONCILE_TIMEOUT`] and logs (at debug) which object it was and
/// how long it took, so a slow step in the request → approval → record chain can be found.
pub async fn timed<F>(kind: &str, name: String, fut: F) -> Result<Action>
where
    F: std::future::Future<Output = Result<Action>>,
{
    let start = std::time::Instant::now();
    let out = match tokio::time::timeout(RECONCILE_TIMEOUT, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout(RECONCILE_TIMEOUT)),
    };
    tracing::debug!(
        kind,
        name,
        elapsed_ms = start.elapsed().as_secs_f64() * 1000.0,
        "reconciled"
    );
    out
}

/// Waits (briefly) until a reflector store has its initial list. `Some(requeue)` means "not
/// yet": the caller returns it instead of holding its object's reconcile open (a store that
/// has not listed knows no object, and a reconcile reading it would act on nothing).
pub async fn requeue_unless_synced<K: kube::Resource + Clone>(
    store: &kube::runtime::reflector::Store<K>,
) -> Option<Action>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    match tokio::time::timeout(Duration::from_secs(2), store.wait_until_ready()).await {
        Ok(Ok(())) => None,
        _ => Some(Action::requeue(Duration::from_secs(1))),
    }
}

/// Per-object exponential backoff: 1 s, 2 s, 4 s … capped at 5 minutes, reset on success.
#[derive(Default)]
struct Backoff {
    failures: Mutex<HashMap<ObjectRef<kube::core::DynamicObject>, u32>>,
}

impl Backoff {
    const BASE: Duration = Duration::from_secs(1);
    const CAP: Duration = Duration::from_secs(300);

    fn next(&self, key: &ObjectRef<kube::core::DynamicObject>) -> Duration {
        let mut map = self.failures.lock().expect("backoff lock");
        let n = map.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        backoff_delay(*n)
    }

    fn reset(&self, key: &ObjectRef<kube::core::DynamicObject>) {
        self.failures.lock().expect("backoff lock").remove(key);
    }
}

/// The delay before attempt `failures + 1`.
fn backoff_delay(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    (Backoff::BASE * 2u32.pow(exp)).min(Backoff::CAP)
}

/// Writes `status` of `obj` with server-side apply under [`MANAGER`] — the one status writer
/// of the controllers (the kind and API version come from the type, the scope from the object).
pub async fn apply_status<K, S>(client: &Client, obj: &K, status: &S) -> Result<()>
where
    K: kube::Resource<DynamicType = ()>,
    S: serde::Serialize,
{
    use kube::core::{ApiResource, DynamicObject};
    let ar = ApiResource::erase::<K>(&());
    let api: kube::Api<DynamicObject> = match obj.meta().namespace.as_deref() {
        Some(ns) => kube::Api::namespaced_with(client.clone(), ns, &ar),
        None => kube::Api::all_with(client.clone(), &ar),
    };
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch_status(
        &name,
        &kube::api::PatchParams::apply(MANAGER).force(),
        &kube::api::Patch::Apply(&status_patch::<K, S>(status)),
    )
    .await?;
    Ok(())
}

/// [`apply_status`] through the typed `Api` the caller already has.
pub async fn apply_status_with<K, S>(api: &kube::Api<K>, obj: &K, status: &S) -> Result<()>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: serde::Serialize,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch_status(
        &name,
        &kube::api::PatchParams::apply(MANAGER).force(),
        &kube::api::Patch::Apply(&status_patch::<K, S>(status)),
    )
    .await?;
    Ok(())
}

/// The server-side-apply body of a status write: the type's identity and the status.
fn status_patch<K: kube::Resource<DynamicType = ()>, S: serde::Serialize>(
    status: &S,
) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    })
}

/// Makes the operator's own namespace (for its state) if it is missing.
pub async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<()> {
    let ns: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    if ns.get_opt(name).await?.is_none() {
        let n = k8s_openapi::api::core::v1::Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(std::collections::BTreeMap::from([(
                    crate::api::labels::MANAGED_BY.into(),
                    crate::api::labels::MANAGER.into(),
                )])),
                ..Default::default()
            },
            ..Default::default()
        };
        match ns.create(&kube::api::PostParams::default(), &n).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_delay(1), Duration::from_secs(1));
        assert_eq!(backoff_delay(2), Duration::from_secs(2));
        assert_eq!(backoff_delay(5), Duration::from_secs(16));
        assert_eq!(backoff_delay(40), Duration::from_secs(300));
    }
}
