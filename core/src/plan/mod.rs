//! What approving a request does, decided from plain values: [`plan`] takes a Request and a
//! [`ClusterView`] (what the cluster holds, as far as this request needs it) and returns the
//! [`Desired`] outcome — the object approval creates, what a person should expect from it,
//! and every rule that stops it.
//!
//! The Request controller runs this at approval time (over a view it reads for the one
//! request); `kavling plan` and `kavling validate --cluster` run it over a view of the whole
//! cluster. So what a pull request shows is what approval does.
//!
//! Each request body is one module implementing [`RequestBody`]; a new request type is a new
//! module and a new [`Body`] variant (plus its field in `api::request`).

pub mod hosting;
pub mod storage;
pub mod subdomain;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use crate::api::{
    Bucket, Hosting, OutputRef, Request, Subdomain, Tenant, Zone, tenant_of_namespace,
};
use crate::hosting::Templates;
use crate::rules::naming::Cidr;
use crate::rules::{self, Violation};
use crate::status::{self, types};

/// What the cluster holds, as far as planning needs it. The CLI fills it from a LIST of
/// everything; the operator reads only what one request needs.
#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    /// `false`: planned from files alone — the rules that need live state are not judged.
    pub live: bool,
    /// Zones by domain.
    pub zones: BTreeMap<String, Zone>,
    /// Tenants by name.
    pub tenants: BTreeMap<String, Tenant>,
    /// Subdomains by FQDN.
    pub subdomains: BTreeMap<String, Subdomain>,
    /// Hostings by `namespace/name`.
    pub hostings: BTreeMap<String, Hosting>,
    /// Buckets by `namespace/name`.
    pub buckets: BTreeMap<String, Bucket>,
    /// Ranges a published address may not fall in (the operator's `--denied-target-cidr`;
    /// empty in the CLI, which cannot see them — approval still applies them).
    pub denied_ranges: Vec<Cidr>,
    /// The Pusat Data's registry and catalog (the operator's `--image-registry`); `None` in
    /// the CLI, which judges only that a tenant's image is pinned.
    pub images: Option<crate::hosting::Images>,
}

impl ClusterView {
    /// A view of everything listed: the CLI's.
    pub fn from_lists(
        zones: Vec<Zone>,
        tenants: Vec<Tenant>,
        subdomains: Vec<Subdomain>,
        hostings: Vec<Hosting>,
        buckets: Vec<Bucket>,
    ) -> Self {
        Self {
            live: true,
            zones: zones.into_iter().map(|z| (z.name_any(), z)).collect(),
            tenants: tenants.into_iter().map(|t| (t.name_any(), t)).collect(),
            subdomains: subdomains.into_iter().map(|s| (s.name_any(), s)).collect(),
            hostings: hostings.into_iter().map(|h| (key(&h), h)).collect(),
            buckets: buckets.into_iter().map(|b| (key(&b), b)).collect(),
            denied_ranges: vec![],
            images: None,
        }
    }
}

/// `namespace/name`: how namespaced objects are keyed in a [`ClusterView`].
pub fn key<K: kube::Resource>(obj: &K) -> String {
    crate::outputs::request_key(
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default(),
    )
}

/// The object an approved request creates.
#[derive(Clone, Debug)]
pub enum Output {
    Subdomain(Box<Subdomain>),
    Hosting(Box<Hosting>),
    Bucket(Box<Bucket>),
}

/// The output as it stands in the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Not made yet.
    Absent,
    /// Made for this request; `ready` with the output's own message.
    Ours { ready: bool, message: String },
    /// The name is held by something else: the violation says by whom.
    Theirs(Violation),
}

/// What approving a request does.
#[derive(Clone, Debug)]
pub struct Desired {
    /// `subdomain`, `hosting` or `storage` (`none` for a request without a body).
    pub type_: &'static str,
    /// What approval makes, named.
    pub output: Option<OutputRef>,
    /// What approval makes, built; `None` when the request is invalid.
    pub object: Option<Output>,
    /// What a person should expect, one line each (records, certificate, namespace…).
    pub effects: Vec<String>,
    pub existing: Existing,
    /// What is wrong with the request itself (fix the request).
    pub invalid: Vec<Violation>,
    /// The live rules that stop it now (name held, limits, the zone's policy…).
    pub blocked: Vec<Violation>,
}

impl Desired {
    /// Everything that stops approval, in the order a person should read it.
    pub fn refusals(&self) -> impl Iterator<Item = &Violation> {
        let taken = match &self.existing {
            Existing::Theirs(v) => Some(v),
            _ => None,
        };
        self.invalid.iter().chain(taken).chain(&self.blocked)
    }
}

/// One kind of request body: a permohonan subdomain, hosting or penyimpanan.
pub trait RequestBody {
    /// The object approval makes, named (before it is built).
    fn output_ref(&self, namespace: &str) -> OutputRef;
    /// The object approval makes (pure), or why the body cannot make one.
    fn build(&self, req: &Request, tenant: &str) -> Result<Output, Vec<Violation>>;
    /// What a person should expect, one line each.
    fn effects(&self, tenant: &str, namespace: &str) -> Vec<String>;
    /// The output in `view`, if any, and whose it is.
    fn existing(&self, req: &Request, view: &ClusterView) -> Existing;
    /// The rules that need live state, for a tenant that exists. `built` is this body's own
    /// output from [`RequestBody::build`].
    fn check_live(
        &self,
        tenant: &Tenant,
        namespace: &str,
        view: &ClusterView,
        built: &Output,
        templates: &Templates,
    ) -> Vec<Violation>;
}

pub use crate::api::request::Body;

/// The body's planning, as a trait object.
pub fn as_dyn<'a>(body: &Body<'a>) -> &'a dyn RequestBody {
    match *body {
        Body::Subdomain(b) => b,
        Body::Hosting(b) => b,
        Body::Storage(b) => b,
    }
}

/// Plans one request (pure). `today` dates the letter rules.
pub fn plan(
    req: &Request,
    view: &ClusterView,
    templates: &Templates,
    today: chrono::NaiveDate,
) -> Desired {
    let ns = req.namespace().unwrap_or_default();
    let mut invalid = rules::request::check(&req.spec, today);
    let tenant = tenant_of_namespace(&ns);
    if tenant.is_none() {
        invalid.push(Violation::new(
            "metadata.namespace",
            "home-namespace",
            format!("requests are filed in a tenant's home namespace (tenant-<name>), not in {ns}"),
        ));
    }
    let tenant = tenant.unwrap_or_default();
    let Some(body) = Body::of(&req.spec) else {
        invalid.push(Violation::new(
            "spec",
            "one-body",
            "the request carries no subdomain, hosting or storage",
        ));
        return Desired {
            type_: "none",
            output: None,
            object: None,
            effects: vec![],
            existing: Existing::Absent,
            invalid,
            blocked: vec![],
        };
    };
    let type_ = body.type_name();
    let body = as_dyn(&body);
    let built = body.build(req, tenant);
    let object = match built {
        Ok(o) => Some(o),
        Err(v) => {
            invalid.extend(v);
            None
        }
    };
    let existing = if view.live {
        body.existing(req, view)
    } else {
        Existing::Absent
    };
    let mut blocked = vec![];
    if view.live && existing == Existing::Absent {
        match (view.tenants.get(tenant), &object) {
            (None, _) => blocked.push(Violation::new(
                "metadata.namespace",
                "tenant-exists",
                format!("tenant '{tenant}' does not exist; a Dinas engineer must create it first"),
            )),
            (Some(t), Some(o)) => blocked.extend(body.check_live(t, &ns, view, o, templates)),
            (Some(_), None) => {}
        }
    }
    Desired {
        type_,
        output: Some(body.output_ref(&ns)),
        object,
        effects: body.effects(tenant, &ns),
        existing,
        invalid,
        blocked,
    }
}

/// An existing output's standing for `req` (pure): ours or not, and Ready with its message.
/// `taken` is the violation when the name belongs to something else.
fn standing<S: crate::status::Conditioned>(
    annotations: &BTreeMap<String, String>,
    status: Option<&S>,
    req: &Request,
    taken: impl FnOnce() -> Violation,
) -> Existing {
    if !crate::outputs::made_for(annotations, req) {
        return Existing::Theirs(taken());
    }
    let conditions = status.map(|s| s.conditions()).unwrap_or_default();
    let ready = status::is_true(conditions, types::READY);
    let message = status::get(conditions, types::READY)
        .map(|c| c.message.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "being set up".into());
    Existing::Ours { ready, message }
}

/// Prefixes each violation's field with the body's (`label` → `spec.subdomain.label`).
fn prefixed(field: &str, v: Vec<Violation>) -> Vec<Violation> {
    v.into_iter()
        .map(|mut x| {
            x.field = format!("{field}.{}", x.field);
            x
        })
        .collect()
}

/// The metadata every output carries: the tenant and manager labels, the Request's annotations.
fn output_meta(
    req: &Request,
    name: &str,
    namespace: Option<String>,
    extra_labels: impl IntoIterator<Item = (String, String)>,
    tenant: &str,
) -> ObjectMeta {
    let mut labels = BTreeMap::from([
        (crate::api::labels::TENANT.to_string(), tenant.to_string()),
        (
            crate::api::labels::MANAGED_BY.to_string(),
            crate::api::labels::MANAGER.to_string(),
        ),
    ]);
    labels.extend(extra_labels);
    ObjectMeta {
        name: Some(name.to_string()),
        namespace,
        labels: Some(labels),
        annotations: Some(crate::outputs::request_annotations(req)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
