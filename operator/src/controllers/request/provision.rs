//! Steps 3–4 of an approved Request: plan it against what [`super::dereference`] read (the
//! same [`plan::plan`] `kavling plan` runs), then claim the output with a `create` — of two
//! racing approvals for one name, the API server lets exactly one create win.

use kube::api::PostParams;
use kube::{Api, ResourceExt};

use super::decide::Outcome;
use crate::api::{Request, RequestPhase};
use crate::controllers::status::reasons;
use crate::controllers::{Context, MANAGER, Result};
use crate::plan::{self, Body, Desired, Existing, Output, RequestBody};
use crate::rules::{self, Violation};

/// The request's outcome from its plan (pure): what blocks it, or how far its output is.
/// `None`: nothing stops it and the output is not made yet — create it.
pub fn outcome_of(desired: &Desired, body: &dyn RequestBody, tenant: &str) -> Option<Outcome> {
    let output = desired.output.clone();
    let what = match &output {
        Some(o) if o.kind == "Subdomain" => o.name.clone(),
        Some(o) => format!("{} {}", o.kind, o.name),
        None => "the output".into(),
    };
    if !desired.invalid.is_empty() {
        return Some(Outcome::new(
            RequestPhase::Failed,
            reasons::INVALID_SPEC,
            rules::summarize(&desired.invalid),
        ));
    }
    let mut out = match &desired.existing {
        Existing::Theirs(v) => {
            return Some(Outcome::new(
                RequestPhase::Failed,
                reasons::NAME_TAKEN,
                format!("{}: {}", v.field, v.message),
            ));
        }
        Existing::Absent if !desired.blocked.is_empty() => {
            return Some(Outcome::new(
                RequestPhase::Failed,
                reasons::RULE_BROKEN,
                rules::summarize(&desired.blocked),
            ));
        }
        Existing::Absent => return None,
        Existing::Ours { ready: true, .. } => Outcome::new(
            RequestPhase::Ready,
            reasons::PROVISIONED,
            ready_message(body, tenant),
        ),
        Existing::Ours { message, .. } => Outcome::new(
            RequestPhase::Provisioning,
            reasons::WAITING_FOR_OUTPUTS,
            format!("{what}: {message}"),
        ),
    };
    out.outputs = output.into_iter().collect();
    Some(out)
}

/// What a Ready request says to its tenant.
fn ready_message(body: &dyn RequestBody, tenant: &str) -> String {
    let output = body.output_ref("");
    match output.kind.as_str() {
        "Subdomain" => format!("{} is served", output.name),
        "Hosting" => format!(
            "hosting ready in namespace {}",
            rules::derived::hosting_namespace(tenant, &output.name)
        ),
        "Bucket" => format!(
            "bucket ready; credentials in Secret {}",
            rules::storage::secret_name(&output.name)
        ),
        _ => format!("{} {} is ready", output.kind, output.name),
    }
}

/// Plans an approved request and makes its output when nothing stops it.
pub async fn provision(
    ctx: &Context,
    req: &Request,
    body: Body<'_>,
    tenant: &str,
    today: chrono::NaiveDate,
) -> Result<Outcome> {
    let ns = req.namespace().unwrap_or_default();
    let mut view = super::dereference::view_for(ctx, &ns, body, tenant).await?;
    let desired = plan::plan(req, &view, &ctx.templates, today);
    if let Some(o) = outcome_of(&desired, plan::as_dyn(&body), tenant) {
        return Ok(o);
    }
    let shell = desired_shell(&desired);
    let Some(object) = desired.object else {
        // build failures are `invalid`, so this is not reached; say so rather than panic
        return Ok(Outcome::new(
            RequestPhase::Failed,
            reasons::INVALID_SPEC,
            "the request builds no output",
        ));
    };
    // the website rule as a claim, not a count: of two racing approvals one wins
    if let (Body::Subdomain(b), Some(t)) = (body, view.tenants.get(tenant))
        && b.website
        && !crate::controllers::website::claim(ctx, tenant, &b.fqdn(), t.spec.limits.websites)
            .await?
    {
        let v = Violation::new(
            "spec.subdomain.website",
            "one-website",
            format!(
                "tenant '{tenant}' already runs its {} website(s) (limit); a Perangkat Daerah runs at most one",
                t.spec.limits.websites
            ),
        );
        return Ok(Outcome::new(
            RequestPhase::Failed,
            reasons::RULE_BROKEN,
            format!("{}: {}", v.field, v.message),
        ));
    }
    // claim; whatever holds the name afterwards (ours, or a racing winner) is judged again
    match object {
        Output::Subdomain(sd) => {
            if let Some(made) = create_claim(&Api::all(ctx.client.clone()), sd.as_ref()).await? {
                view.subdomains.insert(made.name_any(), made);
            }
        }
        Output::Hosting(h) => {
            let api = Api::namespaced(ctx.client.clone(), &ns);
            if let Some(made) = create_claim(&api, h.as_ref()).await? {
                view.hostings.insert(plan::key(&made), made);
            }
        }
        Output::Bucket(b) => {
            let api = Api::namespaced(ctx.client.clone(), &ns);
            if let Some(made) = create_claim(&api, b.as_ref()).await? {
                view.buckets.insert(plan::key(&made), made);
            }
        }
    }
    let after = Desired {
        existing: plan::as_dyn(&body).existing(req, &view),
        ..shell
    };
    Ok(
        outcome_of(&after, plan::as_dyn(&body), tenant).unwrap_or_else(|| {
            Outcome::new(
                RequestPhase::Provisioning,
                reasons::WAITING_FOR_OUTPUTS,
                "claiming the name",
            )
        }),
    )
}

/// The plan without its object (moved into the claim).
fn desired_shell(d: &Desired) -> Desired {
    Desired {
        type_: d.type_,
        output: d.output.clone(),
        object: None,
        effects: vec![],
        existing: Existing::Absent,
        invalid: vec![],
        blocked: vec![],
    }
}

/// Creates `obj` as the claim on its name (of two racing creates, exactly one wins); when it
/// already exists, returns what is there — whose it is, the caller checks.
pub async fn create_claim<K>(api: &Api<K>, obj: &K) -> Result<Option<K>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let pp = PostParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    match api.create(&pp, obj).await {
        Ok(o) => Ok(Some(o)),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(api
            .get_opt(&obj.meta().name.clone().unwrap_or_default())
            .await?),
        Err(e) => Err(e.into()),
    }
}
