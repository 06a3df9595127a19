//! A signed Zone's key: made once by the operator, kept in a Secret of the keys namespace
//! (`dnssec.<zone>`, owned by the Zone so it goes with it), read there by kavling-dns — the
//! only other reader. The Zone's status shows the DS the parent needs.
//!
//! Never adopted by name: a Secret of that name that is not owned by this Zone (same uid) is
//! reported, not used, as a key put there by someone else would sign for the zone.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Resource, ResourceExt};

use super::{Context, Result};
use crate::api::{DnssecAlgorithm, DnssecStatus, Zone, ZoneKeyStatus, labels};
use crate::dns::dnssec::{self, Algorithm, Rollover, SigningKey};

/// What became of the key.
pub enum KeyState {
    /// The keys in use, as the status shows them, and when the rollover next needs a look.
    Ready(DnssecStatus, Option<std::time::Duration>),
    /// No usable key; the message says why and what to do.
    Refused(String),
}

fn algorithm(a: DnssecAlgorithm) -> Algorithm {
    match a {
        DnssecAlgorithm::EcdsaP256Sha256 => Algorithm::EcdsaP256Sha256,
        DnssecAlgorithm::Ed25519 => Algorithm::Ed25519,
    }
}

/// The status for a key (pure).
pub fn status_of(zone: &str, key: &SigningKey, secret: &str) -> DnssecStatus {
    let apex = crate::dns::wire::name(zone).unwrap_or_default();
    DnssecStatus {
        key_tag: key.tag,
        algorithm: key.algorithm.mnemonic().into(),
        ds: format!("{zone}. IN DS {}", key.ds_text(&apex)),
        dnskey: format!("{zone}. IN DNSKEY {}", key.dnskey_text()),
        secret: secret.into(),
        zone_keys: Vec::new(),
    }
}

/// The zone-signing keys a Secret holds: creation time → PKCS#8.
fn zone_keys(secret: &Secret) -> BTreeMap<u64, Vec<u8>> {
    secret
        .data
        .iter()
        .flatten()
        .filter_map(|(k, v)| {
            let created = k
                .strip_prefix(dnssec::ZSK_PREFIX)?
                .strip_suffix(".pk8")?
                .parse()
                .ok()?;
            Some((created, v.0.clone()))
        })
        .collect()
}

/// The rollover's step at `now` (pure): the zone-signing keys to add (a successor is due: its
/// creation time) and to remove (retired long enough).
pub fn rollover_step(rollover: &Rollover, created: &[u64], now: u64) -> (Option<u64>, Vec<u64>) {
    let add = rollover.successor_due(created, now).then_some(now);
    (add, rollover.expired(created, now))
}

/// Each zone-signing key's state for the status (pure).
fn key_states(
    rollover: &Rollover,
    keys: &BTreeMap<u64, SigningKey>,
    now: u64,
) -> Vec<ZoneKeyStatus> {
    let created: Vec<u64> = keys.keys().copied().collect();
    let active = rollover.active(&created, now);
    keys.iter()
        .map(|(c, k)| ZoneKeyStatus {
            key_tag: k.tag,
            created: chrono::DateTime::from_timestamp(*c as i64, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            state: match active {
                Some(a) if a == *c => "Active",
                Some(a) if *c < a => "Retired",
                _ => "Published",
            }
            .into(),
        })
        .collect()
}

/// The Secret for a new key of `zone` (pure apart from the random key).
fn new_secret(zone: &Zone, name: &str, namespace: &str, der: Vec<u8>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: Some(BTreeMap::from([
                (dnssec::KEY_LABEL.into(), "true".into()),
                (labels::MANAGED_BY.into(), labels::MANAGER.into()),
            ])),
            annotations: Some(BTreeMap::from([(
                dnssec::ZONE_ANNOTATION.into(),
                zone.name_any(),
            )])),
            owner_references: zone.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(dnssec::KEY_DATA.into(), ByteString(der))])),
        ..Default::default()
    }
}

/// Whether `secret` is this zone's: owned by this very Zone object (its uid).
fn owned_by(secret: &Secret, zone: &Zone) -> bool {
    let uid = zone.meta().uid.as_deref();
    uid.is_some()
        && secret
            .owner_references()
            .iter()
            .any(|o| o.kind == "Zone" && Some(o.uid.as_str()) == uid)
}

/// The zone's key, made if it has none yet (idempotent; safe to be killed at any line: a key
/// made but not stored is simply made again).
pub async fn ensure(ctx: &Context, zone: &Zone) -> Result<KeyState> {
    let name = zone.name_any();
    let Some(secret_name) = dnssec::secret_name(&name) else {
        return Ok(KeyState::Refused(format!(
            "spec.dnssec: the zone name is too long for its key Secret (dnssec.{name})"
        )));
    };
    let namespace = &ctx.settings.keys_namespace;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = match api.get_opt(&secret_name).await? {
        Some(s) => s,
        None => {
            let der = SigningKey::generate(algorithm(zone.spec.dnssec.algorithm))
                .map_err(|e| super::Error::Blocked(format!("cannot make a DNSSEC key: {e}")))?;
            let new = new_secret(zone, &secret_name, namespace, der);
            match api.create(&PostParams::default(), &new).await {
                Ok(s) => s,
                // made meanwhile (another replica, or a retry): read what is there
                Err(kube::Error::Api(e)) if e.code == 409 => api.get(&secret_name).await?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    if !owned_by(&secret, zone) {
        return Ok(KeyState::Refused(format!(
            "Secret {namespace}/{secret_name} exists but was not made for this Zone; it is not \
             used (delete it to have a key made)"
        )));
    }
    let Some(der) = secret.data.as_ref().and_then(|d| d.get(dnssec::KEY_DATA)) else {
        return Ok(KeyState::Refused(format!(
            "Secret {namespace}/{secret_name} has no {}",
            dnssec::KEY_DATA
        )));
    };
    let key = match SigningKey::from_pkcs8(&der.0) {
        Ok(key) => key,
        Err(e) => {
            return Ok(KeyState::Refused(format!(
                "Secret {namespace}/{secret_name}: {e}"
            )));
        }
    };

    // the zone-signing keys' rollover: a successor when due, retired keys removed
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
    let rollover = Rollover::new(
        u64::from(zone.spec.dnssec.zsk_lifetime_seconds),
        zone.spec.default_ttl,
    );
    let mut held = zone_keys(&secret);
    let created: Vec<u64> = held.keys().copied().collect();
    let (add, remove) = rollover_step(&rollover, &created, now);
    if add.is_some() || !remove.is_empty() {
        let mut updated = secret.clone();
        let data = updated.data.get_or_insert_with(BTreeMap::new);
        if let Some(c) = add {
            // the same algorithm as the key-signing key: one algorithm per zone
            let der = SigningKey::generate(key.algorithm)
                .map_err(|e| super::Error::Blocked(format!("cannot make a DNSSEC key: {e}")))?;
            data.insert(
                format!("{}{c}.pk8", dnssec::ZSK_PREFIX),
                ByteString(der.clone()),
            );
            held.insert(c, der);
        }
        for c in &remove {
            data.remove(&format!("{}{c}.pk8", dnssec::ZSK_PREFIX));
            held.remove(c);
        }
        // replace carries the resourceVersion read: two writers cannot both roll (409, retried)
        api.replace(&secret_name, &PostParams::default(), &updated)
            .await?;
        tracing::info!(zone = %name, added = ?add, removed = ?remove, "zone-signing keys rolled");
    }
    let parsed: BTreeMap<u64, SigningKey> = held
        .iter()
        .filter_map(|(c, der)| Some((*c, SigningKey::zone_signing_from_pkcs8(der).ok()?)))
        .collect();
    let mut status = status_of(&name, &key, &secret_name);
    status.zone_keys = key_states(&rollover, &parsed, now);
    let created: Vec<u64> = parsed.keys().copied().collect();
    let next = rollover
        .next_event(&created, now)
        .map(|t| std::time::Duration::from_secs(t.saturating_sub(now) + 1));
    Ok(KeyState::Ready(status, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(uid: &str) -> Zone {
        let mut z: Zone = serde_json::from_value(serde_json::json!({
            "apiVersion": "kavling.go.id/v1alpha1", "kind": "Zone",
            "metadata": {"name": "kota.go.id", "uid": uid},
            "spec": {"soa": {"primary": "ns1.kota.go.id", "hostmaster": "h@kota.go.id"},
                     "nameservers": ["ns1.kota.go.id"], "dnssec": {"enabled": true}}}))
        .unwrap();
        z.metadata.uid = Some(uid.into());
        z
    }

    #[test]
    fn a_key_secret_belongs_to_the_zone_object_that_made_it_not_to_its_name() {
        let der = SigningKey::generate(Algorithm::EcdsaP256Sha256).unwrap();
        let mine = new_secret(&zone("uid-1"), "dnssec.kota.go.id", "kavling-tsig", der);
        assert!(owned_by(&mine, &zone("uid-1")));
        // the same name, deleted and made again: a new object, not the old key's owner
        assert!(!owned_by(&mine, &zone("uid-2")));
        // a Secret someone put there by hand
        let mut planted = mine.clone();
        planted.metadata.owner_references = None;
        assert!(!owned_by(&planted, &zone("uid-1")));
    }

    #[test]
    fn the_status_gives_the_ds_and_dnskey_in_presentation_form() {
        let der = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let key = SigningKey::from_pkcs8(&der).unwrap();
        let st = status_of("kota.go.id", &key, "dnssec.kota.go.id");
        assert_eq!(st.algorithm, "ED25519");
        assert!(
            st.ds
                .starts_with(&format!("kota.go.id. IN DS {} 15 2 ", key.tag))
        );
        assert_eq!(
            st.ds.len(),
            "kota.go.id. IN DS ".len() + format!("{} 15 2 ", key.tag).len() + 64
        );
        assert!(st.dnskey.starts_with("kota.go.id. IN DNSKEY 257 3 15 "));
    }

    #[test]
    fn the_operator_adds_a_successor_when_due_and_removes_what_is_retired() {
        let r = Rollover::new(1000, 50);
        assert_eq!(rollover_step(&r, &[], 5), (Some(5), vec![]));
        assert_eq!(rollover_step(&r, &[0], 500), (None, vec![]));
        assert_eq!(rollover_step(&r, &[0], 900), (Some(900), vec![]));
        assert_eq!(rollover_step(&r, &[0, 900], 1500), (None, vec![0]));
    }
}
