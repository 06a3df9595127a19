//! Reconcile scenarios of the Request controller against a mocked API server: each says which
//! calls a reconcile makes, in order, and what the server answers — so the wiring between the
//! steps (which reads, which create, which status) is checked in milliseconds, and the e2e
//! suite checks it against the real API server. Model: kube-rs/controller-rs `fixtures.rs`.

use std::sync::Arc;
use std::time::Duration;

use http::{Request as HttpRequest, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use super::reconcile_with;
use crate::api::{Approval, Decision, Request};
use crate::controllers::{Context, Settings};

type Handle = tower_test::mock::Handle<HttpRequest<Body>, Response<Body>>;

/// One call the reconcile must make next, and the answer.
struct Call {
    method: &'static str,
    /// What the path (with query) must contain.
    path: String,
    status: StatusCode,
    /// The answer; `None` echoes the request body back (creates).
    answer: Option<Value>,
}

fn call(method: &'static str, path: impl Into<String>, answer: Value) -> Call {
    Call {
        method,
        path: path.into(),
        status: StatusCode::OK,
        answer: Some(answer),
    }
}

fn not_found(path: impl Into<String>) -> Call {
    Call {
        method: "GET",
        path: path.into(),
        status: StatusCode::NOT_FOUND,
        answer: Some(
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "NotFound", "code": 404, "message": "not found"}),
        ),
    }
}

fn echo(method: &'static str, path: impl Into<String>) -> Call {
    Call {
        method,
        path: path.into(),
        status: StatusCode::CREATED,
        answer: None,
    }
}

/// Serves `calls` in order and returns the bodies the reconcile sent; fails on any other call,
/// and when the reconcile makes one call more than the scenario says.
async fn serve(mut handle: Handle, calls: Vec<Call>) -> Vec<Value> {
    let mut sent = vec![];
    for c in calls {
        let (req, reply) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
            .await
            .unwrap_or_else(|_| panic!("no call made; expected {} {}", c.method, c.path))
            .expect("the client hung up");
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        assert_eq!(req.method().as_str(), c.method, "{path}");
        assert!(
            path.contains(&c.path),
            "expected {} {}, got {path}",
            c.method,
            c.path
        );
        let bytes = http_body_util::BodyExt::collect(req.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let answer = c.answer.unwrap_or_else(|| body.clone());
        sent.push(body);
        reply.send_response(
            Response::builder()
                .status(c.status)
                .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                .unwrap(),
        );
    }
    if let Ok(Some((req, _))) =
        tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await
    {
        panic!("an unexpected call: {} {}", req.method(), req.uri());
    }
    sent
}

fn context() -> (Arc<Context>, Handle) {
    let (service, handle) = tower_test::mock::pair::<HttpRequest<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    (Context::with(client, None, Settings::default()), handle)
}

fn storage_request() -> Request {
    serde_json::from_value(json!({
        "apiVersion": "kavling.go.id/v1alpha1", "kind": "Request",
        "metadata": {"name": "arsip", "namespace": "tenant-dinkes", "uid": "u-1", "generation": 1},
        "spec": {"requestedBy": "rina", "letter": {"number": "1", "date": "2026-11-01",
            "signer": {"name": "A", "position": "B", "identity": {"nip": "197805122005012003"}}},
            "storage": {"name": "arsip", "dataDescription": "x", "size": "1Gi",
                "classification": "Publik", "personalData": false}}
    }))
    .unwrap()
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "kavling.go.id/v1alpha1", "kind": format!("{kind}List"),
        "metadata": {"resourceVersion": "1"}, "items": items})
}

fn approval(req: &Request, decision: Decision) -> Value {
    let mut a = serde_json::to_value(Approval::deciding(req, decision, "ani", "ok")).unwrap();
    a["metadata"]["namespace"] = json!("tenant-dinkes");
    a["metadata"]["creationTimestamp"] = json!("2026-12-01T00:00:00Z");
    a
}

const NS: &str = "/apis/kavling.go.id/v1alpha1/namespaces/tenant-dinkes";

#[tokio::test]
async fn an_approved_storage_request_claims_its_bucket_then_reports_provisioning() {
    let (ctx, handle) = context();
    let req = storage_request();
    let tenant = json!({"apiVersion": "kavling.go.id/v1alpha1", "kind": "Tenant",
        "metadata": {"name": "dinkes"},
        "spec": {"displayName": "Dinas Kesehatan", "type": "PerangkatDaerah", "code": "13.06"}});
    let server = tokio::spawn(serve(
        handle,
        vec![
            not_found(format!("{NS}/buckets/arsip")),
            call("GET", format!("{NS}/buckets?"), list("Bucket", vec![])),
            call("GET", "/apis/kavling.go.id/v1alpha1/tenants/dinkes", tenant),
            echo("POST", format!("{NS}/buckets?")),
            echo(
                "POST",
                "/apis/events.k8s.io/v1/namespaces/tenant-dinkes/events",
            ),
            echo("PATCH", format!("{NS}/requests/arsip/status?")),
        ],
    ));
    let approvals = vec![serde_json::from_value(approval(&req, Decision::Approve)).unwrap()];
    reconcile_with(Arc::new(req), &ctx, approvals)
        .await
        .expect("reconcile");
    let sent = server.await.unwrap();
    let bucket = &sent[3];
    assert_eq!(bucket["metadata"]["name"], "arsip");
    assert_eq!(
        bucket["metadata"]["annotations"]["kavling.go.id/request-uid"],
        "u-1"
    );
    let status = &sent[5]["status"];
    assert_eq!(status["phase"], "Provisioning", "{status}");
    assert_eq!(status["outputs"][0]["kind"], "Bucket");
}

#[tokio::test]
async fn a_bucket_name_held_by_another_request_fails_without_a_create() {
    let (ctx, handle) = context();
    let req = storage_request();
    let theirs = json!({"apiVersion": "kavling.go.id/v1alpha1", "kind": "Bucket",
        "metadata": {"name": "arsip", "namespace": "tenant-dinkes",
            "annotations": {"kavling.go.id/request": "tenant-dinkes/lama", "kavling.go.id/request-uid": "u-0"}},
        "spec": {"size": "1Gi", "classification": "Publik", "personalData": false}});
    let server = tokio::spawn(serve(
        handle,
        vec![
            call("GET", format!("{NS}/buckets/arsip"), theirs),
            echo("POST", "/events"),
            echo("PATCH", format!("{NS}/requests/arsip/status?")),
        ],
    ));
    let approvals = vec![serde_json::from_value(approval(&req, Decision::Approve)).unwrap()];
    reconcile_with(Arc::new(req), &ctx, approvals)
        .await
        .expect("reconcile");
    let sent = server.await.unwrap();
    let status = &sent[2]["status"];
    assert_eq!(status["phase"], "Failed", "{status}");
    let failed = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Failed")
        .unwrap();
    assert_eq!(failed["reason"], "NameTaken");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .starts_with("spec.storage.name: a Bucket named 'arsip' already exists"),
        "{failed}"
    );
}

#[tokio::test]
async fn a_rejected_request_reads_nothing_more_and_is_closed() {
    let (ctx, handle) = context();
    let req = storage_request();
    let server = tokio::spawn(serve(
        handle,
        vec![
            echo("POST", "/events"),
            echo("PATCH", format!("{NS}/requests/arsip/status?")),
        ],
    ));
    let approvals = vec![serde_json::from_value(approval(&req, Decision::Reject)).unwrap()];
    reconcile_with(Arc::new(req), &ctx, approvals)
        .await
        .expect("reconcile");
    let sent = server.await.unwrap();
    assert_eq!(sent[1]["status"]["phase"], "Rejected");
    assert_eq!(sent[1]["status"]["decision"]["approver"], "ani");
}
