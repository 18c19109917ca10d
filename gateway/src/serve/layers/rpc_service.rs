//! The innermost service: reads the (size-limited) body, answers it with the JSON-RPC
//! dispatcher and counts requests in flight.

use super::{Body, json_response, refusal};
use crate::serve::{error::RpcError, node::Node, rpc};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use tower::Service;

/// Answers JSON-RPC over HTTP POST.
#[derive(Debug, Clone)]
pub struct RpcService {
    node: Arc<Node>,
}

impl RpcService {
    /// A service answering for `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

impl<B> Service<Request<B>> for RpcService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let node = self.node.clone();
        Box::pin(async move {
            node.metrics.rpc_in_flight.inc();
            let response = answer(&node, req).await;
            node.metrics.rpc_in_flight.dec();
            Ok(response)
        })
    }
}

async fn answer<B>(node: &Arc<Node>, req: Request<B>) -> Response<Body>
where
    B: http_body::Body + Send + 'static,
    B::Error: std::fmt::Display,
{
    if req.method() != Method::POST {
        let error = RpcError::invalid_request("JSON-RPC is served over HTTP POST");
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &serde_json::json!({"jsonrpc": "2.0", "id": null, "error": error}),
        );
    }
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        // The only body error past the size limit layer is the limit itself (a chunked body
        // with no Content-Length) or a broken connection, which cannot read an answer anyway.
        Err(_) => return refusal::too_large(&node.metrics, node.settings.max_body_bytes),
    };
    match rpc::handle_body(node, &body).await {
        Some(answer) => json_response(StatusCode::OK, &answer),
        None => json_response(StatusCode::OK, &serde_json::Value::Null),
    }
}
