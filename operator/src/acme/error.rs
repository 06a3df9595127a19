//! The errors of the ACME module, typed, with a stable [`AcmeError::category`] for metrics,
//! Events and conditions. Their text is what a person reads in a condition, so each names
//! the field or the party at fault.

/// What went wrong talking ACME or preparing for it.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The Issuer's spec cannot be used as given (a field is named).
    #[error("{field}: {message}")]
    Spec {
        field: &'static str,
        message: String,
    },
    /// The CA (or the way to it) failed: unreachable, refused, answered nonsense. The whole
    /// chain of causes is shown: the HTTP client's own text ("client error (Connect)") hides
    /// the TLS or network reason a person needs.
    #[error("{doing}: {}", causes(source))]
    Ca {
        doing: String,
        #[source]
        source: instant_acme::Error,
    },
    /// Stored account credentials do not parse.
    #[error("account credentials of issuer {issuer}: {source}")]
    Credentials {
        issuer: String,
        #[source]
        source: serde_json::Error,
    },
    /// A key or CSR could not be made.
    #[error("{doing}: {source}")]
    Key {
        doing: &'static str,
        #[source]
        source: rcgen::Error,
    },
    /// A Kavling DNS server does not serve the challenge (yet), or did not answer.
    #[error("{server}: {message}")]
    NotServed {
        server: std::net::SocketAddr,
        message: String,
    },
}

/// An error and its sources, "outer: inner: innermost", each said once (wrappers often repeat
/// their source's text).
pub fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut said: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !said.iter().any(|s| s.contains(&text)) {
            said.push(text);
        }
        next = err.source();
    }
    said.join(": ")
}

impl AcmeError {
    /// A stable category for metrics, Events and conditions.
    pub fn category(&self) -> &'static str {
        match self {
            AcmeError::Spec { .. } => "invalid-spec",
            AcmeError::Ca { .. } => "ca",
            AcmeError::Credentials { .. } => "credentials",
            AcmeError::Key { .. } => "key",
            AcmeError::NotServed { .. } => "dns-propagation",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field_or_party_and_categories_are_stable() {
        let e = AcmeError::Spec {
            field: "spec.externalAccountBinding",
            message: "the HMAC key secret is missing".into(),
        };
        assert_eq!(
            e.to_string(),
            "spec.externalAccountBinding: the HMAC key secret is missing"
        );
        assert_eq!(e.category(), "invalid-spec");
        let e = AcmeError::NotServed {
            server: "127.0.0.1:5353".parse().unwrap(),
            message: "does not serve _acme-challenge.portal.agamkab.go.id TXT yet".into(),
        };
        assert!(e.to_string().starts_with("127.0.0.1:5353: does not serve"));
        assert_eq!(e.category(), "dns-propagation");
    }
}

#[cfg(test)]
mod cause_tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_whole_chain_of_causes_is_said_once_each() {
        let io = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        let e = AcmeError::Ca {
            doing: "registering at https://ca.example/dir".into(),
            source: instant_acme::Error::Other(Box::new(Outer(io))),
        };
        assert_eq!(
            e.to_string(),
            "registering at https://ca.example/dir: client error (Connect): \
             invalid peer certificate: UnknownIssuer"
        );
    }
}
