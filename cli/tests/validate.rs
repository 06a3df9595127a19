//! `kavling validate` on the examples: the valid ones are clean; each invalid one is refused
//! with the field and the rule or message its header names — offline, the same verdict the
//! API server gives (tests/tests/approvals.rs checks the API server side).

use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn validate(args: &[&str], paths: &[&Path]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kavling"))
        .arg("validate")
        .args(args)
        .args(paths)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn expect(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
        .map(str::to_string)
}

#[test]
fn valid_examples_are_clean() {
    let e = examples();
    let (code, out) = validate(
        &[],
        &[
            &e.join("tenants.yaml"),
            &e.join("zones.yaml"),
            &e.join("requests"),
        ],
    );
    assert_eq!((code, out.as_str()), (0, ""));
}

#[test]
fn every_invalid_example_names_its_field_and_rule() {
    for dir in ["invalid/api", "invalid/rules"] {
        for entry in std::fs::read_dir(examples().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let field = expect(&text, "expect-field").unwrap();
            // the tenants and zones files give the context (parents, naming policies) a pull
            // request's CI would have
            let (code, out) = validate(
                &[],
                &[
                    &examples().join("tenants.yaml"),
                    &examples().join("zones.yaml"),
                    &path,
                ],
            );
            assert_eq!(code, 1, "{}: {out}", path.display());
            assert!(
                out.contains(&format!(": {field}: ")),
                "{}: field {field} not named in:\n{out}",
                path.display()
            );
            if let Some(rule) = expect(&text, "expect-rule") {
                assert!(
                    out.contains(&format!("[{rule}]")),
                    "{}: rule {rule} not named in:\n{out}",
                    path.display()
                );
            }
            if let Some(msg) =
                expect(&text, "expect-offline").or_else(|| expect(&text, "expect-message"))
            {
                assert!(
                    out.contains(&msg),
                    "{}: '{msg}' not in:\n{out}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn a_bad_document_in_a_stream_is_reported_alone_at_its_line() {
    let dir = std::env::temp_dir().join(format!("kavling-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zones = std::fs::read_to_string(examples().join("zones.yaml")).unwrap();
    let bad = "apiVersion: kavling.go.id/v1alpha1\nkind: DnsRecord\nmetadata: {name: a.x.bukittinggikota.go.id}\nspec:\n  zone: bukittinggikota.go.id\n  name: x.bukittinggikota.go.id\n  type: A\n  values:\n  - \"2001:db8::1\"\n";
    let file = dir.join("stream.yaml");
    std::fs::write(&file, format!("{zones}---\n{bad}")).unwrap();
    let first_bad_line = zones.lines().count() + 2;
    let (code, out) = validate(&[], &[&file]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with(&format!("{}:{}:", file.display(), first_bad_line + 7)),
        "points at spec.values: {out}"
    );
    assert!(
        lines[0].contains("error[cel]: spec.values: an A record holds IPv4 addresses"),
        "{out}"
    );

    let (_, gh) = validate(&["--format", "github"], &[&file]);
    let re_ok = gh.starts_with("::error file=")
        && gh.contains(&format!(",line={},col=", first_bad_line + 7))
        && gh.contains(",title=kavling validate (cel)::spec.values: ");
    assert!(re_ok, "GitHub annotation syntax: {gh}");
    let (_, json) = validate(&["--format", "json"], &[&file]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["field"], "spec.values");
    std::fs::remove_dir_all(&dir).ok();
}

/// The exact messages (file, line, column, rule, field, text) for every invalid example,
/// against a committed snapshot. Regenerate with KAVLING_UPDATE_SNAPSHOTS=1 after a deliberate
/// change, and read the diff.
#[test]
fn messages_match_the_snapshot() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_kavling"))
        .current_dir(&root)
        .args([
            "validate",
            "examples/tenants.yaml",
            "examples/zones.yaml",
            "examples/invalid",
        ])
        .output()
        .unwrap();
    let got = String::from_utf8_lossy(&out.stdout).into_owned();
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/validate-invalid.txt");
    if std::env::var_os("KAVLING_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        got == want,
        "validate output drifted from {} (KAVLING_UPDATE_SNAPSHOTS=1 to accept):\n{got}",
        path.display()
    );
}
