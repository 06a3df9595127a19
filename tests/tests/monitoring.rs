//! What Kavling gives a Prometheus: the operator's and kavling-dns's `/metrics` pass
//! `promtool check metrics`; the alert rules pass `promtool check rules` and their unit tests
//! (each alert fires on the series that should fire it, and only then); and every metric the
//! rules and the dashboard name is one Kavling exposes.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use kavling::api::Zone;
use kavling_e2e::{Stack, unique, wait_for, zone_spec};
use kube::Api;
use kube::api::PostParams;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn promtool(stack: &Stack, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(stack.get("KAVLING_PROMTOOL"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The metric names an expression text mentions (histogram series mapped to their family).
fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("kavling_") {
        let start = i + at;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &text[start..end];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|_| name.contains("_duration_")))
            .unwrap_or(name);
        out.insert(family.to_string());
        i = end;
    }
    out
}

/// The families a `/metrics` text declares.
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn metrics_rules_and_dashboard_agree_and_pass_promtool() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    // some work first, so the reconcile families have samples
    let zones: Api<Zone> = Api::all(stack.client_as("admin").await?);
    let zone = format!("{}.go.id", unique("metrik"));
    zones
        .create(&PostParams::default(), &Zone::new(&zone, zone_spec(&zone)))
        .await?;
    let operator = wait_for(
        "the zone is reconciled and counted",
        Duration::from_secs(60),
        || async {
            let text = reqwest::get(format!(
                "http://{}/metrics",
                stack.get("KAVLING_OPERATOR_ADDR")
            ))
            .await?
            .text()
            .await?;
            Ok(text
                .contains(&format!("kavling_zone_serial{{zone=\"{zone}\"}}"))
                .then_some(text))
        },
    )
    .await?;
    let dns = reqwest::get(format!("http://{}/metrics", stack.get("KAVLING_DNS_HTTP")))
        .await?
        .text()
        .await?;

    for (what, text) in [("operator", &operator), ("kavling-dns", &dns)] {
        let (ok, out) = promtool(&stack, &["check", "metrics"], Some(text));
        assert!(ok, "promtool check metrics ({what}): {out}\n{text}");
    }
    let (ok, out) = promtool(
        &stack,
        &["check", "rules", "charts/kavling/files/kavling-rules.yaml"],
        None,
    );
    assert!(ok, "promtool check rules: {out}");
    let (ok, out) = promtool(
        &stack,
        &["test", "rules", "tests/prometheus/kavling-rules.test.yaml"],
        None,
    );
    assert!(ok, "promtool test rules: {out}");

    // every family the operator declares is in its list, and the list is what it serves
    let declared: BTreeSet<String> = kavling::metrics::FAMILIES
        .iter()
        .map(|(f, _, _)| f.to_string())
        .collect();
    let served = families(&operator);
    for f in [
        "kavling_leader",
        "kavling_reconcile_total",
        "kavling_reconcile_duration_seconds",
        "kavling_reconciles_in_flight",
        "kavling_zone_serial",
        "kavling_audit_unpushed_commits",
    ] {
        assert!(served.contains(f), "the operator serves {f}:\n{operator}");
    }
    assert!(
        served.is_subset(&declared),
        "undeclared: {:?}",
        served.difference(&declared).collect::<Vec<_>>()
    );

    // what the rules and the dashboard read exists
    let exposed: BTreeSet<String> = declared.union(&families(&dns)).cloned().collect();
    let rules = std::fs::read_to_string(repo().join("charts/kavling/files/kavling-rules.yaml"))?;
    let dashboard =
        std::fs::read_to_string(repo().join("charts/kavling/files/kavling-dashboard.json"))?;
    serde_json::from_str::<serde_json::Value>(&dashboard)?;
    for (what, text) in [("rules", &rules), ("dashboard", &dashboard)] {
        let unknown: Vec<String> = names_in(text).difference(&exposed).cloned().collect();
        assert!(
            unknown.is_empty(),
            "the {what} read metrics nobody exposes: {unknown:?}"
        );
    }
    zones.delete(&zone, &Default::default()).await?;
    Ok(())
}
