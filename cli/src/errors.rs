//! Turns API errors into what a person can act on: the rule that was broken and the field,
//! not a raw JSON dump.

use std::fmt::Write as _;

/// A readable explanation of an error from the API server (or anything else).
pub fn explain(err: &anyhow::Error) -> String {
    for cause in err.chain() {
        if let Some(kube::Error::Api(s)) = cause.downcast_ref::<kube::Error>() {
            return explain_status(s, &err.to_string());
        }
    }
    let mut out = format!("{err}");
    for cause in err.chain().skip(1) {
        let _ = write!(out, "\n  caused by: {cause}");
    }
    out
}

fn explain_status(s: &kube::core::Status, context: &str) -> String {
    let mut out = String::new();
    let head = match s.code {
        401 => "not signed in: the API server did not accept your credentials (check KUBECONFIG)"
            .to_string(),
        403 => forbidden(&s.message),
        404 => format!("not found: {}", s.message),
        409 => format!("conflict: {}", s.message),
        422 => "the API server refused the object because it breaks these rules:".to_string(),
        _ => format!("the API server answered {}: {}", s.code, s.message),
    };
    if context != s.message && !context.contains(&s.message) && !context.starts_with("ApiError") {
        let _ = writeln!(out, "{context}");
    }
    out.push_str(&head);
    if s.code == 422 {
        let causes = s
            .details
            .as_ref()
            .map(|d| d.causes.clone())
            .unwrap_or_default();
        if causes.is_empty() {
            let _ = write!(out, "\n  - {}", s.message);
        }
        for c in causes {
            let field = if c.field.is_empty() {
                "(object)".to_string()
            } else {
                c.field.clone()
            };
            let _ = write!(out, "\n  - {field}: {}", clean_cause(&c.message));
        }
    }
    out
}

/// "Invalid value: \"object\": spec: a request carries …" → "a request carries …"
fn clean_cause(msg: &str) -> String {
    let msg = msg
        .strip_prefix("Invalid value: \"object\": ")
        .unwrap_or(msg);
    match msg.split_once(": ") {
        Some((field, rest))
            if field.starts_with("spec")
                || field.starts_with("metadata")
                || field.contains('.') && !field.contains(' ') =>
        {
            rest.to_string()
        }
        _ => msg.to_string(),
    }
}

fn forbidden(message: &str) -> String {
    if let Some((_, rest)) = message.split_once("denied request: ") {
        let policy = message.split('\'').nth(1).unwrap_or("an admission policy");
        format!("refused by policy {policy}: {rest}")
    } else {
        format!("forbidden: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_denials_name_the_policy_and_the_rule() {
        let m = "approvals.kavling.go.id \"x\" is forbidden: ValidatingAdmissionPolicy 'kavling-approval-by-dinas' with binding 'kavling-approval-by-dinas' denied request: only members of the Dinas group kavling:dinas may approve";
        assert_eq!(
            forbidden(m),
            "refused by policy kavling-approval-by-dinas: only members of the Dinas group kavling:dinas may approve"
        );
    }

    #[test]
    fn causes_drop_repeated_field_prefixes() {
        assert_eq!(
            clean_cause("Invalid value: \"object\": spec: a request carries exactly one"),
            "a request carries exactly one"
        );
        assert_eq!(
            clean_cause("Invalid value: \"string\": must be a DNS label"),
            "Invalid value: \"string\": must be a DNS label"
        );
    }
}
