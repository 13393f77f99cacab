//! Reaching a node's agent, for what only the agent has (`pods/log`). The agent serves HTTPS
//! with a self-signed certificate whose fingerprint it publishes on its Node; the API server
//! trusts exactly that certificate and presents the cluster's join token, which the agent
//! requires.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use shoal_manifests::pin::{Pins, SERVING_CERT_ANNOTATION};

use super::error::ApiError;
use crate::store::error_chain;

/// A client of the agents' node API.
#[derive(Debug)]
pub(crate) struct AgentDialer {
    client: Option<reqwest::Client>,
    pins: Pins,
    token: Option<String>,
}

impl AgentDialer {
    /// A dialer presenting `token` (the join token); without one, agents cannot be reached.
    pub(crate) fn new(token: Option<String>) -> Self {
        let pins = Pins::default();
        let client = pins.client_config().ok().and_then(|tls| {
            reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .connect_timeout(Duration::from_secs(5))
                .build()
                .ok()
        });
        Self {
            client,
            pins,
            token,
        }
    }

    /// GET `path_and_query` on the agent of `node` (a Node object).
    ///
    /// # Errors
    /// The node publishes no address or certificate, or its agent cannot be reached.
    pub(crate) async fn get(
        &self,
        node: &Value,
        path_and_query: &str,
    ) -> Result<reqwest::Response, ApiError> {
        let name = node
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let unreachable = |why: String| {
            ApiError::Unavailable(format!("the agent of node {name} cannot be reached: {why}"))
        };
        let (Some(client), Some(token)) = (&self.client, &self.token) else {
            return Err(unreachable(
                "this server has no credentials for agents".to_owned(),
            ));
        };
        let address = node_address(node).ok_or_else(|| {
            unreachable("the node reports no InternalIP and kubelet port".to_owned())
        })?;
        let pin = node
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(SERVING_CERT_ANNOTATION))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                unreachable(format!(
                    "the node has no {SERVING_CERT_ANNOTATION} annotation"
                ))
            })?;
        self.pins.add(pin);
        client
            .get(format!("https://{address}{path_and_query}"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| unreachable(error_chain(&e)))
    }
}

/// The node's InternalIP and kubelet port.
fn node_address(node: &Value) -> Option<SocketAddr> {
    let ip = node
        .pointer("/status/addresses")?
        .as_array()?
        .iter()
        .find(|a| a.get("type").and_then(Value::as_str) == Some("InternalIP"))?
        .get("address")?
        .as_str()?
        .parse::<IpAddr>()
        .ok()?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")?
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())?;
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_node_is_reached_on_its_internal_ip_and_kubelet_port() {
        let node = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n1"},
                          {"type": "InternalIP", "address": "127.0.0.2"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        }});
        assert_eq!(
            node_address(&node).map(|a| a.to_string()).as_deref(),
            Some("127.0.0.2:10250")
        );
        assert_eq!(node_address(&json!({"status": {}})), None);
    }
}
