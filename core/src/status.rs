//! Typed conditions: the condition types and reasons every controller uses, in one place, and
//! a setter that moves `lastTransitionTime` only on a real change.

use chrono::{SecondsFormat, Utc};

use crate::api::Condition;

/// Condition types (the standard four of DESIGN.md).
pub mod types {
    pub const READY: &str = "Ready";
    pub const RECONCILING: &str = "Reconciling";
    pub const SUSPENDED: &str = "Suspended";
    pub const FAILED: &str = "Failed";
    /// A Bucket at its size or object quota: reads work, writes are refused by the store.
    pub const QUOTA_FULL: &str = "QuotaFull";
}

/// Condition reasons: one CamelCase word a program can switch on.
pub mod reasons {
    pub const PROVISIONED: &str = "Provisioned";
    pub const AWAITING_APPROVAL: &str = "AwaitingApproval";
    /// An Approval names the request but was made for another one of the same name.
    pub const APPROVAL_IGNORED: &str = "ApprovalIgnored";
    pub const APPROVED: &str = "Approved";
    pub const REJECTED: &str = "Rejected";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const NAME_TAKEN: &str = "NameTaken";
    pub const RULE_BROKEN: &str = "RuleBroken";
    pub const WAITING_FOR_OUTPUTS: &str = "WaitingForOutputs";
    pub const ZONE_MISSING: &str = "ZoneMissing";
    pub const RECORD_CONFLICT: &str = "RecordConflict";
    pub const SUSPENDED: &str = "SuspendedByDinas";
    pub const ACTIVE: &str = "Active";
    pub const ACCEPTED: &str = "Accepted";
    pub const SERIAL_PUBLISHED: &str = "SerialPublished";
    pub const TRANSIENT_ERROR: &str = "TransientError";
    pub const HOSTING_PENDING: &str = "HostingPending";
    /// An alias whose target is not a name of the same tenant: withdrawn.
    pub const ALIAS_NOT_HELD: &str = "AliasNotHeld";
    pub const OBJECT_STORE_UNAVAILABLE: &str = "ObjectStoreUnavailable";
    pub const NO_OBJECT_STORE: &str = "NoObjectStore";
    pub const KEY_ROTATED: &str = "KeyRotated";
    pub const KEY_RETIRED: &str = "KeyRetired";
    pub const DELETION_BLOCKED: &str = "DeletionBlocked";
    pub const PURGED: &str = "Purged";
    pub const DELETED: &str = "Deleted";
    pub const RETAINED: &str = "Retained";
    pub const ISSUER_NOT_READY: &str = "IssuerNotReady";
    pub const ACCOUNT_READY: &str = "AccountReady";
    pub const ACCOUNT_FAILED: &str = "AccountFailed";
    pub const ISSUED: &str = "Issued";
    pub const RENEWED: &str = "Renewed";
    pub const CA_UNREACHABLE: &str = "CAUnreachable";
    pub const WAITING_FOR_BUDGET: &str = "WaitingForBudget";
    pub const ORDER_FAILED: &str = "OrderFailed";
    pub const CHALLENGE_BUSY: &str = "ChallengeBusy";
    pub const PUBLISHING: &str = "PublishingChallenge";
    pub const VALIDATING: &str = "Validating";
    pub const ISSUING: &str = "Issuing";
    pub const ORDER_GONE: &str = "OrderGone";
    pub const OBJECT_CONFLICT: &str = "ObjectConflict";
    pub const DECOMMISSIONED: &str = "Decommissioned";
    pub const QUOTA_REACHED: &str = "QuotaReached";
    pub const WITHIN_QUOTA: &str = "WithinQuota";
    /// A signed zone's key cannot be used (a Secret of its name that is not its own, …).
    pub const KEY_REFUSED: &str = "KeyRefused";
}

/// Now, as Kubernetes writes times.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A condition for `generation`, stamped now (the stamp is kept by [`set`] if nothing changed).
pub fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: now(),
        observed_generation: generation,
    }
}

/// Puts `new` into `conditions`, replacing the one of the same type. `lastTransitionTime` stays
/// as it was unless `status` changed.
pub fn set(conditions: &mut Vec<Condition>, mut new: Condition) {
    if let Some(old) = conditions.iter_mut().find(|c| c.type_ == new.type_) {
        if old.status == new.status {
            new.last_transition_time = old.last_transition_time.clone();
        }
        *old = new;
    } else {
        conditions.push(new);
    }
}

/// Removes the condition of this type.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// The condition of this type, if present.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of this type is `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut conds = vec![];
        let mut first = condition(
            types::READY,
            false,
            reasons::AWAITING_APPROVAL,
            "waiting",
            Some(1),
        );
        first.last_transition_time = "2026-01-01T00:00:00Z".into();
        set(&mut conds, first);
        set(
            &mut conds,
            condition(
                types::READY,
                false,
                reasons::APPROVED,
                "still not ready",
                Some(2),
            ),
        );
        assert_eq!(conds[0].last_transition_time, "2026-01-01T00:00:00Z");
        assert_eq!(conds[0].reason, reasons::APPROVED);
        set(
            &mut conds,
            condition(types::READY, true, reasons::PROVISIONED, "ready", Some(2)),
        );
        assert_ne!(conds[0].last_transition_time, "2026-01-01T00:00:00Z");
        assert_eq!(conds.len(), 1);
        assert!(is_true(&conds, types::READY));
    }
}

/// A kind's status as far as conditions go: what lets one function report a refusal (or any
/// condition change) for every kind.
pub trait Conditioned: Clone + Default + PartialEq + serde::Serialize {
    fn conditions(&self) -> &[Condition];
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    fn set_observed_generation(&mut self, generation: Option<i64>);
}

/// Implements [`Conditioned`] for status types with `conditions` and `observed_generation`.
macro_rules! conditioned {
    ($($t:ty),*) => {$(
        impl Conditioned for $t {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
            fn set_observed_generation(&mut self, generation: Option<i64>) {
                self.observed_generation = generation;
            }
        }
    )*};
}

conditioned!(
    crate::api::BucketStatus,
    crate::api::HostingStatus,
    crate::api::CertificateStatus,
    crate::api::SubdomainStatus,
    crate::api::TenantStatus,
    crate::api::RequestStatus
);

/// A refusal (pure): `Ready=False` and `Failed=True` with the reason and message, and whether
/// it is news (the previous Failed said something else) — then it deserves an Event.
pub fn refused<S: Conditioned>(
    old: Option<&S>,
    generation: Option<i64>,
    reason: &str,
    message: &str,
) -> (S, bool) {
    let mut st = old.cloned().unwrap_or_default();
    let news = get(st.conditions(), types::FAILED).map(|c| c.message.as_str()) != Some(message);
    set(
        st.conditions_mut(),
        condition(types::READY, false, reason, message.to_string(), generation),
    );
    set(
        st.conditions_mut(),
        condition(types::FAILED, true, reason, message.to_string(), generation),
    );
    st.set_observed_generation(generation);
    (st, news)
}

#[cfg(test)]
mod refused_tests {
    use super::*;
    use crate::api::BucketStatus;

    #[test]
    fn a_refusal_is_failed_not_ready_and_news_only_when_the_message_changes() {
        let (st, news) = refused::<BucketStatus>(None, Some(3), "InvalidSpec", "spec.size: bad");
        assert!(news);
        assert!(!is_true(&st.conditions, types::READY));
        assert!(is_true(&st.conditions, types::FAILED));
        assert_eq!(st.observed_generation, Some(3));
        let (again, news) = refused(Some(&st), Some(3), "InvalidSpec", "spec.size: bad");
        assert!(!news);
        assert_eq!(again, st);
        let (_, news) = refused(Some(&st), Some(4), "InvalidSpec", "spec.size: worse");
        assert!(news);
    }
}
