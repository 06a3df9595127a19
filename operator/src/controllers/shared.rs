//! One watch per kind per process, shared by every controller that needs it: a reflector
//! (one store, one LIST+WATCH against the API server) whose touched objects — applied *and*
//! deleted, unlike kube's shared streams, which drop deletions — are fanned out to each
//! subscriber. Before, one operator process held four DnsRecord watches and four copies of
//! every record.

use std::fmt::Debug;

use futures::channel::mpsc;
use futures::stream::BoxStream;
use futures::{SinkExt, Stream, StreamExt};
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

use serde::de::DeserializeOwned;

/// How many touched objects a subscriber may fall behind before the watch waits for it.
const BUFFER: usize = 1024;

/// A watch of one kind, and its subscribers.
pub struct SharedWatch<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    store: Store<K>,
    source: BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>,
    subscribers: Vec<mpsc::Sender<K>>,
    hooks: Vec<Hook<K>>,
}

/// Called with every watch event after the store has it and before any subscriber sees the
/// object: how an index (`record_index`) stays in step with the store.
pub type Hook<K> = Box<dyn Fn(&watcher::Event<K>) + Send + Sync>;

/// Drops what no controller reads before an object is stored: its managedFields (one entry
/// per field manager, often larger than the spec) and kubectl's last-applied annotation (a
/// second copy of the object). At 20,000 DnsRecords the store is most of the operator's
/// memory.
pub fn slim<K: kube::Resource>(o: &mut K) {
    let meta = o.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

impl<K> SharedWatch<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    pub fn new(api: Api<K>, config: watcher::Config) -> Self {
        let (store, writer) = reflector::store();
        let source = reflector::reflector(writer, watcher(api, config).modify(slim))
            .default_backoff()
            .boxed();
        Self {
            store,
            source,
            subscribers: vec![],
            hooks: vec![],
        }
    }

    /// The one store of the kind (for lookups and for `Controller::for_stream`).
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// Every object the watch touches from now on, applied or deleted.
    pub fn subscribe(&mut self) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
        let (tx, rx) = mpsc::channel(BUFFER);
        self.subscribers.push(tx);
        rx.map(Ok)
    }

    /// Runs `hook` on every event (see [`Hook`]).
    pub fn on_event(&mut self, hook: impl Fn(&watcher::Event<K>) + Send + Sync + 'static) {
        self.hooks.push(Box::new(hook));
    }

    /// Drives the watch until it ends. A slow subscriber holds the others (backpressure)
    /// rather than missing a trigger.
    pub async fn run(self) {
        let Self {
            mut source,
            mut subscribers,
            hooks,
            ..
        } = self;
        let kind = K::kind(&()).into_owned();
        while let Some(item) = source.next().await {
            let event = match item {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(kind, error = %e, "shared watch");
                    continue;
                }
            };
            for hook in &hooks {
                hook(&event);
            }
            // touched objects: applied (also while listing) and deleted
            let obj = match event {
                watcher::Event::Apply(o)
                | watcher::Event::InitApply(o)
                | watcher::Event::Delete(o) => o,
                watcher::Event::Init | watcher::Event::InitDone => continue,
            };
            for s in &mut subscribers {
                // a subscriber that stopped (its controller shut down) is skipped
                let _ = s.send(obj.clone()).await;
            }
        }
    }
}
