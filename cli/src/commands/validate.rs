//! `kavling validate PATH...`: offline checks of Kavling YAML for pull-request CI — the CRD's
//! own CEL rules (evaluated locally, as the API server would), the types, and the regulation
//! rules the operator applies — reported at file, line and column.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use kavling_core::api::{
    Approval, Bucket, Certificate, DnsRecord, Hosting, Issuer, Request, Subdomain, Tenant,
    TenantLimits, TenantType, Zone, tenant_of_namespace,
};
use kavling_core::rules::{self, naming};
use kube::CustomResourceExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `file:line:col: error[rule]: field: message`
    #[default]
    Human,
    Json,
    /// GitHub Actions workflow commands (inline annotations on the pull request).
    Github,
    /// GitLab code-quality report (JSON).
    Gitlab,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Files or directories (searched for *.yaml and *.yml).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Treat warnings (non-Kavling documents, checks skipped for lack of context) as errors.
    #[arg(long)]
    pub strict: bool,
    /// Also check what needs live state (read-only): name already claimed, the PD's one
    /// website, the tenant's limits, the zone exists.
    #[arg(long)]
    pub cluster: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub severity: &'static str,
    pub field: String,
    pub rule: String,
    pub message: String,
}

pub(crate) struct Doc {
    pub(crate) file: String,
    pub(crate) start: usize,
    pub(crate) text: String,
}

pub(crate) fn collect(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect();
            entries.sort();
            out.extend(collect(&entries));
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml")
            || paths.len() == 1
            || p.exists()
        {
            out.push(p.clone());
        }
    }
    out
}

/// Splits a YAML stream at `---` lines, remembering each document's first line.
pub(crate) fn documents(file: &str, text: &str) -> Vec<Doc> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            docs.push(Doc {
                file: file.into(),
                start,
                text: std::mem::take(&mut cur),
            });
            start = i + 2;
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push(Doc {
        file: file.into(),
        start,
        text: cur,
    });
    docs.retain(|d| {
        d.text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

/// Line and column (1-based, within the document) of a field path like
/// `spec.letter.signer.identity.nip`; the deepest key found when the path ends inside a flow
/// mapping such as `identity: {nip: …}`.
pub fn locate(text: &str, path: &str) -> (usize, usize) {
    let want: Vec<&str> = path
        .split('.')
        .map(|p| p.split('[').next().unwrap_or(p))
        .filter(|p| !p.is_empty())
        .collect();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut best = (1, 1, 0);
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = raw.len() - trimmed.len();
        let mut body = trimmed;
        while let Some(rest) = body.strip_prefix("- ") {
            indent += 2;
            body = rest.trim_start();
        }
        let Some((key, _)) = body.split_once(':') else {
            continue;
        };
        if key.contains(' ') || key.contains('{') {
            continue;
        }
        while stack.last().is_some_and(|(ind, _)| *ind >= indent) {
            stack.pop();
        }
        stack.push((indent, key.trim_matches('"').to_string()));
        let depth = stack
            .iter()
            .zip(&want)
            .take_while(|((_, k), w)| k == *w)
            .count();
        if depth == stack.len() && depth > best.2 {
            best = (i + 1, indent + 1, depth);
            if depth == want.len() {
                break;
            }
        }
    }
    (best.0, best.1)
}

fn typed<T: DeserializeOwned>(
    doc: &Doc,
    value: &serde_json::Value,
    out: &mut Vec<Finding>,
) -> Option<T> {
    if let Ok(v) = T::deserialize(value) {
        return Some(v);
    }
    // Only on failure: parse the YAML again for an error with a path and a location.
    match serde_norway::from_str::<T>(&doc.text) {
        Ok(v) => Some(v),
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            let msg = e.to_string();
            let (field, message) = match msg.split_once(": ") {
                Some((f, m)) if f.contains('.') && !f.contains(' ') => {
                    (f.to_string(), m.to_string())
                }
                _ => (String::new(), msg.clone()),
            };
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_string();
            out.push(Finding {
                file: doc.file.clone(),
                line: doc.start + line - 1,
                column,
                severity: "error",
                field,
                rule: "schema".into(),
                message,
            });
            None
        }
    }
}

/// Each kind's CEL rules compiled once per run (compiling per document cost ~3 ms each), and
/// one validator per thread (building one registers every Kubernetes CEL function).
struct Compiled {
    schemas: HashMap<&'static str, kube::core::cel::CompiledSchema>,
    validator: kube::core::cel::Validator,
}

impl Default for Compiled {
    fn default() -> Self {
        Self {
            schemas: HashMap::new(),
            validator: kube::core::cel::Validator::new(),
        }
    }
}

impl Compiled {
    fn get<T: CustomResourceExt>(&mut self) -> &kube::core::cel::CompiledSchema {
        self.schemas.entry(T::crd_name()).or_insert_with(|| {
            let crd = T::crd();
            let schema = crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("derived CRDs have a schema");
            kube::core::cel::compile_schema(
                &serde_json::to_value(schema).expect("schema serialises"),
            )
        })
    }
}

fn cel<T: CustomResourceExt>(
    compiled: &mut Compiled,
    doc: &Doc,
    value: &serde_json::Value,
    out: &mut Vec<Finding>,
) {
    compiled.get::<T>();
    let (schema, validator) = (&compiled.schemas[T::crd_name()], &compiled.validator);
    if let Err(errs) = validator.validate_compiled(schema, value, None) {
        for e in errs.iter() {
            let mut field = if e.field_path.is_empty() {
                "metadata.name".to_string()
            } else {
                e.field_path.clone()
            };
            let mut message = e.message.clone();
            // Our rule messages start with the field they are about; a rule on `spec` about
            // `spec.values` should point at `spec.values`, and the prefix need not repeat.
            if let Some((prefix, rest)) = e.message.split_once(": ")
                && !prefix.contains(' ')
            {
                if prefix.starts_with("spec.") || prefix.starts_with("metadata.") {
                    field = prefix.to_string();
                    message = rest.to_string();
                } else if field.ends_with(prefix) {
                    message = rest.to_string();
                }
            }
            let (line, column) = locate(&doc.text, &field);
            out.push(Finding {
                file: doc.file.clone(),
                line: doc.start + line - 1,
                column,
                severity: "error",
                field,
                rule: "cel".into(),
                message,
            });
        }
    }
}

/// Kinds with no regulation rules of their own: their CEL rules and their types.
fn schema_only<T: CustomResourceExt + DeserializeOwned>(
    compiled: &mut Compiled,
    d: &Doc,
    value: &serde_json::Value,
    out: &mut Vec<Finding>,
) {
    cel::<T>(compiled, d, value, out);
    typed::<T>(d, value, out);
}

fn push_violations(doc: &Doc, v: Vec<rules::Violation>, out: &mut Vec<Finding>) {
    for x in v {
        let (line, column) = locate(&doc.text, &x.field);
        out.push(Finding {
            file: doc.file.clone(),
            line: doc.start + line - 1,
            column,
            severity: "error",
            field: x.field,
            rule: x.rule.into(),
            message: x.message,
        });
    }
}

/// Validates every document under `paths`.
pub fn validate(paths: &[PathBuf], today: chrono::NaiveDate) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut docs = Vec::new();
    for f in collect(paths) {
        match std::fs::read_to_string(&f) {
            Ok(text) => docs.extend(documents(&f.display().to_string(), &text)),
            Err(e) => out.push(Finding {
                file: f.display().to_string(),
                line: 1,
                column: 1,
                severity: "error",
                field: String::new(),
                rule: "read".into(),
                message: e.to_string(),
            }),
        }
    }
    // First pass: what the set itself defines (zones and tenants), for checks that need them.
    // Only documents that look like one are parsed here; the rest are parsed by the workers.
    let mut zones: HashMap<String, Zone> = HashMap::new();
    let mut tenants: HashMap<String, Tenant> = HashMap::new();
    for d in &docs {
        if d.text.contains("kind: Zone") {
            if let Ok(z) = serde_norway::from_str::<Zone>(&d.text) {
                zones.insert(z.metadata.name.clone().unwrap_or_default(), z);
            }
        } else if d.text.contains("kind: Tenant")
            && let Ok(t) = serde_norway::from_str::<Tenant>(&d.text)
        {
            tenants.insert(t.metadata.name.clone().unwrap_or_default(), t);
        }
    }
    let served: Vec<String> = zones.keys().cloned().collect();
    let ctx = SetContext {
        zones: &zones,
        tenants: &tenants,
        served: &served,
        today,
    };
    // Documents are independent given the set's zones and tenants: check them on every core.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(docs.len().max(1));
    let chunk = docs.len().div_ceil(threads).max(1);
    let results: Vec<Vec<Finding>> = std::thread::scope(|scope| {
        let handles: Vec<_> = docs
            .chunks(chunk)
            .map(|c| scope.spawn(|| check_docs(&ctx, c)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("validation thread"))
            .collect()
    });
    out.extend(results.into_iter().flatten());
    out
}

/// What the checked set defines, shared by the checking threads.
struct SetContext<'a> {
    zones: &'a HashMap<String, Zone>,
    tenants: &'a HashMap<String, Tenant>,
    served: &'a [String],
    today: chrono::NaiveDate,
}

fn check_docs(ctx: &SetContext<'_>, docs: &[Doc]) -> Vec<Finding> {
    let (zones, tenants, served, today) = (ctx.zones, ctx.tenants, ctx.served, ctx.today);
    let mut out = Vec::new();
    let mut compiled = Compiled::default();
    for d in docs {
        let value: serde_json::Value = match serde_norway::from_str(&d.text) {
            Ok(v) => v,
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or((1, 1));
                out.push(Finding {
                    file: d.file.clone(),
                    line: d.start + line - 1,
                    column,
                    severity: "error",
                    field: String::new(),
                    rule: "yaml".into(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        if value["apiVersion"].as_str() != Some("kavling.go.id/v1alpha1") {
            out.push(Finding {
                file: d.file.clone(),
                line: d.start,
                column: 1,
                severity: "warning",
                field: "apiVersion".into(),
                rule: "not-kavling".into(),
                message: "not a kavling.go.id/v1alpha1 object; not checked".into(),
            });
            continue;
        }
        let before = out.len();
        match value["kind"].as_str().unwrap_or("") {
            "Request" => {
                cel::<Request>(&mut compiled, d, &value, &mut out);
                if let Some(r) = typed::<Request>(d, &value, &mut out) {
                    let mut v = rules::request::check(&r.spec, today);
                    if let (Some(s), true) = (&r.spec.subdomain, out.len() == before) {
                        let tenant_name = r
                            .metadata
                            .namespace
                            .as_deref()
                            .and_then(tenant_of_namespace)
                            .unwrap_or("");
                        let tenant = tenants.get(tenant_name);
                        let limits =
                            tenant
                                .map(|t| t.spec.limits.clone())
                                .unwrap_or_else(|| TenantLimits {
                                    subdomains: u32::MAX,
                                    websites: u32::MAX,
                                    ..Default::default()
                                });
                        if let Some(z) = zones.get(&s.zone) {
                            let claim = naming::Claim {
                                label: &s.label,
                                zone_name: &s.zone,
                                zone: Some(&z.spec),
                                served_zones: served,
                                tenant: tenant_name,
                                tenant_type: tenant
                                    .map(|t| t.spec.type_)
                                    .unwrap_or(TenantType::Kabupaten),
                                limits: &limits,
                                held: naming::Holdings::default(),
                                website: s.website,
                                wildcard: s.wildcard,
                                target: &s.target,
                                alias_holder: naming::Holder::Unknown,
                                denied_ranges: &[],
                            };
                            v.extend(naming::check_claim(&claim).into_iter().map(|mut x| {
                                x.field = format!("spec.subdomain.{}", x.field);
                                x
                            }));
                        }
                    }
                    v.dedup_by(|a, b| a.field == b.field && a.rule == b.rule);
                    push_violations(d, v, &mut out);
                }
            }
            "Tenant" => {
                cel::<Tenant>(&mut compiled, d, &value, &mut out);
                if let Some(t) = typed::<Tenant>(d, &value, &mut out) {
                    let parent = t
                        .spec
                        .parent
                        .as_ref()
                        .and_then(|p| tenants.get(p))
                        .map(|p| p.spec.code.clone());
                    if let (Some(p), None) = (&t.spec.parent, &parent) {
                        let (line, column) = locate(&d.text, "spec.parent");
                        out.push(Finding {
                            file: d.file.clone(),
                            line: d.start + line - 1,
                            column,
                            severity: "warning",
                            field: "spec.parent".into(),
                            rule: "context".into(),
                            message: format!("parent tenant '{p}' is not among the checked files, so the region code is not checked against it (add its file, or use --cluster in a later release)"),
                        });
                    }
                    push_violations(
                        d,
                        kavling_core::rules::tenant::validate(&t, parent.as_deref()),
                        &mut out,
                    );
                }
            }
            "Zone" => schema_only::<Zone>(&mut compiled, d, &value, &mut out),
            "Approval" => schema_only::<Approval>(&mut compiled, d, &value, &mut out),
            "Subdomain" => schema_only::<Subdomain>(&mut compiled, d, &value, &mut out),
            "DnsRecord" => schema_only::<DnsRecord>(&mut compiled, d, &value, &mut out),
            "Issuer" => schema_only::<Issuer>(&mut compiled, d, &value, &mut out),
            "Certificate" => schema_only::<Certificate>(&mut compiled, d, &value, &mut out),
            "Hosting" => {
                cel::<Hosting>(&mut compiled, d, &value, &mut out);
                if let Some(h) = typed::<Hosting>(d, &value, &mut out) {
                    let templates = kavling_core::hosting::Templates::load()
                        .expect("the compiled-in templates load (unit-tested)");
                    if let Err(v) =
                        templates.resolve(h.spec.template, &h.spec.parameters, "spec.parameters")
                    {
                        push_violations(d, v, &mut out);
                    }
                }
            }
            "Bucket" => {
                cel::<Bucket>(&mut compiled, d, &value, &mut out);
                if let Some(b) = typed::<Bucket>(d, &value, &mut out) {
                    push_violations(d, rules::storage::check_bucket_object(&b), &mut out);
                }
            }
            other => out.push(Finding {
                file: d.file.clone(),
                line: d.start,
                column: 1,
                severity: "error",
                field: "kind".into(),
                rule: "kind".into(),
                message: format!("unknown kind '{other}'"),
            }),
        }
    }
    out
}

fn escape_gh(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Findings only live state can give: each reason `plan` has to refuse a request that the
/// offline checks did not already report.
fn cluster_findings(
    paths: &[PathBuf],
    view: &kavling_core::plan::ClusterView,
    today: chrono::NaiveDate,
    offline: &[Finding],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in super::plan::plan_all(paths, view, today) {
        let text = std::fs::read_to_string(&p.file).unwrap_or_default();
        let doc = documents(&p.file, &text).into_iter().find(|d| {
            d.text.contains(&format!(
                "name: {}",
                p.request.rsplit('/').next().unwrap_or("")
            ))
        });
        for reason in p.blocked {
            if offline
                .iter()
                .any(|f| f.file == p.file && reason.contains(&f.message))
            {
                continue;
            }
            let (line, column, start) = doc
                .as_ref()
                .map(|d| {
                    let (l, c) = locate(&d.text, "spec.subdomain.label");
                    (l, c, d.start)
                })
                .unwrap_or((1, 1, 1));
            out.push(Finding {
                file: p.file.clone(),
                line: start + line - 1,
                column,
                severity: "error",
                field: format!("request {}", p.request),
                rule: "cluster".into(),
                message: reason,
            });
        }
    }
    out
}

pub async fn run(client: Option<kube::Client>, args: ValidateArgs) -> anyhow::Result<i32> {
    let today = chrono::Utc::now().date_naive();
    let mut findings = validate(&args.paths, today);
    if let Some(c) = client {
        let view = super::plan::read_view(c).await?;
        let extra = cluster_findings(&args.paths, &view, today, &findings);
        findings.extend(extra);
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == "error" || args.strict)
        .count();
    match args.format {
        Format::Human => {
            use std::io::IsTerminal;
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            for f in &findings {
                let field = if f.field.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", f.field)
                };
                let severity = match (colour, f.severity) {
                    (true, "error") => "\x1b[1;31merror\x1b[0m".to_string(),
                    (true, s) => format!("\x1b[1;33m{s}\x1b[0m"),
                    (false, s) => s.to_string(),
                };
                println!(
                    "{}:{}:{}: {severity}[{}]: {field}{}",
                    f.file, f.line, f.column, f.rule, f.message
                );
            }
            eprintln!(
                "{} error(s), {} warning(s)",
                errors,
                findings.len() - errors
            );
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&findings)?),
        Format::Github => {
            for f in &findings {
                let level = if f.severity == "error" || args.strict {
                    "error"
                } else {
                    "warning"
                };
                let field = if f.field.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", f.field)
                };
                println!(
                    "::{level} file={},line={},col={},title=kavling validate ({})::{}",
                    f.file,
                    f.line,
                    f.column,
                    f.rule,
                    escape_gh(&format!("{field}{}", f.message))
                );
            }
        }
        Format::Gitlab => {
            let items: Vec<serde_json::Value> = findings
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "description": format!("{}: {}", f.field, f.message),
                        "check_name": format!("kavling/{}", f.rule),
                        "fingerprint": format!("{:x}", fxhash(&format!("{}:{}:{}", f.file, f.line, f.message))),
                        "severity": if f.severity == "error" { "major" } else { "minor" },
                        "location": {"path": f.file, "lines": {"begin": f.line}},
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
    }
    Ok(if errors > 0 { 1 } else { 0 })
}

/// A small stable hash for GitLab fingerprints.
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}
