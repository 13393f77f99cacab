//! The agent's only way to the control plane: the Kubernetes REST API over HTTPS with a bearer
//! token, exactly as a kubelet reaches kube-apiserver.

use std::time::Duration;

use serde_json::Value;

/// A failed API call: the HTTP status and the `Status` reason and message when there was one;
/// status 0 when the server could not be reached at all.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{method} {path}: {}", describe(*status, reason, message))]
pub struct ApiError {
    /// The request's method.
    pub method: &'static str,
    /// The request's path.
    pub path: String,
    /// The HTTP status (0: no answer).
    pub status: u16,
    /// The `Status` reason (`NotFound`, `AlreadyExists`, `Conflict`, ...).
    pub reason: String,
    /// What went wrong, as the server or the transport put it.
    pub message: String,
}

fn describe(status: u16, reason: &str, message: &str) -> String {
    if status == 0 {
        format!("unreachable: {message}")
    } else {
        format!("{status} {reason}: {message}")
    }
}

impl ApiError {
    /// The object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// The object exists already, or changed since it was read.
    pub fn is_conflict(&self) -> bool {
        self.status == 409
    }

    /// The resourceVersion asked for is no longer in the watch history.
    pub fn is_gone(&self) -> bool {
        self.status == 410
    }
}

/// Where the API is and how to prove who we are.
#[derive(Clone)]
pub struct Credentials {
    /// `https://host:port`.
    pub server: String,
    /// The cluster CA in PEM: the only root the agent trusts for the API.
    pub ca_pem: String,
    /// The bearer token (a join token for agents).
    pub token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A client of the Kubernetes API.
#[derive(Clone, Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    server: String,
}

/// How long a single non-watch request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

impl ApiClient {
    /// A client trusting only the cluster CA and sending the token with every request.
    ///
    /// # Errors
    /// The CA is not PEM or the token is not a valid header value.
    pub fn new(credentials: &Credentials) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        let mut bearer: reqwest::header::HeaderValue =
            format!("Bearer {}", credentials.token.trim()).parse()?;
        bearer.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, bearer);
        headers.insert(
            reqwest::header::USER_AGENT,
            concat!("shoal-agent/", env!("CARGO_PKG_VERSION")).parse()?,
        );
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(
                credentials.ca_pem.as_bytes(),
            )?)
            .tls_built_in_root_certs(false)
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            server: credentials.server.trim_end_matches('/').to_owned(),
        })
    }

    /// GETs an object; `None` when it does not exist.
    ///
    /// # Errors
    /// Any answer but 200 or 404, or no answer.
    pub async fn get(&self, path: &str) -> Result<Option<Value>, ApiError> {
        match self
            .send("GET", path, self.request(reqwest::Method::GET, path))
            .await
        {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// POSTs a new object to a collection.
    ///
    /// # Errors
    /// The server refused it (409 when it exists) or could not be reached.
    pub async fn create(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.send(
            "POST",
            path,
            self.request(reqwest::Method::POST, path).json(body),
        )
        .await
    }

    /// PUTs an object (or a subresource) in full.
    ///
    /// # Errors
    /// The server refused it (409 on a stale resourceVersion) or could not be reached.
    pub async fn replace(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.send(
            "PUT",
            path,
            self.request(reqwest::Method::PUT, path).json(body),
        )
        .await
    }

    /// Applies a JSON merge patch (RFC 7386).
    ///
    /// # Errors
    /// The server refused it or could not be reached.
    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value, ApiError> {
        let request = self
            .request(reqwest::Method::PATCH, path)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/merge-patch+json",
            )
            .body(patch.to_string());
        self.send("PATCH", path, request).await
    }

    /// DELETEs an object with the given options (`gracePeriodSeconds`, preconditions).
    ///
    /// # Errors
    /// The server refused it or could not be reached; 404 is an error too.
    pub async fn delete(&self, path: &str, options: &Value) -> Result<Value, ApiError> {
        self.send(
            "DELETE",
            path,
            self.request(reqwest::Method::DELETE, path).json(options),
        )
        .await
    }

    /// Lists a collection (the path may carry a query): its items and resourceVersion.
    ///
    /// # Errors
    /// The server refused it or could not be reached.
    pub async fn list(&self, path: &str) -> Result<(Vec<Value>, String), ApiError> {
        let mut list = self
            .send("GET", path, self.request(reqwest::Method::GET, path))
            .await?;
        let revision = list
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let items = match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        Ok((items, revision))
    }

    /// Opens a watch on a collection from `revision` (`path` may carry a query already).
    ///
    /// # Errors
    /// The server refused it or could not be reached.
    pub async fn watch(&self, path: &str, revision: &str) -> Result<WatchStream, ApiError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let full = format!(
            "{path}{separator}watch=1&allowWatchBookmarks=true&resourceVersion={revision}&timeoutSeconds=300"
        );
        let response = self
            .http
            .get(format!("{}{full}", self.server))
            .timeout(Duration::from_secs(330))
            .send()
            .await
            .map_err(|e| unreachable("GET", &full, &e))?;
        if !response.status().is_success() {
            return Err(failure("GET", &full, response).await);
        }
        Ok(WatchStream {
            response,
            pending: Vec::new(),
            path: full,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.server))
            .timeout(REQUEST_TIMEOUT)
    }

    async fn send(
        &self,
        method: &'static str,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, ApiError> {
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(method, path, &e))?;
        if !response.status().is_success() {
            return Err(failure(method, path, response).await);
        }
        response
            .json()
            .await
            .map_err(|e| unreachable(method, path, &e))
    }
}

fn unreachable(method: &'static str, path: &str, error: &reqwest::Error) -> ApiError {
    ApiError {
        method,
        path: path.to_owned(),
        status: 0,
        reason: String::new(),
        message: error.to_string(),
    }
}

async fn failure(method: &'static str, path: &str, response: reqwest::Response) -> ApiError {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let text = |field: &str| {
        body.get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    ApiError {
        method,
        path: path.to_owned(),
        status,
        reason: text("reason"),
        message: text("message"),
    }
}

/// One event of a watch.
#[derive(Debug)]
pub enum WatchEvent {
    /// `ADDED` or `MODIFIED`: the object as it is now.
    Applied(Value),
    /// `DELETED`: the object as it was last.
    Deleted(Value),
    /// `BOOKMARK`: nothing changed up to this resourceVersion.
    Bookmark(String),
}

/// The events of an open watch, in order.
#[derive(Debug)]
pub struct WatchStream {
    response: reqwest::Response,
    pending: Vec<u8>,
    path: String,
}

impl WatchStream {
    /// The next event; `None` when the server ended the watch (a timeout: watch again from the
    /// last resourceVersion seen).
    ///
    /// # Errors
    /// The connection broke, the stream was not JSON, or the server sent an `ERROR` event
    /// (410 Gone among them: list again).
    pub async fn next(&mut self) -> Result<Option<WatchEvent>, ApiError> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return self.parse(&line).map(Some);
            }
            let chunk = self
                .response
                .chunk()
                .await
                .map_err(|e| unreachable("GET", &self.path, &e))?;
            match chunk {
                Some(chunk) => self.pending.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
    }

    fn parse(&self, line: &[u8]) -> Result<WatchEvent, ApiError> {
        let broken = |message: String| ApiError {
            method: "GET",
            path: self.path.clone(),
            status: 0,
            reason: "BadWatchEvent".to_owned(),
            message,
        };
        let mut event: Value =
            serde_json::from_slice(line).map_err(|e| broken(format!("not JSON: {e}")))?;
        let object = event.get_mut("object").map(Value::take).unwrap_or_default();
        match event.get("type").and_then(Value::as_str) {
            Some("ADDED" | "MODIFIED") => Ok(WatchEvent::Applied(object)),
            Some("DELETED") => Ok(WatchEvent::Deleted(object)),
            Some("BOOKMARK") => Ok(WatchEvent::Bookmark(
                object
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            )),
            Some("ERROR") => Err(ApiError {
                method: "GET",
                path: self.path.clone(),
                status: object
                    .get("code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(500),
                reason: object
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                message: object
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }),
            other => Err(broken(format!("unknown event type {other:?}"))),
        }
    }
}

/// The resourceVersion of an object, empty when it has none.
pub fn resource_version(object: &Value) -> &str {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The current time as Kubernetes writes it: RFC 3339 in UTC, to the second.
pub fn now() -> String {
    timestamp(jiff::Timestamp::now())
}

/// `at` as Kubernetes writes a `Time`.
pub fn timestamp(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The current time as a `MicroTime` (Leases, Events).
pub fn now_micro() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}
