//! The object store's admin plane behind one small trait, so the Bucket controller does not
//! care which S3 server the Pusat Data runs. Garage (admin API v2) is the first backend; Ceph
//! RGW (admin ops API) or MinIO (madmin) fit the same shape — see [`Capabilities`] for what
//! each operation needs from a backend.

pub mod garage;
pub use kavling_core::keys;
pub mod purge;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

/// A boxed future, so the trait stays usable as `dyn ObjectStore`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A bucket as the object store sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketInfo {
    pub id: String,
    pub objects: u64,
    pub bytes: u64,
    /// Access key ids with any permission on the bucket.
    pub keys: Vec<String>,
}

/// An access key with its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print the secret
        f.debug_struct("KeyPair")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// What a backend can do beyond the basics (bucket, key, grant, delete).
#[derive(Clone, Copy, Debug)]
pub struct Capabilities {
    /// Byte quota per bucket. Garage: `UpdateBucket` quotas.maxSize. RGW: bucket quota.
    pub size_quota: bool,
    /// Object-count quota per bucket. Garage: quotas.maxObjects. RGW: max-objects.
    pub object_quota: bool,
    /// Keeping object versions. Garage: no. RGW/MinIO: S3 versioning.
    pub versioning: bool,
    /// Choosing the access key id ourselves (so a retried create finds its key instead of
    /// making a duplicate). Garage: `ImportKey`. RGW: `access-key` on key create.
    pub import_key: bool,
    /// Disabling a key without deleting it, and a key that stops working at a given time.
    /// Garage: key `expiration`. RGW: user suspend.
    pub key_expiry: bool,
}

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not reachable or answering 5xx: retry later.
    #[error("object store unreachable: {0}")]
    Unavailable(String),
    /// The object store refused the call (4xx other than not-found/conflict).
    #[error("object store refused {call}: {status} {message}")]
    Refused {
        call: &'static str,
        status: u16,
        message: String,
    },
    #[error("object store answered {call} with something unexpected: {message}")]
    Protocol { call: &'static str, message: String },
    /// A bucket exists under the name but nothing proves it is this Bucket's (another
    /// tenant's, or made by hand): it is refused, never adopted.
    #[error(
        "bucket {name} already exists on the object store (id {id}) and does not belong to this Bucket; Kavling never adopts a bucket by its name"
    )]
    NotOurs { name: String, id: String },
}

/// The admin plane of an S3 object store.
pub trait ObjectStore: Send + Sync {
    /// A short name for messages ("garage").
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;
    /// The S3 endpoint and region tenants use.
    fn endpoint(&self) -> (&str, &str);
    /// Creates the bucket named `name`, or finds it when it exists. `likely_exists` (the
    /// caller has seen it before) picks the cheaper order of calls; either way is correct.
    /// Makes the bucket `name` with `owner_key` (which must exist) granted read+write in the
    /// same call, or finds it — only if it provably is this Bucket's: its id is `known_id`
    /// (recorded in status), or, with none recorded, `owner_key` holds a grant on it.
    /// Anything else is [`StoreError::NotOurs`].
    fn ensure_bucket<'a>(
        &'a self,
        name: &'a str,
        owner_key: &'a str,
        known_id: Option<&'a str>,
    ) -> StoreFuture<'a, BucketInfo>;
    /// The bucket named `name`, if it exists.
    fn find_bucket<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<BucketInfo>>;
    /// Sets the bucket's quotas (`None` = unlimited).
    fn set_quota<'a>(
        &'a self,
        bucket_id: &'a str,
        max_bytes: Option<u64>,
        max_objects: Option<u64>,
    ) -> StoreFuture<'a, ()>;
    /// Creates the key `access_key_id` (with a fresh secret) or, when it exists, returns it
    /// with its secret. Idempotent: the id is chosen by the caller. `likely_exists` as for
    /// [`ObjectStore::ensure_bucket`].
    fn ensure_key<'a>(
        &'a self,
        access_key_id: &'a str,
        label: &'a str,
        likely_exists: bool,
    ) -> StoreFuture<'a, KeyPair>;
    /// Whether the key exists.
    fn key_exists<'a>(&'a self, access_key_id: &'a str) -> StoreFuture<'a, bool>;
    /// Read and write (never owner) on the bucket.
    fn grant<'a>(&'a self, bucket_id: &'a str, access_key_id: &'a str) -> StoreFuture<'a, ()>;
    /// `None`: the key works until deleted; `Some(t)`: it stops working at `t` (in the past:
    /// disabled now).
    fn set_key_expiry<'a>(
        &'a self,
        access_key_id: &'a str,
        expiry: Option<DateTime<Utc>>,
    ) -> StoreFuture<'a, ()>;
    /// Deletes the key; a missing key is not an error.
    fn delete_key<'a>(&'a self, access_key_id: &'a str) -> StoreFuture<'a, ()>;
    /// Deletes an empty bucket; a missing bucket is not an error.
    fn delete_bucket<'a>(&'a self, bucket_id: &'a str) -> StoreFuture<'a, ()>;
}
