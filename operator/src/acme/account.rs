//! ACME accounts: one per Issuer, registered once; its credentials (key and account URL) live
//! in a Secret in the operator's namespace and are restored from there on every start.

use std::collections::HashMap;
use std::sync::Mutex;

use instant_acme::{Account, AccountBuilder, AccountCredentials, ExternalAccountKey, NewAccount};
use sha2::{Digest, Sha256};

use super::AcmeError;
use crate::api::IssuerSpec;

/// The key inside the account Secret.
pub const CREDENTIALS_KEY: &str = "credentials.json";

/// The account Secret's name for an Issuer.
pub fn secret_name(issuer: &str) -> String {
    format!("acme-account-{issuer}")
}

/// An HTTP client for the directory: trusting `ca_bundle` when given (instant-acme takes the
/// root from a file, so it is written to a file named by its digest).
fn builder(spec: &IssuerSpec) -> Result<AccountBuilder, AcmeError> {
    match &spec.ca_bundle {
        Some(pem) => {
            let digest = Sha256::digest(pem.as_bytes());
            let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
            let path = std::env::temp_dir().join(format!("kavling-acme-root-{hex}.pem"));
            if !path.exists() {
                std::fs::write(&path, pem).map_err(|source| AcmeError::Io {
                    doing: format!("cannot write the CA bundle to {}", path.display()),
                    source,
                })?;
            }
            Account::builder_with_root(&path).map_err(|e| AcmeError::Spec {
                field: "spec.caBundle",
                message: e.to_string(),
            })
        }
        None => Account::builder().map_err(|source| AcmeError::Ca {
            doing: "HTTP client".into(),
            source,
        }),
    }
}

/// Registers a new account at the Issuer's CA.
pub async fn register(
    spec: &IssuerSpec,
    eab_hmac: Option<&[u8]>,
) -> Result<(Account, AccountCredentials), AcmeError> {
    let contact: Vec<String> = spec.contact.iter().map(|c| format!("mailto:{c}")).collect();
    let contact_refs: Vec<&str> = contact.iter().map(String::as_str).collect();
    let eab = match (&spec.external_account_binding, eab_hmac) {
        (Some(b), Some(key)) => Some(ExternalAccountKey::new(b.key_id.clone(), key)),
        (Some(_), None) => {
            return Err(AcmeError::Spec {
                field: "spec.externalAccountBinding",
                message: "the HMAC key secret is missing".into(),
            });
        }
        _ => None,
    };
    builder(spec)?
        .create(
            &NewAccount {
                contact: &contact_refs,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            spec.directory.clone(),
            eab.as_ref(),
        )
        .await
        .map_err(|source| AcmeError::Ca {
            doing: format!("registering at {}", spec.directory),
            source,
        })
}

/// Accounts restored from their credentials, cached per Issuer and credentials, so a
/// reconcile does not fetch the directory again.
#[derive(Default)]
pub struct Accounts {
    cache: Mutex<HashMap<String, (String, Account)>>,
}

impl Accounts {
    /// The account of `issuer` for these credentials (JSON), restored once.
    pub async fn get(
        &self,
        issuer: &str,
        spec: &IssuerSpec,
        credentials_json: &str,
    ) -> Result<Account, AcmeError> {
        let fingerprint = {
            let d = Sha256::digest(format!("{credentials_json}\n{spec:?}").as_bytes());
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        if let Some((fp, acct)) = self.cache.lock().expect("accounts lock").get(issuer)
            && *fp == fingerprint
        {
            return Ok(acct.clone());
        }
        let creds: AccountCredentials =
            serde_json::from_str(credentials_json).map_err(|source| AcmeError::Credentials {
                issuer: issuer.to_string(),
                source,
            })?;
        let acct = builder(spec)?
            .from_credentials(creds)
            .await
            .map_err(|source| AcmeError::Ca {
                doing: format!("restoring the account of issuer {issuer}"),
                source,
            })?;
        self.cache
            .lock()
            .expect("accounts lock")
            .insert(issuer.to_string(), (fingerprint, acct.clone()));
        Ok(acct)
    }

    /// Forgets an Issuer's account (its spec or credentials changed, or it failed).
    pub fn forget(&self, issuer: &str) {
        self.cache.lock().expect("accounts lock").remove(issuer);
    }
}
