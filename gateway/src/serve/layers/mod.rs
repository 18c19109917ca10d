//! The tower stack in front of the JSON-RPC handler, outermost first:
//!
//! 1. [`refusal`]: every error below becomes an HTTP answer with a JSON-RPC error body;
//! 2. [`rate_limit`]: per-client request rate (off by default);
//! 3. load shedding (`tower::load_shed`): refuse at once when the next layer is full;
//! 4. concurrency limit (`tower::limit`): at most `rpc.max_concurrency` requests in service;
//! 5. timeout (`tower::timeout`): `rpc.timeout_ms` per request;
//! 6. body size limit (`tower_http::limit`): `rpc.max_body_bytes`;
//! 7. [`rpc_service`]: read the body, dispatch, write the answer.

pub mod rate_limit;
pub mod refusal;
pub mod rpc_service;

use crate::serve::node::Node;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use std::{convert::Infallible, net::SocketAddr, sync::Arc};
use tower::{BoxError, ServiceBuilder, util::BoxCloneSyncService};
use tower_http::limit::RequestBodyLimitLayer;

/// The response body type of the stack.
pub type Body = BoxBody<Bytes, Infallible>;

/// The client's socket address, put in each request's extensions at accept time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The whole RPC stack as one cloneable service; clones share the concurrency limit.
/// Its error type is never produced (every refusal is an answer); it exists because tower
/// layers convert readiness errors with `From`.
pub type RpcStack = BoxCloneSyncService<Request<Incoming>, Response<Body>, BoxError>;

/// Builds the stack for `node`, sharing `rate_limit` across connections.
pub fn stack(node: Arc<Node>, rate_limit: rate_limit::RateLimitLayer) -> RpcStack {
    let settings = &node.settings;
    let metrics = node.metrics.clone();
    let limit = settings.max_body_bytes;
    let inner = ServiceBuilder::new()
        .layer(rate_limit)
        .load_shed()
        .concurrency_limit(settings.max_concurrency)
        .timeout(settings.request_timeout)
        .layer(RequestBodyLimitLayer::new(limit))
        .service(rpc_service::RpcService::new(node.clone()));
    let service = ServiceBuilder::new()
        .map_result(move |result: Result<Response<_>, BoxError>| {
            Ok::<_, BoxError>(match result {
                Ok(response) if response.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    refusal::too_large(&metrics, limit)
                }
                Ok(response) => response.map(|b: tower_http::limit::ResponseBody<Body>| b.boxed()),
                Err(error) => refusal::refusal(&metrics, &error),
            })
        })
        .service(inner);
    BoxCloneSyncService::new(service)
}
