//! SSH signatures on audit commits, in the format git itself writes and checks
//! (`gpg.format=ssh`): an armored SSHSIG over the commit object, namespace `git`. Any git
//! verifies them with `git verify-commit` and an allowed-signers file; `kavling audit verify`
//! checks the same signature in-process.

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig, private::Ed25519Keypair};

/// The SSHSIG namespace git signs commits in.
pub const NAMESPACE: &str = "git";

/// The principal audit commits are signed as (allowed-signers files name it).
pub const PRINCIPAL: &str = "kavling-audit@kavling.go.id";

/// Errors reading keys or signatures.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("not an OpenSSH private key: {0}")]
    BadKey(ssh_key::Error),
    #[error("cannot sign: {0}")]
    Sign(ssh_key::Error),
    #[error("the signature is not an SSH signature: {0}")]
    BadSignature(ssh_key::Error),
    #[error("signed by {0}, which is not an allowed signer")]
    UnknownSigner(String),
    #[error("the signature does not match the commit: {0}")]
    Mismatch(ssh_key::Error),
}

/// The key audit commits are signed with.
pub struct Signer {
    key: PrivateKey,
}

impl Signer {
    /// A fresh Ed25519 key.
    pub fn generate() -> Signer {
        let seed: [u8; 32] = rand::random();
        let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
        key.set_comment(PRINCIPAL);
        Signer { key }
    }

    /// A key in OpenSSH format (`ssh-keygen -t ed25519` writes one).
    pub fn from_openssh(pem: &str) -> Result<Signer, SigningError> {
        PrivateKey::from_openssh(pem)
            .map(|key| Signer { key })
            .map_err(SigningError::BadKey)
    }

    /// The private key in OpenSSH format, to keep in a Secret.
    pub fn to_openssh(&self) -> String {
        self.key
            .to_openssh(LineEnding::LF)
            .expect("an in-memory key always encodes")
            .to_string()
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public_key().clone()
    }

    /// The line of an allowed-signers file (`gpg.ssh.allowedSignersFile`) for this key.
    pub fn allowed_signers_line(&self) -> String {
        allowed_signers_line(&self.public_key())
    }

    /// The armored signature of `content` (a commit object without its signature).
    pub fn sign(&self, content: &[u8]) -> Result<String, SigningError> {
        let sig = self
            .key
            .sign(NAMESPACE, HashAlg::Sha512, content)
            .map_err(SigningError::Sign)?;
        sig.to_pem(LineEnding::LF).map_err(SigningError::Sign)
    }
}

/// `<principal> namespaces="git" <key>`.
pub fn allowed_signers_line(key: &PublicKey) -> String {
    let mut key = key.clone();
    key.set_comment("");
    let openssh = key.to_openssh().expect("a public key always encodes");
    format!("{PRINCIPAL} namespaces=\"{NAMESPACE}\" {}", openssh.trim())
}

/// The keys of an allowed-signers file. Lines that are not keys (comments, blanks) are skipped.
pub fn parse_allowed_signers(text: &str) -> Vec<PublicKey> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            let at = tokens.iter().position(|t| {
                t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-")
            })?;
            let key = format!("{} {}", tokens[at], tokens.get(at + 1)?);
            PublicKey::from_openssh(&key).ok()
        })
        .collect()
}

/// Checks that `signature` is over `content` by one of `allowed`; the signer's fingerprint.
pub fn verify(
    allowed: &[PublicKey],
    content: &[u8],
    signature: &str,
) -> Result<String, SigningError> {
    let sig = SshSig::from_pem(signature).map_err(SigningError::BadSignature)?;
    let signer = PublicKey::from(sig.public_key().clone());
    let fingerprint = signer.fingerprint(HashAlg::Sha256).to_string();
    if !allowed.iter().any(|k| k.key_data() == signer.key_data()) {
        return Err(SigningError::UnknownSigner(fingerprint));
    }
    signer
        .verify(NAMESPACE, content, &sig)
        .map_err(SigningError::Mismatch)?;
    Ok(fingerprint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_and_refuse_changes_and_strangers() {
        let signer = Signer::generate();
        let allowed =
            parse_allowed_signers(&format!("# audit\n{}\n", signer.allowed_signers_line()));
        assert_eq!(allowed.len(), 1);
        let sig = signer.sign(b"tree abc\n\nmessage").unwrap();
        assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"));
        verify(&allowed, b"tree abc\n\nmessage", &sig).unwrap();
        assert!(matches!(
            verify(&allowed, b"tree abd\n\nmessage", &sig),
            Err(SigningError::Mismatch(_))
        ));
        let stranger = Signer::generate();
        let sig = stranger.sign(b"x").unwrap();
        assert!(matches!(
            verify(&allowed, b"x", &sig),
            Err(SigningError::UnknownSigner(_))
        ));
    }

    #[test]
    fn key_survives_the_secret() {
        let signer = Signer::generate();
        let back = Signer::from_openssh(&signer.to_openssh()).unwrap();
        assert_eq!(back.public_key().key_data(), signer.public_key().key_data());
        assert!(Signer::from_openssh("not a key").is_err());
    }
}
