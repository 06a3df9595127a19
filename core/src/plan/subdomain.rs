//! A permohonan subdomain: approval claims `<label>.<zone>` as a cluster-scoped Subdomain.

use std::net::IpAddr;

use kube::ResourceExt;

use super::{ClusterView, Existing, Output, RequestBody, output_meta, prefixed, standing};
use crate::api::{OutputRef, Request, Subdomain, SubdomainRequest, SubdomainSpec, Tenant};
use crate::hosting::Templates;
use crate::outputs::{REQUEST_ANNOTATION, label_value};
use crate::rules::{Violation, naming};

impl SubdomainRequest {
    /// `<label>.<zone>`.
    pub fn fqdn(&self) -> String {
        format!("{}.{}", self.label, self.zone)
    }
}

impl RequestBody for SubdomainRequest {
    fn output_ref(&self, _namespace: &str) -> OutputRef {
        OutputRef {
            kind: "Subdomain".into(),
            name: self.fqdn(),
            namespace: None,
        }
    }

    fn build(&self, req: &Request, tenant: &str) -> Result<Output, Vec<Violation>> {
        let fqdn = self.fqdn();
        let mut sd = Subdomain::new(
            &fqdn,
            SubdomainSpec {
                zone: self.zone.clone(),
                label: self.label.clone(),
                tenant: tenant.to_string(),
                application_name: Some(self.application_name.clone()),
                website: self.website,
                tls: self.tls,
                ttl: None,
                target: self.target.clone(),
                suspend: None,
                wildcard: self.wildcard,
            },
        );
        sd.metadata = output_meta(
            req,
            &fqdn,
            None,
            [(
                crate::api::labels::ZONE.to_string(),
                label_value(&self.zone),
            )],
            tenant,
        );
        Ok(Output::Subdomain(Box::new(sd)))
    }

    fn effects(&self, _tenant: &str, _namespace: &str) -> Vec<String> {
        let fqdn = self.fqdn();
        let mut out = vec![format!(
            "Subdomain {fqdn}{}",
            if self.website { " (website)" } else { "" }
        )];
        let t = &self.target;
        let (v4, v6): (Vec<&String>, Vec<&String>) = t
            .addresses
            .iter()
            .partition(|a| matches!(a.parse::<IpAddr>(), Ok(IpAddr::V4(_))));
        for (rtype, addrs) in [("A", v4), ("AAAA", v6)] {
            if !addrs.is_empty() {
                let list: Vec<&str> = addrs.iter().map(|s| s.as_str()).collect();
                out.push(format!("{rtype} {fqdn} → {}", list.join(", ")));
            }
        }
        if let Some(a) = &t.alias {
            out.push(format!("CNAME {fqdn} → {a}"));
        }
        if let Some(h) = &t.hosting {
            out.push(format!(
                "A/AAAA {fqdn} → the ingress of hosting {h}, once it is Ready"
            ));
        }
        if self.tls {
            out.push(format!("TLS certificate for {fqdn} (ACME, DNS-01)"));
        }
        out
    }

    fn existing(&self, req: &Request, view: &ClusterView) -> Existing {
        let fqdn = self.fqdn();
        let Some(sd) = view.subdomains.get(&fqdn) else {
            return Existing::Absent;
        };
        standing(sd.annotations(), sd.status.as_ref(), req, || {
            let holder = sd
                .annotations()
                .get(REQUEST_ANNOTATION)
                .cloned()
                .unwrap_or_else(|| "an earlier registration".into());
            Violation::new(
                "spec.subdomain.label",
                "name-taken",
                format!(
                    "{fqdn} is already held by tenant '{}' ({holder}); choose another label",
                    sd.spec.tenant
                ),
            )
        })
    }

    fn check_live(
        &self,
        tenant: &Tenant,
        _namespace: &str,
        view: &ClusterView,
        _built: &Output,
        _templates: &Templates,
    ) -> Vec<Violation> {
        let name = tenant.name_any();
        let held: Vec<&Subdomain> = view
            .subdomains
            .values()
            .filter(|s| s.spec.tenant == name)
            .collect();
        let served: Vec<String> = view.zones.keys().cloned().collect();
        let alias_holder = match self.target.alias.as_deref() {
            Some(a) => match view.subdomains.get(a.trim_end_matches('.')) {
                Some(sd) => naming::Holder::Tenant(&sd.spec.tenant),
                None => naming::Holder::Nobody,
            },
            None => naming::Holder::Nobody,
        };
        let claim = naming::Claim {
            label: &self.label,
            zone_name: &self.zone,
            zone: view.zones.get(&self.zone).map(|z| &z.spec),
            served_zones: &served,
            tenant: &name,
            tenant_type: tenant.spec.type_,
            limits: &tenant.spec.limits,
            held: naming::Holdings {
                subdomains: held.len() as u32,
                websites: held.iter().filter(|s| s.spec.website).count() as u32,
            },
            website: self.website,
            wildcard: self.wildcard,
            target: &self.target,
            alias_holder,
            denied_ranges: &view.denied_ranges,
        };
        prefixed("spec.subdomain", naming::check_claim(&claim))
    }
}
