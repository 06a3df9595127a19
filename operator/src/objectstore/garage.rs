//! Garage's admin API v2 (<https://garagehq.deuxfleurs.fr/api/garage-admin-v2.html>) as an
//! [`ObjectStore`]. Every call is one HTTP request with a Bearer token; the operator should
//! hold a token scoped to exactly the calls below (`garage admin-token create --scope …`,
//! see [`SCOPE`]), never the root admin token.
//!
//! Idempotency, call by call: `CreateBucket` answers 409 when the alias exists — then
//! `GetBucketInfo?globalAlias=` finds it. `CreateKey` is not idempotent (key names are not
//! unique), so keys are made with `ImportKey` under an id we choose; 409 means it exists and
//! `GetKeyInfo?showSecretKey=true` returns it. `AllowBucketKey`, `UpdateBucket` and
//! `UpdateKey` set state and can be repeated. `DeleteKey`/`DeleteBucket` answer 404 when
//! already gone, which counts as done.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{BucketInfo, Capabilities, KeyPair, ObjectStore, StoreError, StoreFuture};

/// The admin API calls Kavling uses: the scope of its admin token.
pub const SCOPE: &[&str] = &[
    "GetBucketInfo",
    "CreateBucket",
    "UpdateBucket",
    "DeleteBucket",
    "AllowBucketKey",
    "ImportKey",
    "GetKeyInfo",
    "UpdateKey",
    "DeleteKey",
];

/// A Garage cluster's admin endpoint plus the S3 endpoint tenants are given.
pub struct Garage {
    http: reqwest::Client,
    admin: String,
    token: String,
    s3_endpoint: String,
    s3_region: String,
}

impl Garage {
    pub fn new(
        admin: &str,
        token: String,
        s3_endpoint: String,
        s3_region: String,
    ) -> Result<Self, StoreError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            admin: admin.trim_end_matches('/').to_string(),
            token,
            s3_endpoint,
            s3_region,
        })
    }

    /// One admin call. `Ok(None)` for 404 and, when `conflict_ok`, for 409.
    async fn call(
        &self,
        call: &'static str,
        method: Method,
        query: &[(&str, &str)],
        body: Option<Value>,
        conflict_ok: bool,
    ) -> Result<Option<Value>, StoreError> {
        let url = format!("{}/v2/{call}", self.admin);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(&self.token)
            .query(query);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(format!("{call}: {e}")))?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND || (conflict_ok && status == StatusCode::CONFLICT) {
            return Ok(None);
        }
        let text = resp
            .text()
            .await
            .map_err(|e| StoreError::Unavailable(format!("{call}: {e}")))?;
        if status.is_server_error() {
            return Err(StoreError::Unavailable(format!(
                "{call}: {status} {}",
                garage_message(&text)
            )));
        }
        if !status.is_success() {
            return Err(StoreError::Refused {
                call,
                status: status.as_u16(),
                message: garage_message(&text),
            });
        }
        if text.trim().is_empty() {
            return Ok(Some(Value::Null));
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Protocol {
                call,
                message: e.to_string(),
            })
    }

    async fn bucket_by_alias(&self, name: &str) -> Result<Option<BucketInfo>, StoreError> {
        let v = self
            .call(
                "GetBucketInfo",
                Method::GET,
                &[("globalAlias", name)],
                None,
                false,
            )
            .await?;
        v.map(|v| parse_bucket("GetBucketInfo", v)).transpose()
    }

    async fn key_with_secret(&self, id: &str) -> Result<Option<KeyPair>, StoreError> {
        let Some(v) = self
            .call(
                "GetKeyInfo",
                Method::GET,
                &[("id", id), ("showSecretKey", "true")],
                None,
                false,
            )
            .await?
        else {
            return Ok(None);
        };
        let k: KeyInfo = serde_json::from_value(v).map_err(|e| StoreError::Protocol {
            call: "GetKeyInfo",
            message: e.to_string(),
        })?;
        let secret = k.secret_access_key.ok_or(StoreError::Protocol {
            call: "GetKeyInfo",
            message: "no secretAccessKey although showSecretKey=true".into(),
        })?;
        Ok(Some(KeyPair {
            access_key_id: k.access_key_id,
            secret_access_key: secret,
        }))
    }
}

/// Garage's error body is `{"code": …, "message": …}`; fall back to the raw text.
fn garage_message(text: &str) -> String {
    #[derive(Deserialize)]
    struct E {
        message: String,
    }
    serde_json::from_str::<E>(text)
        .map(|e| e.message)
        .unwrap_or_else(|_| text.chars().take(300).collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BucketResponse {
    id: String,
    objects: i64,
    bytes: i64,
    #[serde(default)]
    keys: Vec<BucketKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BucketKey {
    access_key_id: String,
    permissions: Perms,
}

#[derive(Deserialize)]
struct Perms {
    #[serde(default)]
    read: bool,
    #[serde(default)]
    write: bool,
    #[serde(default)]
    owner: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyInfo {
    access_key_id: String,
    #[serde(default)]
    secret_access_key: Option<String>,
}

fn parse_bucket(call: &'static str, v: Value) -> Result<BucketInfo, StoreError> {
    let b: BucketResponse = serde_json::from_value(v).map_err(|e| StoreError::Protocol {
        call,
        message: e.to_string(),
    })?;
    Ok(BucketInfo {
        id: b.id,
        objects: b.objects.max(0) as u64,
        bytes: b.bytes.max(0) as u64,
        keys: b
            .keys
            .into_iter()
            .filter(|k| k.permissions.read || k.permissions.write || k.permissions.owner)
            .map(|k| k.access_key_id)
            .collect(),
    })
}

/// The bucket found under `name`, if it provably is ours: the id our status recorded, or (when
/// none is recorded) a grant to the key we made it with. Never adopted by its name alone.
fn proven(
    name: &str,
    b: BucketInfo,
    owner_key: &str,
    known_id: Option<&str>,
) -> Result<BucketInfo, StoreError> {
    let ours = match known_id {
        Some(id) => b.id == id,
        None => b.keys.iter().any(|k| k == owner_key),
    };
    if ours {
        Ok(b)
    } else {
        Err(StoreError::NotOurs {
            name: name.to_string(),
            id: b.id,
        })
    }
}

/// A fresh secret: 32 random bytes as 64 hex digits, the form Garage itself generates.
fn fresh_secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl ObjectStore for Garage {
    fn name(&self) -> &'static str {
        "garage"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            size_quota: true,
            object_quota: true,
            versioning: false,
            import_key: true,
            key_expiry: true,
        }
    }

    fn endpoint(&self) -> (&str, &str) {
        (&self.s3_endpoint, &self.s3_region)
    }

    fn ensure_bucket<'a>(
        &'a self,
        name: &'a str,
        owner_key: &'a str,
        known_id: Option<&'a str>,
    ) -> StoreFuture<'a, BucketInfo> {
        Box::pin(async move {
            if let Some(id) = known_id
                && let Some(b) = self.bucket_by_alias(name).await?
            {
                return proven(name, b, owner_key, Some(id));
            }
            // One call makes the bucket, its global alias, and a local alias with read+write in
            // the owner's key: from then on the bucket provably belongs to that key's Bucket.
            let created = self
                .call(
                    "CreateBucket",
                    Method::POST,
                    &[],
                    Some(json!({
                        "globalAlias": name,
                        "localAlias": {
                            "accessKeyId": owner_key,
                            "alias": name,
                            "allow": {"read": true, "write": true, "owner": false},
                        },
                    })),
                    true,
                )
                .await?;
            match created {
                Some(v) => parse_bucket("CreateBucket", v),
                // 409: made by an earlier call of ours (killed before its status was written),
                // or by someone else — only the owner key's grant tells which
                None => {
                    let b = self
                        .bucket_by_alias(name)
                        .await?
                        .ok_or(StoreError::Protocol {
                            call: "CreateBucket",
                            message: format!(
                                "{name} exists (409) but GetBucketInfo cannot find it"
                            ),
                        })?;
                    proven(name, b, owner_key, known_id)
                }
            }
        })
    }

    fn find_bucket<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<BucketInfo>> {
        Box::pin(self.bucket_by_alias(name))
    }

    fn set_quota<'a>(
        &'a self,
        bucket_id: &'a str,
        max_bytes: Option<u64>,
        max_objects: Option<u64>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.call(
                "UpdateBucket",
                Method::POST,
                &[("id", bucket_id)],
                Some(json!({ "quotas": { "maxSize": max_bytes, "maxObjects": max_objects } })),
                false,
            )
            .await?
            .ok_or(StoreError::Protocol {
                call: "UpdateBucket",
                message: format!("bucket {bucket_id} not found"),
            })?;
            Ok(())
        })
    }

    fn ensure_key<'a>(
        &'a self,
        access_key_id: &'a str,
        label: &'a str,
        likely_exists: bool,
    ) -> StoreFuture<'a, KeyPair> {
        Box::pin(async move {
            if likely_exists && let Some(k) = self.key_with_secret(access_key_id).await? {
                return Ok(k);
            }
            let secret = fresh_secret();
            let imported = self
                .call(
                    "ImportKey",
                    Method::POST,
                    &[],
                    Some(json!({
                        "accessKeyId": access_key_id,
                        "secretAccessKey": secret,
                        "name": label,
                    })),
                    true,
                )
                .await?;
            match imported {
                Some(_) => Ok(KeyPair {
                    access_key_id: access_key_id.to_string(),
                    secret_access_key: secret,
                }),
                // 409: imported by an earlier attempt whose answer was lost
                None => self
                    .key_with_secret(access_key_id)
                    .await?
                    .ok_or(StoreError::Protocol {
                        call: "ImportKey",
                        message: format!("{access_key_id} exists (409) but cannot be read"),
                    }),
            }
        })
    }

    fn key_exists<'a>(&'a self, access_key_id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            Ok(self
                .call(
                    "GetKeyInfo",
                    Method::GET,
                    &[("id", access_key_id)],
                    None,
                    false,
                )
                .await?
                .is_some())
        })
    }

    fn grant<'a>(&'a self, bucket_id: &'a str, access_key_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.call(
                "AllowBucketKey",
                Method::POST,
                &[],
                Some(json!({
                    "bucketId": bucket_id,
                    "accessKeyId": access_key_id,
                    "permissions": { "read": true, "write": true, "owner": false },
                })),
                false,
            )
            .await?
            .ok_or(StoreError::Protocol {
                call: "AllowBucketKey",
                message: format!("bucket {bucket_id} or key {access_key_id} not found"),
            })?;
            Ok(())
        })
    }

    fn set_key_expiry<'a>(
        &'a self,
        access_key_id: &'a str,
        expiry: Option<DateTime<Utc>>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let body = match expiry {
                Some(t) => json!({ "expiration": t.to_rfc3339() }),
                None => json!({ "neverExpires": true }),
            };
            self.call(
                "UpdateKey",
                Method::POST,
                &[("id", access_key_id)],
                Some(body),
                false,
            )
            .await?
            .ok_or(StoreError::Protocol {
                call: "UpdateKey",
                message: format!("key {access_key_id} not found"),
            })?;
            Ok(())
        })
    }

    fn delete_key<'a>(&'a self, access_key_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.call(
                "DeleteKey",
                Method::POST,
                &[("id", access_key_id)],
                None,
                false,
            )
            .await?;
            Ok(())
        })
    }

    fn delete_bucket<'a>(&'a self, bucket_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.call(
                "DeleteBucket",
                Method::POST,
                &[("id", bucket_id)],
                None,
                false,
            )
            .await?;
            Ok(())
        })
    }
}
