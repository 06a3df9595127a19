//! Which Kavling DNS servers a DNS-01 challenge must be answered by before the CA is told.
//!
//! In the cluster the answer is "every kavling-dns replica, each asked directly": a query to
//! the Service's virtual address reaches one replica at random, so a replica that lags the API
//! would go unnoticed and the CA's own resolver could land on it. The replicas are read from
//! the EndpointSlices of the chart's headless Service (`kavling-dns-replicas`) at every check,
//! so a rollout or a rescheduled pod is followed without a restart. Outside the cluster (the
//! local Pusat Data's host processes) a fixed list of `IP:port` is given instead; both may be
//! combined.

use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};

/// Where the DNS servers to check come from.
#[derive(Clone, Debug, Default)]
pub struct DnsReplicas {
    /// Servers named on the command line (`--dns-server`).
    pub fixed: Vec<SocketAddr>,
    /// A headless Service in the operator's namespace whose ready endpoints are the replicas
    /// (`--dns-service`), and the name of its UDP DNS port.
    pub service: Option<String>,
}

/// The name of the DNS port on the chart's headless Service.
pub const DNS_PORT_NAME: &str = "dns-udp";

impl DnsReplicas {
    pub fn is_empty(&self) -> bool {
        self.fixed.is_empty() && self.service.is_none()
    }

    /// Every server to ask now. An error names what is missing (no replica ready, the
    /// Service has no DNS port): the certificate waits with that message.
    pub async fn resolve(
        &self,
        client: &kube::Client,
        namespace: &str,
    ) -> Result<Vec<SocketAddr>, String> {
        let mut servers = self.fixed.clone();
        if let Some(service) = &self.service {
            let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
            let list = slices
                .list(
                    &ListParams::default().labels(&format!("kubernetes.io/service-name={service}")),
                )
                .await
                .map_err(|e| {
                    format!("cannot list the replicas of Service {namespace}/{service}: {e}")
                })?;
            let found = ready_addresses(&list.items, DNS_PORT_NAME);
            if found.is_empty() {
                return Err(format!(
                    "no ready kavling-dns replica behind Service {namespace}/{service} (port {DNS_PORT_NAME})"
                ));
            }
            servers.extend(found);
        }
        if servers.is_empty() {
            return Err(
                "the operator was given no DNS server to check (--dns-server or --dns-service)"
                    .into(),
            );
        }
        servers.sort();
        servers.dedup();
        Ok(servers)
    }
}

/// The `address:port` of every ready endpoint in `slices` on the port named `port_name`.
/// Not-ready endpoints (starting, or terminating) receive no queries through the Service, so
/// they are not asked; an endpoint whose readiness is unknown counts as ready, as the
/// EndpointSlice API says to read it.
pub fn ready_addresses(slices: &[EndpointSlice], port_name: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for slice in slices {
        let Some(port) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(port_name))
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for endpoint in &slice.endpoints {
            let ready = endpoint
                .conditions
                .as_ref()
                .and_then(|c| c.ready)
                .unwrap_or(true);
            if !ready {
                continue;
            }
            out.extend(
                endpoint
                    .addresses
                    .iter()
                    .filter_map(|a| a.parse::<IpAddr>().ok())
                    .map(|ip| SocketAddr::new(ip, port)),
            );
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};

    fn endpoint(ip: &str, ready: Option<bool>) -> Endpoint {
        Endpoint {
            addresses: vec![ip.into()],
            conditions: Some(EndpointConditions {
                ready,
                serving: ready,
                terminating: ready.map(|r| !r),
            }),
            ..Default::default()
        }
    }

    fn slice(ports: &[(&str, i32)], endpoints: Vec<Endpoint>) -> EndpointSlice {
        EndpointSlice {
            address_type: "IPv4".into(),
            endpoints,
            ports: Some(
                ports
                    .iter()
                    .map(|(n, p)| EndpointPort {
                        name: Some(n.to_string()),
                        port: Some(*p),
                        protocol: Some("UDP".into()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn every_ready_replica_is_asked_on_its_dns_port_and_terminating_ones_are_not() {
        let slices = [
            slice(
                &[("metrics", 8053), ("dns-udp", 5353)],
                vec![
                    endpoint("10.244.0.7", Some(true)),
                    endpoint("10.244.0.9", Some(false)),
                    endpoint("10.244.0.8", None),
                    endpoint("not-an-ip", Some(true)),
                ],
            ),
            // a second slice of the same Service, and a duplicate address
            slice(
                &[("dns-udp", 5353)],
                vec![endpoint("10.244.0.7", Some(true))],
            ),
        ];
        let got: Vec<String> = ready_addresses(&slices, DNS_PORT_NAME)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(got, ["10.244.0.7:5353", "10.244.0.8:5353"]);
    }

    #[test]
    fn a_slice_without_the_dns_port_names_no_server() {
        let slices = [slice(
            &[("metrics", 8053)],
            vec![endpoint("10.244.0.7", Some(true))],
        )];
        assert!(ready_addresses(&slices, DNS_PORT_NAME).is_empty());
    }
}
