//! Hosting namespaces rendered from the tera templates in `templates/`: loaded once (they are
//! compiled into the binary, so what was tested is what runs), and rendering is a pure
//! function of a [`RenderInput`] — snapshot-tested per template.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tera::Tera;

use crate::api::{AppTemplate, HostingResources};
use crate::rules::{Violation, quantity};

mod images;
pub use images::{CatalogEntry, Images, catalog, check_pinned};

/// Every template file, by the name templates use to include each other.
const FILES: &[(&str, &str)] = &[
    (
        "base/namespace.yaml.tera",
        include_str!("../../../templates/base/namespace.yaml.tera"),
    ),
    (
        "base/quota.yaml.tera",
        include_str!("../../../templates/base/quota.yaml.tera"),
    ),
    (
        "base/network.yaml.tera",
        include_str!("../../../templates/base/network.yaml.tera"),
    ),
    (
        "base/access.yaml.tera",
        include_str!("../../../templates/base/access.yaml.tera"),
    ),
    (
        "base/ingress.yaml.tera",
        include_str!("../../../templates/base/ingress.yaml.tera"),
    ),
    (
        "base/notice.yaml.tera",
        include_str!("../../../templates/base/notice.yaml.tera"),
    ),
    (
        "apps/common-pvc.yaml.tera",
        include_str!("../../../templates/apps/common-pvc.yaml.tera"),
    ),
    (
        "apps/common-web-service.yaml.tera",
        include_str!("../../../templates/apps/common-web-service.yaml.tera"),
    ),
    (
        "apps/common-php-web.yaml.tera",
        include_str!("../../../templates/apps/common-php-web.yaml.tera"),
    ),
    (
        "apps/common-mariadb.yaml.tera",
        include_str!("../../../templates/apps/common-mariadb.yaml.tera"),
    ),
    (
        "apps/static/app.yaml.tera",
        include_str!("../../../templates/apps/static/app.yaml.tera"),
    ),
    (
        "apps/php/app.yaml.tera",
        include_str!("../../../templates/apps/php/app.yaml.tera"),
    ),
    (
        "apps/wordpress/app.yaml.tera",
        include_str!("../../../templates/apps/wordpress/app.yaml.tera"),
    ),
    (
        "apps/opensid/app.yaml.tera",
        include_str!("../../../templates/apps/opensid/app.yaml.tera"),
    ),
    (
        "apps/container/app.yaml.tera",
        include_str!("../../../templates/apps/container/app.yaml.tera"),
    ),
];

/// Each app template's parameter declarations.
const PARAMS: &[(AppTemplate, &str)] = &[
    (
        AppTemplate::Static,
        include_str!("../../../templates/apps/static/params.yaml"),
    ),
    (
        AppTemplate::Php,
        include_str!("../../../templates/apps/php/params.yaml"),
    ),
    (
        AppTemplate::Wordpress,
        include_str!("../../../templates/apps/wordpress/params.yaml"),
    ),
    (
        AppTemplate::Opensid,
        include_str!("../../../templates/apps/opensid/params.yaml"),
    ),
    (
        AppTemplate::Container,
        include_str!("../../../templates/apps/container/params.yaml"),
    ),
];

/// The base objects every hosting namespace gets, in apply order.
const BASE: &[&str] = &[
    "base/namespace.yaml.tera",
    "base/quota.yaml.tera",
    "base/network.yaml.tera",
    "base/access.yaml.tera",
];

/// One declared template parameter.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct ParamDecl {
    pub name: String,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    pub pattern: String,
    pub description: String,
}

/// The loaded templates.
pub struct Templates {
    tera: Tera,
    params: BTreeMap<&'static str, (Vec<ParamDecl>, Vec<regex::Regex>)>,
}

/// Everything a template sees.
#[derive(Clone, Debug, Serialize)]
pub struct RenderInput {
    pub tenant: String,
    pub hosting: String,
    pub namespace: String,
    pub template: AppTemplate,
    /// Resolved parameters (defaults filled in, validated).
    pub params: BTreeMap<String, String>,
    pub resources: HostingResources,
    pub domains: Vec<String>,
    /// The domains (of `domains`) whose every name below is answered too (`*.<domain>`): the
    /// Ingress routes those names to the same site, under the domain's certificate.
    #[serde(default)]
    pub wildcard_domains: Vec<String>,
    /// The tenant's groups (RoleBinding subjects).
    pub groups: Vec<String>,
    pub suspended: bool,
    pub suspend_reason: String,
    pub ingress_namespace: String,
    pub ingress_class: String,
    /// The catalog's images under the Pusat Data's registry (`{{ images.web }}`).
    pub images: Images,
    /// The Pusat Data's git mirror of application sources (OpenSID's code comes from there,
    /// never from the internet); `None` when the operator was given none.
    pub source_mirror: Option<SourceMirror>,
}

/// A git server at the Pusat Data that serves application sources read-only, by address: a
/// hosting's NetworkPolicy admits exactly this address and port for the one-time fetch.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SourceMirror {
    /// Base URL, repositories under it (`git://10.0.0.5:9418`, `https://10.0.0.5/mirror`).
    pub url: String,
    pub ip: std::net::IpAddr,
    pub port: u16,
}

impl std::str::FromStr for SourceMirror {
    type Err = String;
    /// `git://IP[:PORT][/path]`, `http://…` or `https://…`; the host must be an IP address
    /// (a NetworkPolicy admits addresses, not names).
    fn from_str(s: &str) -> Result<Self, String> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("source mirror '{s}': expected git://, http:// or https://"))?;
        let default_port = match scheme {
            "git" => 9418,
            "http" => 80,
            "https" => 443,
            _ => {
                return Err(format!(
                    "source mirror '{s}': scheme must be git, http or https"
                ));
            }
        };
        let hostport = rest.split('/').next().unwrap_or_default();
        let (ip, port) = match hostport.parse::<std::net::SocketAddr>() {
            Ok(sa) => (sa.ip(), sa.port()),
            Err(_) => (
                hostport
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .map_err(|_| {
                        format!("source mirror '{s}': the host must be an IP address (NetworkPolicies admit addresses)")
                    })?,
                default_port,
            ),
        };
        Ok(Self {
            url: s.trim_end_matches('/').to_string(),
            ip,
            port,
        })
    }
}

/// The label every rendered object carries: which hosting namespace it belongs to.
pub const HOSTING_LABEL: &str = "kavling.go.id/hosting";

/// Why templates could not be loaded or a hosting not rendered. Loading errors are the
/// project's (the templates are compiled in and unit-tested); rendering errors are usually
/// the hosting's (a disk too small for its database).
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("templates: {0}")]
    Parse(String),
    #[error("templates/apps/{template}/params.yaml: {message}")]
    Params {
        template: &'static str,
        message: String,
    },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("rendering {template}: {message}")]
    Render { template: String, message: String },
}

impl TemplateError {
    /// A stable category for metrics, Events and conditions.
    pub fn category(&self) -> &'static str {
        match self {
            TemplateError::Parse(_) | TemplateError::Params { .. } => "template-defect",
            TemplateError::Invalid { .. } => "invalid-spec",
            TemplateError::Render { .. } => "render",
        }
    }
}

impl Templates {
    /// Loads the compiled-in templates once (a broken template is a start-up error, never a
    /// reconcile error).
    pub fn load() -> Result<Self, TemplateError> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_function("share", share);
        tera.add_raw_templates(FILES.iter().copied())
            .map_err(|e| TemplateError::Parse(format!("{e:?}")))?;
        let mut params = BTreeMap::new();
        for (t, text) in PARAMS {
            let decls: Vec<ParamDecl> =
                serde_norway::from_str(text).map_err(|e| TemplateError::Params {
                    template: t.as_str(),
                    message: e.to_string(),
                })?;
            let res = decls
                .iter()
                .map(|d| {
                    regex::Regex::new(&d.pattern).map_err(|e| TemplateError::Params {
                        template: t.as_str(),
                        message: format!("{}: {e}", d.name),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            params.insert(t.as_str(), (decls, res));
        }
        Ok(Self { tera, params })
    }

    /// The parameters a template declares.
    pub fn params(&self, t: AppTemplate) -> &[ParamDecl] {
        &self.params[t.as_str()].0
    }

    /// Checks the given parameters against the template's declarations and fills in the
    /// defaults (pure): unknown, missing and malformed parameters are named.
    pub fn resolve(
        &self,
        t: AppTemplate,
        given: &BTreeMap<String, String>,
        field: &str,
    ) -> Result<BTreeMap<String, String>, Vec<Violation>> {
        let (decls, res) = &self.params[t.as_str()];
        let mut out = BTreeMap::new();
        let mut bad = vec![];
        for k in given.keys() {
            if !decls.iter().any(|d| &d.name == k) {
                let known: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
                bad.push(Violation::new(
                    format!("{field}.{k}"),
                    "template-parameter-unknown",
                    format!(
                        "template '{}' has no parameter '{k}'; it takes: {}",
                        t.as_str(),
                        known.join(", ")
                    ),
                ));
            }
        }
        for (d, re) in decls.iter().zip(res) {
            match given.get(&d.name).or(d.default.as_ref()) {
                Some(v) if re.is_match(v) => {
                    out.insert(d.name.clone(), v.clone());
                }
                Some(v) => bad.push(Violation::new(
                    format!("{field}.{}", d.name),
                    "template-parameter-invalid",
                    format!(
                        "'{v}' is not valid for {}: {} (pattern {})",
                        d.name, d.description, d.pattern
                    ),
                )),
                None => bad.push(Violation::new(
                    format!("{field}.{}", d.name),
                    "template-parameter-required",
                    format!(
                        "template '{}' needs {}: {}",
                        t.as_str(),
                        d.name,
                        d.description
                    ),
                )),
            }
        }
        if bad.is_empty() { Ok(out) } else { Err(bad) }
    }

    /// Renders a hosting namespace (pure): every object, as JSON values, in apply order.
    pub fn render(&self, input: &RenderInput) -> Result<Vec<serde_json::Value>, TemplateError> {
        let render_error = |template: &str, message: String| TemplateError::Render {
            template: template.to_string(),
            message,
        };
        let mut ctx = tera::Context::from_serialize(input)
            .map_err(|e| render_error("input", e.to_string()))?;
        ctx.insert("labels", &labels_yaml(input));
        ctx.insert("container_cpu", &fraction(&input.resources.cpu, 4.0, true));
        // CPU is overcommitted 4:1 (see `share`): a container's default request is a quarter
        // of its default limit
        ctx.insert(
            "container_cpu_request",
            &fraction(&input.resources.cpu, 16.0, true),
        );
        ctx.insert(
            "container_memory",
            &fraction(&input.resources.memory, 4.0, false),
        );
        let data = data_size(input).ok_or_else(|| TemplateError::Invalid {
            field: "spec.resources.disk",
            message: "must be larger than parameters.databaseSize (the database volume comes out of the same disk quota)".into(),
        })?;
        ctx.insert("data_size", &data);
        if let Some(image) = input.params.get("image").filter(|i| !i.is_empty()) {
            input
                .images
                .check_tenant_image(image)
                .map_err(|message| TemplateError::Invalid {
                    field: "spec.parameters.image",
                    message,
                })?;
        }
        if input.template == AppTemplate::Opensid && input.source_mirror.is_none() {
            return Err(render_error(
                "apps/opensid/app.yaml.tera",
                "the operator has no --source-mirror: OpenSID's code comes only from the Pusat Data's git mirror".into(),
            ));
        }
        let app = format!("apps/{}/app.yaml.tera", input.template.as_str());
        let mut out = vec![];
        for name in BASE.iter().copied().chain([
            app.as_str(),
            "base/ingress.yaml.tera",
            "base/notice.yaml.tera",
        ]) {
            let text = self
                .tera
                .render(name, &ctx)
                .map_err(|e| render_error(name, error_chain(&e)))?;
            for doc in text.split("\n---") {
                if doc
                    .lines()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
                {
                    continue;
                }
                let v: serde_json::Value = serde_norway::from_str(doc)
                    .map_err(|e| render_error(name, format!("invalid YAML: {e}\n{doc}")))?;
                if !v.is_null() {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }
}

fn error_chain(e: &tera::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

/// The labels block of every rendered object.
fn labels_yaml(i: &RenderInput) -> String {
    format!(
        "{HOSTING_LABEL}: {}\nkavling.go.id/tenant: {}\napp.kubernetes.io/managed-by: kavling\napp.kubernetes.io/part-of: {}",
        i.namespace, i.tenant, i.hosting
    )
}

/// A quarter (or another fraction) of a quantity, as a quantity: per-container defaults.
fn fraction(q: &str, div: f64, cpu: bool) -> String {
    let v = quantity::parse(q).unwrap_or(0.0) / div;
    if cpu {
        format!("{}m", ((v * 1000.0).floor() as u64).max(10))
    } else {
        format!("{}Mi", ((v / 1048576.0).floor() as u64).max(16))
    }
}

/// `share(cpu=Q, eighths=N[, request=true])` / `share(memory=Q, eighths=N[, unit="M"])`: N
/// eighths of a hosting's CPU or memory, for a container's limits (so a template's containers
/// add up to what the quota holds, with room left for the suspension notice). CPU *requests*
/// (`request=true`) are a quarter of that: the Pusat Data overcommits CPU 4:1, which sites
/// idle enough to bear, and never memory (requests = limits). `unit="M"` gives whole
/// mebibytes as a server flag wants them (`128M`).
fn share(args: &std::collections::HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    let eighths = args
        .get("eighths")
        .and_then(|v| v.as_f64())
        .filter(|e| *e > 0.0 && *e <= 8.0)
        .ok_or_else(|| tera::Error::msg("share: eighths must be 1 to 8"))?;
    let arg = |k: &str| args.get(k).and_then(|v| v.as_str());
    let out = match (arg("cpu"), arg("memory")) {
        (Some(q), None) => {
            let request = args.get("request").and_then(|v| v.as_bool()) == Some(true);
            fraction(q, if request { 32.0 } else { 8.0 } / eighths, true)
        }
        (Some(_), Some(_)) | (None, None) => {
            return Err(tera::Error::msg(
                "share: give exactly one of cpu= or memory=",
            ));
        }
        (None, Some(q)) => {
            let mi = fraction(q, 8.0 / eighths, false);
            match arg("unit") {
                Some("M") => mi.replace("Mi", "M"),
                None => mi,
                Some(u) => return Err(tera::Error::msg(format!("share: unknown unit '{u}'"))),
            }
        }
    };
    Ok(tera::Value::String(out))
}

/// The app's data volume: the disk quota, less the database volume when the template has one
/// (both count against `requests.storage`). `None` when nothing would be left.
pub fn data_size(input: &RenderInput) -> Option<String> {
    let disk = quantity::parse(&input.resources.disk)?;
    let db = input
        .params
        .get("databaseSize")
        .and_then(|d| quantity::parse(d))
        .unwrap_or(0.0);
    if db == 0.0 {
        return Some(input.resources.disk.clone());
    }
    let mi = ((disk - db) / 1048576.0).floor();
    (mi >= 1.0).then(|| format!("{}Mi", mi as u64))
}

/// `Kind/name` of a rendered object.
pub fn object_key(v: &serde_json::Value) -> String {
    format!(
        "{}/{}",
        v["kind"].as_str().unwrap_or_default(),
        v["metadata"]["name"].as_str().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests;
