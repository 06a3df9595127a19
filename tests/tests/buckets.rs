//! Storage: Request → Approval → Bucket on the real Garage, with real S3 traffic — the
//! tenant's Secret works, other tenants' keys do not, quotas hold, keys rotate without a gap,
//! suspension blocks access without touching data, deletion follows the policy.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kavling::api::*;
use kavling_e2e::{
    S3Client, Stack, api_code, api_message, file_and_approve, garage_bucket_exists, garage_keys,
    letter, wait_for, zone_and_rina_tenant,
};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject};
use serde_json::json;

const T: Duration = Duration::from_secs(60);

fn storage_request(name: &str, bucket: &str, size: &str) -> Request {
    Request::new(
        name,
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(),
            subdomain: None,
            hosting: None,
            storage: Some(StorageRequest {
                name: bucket.into(),
                data_description: "Arsip digital".into(),
                size: size.into(),
                classification: DataClassification::Terbatas,
                personal_data: true,
                versioning: false,
            }),
        },
    )
}

fn bucket_spec(size: &str) -> BucketSpec {
    BucketSpec {
        size: size.into(),
        max_objects: None,
        classification: DataClassification::Publik,
        personal_data: false,
        versioning: false,
        rotation: Rotation::default(),
        deletion_policy: DeletionPolicy::Retain,
        purge: false,
        suspend: None,
    }
}

fn condition<'a>(b: &'a Bucket, type_: &str) -> Option<&'a Condition> {
    b.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
}

async fn ready_bucket(api: &Api<Bucket>, name: &str) -> anyhow::Result<Bucket> {
    wait_for(&format!("bucket {name} Ready"), T, || async {
        let b = api.get(name).await?;
        Ok(condition(&b, "Ready")
            .is_some_and(|c| c.status == "True")
            .then_some(b))
    })
    .await
}

/// The tenant's view: its credentials Secret, read as rina.
async fn credentials(stack: &Stack, ns: &str, bucket: &str) -> anyhow::Result<S3Client> {
    let secrets: Api<Secret> = Api::namespaced(stack.client_as("rina").await?, ns);
    S3Client::from_secret(&secrets.get(&format!("{bucket}-s3-credentials")).await?)
}

/// Bytes Garage counts in a bucket (root admin token).
async fn garage_bytes(stack: &Stack, alias: &str) -> anyhow::Result<u64> {
    let token = std::fs::read_to_string(stack.get("KAVLING_GARAGE_ADMIN_TOKEN_FILE"))?;
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/v2/GetBucketInfo",
            stack.get("KAVLING_GARAGE_ADMIN")
        ))
        .query(&[("globalAlias", alias)])
        .bearer_auth(token.trim())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(v["bytes"].as_u64().unwrap_or(0))
}

#[tokio::test]
async fn approved_storage_request_gives_a_bucket_that_works_over_s3_only_for_its_tenant()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (tenant, _, ns) = zone_and_rina_tenant(
        &stack,
        "bk",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let r = file_and_approve(
        &stack,
        "rina",
        &ns,
        storage_request("arsip", "arsip", "1Mi"),
    )
    .await?;
    let st = r.status.unwrap();
    assert_eq!(st.phase, RequestPhase::Ready, "{:?}", st.conditions);
    assert_eq!(st.outputs[0].kind, "Bucket");

    let b = Api::<Bucket>::namespaced(stack.client_as("rina").await?, &ns)
        .get("arsip")
        .await?;
    let bst = b.status.clone().unwrap();
    assert_eq!(
        bst.bucket_name.as_deref(),
        Some(format!("{tenant}--arsip").as_str())
    );
    assert_eq!(b.spec.classification, DataClassification::Terbatas);
    assert!(b.spec.personal_data);

    // the tenant's app: read the Secret, put and get over S3
    let s3 = credentials(&stack, &ns, "arsip").await?;
    assert_eq!(s3.access_key_id, bst.access_key_id.clone().unwrap());
    assert_eq!(s3.put("surat/001.txt", b"halo".to_vec()).await?, 200);
    let (code, body) = s3.get("surat/001.txt").await?;
    assert_eq!((code, body.as_slice()), (200, b"halo".as_slice()));

    // the quota (1Mi): a first 700 KiB fits, a second does not
    assert_eq!(s3.put("big-1", vec![7u8; 700 * 1024]).await?, 200);
    let alias = format!("{tenant}--arsip");
    wait_for("Garage to count the first object", T, || async {
        Ok((garage_bytes(&stack, &alias).await? >= 700 * 1024).then_some(()))
    })
    .await?;
    let over = s3.put("big-2", vec![7u8; 700 * 1024]).await?;
    assert!(over >= 400, "a write past the quota must fail, got {over}");

    // another tenant's key is denied on this bucket
    let (_, _, ns2) = zone_and_rina_tenant(
        &stack,
        "bk",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let other: Api<Bucket> = Api::namespaced(stack.client_as("kavling-restore").await?, &ns2);
    other
        .create(
            &PostParams::default(),
            &Bucket::new("lain", bucket_spec("1Mi")),
        )
        .await?;
    ready_bucket(&other, "lain").await?;
    let theirs = credentials(&stack, &ns2, "lain").await?;
    let intruder = S3Client::new(
        stack.get("KAVLING_S3_ENDPOINT"),
        stack.get("KAVLING_S3_REGION"),
        &alias,
        &theirs.access_key_id,
        theirs.creds.secret(),
    )?;
    let (code, _) = intruder.get("surat/001.txt").await?;
    assert_eq!(code, 403, "another tenant's key must be denied");
    assert_eq!(intruder.put("x", b"x".to_vec()).await?, 403);
    Ok(())
}

#[tokio::test]
async fn rotation_keeps_a_working_key_at_every_moment_and_retires_the_old_one() -> anyhow::Result<()>
{
    let stack = Stack::load()?;
    let (_, _, ns) = zone_and_rina_tenant(
        &stack,
        "rot",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let api: Api<Bucket> = Api::namespaced(stack.client_as("kavling-restore").await?, &ns);
    let mut spec = bucket_spec("10Mi");
    spec.rotation = Rotation {
        period: "15s".into(),
        grace: "5s".into(),
    };
    api.create(&PostParams::default(), &Bucket::new("putar", spec))
        .await?;
    ready_bucket(&api, "putar").await?;
    let first = credentials(&stack, &ns, "putar").await?;

    // a client that reads the Secret before every write, for more than one rotation
    let start = Instant::now();
    let mut keys_seen = vec![first.access_key_id.clone()];
    let mut writes = 0;
    while start.elapsed() < Duration::from_secs(25) {
        let s3 = credentials(&stack, &ns, "putar").await?;
        if !keys_seen.contains(&s3.access_key_id) {
            keys_seen.push(s3.access_key_id.clone());
        }
        let code = s3.put(&format!("tulis-{writes}"), b"data".to_vec()).await?;
        assert_eq!(
            code,
            200,
            "write {writes} with key {} failed at {:?}",
            s3.access_key_id,
            start.elapsed()
        );
        writes += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        keys_seen.len() >= 2,
        "no rotation within 25 s of a 15 s period: {keys_seen:?}"
    );

    // the first key stopped working after its grace period and is gone from Garage
    wait_for("the first key to stop working", T, || async {
        Ok((first.put("late", b"x".to_vec()).await? == 403).then_some(()))
    })
    .await?;
    wait_for("the first key removed from Garage", T, || async {
        let keys = garage_keys(&stack).await?;
        Ok((!keys.iter().any(|(id, _)| *id == first.access_key_id)).then_some(()))
    })
    .await?;
    let b = api.get("putar").await?;
    assert!(b.status.unwrap().key_serial >= 2);
    // stop rotating (the outage test later compares Garage's keys with the live ones)
    api.delete("putar", &DeleteParams::default()).await?;
    wait_for("rotating bucket deleted", T, || async {
        Ok(api.get_opt("putar").await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}

/// `kavling rotate bucket`: the Dinas asks, a new key is made at once (the default period is
/// 90 days), the old one works through its grace period; a tenant may not ask.
#[tokio::test]
async fn a_rotation_asked_for_makes_a_new_key_now_and_only_the_dinas_may_ask() -> anyhow::Result<()>
{
    let stack = Stack::load()?;
    let (_, _, ns) = zone_and_rina_tenant(
        &stack,
        "minta",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let api: Api<Bucket> = Api::namespaced(stack.client_as("kavling-restore").await?, &ns);
    api.create(
        &PostParams::default(),
        &Bucket::new("arsip", bucket_spec("10Mi")),
    )
    .await?;
    let before = ready_bucket(&api, "arsip").await?.status.unwrap();
    let old = credentials(&stack, &ns, "arsip").await?;

    let (code, _, err) = kavling_e2e::kavling_cli(
        &stack,
        Some("rina"),
        &["rotate", "bucket", "arsip", "-n", &ns],
    );
    assert_ne!(code, 0, "a tenant may not rotate: {err}");
    assert!(
        err.contains("forbidden") || err.contains("Forbidden"),
        "{err}"
    );
    let (code, out, err) = kavling_e2e::kavling_cli(
        &stack,
        Some("ani"),
        &["rotate", "bucket", "arsip", "-n", &ns],
    );
    assert_eq!(code, 0, "{out}{err}");

    let after = wait_for("the new key", T, || async {
        let st = api.get("arsip").await?.status.unwrap_or_default();
        Ok((st.key_serial == before.key_serial + 1).then_some(st))
    })
    .await?;
    assert_ne!(after.access_key_id, before.access_key_id);
    assert_eq!(
        after.retiring_key.as_ref().map(|r| r.access_key_id.clone()),
        before.access_key_id,
        "the old key retires through its grace period"
    );
    let new = credentials(&stack, &ns, "arsip").await?;
    assert_eq!(new.put("baru", b"x".to_vec()).await?, 200);
    assert_eq!(
        old.put("lama", b"x".to_vec()).await?,
        200,
        "the old key still works in its grace period"
    );
    // asked once, done once
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        api.get("arsip").await?.status.unwrap().key_serial,
        after.key_serial
    );
    api.delete("arsip", &DeleteParams::default()).await?;
    Ok(())
}

#[tokio::test]
async fn suspension_denies_access_and_resume_restores_it_with_the_data_intact() -> anyhow::Result<()>
{
    let stack = Stack::load()?;
    let (_, _, ns) = zone_and_rina_tenant(
        &stack,
        "sus",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let api: Api<Bucket> = Api::namespaced(stack.client_as("kavling-restore").await?, &ns);
    api.create(
        &PostParams::default(),
        &Bucket::new("data", bucket_spec("1Mi")),
    )
    .await?;
    ready_bucket(&api, "data").await?;
    let s3 = credentials(&stack, &ns, "data").await?;
    assert_eq!(s3.put("penting.txt", b"jangan hilang".to_vec()).await?, 200);

    api.patch(
        "data",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": {"reason": "evaluasi keamanan"}}})),
    )
    .await?;
    wait_for("access denied while suspended", T, || async {
        Ok((s3.get("penting.txt").await?.0 == 403).then_some(()))
    })
    .await?;
    assert_eq!(s3.put("baru", b"x".to_vec()).await?, 403);
    // The key is disabled first, then the status says so: the 403 can come a moment earlier.
    wait_for("the Suspended condition", T, || async {
        let b = api.get("data").await?;
        Ok(condition(&b, "Suspended")
            .is_some_and(|c| c.status == "True")
            .then_some(()))
    })
    .await?;

    api.patch(
        "data",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": null}})),
    )
    .await?;
    let (code, body) = wait_for("access back after resume", T, || async {
        let r = s3.get("penting.txt").await?;
        Ok((r.0 == 200).then_some(r))
    })
    .await?;
    assert_eq!((code, body.as_slice()), (200, b"jangan hilang".as_slice()));
    Ok(())
}

#[tokio::test]
async fn deletion_follows_the_policy_retain_keeps_data_delete_refuses_until_purge()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (tenant, _, ns) = zone_and_rina_tenant(
        &stack,
        "del",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let api: Api<Bucket> = Api::namespaced(stack.client_as("kavling-restore").await?, &ns);

    // Retain: the Bucket goes, the data stays, the key is revoked
    api.create(
        &PostParams::default(),
        &Bucket::new("simpan", bucket_spec("1Mi")),
    )
    .await?;
    ready_bucket(&api, "simpan").await?;
    let s3 = credentials(&stack, &ns, "simpan").await?;
    assert_eq!(s3.put("a.txt", b"a".to_vec()).await?, 200);
    api.delete("simpan", &DeleteParams::default()).await?;
    wait_for("Retain bucket deleted", T, || async {
        Ok(api.get_opt("simpan").await?.is_none().then_some(()))
    })
    .await?;
    assert!(garage_bucket_exists(&stack, &format!("{tenant}--simpan")).await?);
    assert_eq!(s3.put("b.txt", b"b".to_vec()).await?, 403);
    assert!(
        !garage_keys(&stack)
            .await?
            .iter()
            .any(|(id, _)| *id == s3.access_key_id)
    );

    // Delete with objects: refused until a purge is asked for
    let mut spec = bucket_spec("1Mi");
    spec.deletion_policy = DeletionPolicy::Delete;
    api.create(&PostParams::default(), &Bucket::new("hapus", spec))
        .await?;
    ready_bucket(&api, "hapus").await?;
    let s3 = credentials(&stack, &ns, "hapus").await?;
    assert_eq!(s3.put("a.txt", b"a".to_vec()).await?, 200);
    api.delete("hapus", &DeleteParams::default()).await?;
    let blocked = wait_for("deletion blocked", T, || async {
        let b = api.get("hapus").await?;
        Ok(condition(&b, "Ready")
            .filter(|c| c.reason == "DeletionBlocked")
            .map(|c| c.message.clone()))
    })
    .await?;
    assert!(blocked.contains("spec.purge"), "{blocked}");
    assert!(garage_bucket_exists(&stack, &format!("{tenant}--hapus")).await?);
    api.patch(
        "hapus",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"purge": true}})),
    )
    .await?;
    wait_for("purged bucket deleted", T, || async {
        Ok(api.get_opt("hapus").await?.is_none().then_some(()))
    })
    .await?;
    assert!(!garage_bucket_exists(&stack, &format!("{tenant}--hapus")).await?);
    Ok(())
}

#[tokio::test]
async fn bad_storage_input_is_refused_with_the_field_and_nothing_is_created() -> anyhow::Result<()>
{
    let stack = Stack::load()?;
    let limits = TenantLimits {
        bucket_bytes: "5Gi".into(),
        ..Default::default()
    };
    let (_, _, ns) =
        zone_and_rina_tenant(&stack, "bad", TenantType::PerangkatDaerah, limits).await?;
    let buckets: Api<Bucket> = Api::namespaced(stack.client_as("kavling-restore").await?, &ns);

    // a quota above the tenant's limit
    let r = file_and_approve(
        &stack,
        "rina",
        &ns,
        storage_request("besar", "besar", "6Gi"),
    )
    .await?;
    let st = r.status.unwrap();
    assert_eq!(st.phase, RequestPhase::Failed);
    let msg = &st
        .conditions
        .iter()
        .find(|c| c.type_ == "Failed")
        .unwrap()
        .message;
    assert!(
        msg.contains("spec.storage.size") && msg.contains("tenant-bucket-bytes"),
        "{msg}"
    );
    assert!(buckets.get_opt("besar").await?.is_none());

    // a name S3 refuses: <tenant>-<name> longer than 63 characters
    let (_, _, long_ns) = zone_and_rina_tenant(
        &stack,
        "tenant-with-a-long-name",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    let long = "a".repeat(36);
    let r = file_and_approve(
        &stack,
        "rina",
        &long_ns,
        storage_request("panjang", &long, "1Gi"),
    )
    .await?;
    let st = r.status.unwrap();
    assert_eq!(st.phase, RequestPhase::Failed);
    let msg = &st
        .conditions
        .iter()
        .find(|c| c.type_ == "Failed")
        .unwrap()
        .message;
    assert!(msg.contains("s3-bucket-length"), "{msg}");
    let long_buckets: Api<Bucket> =
        Api::namespaced(stack.client_as("kavling-restore").await?, &long_ns);
    assert!(long_buckets.get_opt(&long).await?.is_none());

    // refused by the API server itself
    let ar = ApiResource::erase::<Bucket>(&());
    let raw: Api<DynamicObject> =
        Api::namespaced_with(stack.client_as("kavling-restore").await?, &ns, &ar);
    let create = |name: &str, spec: serde_json::Value| {
        let mut o = DynamicObject::new(name, &ar);
        o.data = json!({ "spec": spec });
        o
    };
    let e = raw
        .create(
            &PostParams::default(),
            &create(
                "kelas",
                json!({"size": "1Gi", "classification": "Sangat Rahasia"}),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), Some(422));
    assert!(
        api_message(&e).contains("classification"),
        "{}",
        api_message(&e)
    );
    let e = raw
        .create(
            &PostParams::default(),
            &create(
                "purge",
                json!({"size": "1Gi", "classification": "Publik", "purge": true}),
            ),
        )
        .await
        .unwrap_err();
    assert!(
        api_message(&e).contains("spec.purge"),
        "{}",
        api_message(&e)
    );

    // a deletion policy change that would lose data in one step
    buckets
        .create(
            &PostParams::default(),
            &Bucket::new("aman", bucket_spec("1Mi")),
        )
        .await?;
    let e = buckets
        .patch(
            "aman",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"deletionPolicy": "Delete", "purge": true}})),
        )
        .await
        .unwrap_err();
    assert!(
        api_message(&e).contains("would lose data"),
        "{}",
        api_message(&e)
    );
    Ok(())
}
