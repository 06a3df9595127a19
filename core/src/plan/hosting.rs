//! A permohonan hosting: approval makes a Hosting in the tenant's home namespace, which
//! renders its template into the namespace `<tenant>--<name>`.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::{ClusterView, Existing, Output, RequestBody, output_meta, prefixed, standing};
use crate::api::{
    AppTemplate, Hosting, HostingRequest, HostingResources, HostingSpec, OutputRef, Request, Tenant,
};
use crate::hosting::Templates;
use crate::rules::{Violation, derived};

/// Template parameters from a hosting request's free-text specification: one `key: value`
/// (or `key=value`) per line; other lines are description and ignored.
pub fn parameters_from_specification(spec: Option<&str>) -> BTreeMap<String, String> {
    spec.unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':').or_else(|| l.split_once('=')))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, v)| {
            !k.is_empty()
                && !v.is_empty()
                && k.chars().all(|c| c.is_ascii_alphanumeric())
                && !v.starts_with("//")
        })
        .collect()
}

impl RequestBody for HostingRequest {
    fn output_ref(&self, namespace: &str) -> OutputRef {
        OutputRef {
            kind: "Hosting".into(),
            name: self.name.clone(),
            namespace: Some(namespace.to_string()),
        }
    }

    fn build(&self, req: &Request, tenant: &str) -> Result<Output, Vec<Violation>> {
        let Some(template) = AppTemplate::parse(&self.template) else {
            return Err(vec![Violation::new(
                "spec.hosting.template",
                "template",
                format!("unknown template '{}'", self.template),
            )]);
        };
        let mut h = Hosting::new(
            &self.name,
            HostingSpec {
                template,
                parameters: parameters_from_specification(self.specification.as_deref()),
                resources: HostingResources {
                    cpu: self.cpu.clone(),
                    memory: self.memory.clone(),
                    disk: self.disk.clone(),
                    pods: 10,
                },
                domains: vec![],
                suspend: None,
            },
        );
        h.metadata = output_meta(req, &self.name, req.namespace(), [], tenant);
        Ok(Output::Hosting(Box::new(h)))
    }

    fn effects(&self, tenant: &str, _namespace: &str) -> Vec<String> {
        vec![format!(
            "namespace {} from template {} with quota cpu {}, memory {}, disk {}",
            derived::hosting_namespace(tenant, &self.name),
            self.template,
            self.cpu,
            self.memory,
            self.disk
        )]
    }

    fn existing(&self, req: &Request, view: &ClusterView) -> Existing {
        let ns = req.namespace().unwrap_or_default();
        let Some(h) = view
            .hostings
            .get(&crate::outputs::request_key(&ns, &self.name))
        else {
            return Existing::Absent;
        };
        standing(h.annotations(), h.status.as_ref(), req, || {
            Violation::new(
                "spec.hosting.name",
                "name-taken",
                format!(
                    "a Hosting named '{}' already exists in {ns}; choose another name",
                    self.name
                ),
            )
        })
    }

    fn check_live(
        &self,
        tenant: &Tenant,
        namespace: &str,
        view: &ClusterView,
        built: &Output,
        templates: &Templates,
    ) -> Vec<Violation> {
        let Output::Hosting(want) = built else {
            return vec![];
        };
        let mut v = match templates.resolve(
            want.spec.template,
            &want.spec.parameters,
            "spec.hosting.specification",
        ) {
            Ok(params) => image_violations(&params, view),
            Err(v) => v,
        };
        let others: Vec<&HostingResources> = view
            .hostings
            .values()
            .filter(|h| h.namespace().as_deref() == Some(namespace))
            .map(|h| &h.spec.resources)
            .collect();
        v.extend(prefixed(
            "spec.hosting",
            crate::rules::hosting::check_tenant_budget(
                &tenant.spec.limits,
                &others,
                &want.spec.resources,
            )
            .into_iter()
            .map(|mut x| {
                x.field = x.field.trim_start_matches("spec.resources.").to_string();
                x
            })
            .collect(),
        ));
        v
    }
}

/// A tenant-given image must come from the Pusat Data's registry and be pinned: refused at
/// approval, before a namespace is made for a pod that could never start.
fn image_violations(params: &BTreeMap<String, String>, view: &ClusterView) -> Vec<Violation> {
    let Some(image) = params.get("image").filter(|i| !i.is_empty()) else {
        return vec![];
    };
    let checked = match &view.images {
        Some(images) => images.check_tenant_image(image),
        None => crate::hosting::check_pinned(image),
    };
    match checked {
        Ok(()) => vec![],
        Err(message) => vec![Violation::new(
            "spec.hosting.specification.image",
            "hosting-image",
            message,
        )],
    }
}
