//! `kavling describe KIND NAME`: one object in full: what it is, its conditions, its events.

use clap::Args;
use k8s_openapi::api::core::v1::Event;
use kavling_core::api::{
    Bucket, Certificate, Condition, Hosting, Request, Subdomain, Tenant, Zone,
};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use super::get::Kind;

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// requests, tenants, zones, subdomains, buckets, certificates or hostings.
    pub kind: Kind,
    pub name: String,
    /// Namespace of a request, bucket, certificate or hosting (default: your kubeconfig's
    /// namespace).
    #[arg(short, long)]
    pub namespace: Option<String>,
}

fn print_conditions(conds: &[Condition]) {
    println!("Conditions:");
    if conds.is_empty() {
        println!("  (none yet: the operator has not looked at it)");
    }
    for c in conds {
        println!(
            "  {:<12} {:<6} {:<20} {}  (since {})",
            c.type_, c.status, c.reason, c.message, c.last_transition_time
        );
    }
}

async fn print_events(client: &Client, namespace: &str, name: &str) {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
    println!("Events:");
    match api.list(&lp).await {
        Ok(list) if list.items.is_empty() => println!("  (none)"),
        Ok(mut list) => {
            list.items.sort_by_key(|e| {
                e.last_timestamp
                    .clone()
                    .map(|t| t.0)
                    .or(e.event_time.clone().map(|t| t.0))
            });
            for e in list.items {
                println!(
                    "  {:<8} {:<18} {}",
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default()
                );
            }
        }
        Err(e) => println!("  (cannot read events: {e})"),
    }
}

pub async fn run(client: Client, args: DescribeArgs) -> anyhow::Result<()> {
    match args.kind {
        Kind::Requests => {
            let api: Api<Request> = match &args.namespace {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::default_namespaced(client.clone()),
            };
            let r = api.get(&args.name).await?;
            let ns = r.namespace().unwrap_or_default();
            let st = r.status.clone().unwrap_or_default();
            let l = &r.spec.letter;
            println!("Request:      {ns}/{}", r.name_any());
            println!("Type:         {}", r.spec.kind());
            println!("Requested by: {}", r.spec.requested_by);
            println!(
                "Letter:       {} dated {} signed by {} ({})",
                l.number, l.date, l.signer.name, l.signer.position
            );
            if let Some(s) = &r.spec.subdomain {
                println!(
                    "Subdomain:    {}.{}  website={} tls={}",
                    s.label, s.zone, s.website, s.tls
                );
                println!("Application:  {} — {}", s.application_name, s.description);
                println!("Process:      {}", s.business_process);
            }
            if let Some(h) = &r.spec.hosting {
                println!(
                    "Hosting:      {} (template {}, cpu {}, memory {}, disk {})",
                    h.name, h.template, h.cpu, h.memory, h.disk
                );
            }
            if let Some(s) = &r.spec.storage {
                println!(
                    "Storage:      {} ({}, {:?}, personal data: {})",
                    s.name, s.size, s.classification, s.personal_data
                );
            }
            println!("Phase:        {:?}", st.phase);
            if let Some(d) = &st.decision {
                println!(
                    "Decision:     {:?} by {} at {}{}",
                    d.decision,
                    d.approver,
                    d.at,
                    if d.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", d.reason)
                    }
                );
            }
            for o in &st.outputs {
                println!("Output:       {} {}", o.kind, o.name);
            }
            print_conditions(&st.conditions);
            print_events(&client, &ns, &r.name_any()).await;
        }
        Kind::Subdomains => {
            let s: Subdomain = Api::all(client.clone()).get(&args.name).await?;
            let st = s.status.clone().unwrap_or_default();
            println!("Subdomain:    {}", s.name_any());
            println!("Tenant:       {}", s.spec.tenant);
            println!("Website:      {}", s.spec.website);
            println!("Target:       {:?}", s.spec.target);
            if let Some(sus) = &s.spec.suspend {
                println!(
                    "Suspend:      {}{}",
                    sus.reason,
                    sus.until
                        .as_ref()
                        .map(|u| format!(" until {u}"))
                        .unwrap_or_default()
                );
            }
            println!("Records:      {}", st.records.join(", "));
            if let Some(r) = s
                .annotations()
                .get(kavling_core::outputs::REQUEST_ANNOTATION)
            {
                println!("Request:      {r}");
            }
            print_conditions(&st.conditions);
            print_events(&client, "default", &s.name_any()).await;
        }
        Kind::Tenants => {
            let t: Tenant = Api::all(client.clone()).get(&args.name).await?;
            let st = t.status.clone().unwrap_or_default();
            println!("Tenant:       {} — {}", t.name_any(), t.spec.display_name);
            println!("Type/code:    {:?} {}", t.spec.type_, t.spec.code);
            println!("Groups:       {}", t.spec.groups.join(", "));
            println!("Namespace:    {}", st.namespace.unwrap_or_default());
            println!(
                "Subdomains:   {}/{}",
                st.usage.subdomains, t.spec.limits.subdomains
            );
            println!(
                "Websites:     {}/{}",
                st.usage.websites, t.spec.limits.websites
            );
            print_conditions(&st.conditions);
            print_events(&client, "default", &t.name_any()).await;
        }
        Kind::Zones => {
            let z: Zone = Api::all(client.clone()).get(&args.name).await?;
            let st = z.status.clone().unwrap_or_default();
            println!("Zone:         {}", z.name_any());
            println!(
                "SOA:          {} {} serial {}",
                z.spec.soa.primary, z.spec.soa.hostmaster, st.serial
            );
            println!("Nameservers:  {}", z.spec.nameservers.join(", "));
            println!("Records:      {}", st.records);
            println!("Reserved:     {}", z.spec.policy.reserved_labels.join(", "));
            match (&z.spec.dnssec.enabled, &st.dnssec) {
                (false, _) => println!("DNSSEC:       off"),
                (true, None) => println!("DNSSEC:       on, no key yet (see the conditions)"),
                (true, Some(k)) => {
                    println!(
                        "DNSSEC:       signed, key {} ({}, NSEC3)",
                        k.key_tag, k.algorithm
                    );
                    println!("DS:           {}", k.ds);
                    println!(
                        "              For the parent zone: send this DS record to its registry \
                         (PANDI for go.id and desa.id) with the request letter. / Kirim rekaman \
                         DS ini ke pengelola zona induk (PANDI untuk go.id dan desa.id) bersama \
                         surat permohonan."
                    );
                    println!("DNSKEY:       {}", k.dnskey);
                    for z in &k.zone_keys {
                        println!(
                            "Zone key:     {} {} (made {})",
                            z.key_tag, z.state, z.created
                        );
                    }
                }
            }
            print_conditions(&st.conditions);
        }
        Kind::Buckets => {
            let api: Api<Bucket> = match &args.namespace {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::default_namespaced(client.clone()),
            };
            let b = api.get(&args.name).await?;
            let ns = b.namespace().unwrap_or_default();
            let st = b.status.clone().unwrap_or_default();
            let or_dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            println!("Bucket:       {ns}/{}", b.name_any());
            println!(
                "Object store: {} at {}",
                or_dash(&st.bucket_name),
                or_dash(&st.endpoint)
            );
            println!(
                "Quota:        {}{}",
                b.spec.size,
                b.spec
                    .max_objects
                    .map(|n| format!(", {n} objects"))
                    .unwrap_or_default()
            );
            if let Some(u) = &st.usage {
                println!(
                    "Used:         {} in {} objects",
                    kavling_core::rules::storage::human_bytes(u.bytes),
                    u.objects
                );
            }
            println!(
                "Data:         {:?}{}",
                b.spec.classification,
                if b.spec.personal_data {
                    ", personal data"
                } else {
                    ""
                }
            );
            println!("Credentials:  Secret {}", or_dash(&st.secret_name));
            println!(
                "Key:          {} (#{}), rotates every {}, next {}",
                or_dash(&st.access_key_id),
                st.key_serial,
                b.spec.rotation.period,
                or_dash(&st.next_rotation)
            );
            if let Some(r) = &st.retiring_key {
                println!("Previous key: {} works until {}", r.access_key_id, r.until);
            }
            println!(
                "On deletion:  {:?}{}",
                b.spec.deletion_policy,
                if b.spec.purge { " with purge" } else { "" }
            );
            print_conditions(&st.conditions);
            print_events(&client, &ns, &b.name_any()).await;
        }
        Kind::Certificates => {
            let api: Api<Certificate> = match &args.namespace {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::default_namespaced(client.clone()),
            };
            let c = api.get(&args.name).await?;
            let ns = c.namespace().unwrap_or_default();
            let st = c.status.clone().unwrap_or_default();
            let or_dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            println!("Certificate:  {ns}/{}", c.name_any());
            println!("Names:        {}", c.spec.dns_names.join(", "));
            println!(
                "Issuer:       {} ({:?})",
                c.spec.issuer, c.spec.key_algorithm
            );
            println!("Secret:       {}", c.spec.secret_name);
            println!(
                "Valid:        {} → {} (serial {})",
                or_dash(&st.not_before),
                or_dash(&st.not_after),
                or_dash(&st.serial)
            );
            println!("Renews at:    {}", or_dash(&st.renewal_time));
            println!(
                "Step:         {:?}{}",
                st.step,
                st.order
                    .as_ref()
                    .map(|o| format!(" (order {o})"))
                    .unwrap_or_default()
            );
            if let Some(f) = &st.last_failure {
                println!(
                    "Last failure: {} ×{} at {}: {}",
                    f.reason, f.count, f.at, f.message
                );
            }
            print_conditions(&st.conditions);
            print_events(&client, &ns, &c.name_any()).await;
        }
        Kind::Hostings => {
            let api: Api<Hosting> = match &args.namespace {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::default_namespaced(client.clone()),
            };
            let h = api.get(&args.name).await?;
            let ns = h.namespace().unwrap_or_default();
            let st = h.status.clone().unwrap_or_default();
            let r = &h.spec.resources;
            println!("Hosting:      {ns}/{}", h.name_any());
            println!(
                "Template:     {} {:?}",
                h.spec.template.as_str(),
                h.spec.parameters
            );
            println!(
                "Namespace:    {}",
                st.namespace.clone().unwrap_or_else(|| "-".into())
            );
            println!(
                "Plan:         cpu {}, memory {}, disk {}, pods {}",
                r.cpu, r.memory, r.disk, r.pods
            );
            if let Some(u) = &st.usage {
                let used: Vec<String> = u
                    .hard
                    .iter()
                    .map(|(k, hard)| {
                        format!(
                            "{k} {}/{hard}",
                            u.used.get(k).map(String::as_str).unwrap_or("0")
                        )
                    })
                    .collect();
                println!("Quota:        {}", used.join(", "));
            }
            println!(
                "Serves:       {}",
                if st.endpoints.is_empty() {
                    "-".into()
                } else {
                    st.endpoints.join(" ")
                }
            );
            println!("Objects:      {}", st.objects.join(", "));
            print_conditions(&st.conditions);
            print_events(&client, &ns, &h.name_any()).await;
        }
        other => anyhow::bail!(
            "describe supports requests, tenants, zones, subdomains, buckets, certificates and hostings; use `kavling get {other:?} -o yaml`"
        ),
    }
    Ok(())
}
