//! The Kavling API (`kavling.go.id/v1alpha1`): Rust types from which the CRDs are generated.

pub mod approval;
pub mod bucket;
pub mod certificate;
pub mod common;
pub mod dnsrecord;
pub mod hosting;
pub mod request;
pub mod subdomain;
pub mod tenant;
pub mod zone;

pub use approval::{Approval, ApprovalSpec, Decision};
pub use bucket::{
    Bucket, BucketSpec, BucketStatus, BucketUsage, DeletionPolicy, RetiringKey, Rotation,
};
pub use certificate::{
    Certificate, CertificateSpec, CertificateStatus, ExternalAccountBinding, Failure, Issuer,
    IssuerLimits, IssuerSpec, IssuerStatus, KeyAlgorithm, OrderStep, SecretKeyRef,
};
pub use common::{Condition, GROUP, OutputRef, Suspension, annotations, labels};
pub use dnsrecord::{DnsRecord, DnsRecordSpec, DnsRecordStatus, RecordType, record_object_name};
pub use hosting::{
    AppTemplate, Hosting, HostingResources, HostingSpec, HostingStatus, HostingUsage,
};
pub use request::{
    Body, DataClassification, DecisionRecord, HostingRequest, Letter, Request, RequestPhase,
    RequestSpec, RequestStatus, Signer, StorageRequest, SubdomainRequest, Target,
};
pub use subdomain::{Subdomain, SubdomainSpec, SubdomainStatus};
pub use tenant::{
    Contact, Identity, Tenant, TenantLimits, TenantSpec, TenantStatus, TenantType, TenantUsage,
    home_namespace, tenant_of_namespace,
};
pub use zone::{
    Dnssec, DnssecAlgorithm, DnssecStatus, NamingPolicy, Soa, SuspensionMode, SuspensionPolicy,
    Transfer, Zone, ZoneKeyStatus, ZoneSpec, ZoneStatus,
};
