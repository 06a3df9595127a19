//! Audit commit messages: a one-line summary, a blank line, then git trailers saying who, what
//! and why. Trailers are what `git interpret-trailers --parse` and `kavling audit log` read.

use super::document::Change;

/// The facts a commit carries besides the document itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers {
    pub kind: String,
    /// `namespace/name`, or `name` for cluster-scoped kinds.
    pub object: String,
    pub change: Option<Change>,
    /// The person (or `kavling-operator`) who made the change, when known.
    pub actor: Option<String>,
    /// The Dinas member whose Approval led to it.
    pub approver: Option<String>,
    /// The Request (`namespace/name`) it was made for.
    pub request: Option<String>,
    /// The letter (surat permohonan) number.
    pub letter: Option<String>,
    /// Why: the approval's or suspension's reason.
    pub reason: Option<String>,
    /// The tenant (namespace) it belongs to.
    pub tenant: Option<String>,
    /// The field manager of the last write, when the actor is not otherwise known.
    pub field_manager: Option<String>,
    /// The object's resourceVersion when recorded.
    pub resource_version: Option<String>,
}

const KEYS: &[&str] = &[
    "Kind",
    "Object",
    "Change",
    "Actor",
    "Approver",
    "Request",
    "Letter",
    "Reason",
    "Tenant",
    "Field-Manager",
    "Resource-Version",
];

/// One line, bounded: a trailer value never spans lines, whatever a user typed.
fn clean(v: &str) -> String {
    let one_line: String = v
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    trimmed.chars().take(500).collect()
}

impl Trailers {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let vals = [
            Some(self.kind.clone()),
            Some(self.object.clone()),
            self.change.map(|c| c.as_str().to_string()),
            self.actor.clone(),
            self.approver.clone(),
            self.request.clone(),
            self.letter.clone(),
            self.reason.clone(),
            self.tenant.clone(),
            self.field_manager.clone(),
            self.resource_version.clone(),
        ];
        KEYS.iter()
            .zip(vals)
            .filter_map(|(k, v)| {
                v.map(|v| clean(&v))
                    .filter(|v| !v.is_empty())
                    .map(|v| (*k, v))
            })
            .collect()
    }

    /// The commit message.
    pub fn message(&self, summary: &str) -> String {
        let mut m = clean(summary);
        m.push_str("\n\n");
        for (k, v) in self.pairs() {
            m.push_str(&format!("{k}: {v}\n"));
        }
        m
    }

    /// Reads a message written by [`Trailers::message`]: its summary and trailers.
    pub fn parse(message: &str) -> (String, Trailers) {
        let summary = message.lines().next().unwrap_or_default().to_string();
        let mut t = Trailers::default();
        let last_paragraph = message.trim_end().rsplit("\n\n").next().unwrap_or_default();
        for line in last_paragraph.lines() {
            let Some((k, v)) = line.split_once(": ") else {
                continue;
            };
            let value = v.to_string();
            let v = Some(value.clone());
            match k {
                "Kind" => t.kind = value,
                "Object" => t.object = value,
                "Change" => t.change = Change::parse(&value),
                "Actor" => t.actor = v,
                "Approver" => t.approver = v,
                "Request" => t.request = v,
                "Letter" => t.letter = v,
                "Reason" => t.reason = v,
                "Tenant" => t.tenant = v,
                "Field-Manager" => t.field_manager = v,
                "Resource-Version" => t.resource_version = v,
                _ => {}
            }
        }
        (summary, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trips_and_values_stay_on_one_line() {
        let t = Trailers {
            kind: "Subdomain".into(),
            object: "dinkes.agam.go.id".into(),
            change: Some(Change::Create),
            actor: Some("kavling-operator".into()),
            approver: Some("ani".into()),
            request: Some("dinkes/req-1".into()),
            letter: Some("045/123/Diskes/2026".into()),
            reason: Some("sesuai\nPermenkominfo 5/2015".into()),
            ..Default::default()
        };
        let m = t.message("Subdomain dinkes.agam.go.id created");
        assert!(m.contains("Reason: sesuai Permenkominfo 5/2015\n"), "{m}");
        let (summary, back) = Trailers::parse(&m);
        assert_eq!(summary, "Subdomain dinkes.agam.go.id created");
        let mut expected = t.clone();
        expected.reason = Some("sesuai Permenkominfo 5/2015".into());
        assert_eq!(back, expected);
    }
}
