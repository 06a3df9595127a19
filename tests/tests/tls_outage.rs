//! The ACME CA goes away in the middle of an order and comes back (a restarted Pebble has
//! forgotten every account and order): Kavling backs off, places no pile of orders while it
//! is down, re-registers, and ends with a valid certificate and no challenge records left.
//! (Its own test binary, run last: it restarts Pebble and the DNS server.)

use std::time::Duration;

use kavling::api::*;
use kavling_e2e::{Stack, letter, stack_script, wait_for, zone_and_rina_tenant};
use kube::Api;
use kube::api::{ListParams, PostParams};

const T: Duration = Duration::from_secs(180);

#[tokio::test]
async fn pebble_stopped_mid_order_leads_to_backoff_and_recovery_without_piled_up_orders()
-> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (_, zone, ns) = zone_and_rina_tenant(
        &stack,
        "tlso",
        TenantType::PerangkatDaerah,
        TenantLimits::default(),
    )
    .await?;
    // a subdomain the tenant holds
    let req = Request::new(
        "tahan",
        RequestSpec {
            requested_by: "rina".into(),
            letter: letter(),
            subdomain: Some(SubdomainRequest {
                zone: zone.clone(),
                label: "tahan".into(),
                application_name: "x".into(),
                description: "x".into(),
                business_process: "x".into(),
                website: false,
                tls: false,
                target: Target {
                    addresses: vec!["10.30.0.1".into()],
                    ..Default::default()
                },
                wildcard: false,
            }),
            hosting: None,
            storage: None,
        },
    );
    let filed = Api::<Request>::namespaced(stack.client_as("rina").await?, &ns)
        .create(&PostParams::default(), &req)
        .await?;
    Api::<Approval>::namespaced(stack.client_as("ani").await?, &ns)
        .create(
            &PostParams::default(),
            &Approval::deciding(&filed, Decision::Approve, "ani", "ok"),
        )
        .await?;
    let fqdn = format!("tahan.{zone}");
    let subdomains: Api<Subdomain> = Api::all(stack.client_as("admin").await?);
    wait_for("subdomain served", T, || async {
        Ok(subdomains
            .get_opt(&fqdn)
            .await?
            .and_then(|s| s.status)
            .and_then(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
                    .then_some(())
            }))
    })
    .await?;

    // hold the order at "Publishing" (no DNS server answers), then take the CA away
    stack_script(&stack, &["dns", "stop"]);
    let certs: Api<Certificate> = Api::namespaced(stack.client_as("kavling-restore").await?, &ns);
    certs
        .create(
            &PostParams::default(),
            &Certificate::new(
                "tahan",
                CertificateSpec {
                    dns_names: vec![fqdn.clone()],
                    issuer: "pusat-data".into(),
                    secret_name: "tahan-tls".into(),
                    key_algorithm: KeyAlgorithm::EcdsaP256,
                },
            ),
        )
        .await?;
    wait_for("an order in progress", T, || async {
        let c = certs.get("tahan").await?;
        Ok(c.status
            .filter(|s| s.order.is_some() && s.step == OrderStep::Publishing)
            .map(|_| ()))
    })
    .await?;
    stack_script(&stack, &["pebble", "stop"]);
    stack_script(&stack, &["dns", "start"]);

    let failure = wait_for("the outage recorded", T, || async {
        let c = certs.get("tahan").await?;
        Ok(c.status.and_then(|s| s.last_failure))
    })
    .await?;
    assert_eq!(failure.reason, "CAUnreachable", "{failure:?}");
    // while the CA is down: backoff, and no new orders
    tokio::time::sleep(Duration::from_secs(8)).await;
    let st = certs.get("tahan").await?.status.unwrap();
    assert_eq!(
        st.recent_orders.len(),
        1,
        "no orders while the CA is down: {st:?}"
    );
    let attempts = st.last_failure.as_ref().map(|f| f.count).unwrap_or(0);
    assert!(
        attempts <= 3,
        "backoff: at most 3 attempts in ~8 s (5 s doubling), got {attempts}"
    );

    stack_script(&stack, &["pebble", "start"]);
    let c = wait_for("certificate issued after the CA returns", T, || async {
        let c = certs.get("tahan").await?;
        Ok(c.status
            .as_ref()
            .is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|x| x.type_ == "Ready" && x.status == "True")
            })
            .then_some(c))
    })
    .await?;
    let st = c.status.unwrap();
    assert!(
        st.recent_orders.len() <= 2,
        "the lost order and at most one new one: {:?}",
        st.recent_orders
    );
    assert!(st.last_failure.is_none() && st.order.is_none());
    let key = kavling::controllers::label_value(&format!("{ns}.tahan"));
    let left = Api::<DnsRecord>::all(stack.client_as("admin").await?)
        .list(&ListParams::default().labels(&format!("kavling.go.id/certificate={key}")))
        .await?;
    assert!(
        left.items.is_empty(),
        "challenge records left: {}",
        left.items.len()
    );

    // leave the stack as it was: the Issuer gets the restarted Pebble's root
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dev/install-manifests.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .env("KAVLING_STACK_DIR", stack.get("KAVLING_STACK_DIR"))
        .env("KAVLING_PORT_BASE", stack.get("KAVLING_PORT_BASE"))
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
