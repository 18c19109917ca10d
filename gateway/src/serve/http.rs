//! Accept loops: JSON-RPC and `/metrics` over HTTP/1.1 (hyper), with graceful shutdown.
//!
//! On shutdown the listeners close first (no new connections), then requests in progress are
//! allowed to finish within the request timeout.

use super::{
    layers::{self, ClientAddr, RpcStack},
    node::Node,
};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown};
use prometheus::{Registry, TextEncoder};
use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tower::ServiceExt;
use tracing::{debug, warn};

/// The next connection on `listener`, with Nagle off. An accept error (out of file descriptors
/// and the like) is logged and retried after a pause instead of spinning.
pub async fn accept(listener: &TcpListener, what: &str) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return (stream, peer);
            }
            Err(e) => {
                warn!(cause = %e, "{what} accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Completes when `shutdown` turns `true` (or its sender is gone).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// One connection's service: tags each request with the client's address and runs the stack.
#[derive(Debug, Clone)]
struct WithClient {
    stack: RpcStack,
    peer: SocketAddr,
}

impl hyper::service::Service<Request<Incoming>> for WithClient {
    type Response = Response<layers::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(ClientAddr(self.peer));
        let stack = self.stack.clone();
        Box::pin(async move {
            Ok(match stack.oneshot(req).await {
                Ok(response) => response,
                // The stack answers every refusal itself; this is unreachable in practice.
                Err(error) => layers::json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &serde_json::json!({"jsonrpc": "2.0", "id": null,
                        "error": {"code": -32603, "message": error.to_string()}}),
                ),
            })
        })
    }
}

/// Serves JSON-RPC on `listener` until `shutdown` turns `true`, then drains connections.
pub async fn serve_rpc(
    listener: TcpListener,
    stack: RpcStack,
    mut shutdown: watch::Receiver<bool>,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = accept(&listener, "rpc") => accepted,
            _ = stopped(&mut shutdown) => break,
        };
        let service = WithClient {
            stack: stack.clone(),
            peer,
        };
        let conn = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(%peer, cause = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("connections still open after the drain timeout; closing them");
    }
}

/// Serves `GET /metrics` from `registry` until `shutdown` turns `true`.
pub async fn serve_metrics(
    listener: TcpListener,
    registry: Registry,
    node: Arc<Node>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = accept(&listener, "metrics") => accepted,
            _ = stopped(&mut shutdown) => break,
        };
        let (registry, node) = (registry.clone(), node.clone());
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let response = metrics_response(&registry, &node, &req);
            async move { Ok::<_, Infallible>(response) }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn metrics_response(
    registry: &Registry,
    node: &Node,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    if req.uri().path() != "/metrics" {
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    node.refresh_gauges();
    match TextEncoder::new().encode_to_string(&registry.gather()) {
        Ok(text) => {
            *response.body_mut() = Full::new(Bytes::from(text));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
        }
        Err(e) => {
            warn!(cause = %e, "metrics encoding failed");
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        }
    }
    response
}

/// Re-exported for `serve`.
pub(crate) use layers::rate_limit::RateLimitLayer;
