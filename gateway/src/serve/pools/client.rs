//! The gateway's side of the wire: JSON protocol messages over HTTP/2 (h2c) to one executor.
//!
//! hyper-util's client keeps one multiplexed connection per executor and opens a new one when
//! it breaks, resolving the host name again each time, so an executor that moved (a restarted
//! Kubernetes pod) is found at its new address.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::{
    client::legacy::{Client as HttpClient, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde::{Serialize, de::DeserializeOwned};
use switchyard_executors::protocol::{self, ProtocolError};

/// Why a call to an executor failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The executor could not be reached, or the connection broke.
    #[error("transport: {0}")]
    Transport(String),
    /// The call took longer than the timeout.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The executor answered with a protocol error.
    #[error("refused: {0}")]
    Refused(ProtocolError),
}

impl CallError {
    /// The `reason` label of `switchyard_pool_failures_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Transport(_) => "transport",
            Self::Timeout(_) => "timeout",
            Self::Refused(e) if e.needs_sync() => "stale",
            Self::Refused(_) => "refused",
        }
    }
}

/// An HTTP/2 client of one executor.
#[derive(Debug, Clone)]
pub struct Client {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    base: String,
    max_message_bytes: usize,
}

impl Client {
    /// A client of the executor at `addr` (`host:port`); connects lazily.
    pub fn new(addr: &str, max_message_bytes: usize) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new())
            .http2_only(true)
            .build(connector);
        Self {
            http,
            base: format!("http://{addr}"),
            max_message_bytes,
        }
    }

    /// POSTs a protocol message; returns the executor's answer.
    pub async fn post<Req: Serialize, Resp: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, CallError> {
        let body = protocol::encode(body);
        if body.len() > self.max_message_bytes {
            return Err(CallError::Refused(ProtocolError::Oversized {
                size: body.len(),
                limit: self.max_message_bytes,
            }));
        }
        self.post_bytes(path, Bytes::from(body)).await
    }

    /// POSTs an already encoded body as is (tests send malformed and foreign-version ones).
    pub async fn post_bytes<Resp: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        body: Bytes,
    ) -> Result<Resp, CallError> {
        self.exchange(Method::POST, path, body).await
    }

    /// GETs a protocol endpoint.
    pub async fn get<Resp: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
    ) -> Result<Resp, CallError> {
        self.exchange(Method::GET, path, Bytes::new()).await
    }

    async fn exchange<Resp: DeserializeOwned + Send + 'static>(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Resp, CallError> {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| CallError::Transport(format!("{e:?}")))?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), self.max_message_bytes)
            .collect()
            .await
            .map_err(|e| CallError::Transport(format!("reading the answer ({status}): {e}")))?
            .to_bytes();
        let limit = self.max_message_bytes;
        // Large answers (batch results) are parsed off the async workers.
        let reply = tokio::task::spawn_blocking(move || {
            protocol::decode::<Result<Resp, ProtocolError>>(&bytes, limit)
        })
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?;
        match reply {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(refusal)) => Err(CallError::Refused(refusal)),
            Err(e) if status != StatusCode::OK => Err(CallError::Transport(format!(
                "HTTP {status} without a protocol answer: {e}"
            ))),
            Err(e) => Err(CallError::Refused(e)),
        }
    }
}
