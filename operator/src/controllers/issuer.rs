//! Issuer → an ACME account registered once, its credentials in the Secret
//! `acme-account-<issuer>` in the operator's namespace. Ready when the account is restored
//! from that Secret and the directory answers; otherwise the condition says why, and every
//! Certificate using the Issuer waits without ordering.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::status::{self, reasons, types};
use super::{Context, Result, SAFETY_REQUEUE};
use crate::acme::account;
use crate::api::{Issuer, labels};

/// The account credentials of `issuer`, when registered.
pub async fn credentials(ctx: &Context, issuer: &str) -> Result<Option<String>> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    Ok(secrets
        .get_opt(&account::secret_name(issuer))
        .await?
        .and_then(|s| s.data)
        .and_then(|d| d.get(account::CREDENTIALS_KEY).cloned())
        .map(|b| String::from_utf8_lossy(&b.0).into_owned()))
}

async fn eab_key(ctx: &Context, i: &Issuer) -> Result<Option<Vec<u8>>, String> {
    let Some(b) = &i.spec.external_account_binding else {
        return Ok(None);
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let s = secrets
        .get_opt(&b.hmac_key_secret.name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "spec.externalAccountBinding.hmacKeySecret: Secret {}/{} not found",
                ctx.settings.namespace, b.hmac_key_secret.name
            )
        })?;
    let raw = s
        .data
        .and_then(|d| d.get(&b.hmac_key_secret.key).cloned())
        .ok_or_else(|| {
            format!(
                "spec.externalAccountBinding.hmacKeySecret: no key '{}' in Secret {}",
                b.hmac_key_secret.key, b.hmac_key_secret.name
            )
        })?;
    // CAs hand out the HMAC key base64url-encoded
    use base64::Engine as _;
    let text = String::from_utf8_lossy(&raw.0).trim().to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map(Some)
        .map_err(|e| format!("spec.externalAccountBinding: the HMAC key is not base64url: {e}"))
}

/// Registers a fresh account for `issuer` and replaces the stored credentials: for a CA that
/// no longer knows the stored account (a test CA restarted, an account deactivated).
pub async fn reregister(ctx: &Context, i: &Issuer) -> Result<(), String> {
    let name = i.name_any();
    ctx.acme.forget(&name);
    let eab = eab_key(ctx, i).await?;
    let (_, creds) = account::register(&i.spec, eab.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let json = serde_json::to_string(&creds).map_err(|e| e.to_string())?;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let patch = json!({"data": {account::CREDENTIALS_KEY: ByteString(json.into_bytes())}});
    secrets
        .patch(
            &account::secret_name(&name),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|e| e.to_string())?;
    tracing::warn!(issuer = %name, "the CA no longer knew the ACME account; registered a new one");
    Ok(())
}

async fn ensure_namespace(ctx: &Context) -> Result<()> {
    super::ensure_namespace(&ctx.client, &ctx.settings.namespace).await
}

async fn reconcile(i: Arc<Issuer>, ctx: Arc<Context>) -> Result<Action> {
    let name = i.name_any();
    let gen_ = i.metadata.generation;
    let old = i.status.clone().unwrap_or_default();
    let mut st = old.clone();
    let outcome: Result<String, String> = async {
        let creds = match credentials(&ctx, &name).await.map_err(|e| e.to_string())? {
            Some(c) => c,
            None => {
                let eab = eab_key(&ctx, &i).await?;
                let (_, creds) = account::register(&i.spec, eab.as_deref())
                    .await
                    .map_err(|e| e.to_string())?;
                let json = serde_json::to_string(&creds).map_err(|e| e.to_string())?;
                ensure_namespace(&ctx).await.map_err(|e| e.to_string())?;
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(account::secret_name(&name)),
                        namespace: Some(ctx.settings.namespace.clone()),
                        labels: Some(BTreeMap::from([(
                            labels::MANAGED_BY.into(),
                            labels::MANAGER.into(),
                        )])),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([(
                        account::CREDENTIALS_KEY.to_string(),
                        ByteString(json.clone().into_bytes()),
                    )])),
                    ..Default::default()
                };
                let secrets: Api<Secret> =
                    Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
                match secrets.create(&PostParams::default(), &secret).await {
                    Ok(_) => json,
                    // registered concurrently: keep the stored one
                    Err(kube::Error::Api(s)) if s.code == 409 => credentials(&ctx, &name)
                        .await
                        .map_err(|e| e.to_string())?
                        .unwrap_or(json),
                    Err(e) => return Err(e.to_string()),
                }
            }
        };
        let acct = ctx
            .acme
            .get(&name, &i.spec, &creds)
            .await
            .map_err(|e| e.to_string())?;
        Ok(acct.id().to_string())
    }
    .await;
    let action = match &outcome {
        Ok(account_url) => {
            st.account = Some(account_url.clone());
            status::remove(&mut st.conditions, types::FAILED);
            status::set(
                &mut st.conditions,
                status::condition(
                    types::READY,
                    true,
                    reasons::ACCOUNT_READY,
                    format!("ACME account {account_url} at {}", i.spec.directory),
                    gen_,
                ),
            );
            Action::requeue(SAFETY_REQUEUE)
        }
        Err(msg) => {
            ctx.acme.forget(&name);
            status::set(
                &mut st.conditions,
                status::condition(
                    types::READY,
                    false,
                    reasons::ACCOUNT_FAILED,
                    msg.clone(),
                    gen_,
                ),
            );
            if status::get(&old.conditions, types::READY).map(|c| &c.message) != Some(msg) {
                ctx.event(
                    i.as_ref(),
                    EventType::Warning,
                    reasons::ACCOUNT_FAILED,
                    "Register",
                    msg.clone(),
                )
                .await;
            }
            Action::requeue(std::time::Duration::from_secs(30))
        }
    };
    st.observed_generation = gen_;
    if st != old {
        super::apply_status(&ctx.client, i.as_ref(), &st).await?;
    }
    Ok(action)
}

/// Runs the Issuer controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    super::harness::run(
        Controller::new(
            Api::<Issuer>::all(ctx.client.clone()),
            watcher::Config::default(),
        ),
        ctx,
        reconcile,
    )
    .await;
}
