//! Kavling installed in the cluster from its own image and Helm chart, on the local node: the
//! image is built here (`dev/images.sh kavling`), pushed to the Pusat Data's registry and run
//! by the kubelet under PSA `restricted` with a read-only root filesystem. The chart's
//! operator pods stand by while the stack's operator leads, take the lease when it stops
//! cleanly, and one takes over when the leading pod is deleted. Prints both times. At the end
//! the chart's operator is scaled to zero and the stack's operator leads again.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use kavling::api::Zone;
use kavling_e2e::{Stack, stack_script, wait_for, workspace_bin};
use kube::Api;

const T: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(what: &str, cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn kubectl(stack: &Stack, args: &[&str]) -> Command {
    let mut c = Command::new(stack.get("KAVLING_KUBECTL"));
    c.arg("--kubeconfig")
        .arg(stack.kubeconfig("admin"))
        .args(args);
    c
}

fn helm(stack: &Stack, args: &[&str]) -> Command {
    let mut c = Command::new(stack.get("KAVLING_HELM"));
    c.env("KUBECONFIG", stack.kubeconfig("admin"))
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("kavling-helm-cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("kavling-helm-config"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("kavling-helm-data"),
        )
        .args(args);
    c
}

fn lease_holder(stack: &Stack) -> String {
    kubectl(
        stack,
        &[
            "get",
            "lease",
            "-n",
            "kavling-system",
            "kavling-operator",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    )
    .output()
    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    .unwrap_or_default()
}

async fn reconciled_zone(zones: &Api<Zone>, prefix: &str) -> anyhow::Result<Duration> {
    Ok(kavling_e2e::reconciled_zone(zones, prefix, T).await?.1)
}

#[tokio::test]
async fn the_chart_runs_kavling_in_the_cluster_and_its_pods_take_over_leading() -> anyhow::Result<()>
{
    let stack = Stack::load()?;
    anyhow::ensure!(
        !stack.get("KAVLING_NODE_IP").is_empty(),
        "the stack runs without a node (KAVLING_NODE=0)"
    );
    let zones: Api<Zone> = Api::all(stack.client_as("admin").await?);

    // the image, from the binaries this suite tests
    let bins = workspace_bin("kavling-operator");
    let pushed = run(
        "dev/images.sh kavling",
        Command::new(repo().join("dev/images.sh"))
            .arg("kavling")
            .arg(stack.get("KAVLING_REGISTRY"))
            .arg(bins.parent().unwrap()),
    )?;
    let tag = pushed
        .trim()
        .rsplit_once(':')
        .map(|(_, t)| t.to_string())
        .unwrap_or_default();
    anyhow::ensure!(
        !tag.is_empty(),
        "no image reference from dev/images.sh: {pushed}"
    );

    // the chart, over what dev/install-manifests.sh applied (same objects: adopted)
    let repository = format!("{}/kavling", stack.get("KAVLING_IMAGE_REGISTRY"));
    let chart = repo().join("charts/kavling");
    let install = |replicas: &str| {
        let mut c = helm(
            &stack,
            &[
                "upgrade",
                "--install",
                "kavling",
                chart.to_str().unwrap(),
                "-n",
                "kavling-system",
                "--take-ownership",
                "--wait",
                "--timeout",
                "5m",
                "--set",
                &format!("image.repository={repository}"),
                "--set",
                &format!("image.tag={tag}"),
                "--set",
                &format!("operator.replicas={replicas}"),
                "--set",
                &format!("dns.replicas={replicas}"),
            ],
        );
        run("helm upgrade --install", &mut c)
    };
    // a wrong namespace is refused by name
    let wrong = helm(
        &stack,
        &[
            "template",
            "kavling",
            chart.to_str().unwrap(),
            "-n",
            "default",
            "--kube-version",
            "1.34.0",
        ],
    )
    .output()?;
    assert!(
        !wrong.status.success()
            && String::from_utf8_lossy(&wrong.stderr)
                .contains("install Kavling into the namespace kavling-system"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );

    install("2")?;
    let holder = lease_holder(&stack);
    assert_eq!(
        holder, "stack-kavling-operator",
        "the stack's operator still leads"
    );
    // the pods run as the chart says: non-root, read-only root, standing by
    let users = run(
        "operator pods",
        &mut kubectl(
            &stack,
            &[
                "get",
                "pods",
                "-n",
                "kavling-system",
                "-l",
                "app.kubernetes.io/name=kavling-operator",
                "-o",
                "jsonpath={range .items[*]}{.status.phase}/{.spec.securityContext.runAsUser}/{.spec.containers[0].securityContext.readOnlyRootFilesystem} {end}",
            ],
        ),
    )?;
    assert_eq!(
        users.trim(),
        "Running/65532/true Running/65532/true",
        "{users}"
    );

    // the stack's operator stops cleanly: a pod takes the lease at its next try
    stack_script(&stack, &["operator", "stop"]);
    let handover = reconciled_zone(&zones, "pod-serah").await?;
    let leader_pod = lease_holder(&stack);
    assert!(leader_pod.starts_with("kavling-operator-"), "{leader_pod}");
    println!(
        "handover to a pod: first reconcile {:.1} s after the leader stopped",
        handover.as_secs_f64()
    );

    // the leading pod is deleted without grace: another replica takes over once the lease
    // runs out (its replacement has a new uid, so a new identity)
    let pod = leader_pod
        .rsplit_once('_')
        .map(|(p, _)| p)
        .unwrap_or(&leader_pod)
        .to_string();
    run(
        "delete the leading pod",
        &mut kubectl(
            &stack,
            &[
                "delete",
                "pod",
                "-n",
                "kavling-system",
                &pod,
                "--grace-period=0",
                "--force",
            ],
        ),
    )?;
    let failover = reconciled_zone(&zones, "pod-gagal").await?;
    let next = lease_holder(&stack);
    assert_ne!(next, leader_pod, "a new identity leads");
    println!(
        "failover between pods: first reconcile {:.1} s after the leading pod was deleted (lease 15 s)",
        failover.as_secs_f64()
    );
    assert!(failover < Duration::from_secs(45), "{failover:?}");

    // back to the stack's operator
    install("0")?;
    stack_script(&stack, &["operator", "start"]);
    wait_for("the stack's operator leads again", T, || async {
        Ok((lease_holder(&stack) == "stack-kavling-operator").then_some(()))
    })
    .await?;
    reconciled_zone(&zones, "kembali").await?;
    Ok(())
}
