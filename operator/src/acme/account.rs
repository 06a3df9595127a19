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

/// An HTTP client for the directory, trusting `ca_bundle` when given. The bundle is read from
/// memory, never written anywhere: the operator runs with a read-only root filesystem.
fn builder(spec: &IssuerSpec) -> Result<AccountBuilder, AcmeError> {
    match &spec.ca_bundle {
        Some(pem) => Ok(Account::builder_with_http(Box::new(client_trusting(
            roots_from_pem(pem)?,
        )))),
        None => Account::builder().map_err(|source| AcmeError::Ca {
            doing: "HTTP client".into(),
            source,
        }),
    }
}

/// The roots of a PEM bundle (one or more certificates; anything else is refused by name).
pub fn roots_from_pem(pem: &str) -> Result<rustls::RootCertStore, AcmeError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let invalid = |message: String| AcmeError::Spec {
        field: "spec.caBundle",
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
        let cert = cert.map_err(|e| invalid(format!("certificate {}: {e}", i + 1)))?;
        roots
            .add(cert)
            .map_err(|e| invalid(format!("certificate {}: {e}", i + 1)))?;
    }
    if roots.is_empty() {
        return Err(invalid(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(roots)
}

/// HTTPS only, HTTP/1.1 and 2, like instant-acme's own client but with these roots.
fn client_trusting(
    roots: rustls::RootCertStore,
) -> hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    instant_acme::BodyWrapper<bytes::Bytes>,
> {
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem(cn: &str) -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_bundle_of_several_roots_is_read_from_memory_and_garbage_is_named() {
        let bundle = format!("{}{}", ca_pem("Root A"), ca_pem("Root B"));
        assert_eq!(roots_from_pem(&bundle).unwrap().len(), 2);
        let e = roots_from_pem("not a certificate").unwrap_err().to_string();
        assert!(
            e.starts_with("spec.caBundle: holds no PEM certificate"),
            "{e}"
        );
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = roots_from_pem(broken).unwrap_err().to_string();
        assert!(e.starts_with("spec.caBundle: certificate 1:"), "{e}");
    }
}
