//! A permohonan penyimpanan: approval makes a Bucket in the tenant's home namespace, backed
//! by the object-store bucket `<tenant>--<name>`.

use kube::ResourceExt;

use super::{ClusterView, Existing, Output, RequestBody, output_meta, standing};
use crate::api::{Bucket, BucketSpec, OutputRef, Request, StorageRequest, Tenant};
use crate::hosting::Templates;
use crate::rules::{Violation, storage};

impl RequestBody for StorageRequest {
    fn output_ref(&self, namespace: &str) -> OutputRef {
        OutputRef {
            kind: "Bucket".into(),
            name: self.name.clone(),
            namespace: Some(namespace.to_string()),
        }
    }

    /// Named as asked, with the request's data specification and Kavling's defaults (keys
    /// rotate every 90 days; data retained on deletion).
    fn build(&self, req: &Request, tenant: &str) -> Result<Output, Vec<Violation>> {
        let mut b = Bucket::new(
            &self.name,
            BucketSpec {
                size: self.size.clone(),
                max_objects: None,
                classification: self.classification,
                personal_data: self.personal_data,
                versioning: self.versioning,
                rotation: Default::default(),
                deletion_policy: Default::default(),
                purge: false,
                suspend: None,
            },
        );
        b.metadata = output_meta(req, &self.name, req.namespace(), [], tenant);
        Ok(Output::Bucket(Box::new(b)))
    }

    fn effects(&self, tenant: &str, namespace: &str) -> Vec<String> {
        vec![format!(
            "bucket {} with quota {} ({:?}{}), credentials Secret {} in {namespace}",
            storage::backend_name(tenant, &self.name),
            self.size,
            self.classification,
            if self.personal_data {
                ", personal data"
            } else {
                ""
            },
            storage::secret_name(&self.name),
        )]
    }

    fn existing(&self, req: &Request, view: &ClusterView) -> Existing {
        let ns = req.namespace().unwrap_or_default();
        let Some(b) = view
            .buckets
            .get(&crate::outputs::request_key(&ns, &self.name))
        else {
            return Existing::Absent;
        };
        standing(b.annotations(), b.status.as_ref(), req, || {
            Violation::new(
                "spec.storage.name",
                "name-taken",
                format!(
                    "a Bucket named '{}' already exists in {ns}; choose another name",
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
        _built: &Output,
        _templates: &Templates,
    ) -> Vec<Violation> {
        let mut v = storage::check_bucket_name(
            "spec.storage.name",
            &storage::backend_name(&tenant.name_any(), &self.name),
        );
        let others: Vec<u64> = view
            .buckets
            .values()
            .filter(|b| b.namespace().as_deref() == Some(namespace))
            .map(|b| storage::size_bytes(&b.spec.size).unwrap_or(0))
            .collect();
        if let Some(size) = storage::size_bytes(&self.size) {
            v.extend(storage::check_budget(
                "spec.storage.size",
                &tenant.spec.limits,
                &others,
                size,
            ));
        }
        v
    }
}
