//! Purging a bucket's objects over S3 (the admin APIs cannot), for a Bucket deleted with
//! `deletionPolicy: Delete` and `purge: true`. rusty-s3 signs the requests (it does no I/O and
//! builds in seconds, unlike aws-sdk-s3); reqwest sends them.

use std::time::Duration;

use rusty_s3::actions::{ListObjectsV2, ObjectIdentifier};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::{KeyPair, StoreError};

const SIGN_FOR: Duration = Duration::from_secs(300);
/// Upper bound of list+delete rounds in one call (1000 keys each); the reconcile that called
/// comes back for the rest.
const MAX_ROUNDS: usize = 100;

/// Deletes every object in `bucket` using `key`. Returns how many were deleted.
pub async fn purge(
    endpoint: &str,
    region: &str,
    bucket: &str,
    key: &KeyPair,
) -> Result<u64, StoreError> {
    let unavailable = |e: &dyn std::fmt::Display| StoreError::Unavailable(format!("purge: {e}"));
    let url = endpoint.parse().map_err(|e| unavailable(&e))?;
    let b = Bucket::new(url, UrlStyle::Path, bucket.to_string(), region.to_string())
        .map_err(|e| unavailable(&e))?;
    let creds = Credentials::new(key.access_key_id.clone(), key.secret_access_key.clone());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| unavailable(&e))?;
    let mut deleted = 0u64;
    for _ in 0..MAX_ROUNDS {
        let list = b.list_objects_v2(Some(&creds));
        let text = http
            .get(list.sign(SIGN_FOR))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable(&e))?
            .text()
            .await
            .map_err(|e| unavailable(&e))?;
        let listed = ListObjectsV2::parse_response(&text).map_err(|e| StoreError::Protocol {
            call: "ListObjectsV2",
            message: e.to_string(),
        })?;
        if listed.contents.is_empty() {
            return Ok(deleted);
        }
        let ids: Vec<ObjectIdentifier> = listed
            .contents
            .iter()
            .map(|o| ObjectIdentifier::new(o.key.clone()))
            .collect();
        let action = b.delete_objects(Some(&creds), ids.iter());
        let signed = action.sign(SIGN_FOR);
        let (body, md5) = action.body_with_md5();
        http.post(signed)
            .header("Content-MD5", md5)
            .body(body)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable(&e))?;
        deleted += ids.len() as u64;
    }
    Ok(deleted)
}
