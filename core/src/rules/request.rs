//! Contents of a request per type, as the regulations list them.

use chrono::NaiveDate;

use super::{Violation, identity, naming, quantity};
use crate::api::{HostingRequest, Letter, RequestSpec, StorageRequest, SubdomainRequest};

/// App templates a hosting request may name (see `templates/`).
pub const TEMPLATES: &[&str] = &["static", "php", "wordpress", "opensid", "container"];

/// Checks everything in a request that needs no live state. `today` bounds the letter date.
pub fn check(spec: &RequestSpec, today: NaiveDate) -> Vec<Violation> {
    let mut out = Vec::new();
    if spec.requested_by.trim().is_empty() {
        out.push(Violation::new(
            "spec.requestedBy",
            "required",
            "who files the request must be given",
        ));
    }
    out.extend(check_letter("spec.letter", &spec.letter, today));
    let bodies = usize::from(spec.subdomain.is_some())
        + usize::from(spec.hosting.is_some())
        + usize::from(spec.storage.is_some());
    if bodies != 1 {
        out.push(Violation::new(
            "spec",
            "one-body",
            "a request carries exactly one of subdomain, hosting or storage",
        ));
    }
    if let Some(s) = &spec.subdomain {
        out.extend(check_subdomain("spec.subdomain", s));
    }
    if let Some(h) = &spec.hosting {
        out.extend(check_hosting("spec.hosting", h));
    }
    if let Some(s) = &spec.storage {
        out.extend(check_storage("spec.storage", s));
    }
    out
}

fn required(out: &mut Vec<Violation>, field: String, value: &str, what: &str) {
    if value.trim().is_empty() {
        out.push(Violation::new(
            field,
            "required",
            format!("{what} must be given"),
        ));
    }
}

/// The letter: number, a real date not in the future, a signer with a valid NIP or NIK.
pub fn check_letter(field: &str, l: &Letter, today: NaiveDate) -> Vec<Violation> {
    let mut out = Vec::new();
    required(
        &mut out,
        format!("{field}.number"),
        &l.number,
        "the letter number",
    );
    match NaiveDate::parse_from_str(&l.date, "%Y-%m-%d") {
        Err(_) => out.push(Violation::new(
            format!("{field}.date"),
            "letter-date",
            format!("'{}' is not a date YYYY-MM-DD", l.date),
        )),
        Ok(d) if d > today => out.push(Violation::new(
            format!("{field}.date"),
            "letter-date",
            format!("the letter is dated {d}, in the future"),
        )),
        Ok(_) => {}
    }
    required(
        &mut out,
        format!("{field}.signer.name"),
        &l.signer.name,
        "the signer's name",
    );
    required(
        &mut out,
        format!("{field}.signer.position"),
        &l.signer.position,
        "the signer's position",
    );
    out.extend(identity::check_identity(
        &format!("{field}.signer.identity"),
        &l.signer.identity,
    ));
    out
}

fn check_subdomain(field: &str, s: &SubdomainRequest) -> Vec<Violation> {
    let mut out = naming::check_label(&format!("{field}.label"), &s.label);
    required(&mut out, format!("{field}.zone"), &s.zone, "the zone");
    required(
        &mut out,
        format!("{field}.applicationName"),
        &s.application_name,
        "the application or website name",
    );
    required(
        &mut out,
        format!("{field}.description"),
        &s.description,
        "a description",
    );
    required(
        &mut out,
        format!("{field}.businessProcess"),
        &s.business_process,
        "the business process",
    );
    let t = &s.target;
    let given = usize::from(!t.addresses.is_empty())
        + usize::from(t.alias.is_some())
        + usize::from(t.hosting.is_some());
    if given != 1 {
        out.push(Violation::new(
            format!("{field}.target"),
            "target-one-of",
            "give exactly one of addresses, alias or hosting",
        ));
    }
    for (i, a) in t.addresses.iter().enumerate() {
        if a.parse::<std::net::IpAddr>().is_err() {
            out.push(Violation::new(
                format!("{field}.target.addresses[{i}]"),
                "address",
                format!("'{a}' is not an IPv4 or IPv6 address"),
            ));
        }
    }
    out
}

fn check_quantity(out: &mut Vec<Violation>, field: String, q: &str, what: &str, max: f64) {
    match quantity::parse(q) {
        None => out.push(Violation::new(
            field,
            "quantity",
            format!("'{q}' is not a Kubernetes quantity for {what} (e.g. 500m, 2, 512Mi, 10Gi)"),
        )),
        Some(v) if v <= 0.0 => out.push(Violation::new(
            field,
            "quantity",
            format!("{what} must be more than zero"),
        )),
        Some(v) if v > max => out.push(Violation::new(
            field,
            "quantity",
            format!("{what} of {q} is more than the Pusat Data offers for one request"),
        )),
        Some(_) => {}
    }
}

fn check_hosting(field: &str, h: &HostingRequest) -> Vec<Violation> {
    let mut out = naming::check_label(&format!("{field}.name"), &h.name);
    required(
        &mut out,
        format!("{field}.applicationName"),
        &h.application_name,
        "the application name",
    );
    if !TEMPLATES.contains(&h.template.as_str()) {
        out.push(Violation::new(
            format!("{field}.template"),
            "template",
            format!(
                "unknown template '{}'; choose one of {}",
                h.template,
                TEMPLATES.join(", ")
            ),
        ));
    }
    check_quantity(&mut out, format!("{field}.cpu"), &h.cpu, "CPU", 64.0);
    check_quantity(
        &mut out,
        format!("{field}.memory"),
        &h.memory,
        "memory",
        256.0 * 1024f64.powi(3),
    );
    check_quantity(
        &mut out,
        format!("{field}.disk"),
        &h.disk,
        "disk",
        10.0 * 1024f64.powi(4),
    );
    out
}

fn check_storage(field: &str, s: &StorageRequest) -> Vec<Violation> {
    let mut out = naming::check_label(&format!("{field}.name"), &s.name);
    required(
        &mut out,
        format!("{field}.dataDescription"),
        &s.data_description,
        "a description of the data",
    );
    check_quantity(
        &mut out,
        format!("{field}.size"),
        &s.size,
        "storage size",
        100.0 * 1024f64.powi(4),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DataClassification, Identity, Signer, Target};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn letter() -> Letter {
        Letter {
            number: "045/123/Diskes/2026".into(),
            date: "2026-11-02".into(),
            signer: Signer {
                name: "dr. Linda Hartati".into(),
                position: "Kepala Dinas Kesehatan".into(),
                identity: Identity {
                    nip: Some("197805122005012003".into()),
                    nik: None,
                },
            },
            subject: None,
        }
    }

    fn subdomain_request() -> RequestSpec {
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(),
            subdomain: Some(SubdomainRequest {
                zone: "bukittinggikota.go.id".into(),
                label: "dinkes".into(),
                application_name: "Portal Dinas Kesehatan".into(),
                description: "Website".into(),
                business_process: "Informasi publik".into(),
                website: true,
                tls: true,
                target: Target {
                    addresses: vec!["10.20.0.5".into()],
                    ..Default::default()
                },
                wildcard: false,
            }),
            hosting: None,
            storage: None,
        }
    }

    fn rules(v: Vec<Violation>) -> Vec<&'static str> {
        v.into_iter().map(|v| v.rule).collect()
    }

    #[test]
    fn a_complete_subdomain_request_passes() {
        assert_eq!(check(&subdomain_request(), today()), vec![]);
    }

    #[test]
    fn missing_contents_and_bad_letter_are_named() {
        let mut r = subdomain_request();
        r.letter.date = "2027-01-01".into();
        r.letter.signer.identity.nip = Some("123".into());
        let sd = r.subdomain.as_mut().unwrap();
        sd.business_process = "  ".into();
        let v = check(&r, today());
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.letter.date",
                "spec.letter.signer.identity.nip",
                "spec.subdomain.businessProcess"
            ]
        );
    }

    #[test]
    fn hosting_template_and_quantities() {
        let mut r = subdomain_request();
        r.subdomain = None;
        r.hosting = Some(HostingRequest {
            name: "sidesa".into(),
            application_name: "OpenSID".into(),
            template: "joomla".into(),
            cpu: "lots".into(),
            memory: "512Mi".into(),
            disk: "100Ti".into(),
            specification: None,
        });
        assert_eq!(
            rules(check(&r, today())),
            ["template", "quantity", "quantity"]
        );
    }

    #[test]
    fn storage_and_exactly_one_body() {
        let mut r = subdomain_request();
        r.storage = Some(StorageRequest {
            name: "arsip".into(),
            data_description: "Arsip surat".into(),
            size: "10Gi".into(),
            classification: DataClassification::Terbatas,
            personal_data: true,
            versioning: false,
        });
        assert_eq!(rules(check(&r, today())), ["one-body"]);
        r.subdomain = None;
        assert!(check(&r, today()).is_empty());
    }
}
