//! The local Pusat Data is a real control plane, a real ACME CA and a real object store.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kavling_e2e::{Stack, api_code, unique, wait_for};
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Api, ResourceExt};

const T: Duration = Duration::from_secs(60);

#[tokio::test]
async fn namespace_controller_deletes_a_namespace_completely() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let admin = stack.client_as("admin").await?;
    let name = unique("e2e-ns");
    let nss: Api<Namespace> = Api::all(admin.clone());
    nss.create(
        &PostParams::default(),
        &Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await?;
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), &name);
    cms.create(
        &PostParams::default(),
        &ConfigMap {
            metadata: ObjectMeta {
                name: Some("payload".into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await?;
    nss.delete(&name, &DeleteParams::default()).await?;
    // Terminating until the namespace controller has emptied it, then gone.
    wait_for("namespace to be deleted", T, || async {
        Ok(nss.get_opt(&name).await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn garbage_collector_removes_dependents_of_a_deleted_owner() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let admin = stack.client_as("admin").await?;
    let cms: Api<ConfigMap> = Api::namespaced(admin, "default");
    let owner_name = unique("gc-owner");
    let owner = cms
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some(owner_name.clone()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await?;
    let dep_name = unique("gc-dependent");
    let dependent = ConfigMap {
        metadata: ObjectMeta {
            name: Some(dep_name.clone()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: owner_name.clone(),
                uid: owner.uid().expect("uid"),
                ..Default::default()
            }]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".into(), "v".into())])),
        ..Default::default()
    };
    cms.create(&PostParams::default(), &dependent).await?;
    cms.delete(&owner_name, &DeleteParams::default()).await?;
    wait_for("dependent to be collected", T, || async {
        Ok(cms.get_opt(&dep_name).await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn tenant_users_are_confined_by_real_rbac() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let rina = stack.client_as("rina").await?;
    let nss: Api<Namespace> = Api::all(rina.clone());
    let err = nss
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(unique("rina-ns")),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect_err("a tenant user must not create namespaces");
    assert_eq!(api_code(&err), Some(403), "{err}");
    // joko's tenant namespace exists (the admin made it if the operator has not); rina cannot read in it.
    let admin = stack.client_as("admin").await?;
    let joko_ns = "tenant-disdik";
    let admin_ns: Api<Namespace> = Api::all(admin);
    if admin_ns.get_opt(joko_ns).await?.is_none() {
        let _ = admin_ns
            .create(
                &PostParams::default(),
                &Namespace {
                    metadata: ObjectMeta {
                        name: Some(joko_ns.into()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await;
    }
    let other: Api<ConfigMap> = Api::namespaced(rina, joko_ns);
    let err = other
        .list(&ListParams::default())
        .await
        .expect_err("rina must not read disdik's namespace");
    assert_eq!(api_code(&err), Some(403), "{err}");
    Ok(())
}

#[tokio::test]
async fn dinas_user_can_read_crds_and_tenant_cannot() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let ani: Api<CustomResourceDefinition> = Api::all(stack.client_as("ani").await?);
    let crds = ani.list(&ListParams::default()).await?;
    assert!(
        crds.items
            .iter()
            .any(|c| c.name_any() == "requests.kavling.go.id"),
        "Kavling's CRDs are installed and readable by the Dinas"
    );
    let rina: Api<CustomResourceDefinition> = Api::all(stack.client_as("rina").await?);
    assert_eq!(
        api_code(
            &rina
                .list(&ListParams::default())
                .await
                .expect_err("tenant reads CRDs")
        ),
        Some(403)
    );
    Ok(())
}

#[tokio::test]
async fn pebble_directory_answers_over_tls_and_serves_its_root() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let ca = reqwest::Certificate::from_pem(&stack.ca_pem())?;
    let http = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10))
        // Pebble 2.10 refuses requests without one, as RFC 8555 §6.1 asks
        .user_agent("kavling-e2e")
        .build()?;
    let dir: serde_json::Value = http
        .get(stack.get("KAVLING_ACME_DIRECTORY"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    for key in ["newAccount", "newNonce", "newOrder"] {
        assert!(
            dir[key]
                .as_str()
                .is_some_and(|u| u.starts_with("https://127.0.0.1:")),
            "directory has {key}: {dir}"
        );
    }
    let root = http
        .get(format!("{}/roots/0", stack.get("KAVLING_PEBBLE_MGMT")))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    assert!(
        root.contains("BEGIN CERTIFICATE"),
        "pebble serves its issuing root"
    );
    // An untrusting client is refused: the directory really is behind TLS.
    let plain = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(10))
        .build()?;
    assert!(
        plain
            .get(stack.get("KAVLING_ACME_DIRECTORY"))
            .send()
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test]
async fn garage_is_healthy_and_a_bucket_takes_an_object_over_s3() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let admin_url = stack.get("KAVLING_GARAGE_ADMIN").to_string();
    let token = std::fs::read_to_string(stack.get("KAVLING_GARAGE_ADMIN_TOKEN_FILE"))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let call = |path: &str| {
        http.post(format!("{admin_url}/v2/{path}"))
            .bearer_auth(token.trim())
    };

    let health: serde_json::Value = http
        .get(format!("{admin_url}/v2/GetClusterHealth"))
        .bearer_auth(token.trim())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(health["status"], "healthy", "{health}");

    let bucket_name = unique("e2e-bucket");
    let bucket: serde_json::Value = call("CreateBucket")
        .json(&serde_json::json!({"globalAlias": bucket_name}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let bucket_id = bucket["id"].as_str().expect("bucket id").to_string();
    let key: serde_json::Value = call("CreateKey")
        .json(&serde_json::json!({"name": bucket_name}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let (key_id, secret) = (
        key["accessKeyId"].as_str().unwrap().to_string(),
        key["secretAccessKey"].as_str().unwrap().to_string(),
    );
    call("AllowBucketKey")
        .json(&serde_json::json!({"bucketId": bucket_id, "accessKeyId": key_id, "permissions": {"read": true, "write": true, "owner": false}}))
        .send()
        .await?
        .error_for_status()?;

    let endpoint: url::Url = stack.get("KAVLING_S3_ENDPOINT").parse()?;
    let s3_bucket = rusty_s3::Bucket::new(
        endpoint,
        rusty_s3::UrlStyle::Path,
        bucket_name.clone(),
        stack.get("KAVLING_S3_REGION").to_string(),
    )?;
    let creds = rusty_s3::Credentials::new(key_id.clone(), secret);
    use rusty_s3::S3Action as _;
    let put = s3_bucket
        .put_object(Some(&creds), "surat/001.txt")
        .sign(Duration::from_secs(60));
    http.put(put)
        .body("arsip surat 001")
        .send()
        .await?
        .error_for_status()?;
    let get = s3_bucket
        .get_object(Some(&creds), "surat/001.txt")
        .sign(Duration::from_secs(60));
    assert_eq!(
        http.get(get)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?,
        "arsip surat 001"
    );
    // Anonymous access is refused.
    let anon = s3_bucket
        .get_object(None, "surat/001.txt")
        .sign(Duration::from_secs(60));
    assert_eq!(http.get(anon).send().await?.status().as_u16(), 403);

    // Clean up: empty the bucket, delete it and the key; the bucket is then gone.
    let del = s3_bucket
        .delete_object(Some(&creds), "surat/001.txt")
        .sign(Duration::from_secs(60));
    http.delete(del).send().await?.error_for_status()?;
    call(&format!("DeleteBucket?id={bucket_id}"))
        .send()
        .await?
        .error_for_status()?;
    call(&format!("DeleteKey?id={key_id}"))
        .send()
        .await?
        .error_for_status()?;
    let gone = http
        .get(format!(
            "{admin_url}/v2/GetBucketInfo?globalAlias={bucket_name}"
        ))
        .bearer_auth(token.trim())
        .send()
        .await?;
    assert_eq!(gone.status().as_u16(), 404);
    Ok(())
}
