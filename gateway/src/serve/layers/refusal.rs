//! The outermost layer: turns refusals from the stack below into HTTP responses with a
//! JSON-RPC error body, so a client always gets an answer, never a dropped connection.
//!
//! | refusal | HTTP | JSON-RPC |
//! | --- | --- | --- |
//! | load shed (concurrency limit reached) | 503 | -32005 limit exceeded |
//! | per-client rate limit | 429 | -32005 limit exceeded |
//! | timeout | 504 | -32002 request timed out |
//! | body over the size limit | 413 | -32600 invalid request |

use super::{Body, json_response, rate_limit::RateLimited};
use crate::serve::{error::RpcError, metrics::Metrics};
use http::{Response, StatusCode};
use tower::{BoxError, load_shed::error::Overloaded, timeout::error::Elapsed};

/// Maps a stack error to its response, counting it in `switchyard_rpc_refused_total`.
pub fn refusal(metrics: &Metrics, error: &BoxError) -> Response<Body> {
    let (status, reason, rpc) = if error.is::<Overloaded>() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            RpcError::limit_exceeded("server is at its concurrency limit, try again"),
        )
    } else if error.is::<RateLimited>() {
        (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            RpcError::limit_exceeded("rate limit exceeded for this client"),
        )
    } else if error.is::<Elapsed>() {
        (StatusCode::GATEWAY_TIMEOUT, "timeout", RpcError::timeout())
    } else {
        tracing::error!(cause = %error, "request failed in the service stack");
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &error_body(&RpcError::internal(error)),
        );
    };
    metrics.rpc_refused.with_label_values(&[reason]).inc();
    json_response(status, &error_body(&rpc))
}

/// The 413 answer for a body over the limit.
pub fn too_large(metrics: &Metrics, limit: usize) -> Response<Body> {
    metrics
        .rpc_refused
        .with_label_values(&["body_too_large"])
        .inc();
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &error_body(&RpcError::invalid_request(format!(
            "request body exceeds the limit of {limit} bytes"
        ))),
    )
}

fn error_body(error: &RpcError) -> serde_json::Value {
    serde_json::json!({"jsonrpc": "2.0", "id": null, "error": error})
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Registry;

    #[test]
    fn each_refusal_has_its_status() {
        let metrics = Metrics::register(&Registry::new()).unwrap();
        let shed: BoxError = Overloaded::new().into();
        assert_eq!(
            refusal(&metrics, &shed).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let limited: BoxError = RateLimited.into();
        assert_eq!(
            refusal(&metrics, &limited).status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let late: BoxError = Elapsed::new().into();
        assert_eq!(
            refusal(&metrics, &late).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            too_large(&metrics, 10).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            metrics.rpc_refused.with_label_values(&["overloaded"]).get(),
            1
        );
    }
}
