//! The object store goes away in the middle of reconciles and comes back: every Bucket becomes
//! Ready and Garage holds exactly the keys Kavling's Buckets say are live — no duplicates, no
//! leftovers. (Its own test binary, so no other test sees Garage vanish; it runs after the
//! other bucket tests, so its last check covers their keys too.)

use std::collections::BTreeSet;
use std::time::Duration;

use kavling::api::*;
use kavling_e2e::{Stack, garage_keys, stack_script, wait_for, zone_and_rina_tenant};
use kube::Api;
use kube::api::{ListParams, PostParams};

const T: Duration = Duration::from_secs(90);

fn spec() -> BucketSpec {
    BucketSpec {
        size: "1Mi".into(),
        max_objects: Some(1000),
        classification: DataClassification::Publik,
        personal_data: false,
        versioning: false,
        rotation: Rotation::default(),
        deletion_policy: DeletionPolicy::Retain,
        purge: false,
        suspend: None,
    }
}

fn ready_reason(b: &Bucket) -> Option<(String, String)> {
    b.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone()))
}

#[tokio::test]
async fn garage_outage_mid_reconcile_ends_ready_with_exactly_the_live_keys() -> anyhow::Result<()> {
    let stack = Stack::load()?;
    let (_, _, ns) = zone_and_rina_tenant(
        &stack,
        "out",
        TenantType::Kabupaten,
        TenantLimits {
            buckets: 10,
            ..Default::default()
        },
    )
    .await?;
    let api: Api<Bucket> = Api::namespaced(stack.client_as("kavling-restore").await?, &ns);

    // one Bucket whose reconcile is under way when Garage stops, one made while it is down
    api.create(&PostParams::default(), &Bucket::new("satu", spec()))
        .await?;
    stack_script(&stack, &["garage", "stop"]);
    api.create(&PostParams::default(), &Bucket::new("dua", spec()))
        .await?;
    let why = wait_for("the outage reported on the Bucket", T, || async {
        let b = api.get("dua").await?;
        Ok(ready_reason(&b).filter(|(s, r)| s == "False" && r == "ObjectStoreUnavailable"))
    })
    .await?;
    assert_eq!(why.1, "ObjectStoreUnavailable");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stack_script(&stack, &["garage", "start"]);

    for name in ["satu", "dua"] {
        wait_for(&format!("{name} Ready after Garage returns"), T, || async {
            let b = api.get(name).await?;
            Ok(ready_reason(&b).filter(|(s, _)| s == "True").map(|_| ()))
        })
        .await?;
    }
    let keys = garage_keys(&stack).await?;
    for name in ["satu", "dua"] {
        let label = format!("kavling {ns}/{name} ");
        let mine: Vec<_> = keys.iter().filter(|(_, n)| n.starts_with(&label)).collect();
        assert_eq!(mine.len(), 1, "{name}: exactly one key, got {mine:?}");
    }

    // across every test before this one: Garage's Kavling keys are exactly the live ones
    let all = Api::<Bucket>::all(stack.client_as("admin").await?)
        .list(&ListParams::default())
        .await?;
    let live: BTreeSet<String> = all
        .items
        .iter()
        .filter_map(|b| b.status.as_ref())
        .flat_map(|s| {
            s.access_key_id
                .iter()
                .cloned()
                .chain(s.retiring_key.iter().map(|r| r.access_key_id.clone()))
        })
        .collect();
    let in_garage: BTreeSet<String> = garage_keys(&stack)
        .await?
        .into_iter()
        .filter(|(_, n)| n.starts_with("kavling "))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        in_garage,
        live,
        "Garage's keys vs the Buckets' live keys ({} Buckets)",
        all.items.len()
    );
    eprintln!(
        "garage keys made by Kavling: {} = live keys of {} Buckets",
        in_garage.len(),
        all.items.len()
    );
    Ok(())
}
