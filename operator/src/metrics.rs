//! The operator's `/metrics`, in the Prometheus text format, without a metrics library: a few
//! counters, one histogram family and gauges keyed by object. What each family means and
//! which alert reads it is in `charts/kavling/files/kavling-rules.yaml`; a unit test keeps the
//! names here and there the same.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the reconcile duration buckets: most reconciles take
/// milliseconds; an ACME or object-store call can take seconds; the harness times out at 30.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every family the operator exposes, with its type and help: the one list the rules and the
/// dashboard are checked against.
pub const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "kavling_leader",
        "gauge",
        "1 while this replica leads (reconciles and writes the audit trail).",
    ),
    (
        "kavling_reconcile_total",
        "counter",
        "Reconciles by kind and result (success or error category).",
    ),
    (
        "kavling_reconcile_duration_seconds",
        "histogram",
        "Time one reconcile took, by kind.",
    ),
    (
        "kavling_reconciles_in_flight",
        "gauge",
        "Reconciles running now, by kind (at most 16 each).",
    ),
    (
        "kavling_certificate_expiry_timestamp_seconds",
        "gauge",
        "When each Certificate's current certificate expires (Unix time).",
    ),
    (
        "kavling_certificate_ready",
        "gauge",
        "1 when a Certificate is Ready, else 0.",
    ),
    (
        "kavling_bucket_used_bytes",
        "gauge",
        "Bytes a Bucket holds, as the object store counts them.",
    ),
    (
        "kavling_bucket_quota_bytes",
        "gauge",
        "A Bucket's size quota in bytes.",
    ),
    (
        "kavling_zone_serial",
        "gauge",
        "Each Zone's SOA serial as the API has it (kavling-dns reports what it serves).",
    ),
    (
        "kavling_audit_commits_total",
        "counter",
        "Audit commits written.",
    ),
    (
        "kavling_audit_commit_failures_total",
        "counter",
        "Audit commits that failed (retried in place).",
    ),
    (
        "kavling_audit_pushes_total",
        "counter",
        "Successful pushes of the audit branch.",
    ),
    (
        "kavling_audit_push_failures_total",
        "counter",
        "Failed pushes of the audit branch (retried with backoff).",
    ),
    (
        "kavling_audit_packs_total",
        "counter",
        "Packs written into the local audit repository (libgit2 writes objects loose).",
    ),
    (
        "kavling_audit_unpushed_commits",
        "gauge",
        "Commits made since the last successful push.",
    ),
];

pub type Labels = Vec<(&'static str, String)>;

/// One gauge sample: family, labels, value.
pub type Sample = (&'static str, Labels, f64);

/// Reads gauges at scrape time from a controller's store, so a deleted object's gauges go
/// with it.
pub type Collector = Box<dyn Fn() -> Vec<Sample> + Send + Sync>;

/// The operator's metrics; shared by every controller through the Context.
#[derive(Default)]
pub struct Metrics {
    reconciles: Mutex<BTreeMap<(String, &'static str), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
    in_flight: Mutex<BTreeMap<String, i64>>,
    gauges: Mutex<BTreeMap<(&'static str, Labels), f64>>,
    collectors: Mutex<Vec<Collector>>,
}

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; 12],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn count(&self, kind: &str, result: &'static str) {
        *self
            .reconciles
            .lock()
            .expect("metrics lock")
            .entry((kind.to_string(), result))
            .or_insert(0) += 1;
    }

    pub fn observe(&self, kind: &str, took: Duration) {
        let secs = took.as_secs_f64();
        let mut all = self.durations.lock().expect("metrics lock");
        let h = all.entry(kind.to_string()).or_default();
        for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Counts a reconcile as running until the returned guard is dropped.
    pub fn running(&self, kind: &str) -> InFlight<'_> {
        *self
            .in_flight
            .lock()
            .expect("metrics lock")
            .entry(kind.to_string())
            .or_insert(0) += 1;
        InFlight {
            metrics: self,
            kind: kind.to_string(),
        }
    }

    /// Sets one gauge of an object (`family` must be in [`FAMILIES`]).
    pub fn set(&self, family: &'static str, labels: Labels, value: f64) {
        debug_assert!(FAMILIES.iter().any(|(f, _, _)| *f == family), "{family}");
        self.gauges
            .lock()
            .expect("metrics lock")
            .insert((family, labels), value);
    }

    /// Forgets an object's gauges (it was deleted).
    pub fn forget(&self, family: &'static str, labels: &Labels) {
        self.gauges
            .lock()
            .expect("metrics lock")
            .remove(&(family, labels.clone()));
    }

    /// Adds gauges read at each scrape (e.g. from a controller's reflector store).
    pub fn collect_with(&self, collector: Collector) {
        self.collectors
            .lock()
            .expect("metrics lock")
            .push(collector);
    }

    /// The families this struct holds, as Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        header(&mut out, "kavling_reconcile_total");
        for ((kind, result), n) in self.reconciles.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "kavling_reconcile_total{{kind=\"{kind}\",result=\"{result}\"}} {n}"
            );
        }
        header(&mut out, "kavling_reconcile_duration_seconds");
        for (kind, h) in self.durations.lock().expect("metrics lock").iter() {
            for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "kavling_reconcile_duration_seconds_bucket{{kind=\"{kind}\",le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "kavling_reconcile_duration_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "kavling_reconcile_duration_seconds_sum{{kind=\"{kind}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "kavling_reconcile_duration_seconds_count{{kind=\"{kind}\"}} {}",
                h.count
            );
        }
        header(&mut out, "kavling_reconciles_in_flight");
        for (kind, n) in self.in_flight.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "kavling_reconciles_in_flight{{kind=\"{kind}\"}} {n}");
        }
        let mut gauges = self.gauges.lock().expect("metrics lock").clone();
        for collect in self.collectors.lock().expect("metrics lock").iter() {
            for (family, labels, value) in collect() {
                gauges.insert((family, labels), value);
            }
        }
        let mut last = "";
        for ((family, labels), value) in gauges.iter() {
            if *family != last {
                header(&mut out, family);
                last = family;
            }
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(out, "{family}{{{}}} {value}", labels.join(","));
        }
        out
    }
}

/// A running reconcile; counted in `kavling_reconciles_in_flight` until dropped.
pub struct InFlight<'a> {
    metrics: &'a Metrics,
    kind: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(n) = self
            .metrics
            .in_flight
            .lock()
            .expect("metrics lock")
            .get_mut(&self.kind)
        {
            *n -= 1;
        }
    }
}

/// `# HELP` and `# TYPE` of a family.
pub fn header(out: &mut String, family: &str) {
    if let Some((_, kind, help)) = FAMILIES.iter().find(|(f, _, _)| *f == family) {
        let _ = writeln!(out, "# HELP {family} {help}");
        let _ = writeln!(out, "# TYPE {family} {kind}");
    }
}

/// A label value as the text format wants it (backslash, quote and newline escaped).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Labels of a namespaced object.
pub fn object(namespace: &str, name: &str) -> Labels {
    vec![
        ("namespace", namespace.to_string()),
        ("name", name.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_gauges_come_and_go() {
        let m = Metrics::default();
        m.observe("Zone", Duration::from_millis(3));
        m.observe("Zone", Duration::from_millis(300));
        m.count("Zone", "success");
        {
            let _a = m.running("Zone");
            assert!(
                m.render()
                    .contains("kavling_reconciles_in_flight{kind=\"Zone\"} 1")
            );
        }
        m.set(
            "kavling_bucket_quota_bytes",
            object("tenant-a", "arsip\"x"),
            1e9,
        );
        let text = m.render();
        assert!(
            text.contains(
                "kavling_reconcile_duration_seconds_bucket{kind=\"Zone\",le=\"0.005\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("kavling_reconcile_duration_seconds_bucket{kind=\"Zone\",le=\"0.5\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("kavling_reconcile_duration_seconds_count{kind=\"Zone\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("kavling_reconciles_in_flight{kind=\"Zone\"} 0"),
            "{text}"
        );
        assert!(
            text.contains(
                "kavling_bucket_quota_bytes{namespace=\"tenant-a\",name=\"arsip\\\"x\"} 1000000000"
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE kavling_bucket_quota_bytes gauge"),
            "{text}"
        );
        m.forget(
            "kavling_bucket_quota_bytes",
            &object("tenant-a", "arsip\"x"),
        );
        assert!(!m.render().contains("kavling_bucket_quota_bytes{"));
    }
}
