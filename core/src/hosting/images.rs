//! The images hosting templates run: a catalog of roles (`templates/images.yaml`, compiled in)
//! under the Pusat Data's own registry (operator configuration). Templates never name a
//! public registry, so an air-gapped Pusat Data mirrors exactly this list; a tenant's own
//! image (the `container` template) must come from that registry too, pinned.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::TemplateError;

const CATALOG: &str = include_str!("../../../templates/images.yaml");

/// One catalog entry: the image's name under the registry prefix, and its pinned tag.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct CatalogEntry {
    pub name: String,
    pub tag: String,
}

/// The catalog as shipped (role → entry).
pub fn catalog() -> Result<BTreeMap<String, CatalogEntry>, TemplateError> {
    let c: BTreeMap<String, CatalogEntry> = serde_norway::from_str(CATALOG)
        .map_err(|e| TemplateError::Parse(format!("templates/images.yaml: {e}")))?;
    for (role, e) in &c {
        if !pinned_tag(&e.tag) {
            return Err(TemplateError::Parse(format!(
                "templates/images.yaml: {role}: tag '{}' is not pinned",
                e.tag
            )));
        }
    }
    Ok(c)
}

/// Full image references by role, e.g. `web` → `registry.pusat-data.local/kavling/web:1.22-bookworm-1`.
/// Serialized as a plain map: templates write `{{ images.web }}`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Images {
    refs: BTreeMap<String, String>,
    #[serde(skip)]
    registry: String,
}

impl Images {
    /// The catalog under `registry` (host[:port][/path]), checked: a malformed prefix is a
    /// configuration error at start-up, not a broken pod later.
    pub fn under(registry: &str) -> Result<Self, TemplateError> {
        let registry = registry.trim_end_matches('/');
        if !valid_registry(registry) {
            return Err(TemplateError::Invalid {
                field: "--image-registry",
                message: format!(
                    "'{registry}' is not a registry prefix (host[:port][/path], lower case, e.g. registry.pusatdata.go.id/kavling)"
                ),
            });
        }
        let refs = catalog()?
            .into_iter()
            .map(|(role, e)| (role, format!("{registry}/{}:{}", e.name, e.tag)))
            .collect();
        Ok(Self {
            refs,
            registry: registry.to_string(),
        })
    }

    /// The reference for a role (`web`, `pause`, …).
    pub fn get(&self, role: &str) -> Option<&str> {
        self.refs.get(role).map(String::as_str)
    }

    /// The registry's host (and port): where every image a hosting runs must come from.
    pub fn registry_host(&self) -> &str {
        self.registry.split('/').next().unwrap_or_default()
    }

    /// Whether a tenant-given image may run: from the Pusat Data's registry, and pinned (a
    /// tag other than `latest`, or a digest). `Err` says which rule it breaks, in words.
    pub fn check_tenant_image(&self, image: &str) -> Result<(), String> {
        let host = self.registry_host();
        let in_registry = image
            .strip_prefix(host)
            .is_some_and(|rest| rest.starts_with('/'));
        if !in_registry {
            return Err(format!(
                "'{image}' is not in the Pusat Data's registry: hostings run only images from {host}/ (ask the Dinas to mirror it there)"
            ));
        }
        check_pinned(image)
    }
}

/// Whether an image reference is pinned: a tag other than `latest`, or a sha256 digest (the
/// half of [`Images::check_tenant_image`] that needs no registry configuration).
pub fn check_pinned(image: &str) -> Result<(), String> {
    {
        let last = image.rsplit('/').next().unwrap_or_default();
        let pinned = match (last.split_once('@'), last.split_once(':')) {
            (Some((_, digest)), _) => {
                digest.len() == 71
                    && digest.starts_with("sha256:")
                    && digest[7..].bytes().all(|b| b.is_ascii_hexdigit())
            }
            (None, Some((_, tag))) => pinned_tag(tag),
            (None, None) => false,
        };
        if !pinned {
            return Err(format!(
                "'{image}' is not pinned: name a version tag (not 'latest') or a sha256 digest, so every restart runs the same image"
            ));
        }
        Ok(())
    }
}

fn pinned_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag != "latest"
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn valid_registry(r: &str) -> bool {
    let mut parts = r.split('/');
    let host = parts.next().unwrap_or_default();
    let (name, port) = match host.split_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    let path_ok = parts.all(|p| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    });
    name_ok && port_ok && path_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_loads_and_every_role_is_pinned_under_the_registry() {
        let i = Images::under("registry.pusatdata.go.id/kavling/").unwrap();
        for role in ["pause", "web", "ingress"] {
            let r = i.get(role).unwrap_or_else(|| panic!("role {role} missing"));
            assert!(r.starts_with("registry.pusatdata.go.id/kavling/"), "{r}");
            assert!(i.check_tenant_image(r).is_ok(), "{r}");
        }
        assert_eq!(i.registry_host(), "registry.pusatdata.go.id");
    }

    #[test]
    fn a_malformed_registry_prefix_is_refused() {
        for bad in ["", "Registry.local", "reg:99999", "reg//x", "https://reg"] {
            assert!(Images::under(bad).is_err(), "{bad}");
        }
        assert!(Images::under("127.0.0.1:5000").is_ok());
    }

    #[test]
    fn tenant_images_must_come_from_the_registry_and_be_pinned() {
        let i = Images::under("registry.pusatdata.go.id/kavling").unwrap();
        let ok = [
            "registry.pusatdata.go.id/dinkes/sehat:1.4",
            "registry.pusatdata.go.id/dinkes/sehat@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ];
        for image in ok {
            assert_eq!(i.check_tenant_image(image), Ok(()), "{image}");
        }
        let outside = [
            "nginx:1.27",
            "docker.io/library/nginx:1.27",
            "registry.pusatdata.go.id.evil.example/x:1",
            "registry.pusatdata.go.idx/x:1",
        ];
        for image in outside {
            let e = i.check_tenant_image(image).unwrap_err();
            assert!(
                e.contains("not in the Pusat Data's registry"),
                "{image}: {e}"
            );
        }
        let unpinned = [
            "registry.pusatdata.go.id/dinkes/sehat",
            "registry.pusatdata.go.id/dinkes/sehat:latest",
            "registry.pusatdata.go.id/dinkes/sehat@sha256:abc",
        ];
        for image in unpinned {
            let e = i.check_tenant_image(image).unwrap_err();
            assert!(e.contains("not pinned"), "{image}: {e}");
        }
    }
}
