//! Leader election on a `coordination.k8s.io` Lease, so two or more operator replicas can run
//! and exactly one reconciles and writes the audit trail. The algorithm is client-go's
//! (`tools/leaderelection`): a Lease's holder renews it every `retry`; another replica takes
//! it over once it has seen the same record unchanged for `lease_duration` on its *own*
//! clock (no trust in clocks agreeing between nodes); every write carries the
//! resourceVersion it read, so two candidates cannot both win. A leader that cannot renew for
//! `renew_deadline` (< `lease_duration`) stops leading before anyone may take over.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

/// How long a lease is good for, how long a leader keeps trying to renew, how often anyone
/// tries (client-go's defaults: 15 s, 10 s, 2 s).
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry: Duration::from_secs(2),
        }
    }
}

/// One candidate for one Lease.
pub struct Elector {
    api: Api<Lease>,
    lease: String,
    identity: String,
    timings: Timings,
    /// The last record seen (holder, renew time, resourceVersion) and when it was first seen
    /// so: expiry is judged on this replica's clock.
    observed: Option<((String, String, String), Instant)>,
}

/// Why leading stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Lost {
    /// Another replica holds the lease now.
    TakenBy(String),
    /// Renewals failed for longer than the renew deadline.
    RenewDeadline,
}

impl Elector {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        lease: &str,
        identity: String,
        timings: Timings,
    ) -> Self {
        Elector {
            api: Api::namespaced(client, namespace),
            lease: lease.to_string(),
            identity,
            timings,
            observed: None,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&mut self) {
        let mut said = None::<String>;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Holding) => return,
                Ok(Attempt::HeldBy(holder)) => {
                    if said.as_deref() != Some(holder.as_str()) {
                        tracing::info!(lease = %self.lease, %holder, "standing by: another replica leads");
                        said = Some(holder);
                    }
                }
                Err(e) => {
                    tracing::warn!(lease = %self.lease, error = %e, "cannot read the leader lease")
                }
            }
            tokio::time::sleep(self.timings.retry).await;
        }
    }

    /// Keeps the lease renewed while this replica leads; returns when leading has stopped.
    pub async fn hold(&mut self) -> Lost {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(self.timings.retry).await;
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Holding) => renewed = Instant::now(),
                Ok(Attempt::HeldBy(holder)) => return Lost::TakenBy(holder),
                Err(e) => {
                    tracing::warn!(lease = %self.lease, error = %e, "cannot renew the leader lease");
                    if renewed.elapsed() >= self.timings.renew_deadline {
                        return Lost::RenewDeadline;
                    }
                }
            }
        }
    }

    /// Gives the lease up (on a clean stop), so a standby takes over at its next try instead
    /// of waiting out the lease.
    pub async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.lease).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        self.api
            .replace(&self.lease, &PostParams::default(), &lease)
            .await?;
        tracing::info!(lease = %self.lease, "leader lease released");
        Ok(())
    }

    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.lease).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.lease.clone()),
                    ..Default::default()
                },
                spec: Some(self.spec_for_me(None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Holding),
                Err(e) if conflict(&e) => Ok(Attempt::HeldBy("(another candidate)".into())),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let record = (
            holder.clone(),
            spec.renew_time
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
            lease.metadata.resource_version.clone().unwrap_or_default(),
        );
        let seen_since = match &self.observed {
            Some((r, at)) if *r == record => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((record, at));
                at
            }
        };
        let duration = spec
            .lease_duration_seconds
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .unwrap_or(self.timings.lease_duration);
        let mine = holder == self.identity;
        let expired = holder.is_empty() || seen_since.elapsed() >= duration;
        if !mine && !expired {
            return Ok(Attempt::HeldBy(holder));
        }
        lease.spec = Some(self.spec_for_me(Some(&spec)));
        match self
            .api
            .replace(&self.lease, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                if !mine {
                    tracing::info!(lease = %self.lease, previous = %holder, "took over the leader lease");
                }
                Ok(Attempt::Holding)
            }
            // someone else wrote first: it holds the lease
            Err(e) if conflict(&e) => Ok(Attempt::HeldBy("(another candidate)".into())),
            Err(e) => Err(e),
        }
    }

    /// The lease as this replica holding it: acquire time and transitions carried over when
    /// renewing, moved on when taking over.
    fn spec_for_me(&self, current: Option<&LeaseSpec>) -> LeaseSpec {
        let renewing =
            current.is_some_and(|c| c.holder_identity.as_deref() == Some(self.identity.as_str()));
        let transitions = current.and_then(|c| c.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.timings.lease_duration.as_secs() as i32),
            acquire_time: if renewing {
                current.and_then(|c| c.acquire_time.clone())
            } else {
                Some(now())
            },
            renew_time: Some(now()),
            lease_transitions: Some(if renewing || current.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..Default::default()
        }
    }
}

enum Attempt {
    Holding,
    HeldBy(String),
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// A replica's identity: `KAVLING_LEADER_IDENTITY`, else the pod's name and uid (the chart
/// passes both from the Downward API) — kept across a container restart, so a restarted
/// leader renews its own lease at once, yet new for a new pod of the same name (a pod
/// force-deleted may still run while its replacement starts: the two must not share one);
/// else the host's name with a random suffix. Two live replicas must never share one.
pub fn identity() -> String {
    let given = |var: &str| {
        std::env::var(var)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    if let Some(id) = given("KAVLING_LEADER_IDENTITY") {
        return id;
    }
    if let Some(pod) = given("POD_NAME") {
        return match given("POD_UID") {
            Some(uid) => format!("{pod}_{}", uid.chars().take(8).collect::<String>()),
            None => pod,
        };
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "kavling-operator".into());
    format!("{host}_{:08x}", rand::random::<u32>())
}
