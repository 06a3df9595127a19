//! Killing the operator in the middle of the flow loses nothing and duplicates nothing.
//! (Its own test binary: cargo runs binaries one after another, so no other test sees the
//! operator vanish.)

use std::time::Duration;

use kavling::api::*;
use kavling_e2e::{Stack, wait_for};
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};

fn operator(stack: &Stack, action: &str) {
    kavling_e2e::stack_script(stack, &["operator", action]);
}

#[tokio::test]
async fn killing_the_operator_mid_flow_finishes_the_job_without_duplicates() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let admin = stack.client_as("admin").await?;
    let limits = TenantLimits {
        subdomains: 50,
        websites: 5,
        ..Default::default()
    };
    let (id, zone, ns) =
        kavling_e2e::zone_and_rina_tenant(&stack, "kill", TenantType::Kabupaten, limits).await?;

    let rina: Api<Request> = Api::namespaced(stack.client_as("rina").await?, &ns);
    let ani: Api<Approval> = Api::namespaced(stack.client_as("ani").await?, &ns);
    let n = 12;
    wait_for("tenant RBAC", Duration::from_secs(60), || async {
        Ok(rina.list(&ListParams::default()).await.ok().map(|_| ()))
    })
    .await?;
    for round in 0..3 {
        for i in 0..n / 3 {
            let label = format!("app{round}{i}");
            let spec = RequestSpec {
                requested_by: "rina".into(),
                letter: Letter {
                    number: format!("1/{label}/2026"),
                    date: "2026-11-01".into(),
                    subject: None,
                    signer: Signer {
                        name: "A".into(),
                        position: "B".into(),
                        identity: Identity {
                            nip: Some("197805122005012003".into()),
                            nik: None,
                        },
                    },
                },
                subdomain: Some(SubdomainRequest {
                    zone: zone.clone(),
                    label: label.clone(),
                    application_name: "x".into(),
                    description: "x".into(),
                    business_process: "x".into(),
                    website: false,
                    tls: false,
                    target: Target {
                        addresses: vec![
                            format!("10.30.{round}.{i}"),
                            format!("2001:db8::{round}:{i}"),
                        ],
                        ..Default::default()
                    },
                    wildcard: false,
                }),
                hosting: None,
                storage: None,
            };
            let filed = rina
                .create(&PostParams::default(), &Request::new(&label, spec))
                .await?;
            ani.create(
                &PostParams::default(),
                &Approval::deciding(&filed, Decision::Approve, "ani", ""),
            )
            .await?;
        }
        // kill -9 at a different moment each round: right away, a little later, later still
        tokio::time::sleep(Duration::from_millis(150 * round as u64)).await;
        operator(&stack, "kill");
        tokio::time::sleep(Duration::from_millis(300)).await;
        operator(&stack, "start");
    }

    let all: Api<Request> = Api::namespaced(admin.clone(), &ns);
    wait_for(
        "every request Ready after the restarts",
        Duration::from_secs(90),
        || async {
            let list = all.list(&ListParams::default()).await?;
            Ok((list.items.len() == n
                && list.items.iter().all(|r| {
                    r.status
                        .as_ref()
                        .is_some_and(|s| s.phase == RequestPhase::Ready)
                }))
            .then_some(()))
        },
    )
    .await?;
    let sds = Api::<Subdomain>::all(admin.clone())
        .list(&ListParams::default().labels(&format!("kavling.go.id/tenant={id}")))
        .await?;
    assert_eq!(sds.items.len(), n, "exactly one Subdomain per request");
    let records = Api::<DnsRecord>::all(admin.clone())
        .list(&ListParams::default())
        .await?;
    let mine: Vec<_> = records
        .items
        .iter()
        .filter(|r| r.spec.zone == zone)
        .collect();
    assert_eq!(
        mine.len(),
        2 * n,
        "exactly one A and one AAAA RRset per subdomain"
    );
    for r in &mine {
        assert_eq!(
            r.owner_references().len(),
            1,
            "{} has one owner",
            r.name_any()
        );
    }
    // the zone's count follows the records (eventually: its controller was just restarted too)
    let zones: Api<Zone> = Api::all(admin);
    wait_for(
        "zone counts every RRset",
        Duration::from_secs(30),
        || async {
            Ok(
                (zones.get(&zone).await?.status.unwrap_or_default().records as usize == 2 * n)
                    .then_some(()),
            )
        },
    )
    .await?;
    Ok(())
}
