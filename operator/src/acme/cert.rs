//! A fresh key and CSR per issuance (rcgen), and what a PEM chain says (x509-parser).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::api::KeyAlgorithm;

/// A new private key (PEM) and a CSR (DER) for `names`, with no subject: the names are SANs.
pub fn key_and_csr(
    names: &[String],
    alg: KeyAlgorithm,
) -> Result<(String, Vec<u8>), super::AcmeError> {
    use super::AcmeError::Key;
    let algo = match alg {
        KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
    };
    let key = rcgen::KeyPair::generate_for(algo).map_err(|source| Key {
        doing: "key generation",
        source,
    })?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(|source| Key {
        doing: "CSR names",
        source,
    })?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).map_err(|source| Key {
        doing: "CSR",
        source,
    })?;
    Ok((key.serialize_pem(), csr.der().to_vec()))
}

/// The leaf of a PEM chain, as Kavling needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub names: BTreeSet<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// Serial, lowercase hex.
    pub serial: String,
    pub der: Vec<u8>,
    /// How many certificates the chain holds.
    pub chain_len: usize,
}

/// Parses the first certificate of a PEM chain. `None` when it is not one.
pub fn leaf(chain_pem: &[u8]) -> Option<Leaf> {
    let pems: Vec<_> = x509_parser::pem::Pem::iter_from_buffer(chain_pem)
        .filter_map(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .collect();
    let first = pems.first()?;
    let x = first.parse_x509().ok()?;
    let names = x
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let ts = |t: x509_parser::time::ASN1Time| DateTime::from_timestamp(t.timestamp(), 0);
    Some(Leaf {
        names,
        not_before: ts(x.validity().not_before)?,
        not_after: ts(x.validity().not_after)?,
        serial: x.raw_serial().iter().map(|b| format!("{b:02x}")).collect(),
        der: first.contents.clone(),
        chain_len: pems.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_carries_the_names_and_a_self_signed_cert_parses_back() {
        let names = vec!["a.kota.go.id".to_string(), "*.a.kota.go.id".to_string()];
        let (key_pem, csr) = key_and_csr(&names, KeyAlgorithm::EcdsaP256).unwrap();
        assert!(key_pem.contains("PRIVATE KEY") && !csr.is_empty());
        // a certificate for the same names, to check the parser
        let key = rcgen::KeyPair::from_pem(&key_pem).unwrap();
        let cert = rcgen::CertificateParams::new(names.clone())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let l = leaf(cert.pem().as_bytes()).unwrap();
        assert_eq!(l.names, names.into_iter().collect());
        assert!(l.not_after > l.not_before);
        assert_eq!(l.chain_len, 1);
        assert!(leaf(b"not a certificate").is_none());
    }
}
