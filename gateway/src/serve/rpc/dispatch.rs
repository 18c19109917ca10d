//! JSON-RPC 2.0 framing: single calls, batches and notifications, with the standard errors
//! for bodies that are not JSON (-32700), not requests (-32600), batches over the limit
//! (-32005) and parameters of the wrong shape (-32602).

use super::methods;
use crate::serve::{error::RpcError, node::Node};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::{sync::Arc, time::Instant};

/// Positional parameters of one call.
#[derive(Debug)]
pub struct Params(Vec<Value>);

impl Params {
    /// Parses `params`: absent, null or an array (named parameters are not supported).
    fn from_value(value: Option<Value>) -> Result<Self, RpcError> {
        match value {
            None | Some(Value::Null) => Ok(Self(Vec::new())),
            Some(Value::Array(items)) => Ok(Self(items)),
            Some(_) => Err(RpcError::invalid_params(
                "non-array args: params must be an array",
            )),
        }
    }

    /// Fails unless at most `n` parameters were given.
    pub fn at_most(&self, n: usize) -> Result<(), RpcError> {
        if self.0.len() > n {
            return Err(RpcError::invalid_params(format!(
                "too many arguments, want at most {n}"
            )));
        }
        Ok(())
    }

    /// Parameter `i`, required.
    pub fn req<T: DeserializeOwned>(&self, i: usize) -> Result<T, RpcError> {
        match self.0.get(i) {
            None | Some(Value::Null) => Err(RpcError::invalid_params(format!(
                "missing value for required argument {i}"
            ))),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| RpcError::invalid_params(format!("invalid argument {i}: {e}"))),
        }
    }

    /// Parameter `i`, optional (absent and null are `None`).
    pub fn opt<T: DeserializeOwned>(&self, i: usize) -> Result<Option<T>, RpcError> {
        match self.0.get(i) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.req(i).map(Some),
        }
    }
}

fn response(id: Value, outcome: Result<Value, RpcError>) -> Value {
    match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
    }
}

/// Answers a request body; `None` when it held only notifications (nothing to send).
pub async fn handle_body(node: &Arc<Node>, body: &[u8]) -> Option<Value> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Some(response(Value::Null, Err(RpcError::parse(e)))),
    };
    match value {
        Value::Array(calls) => {
            if calls.is_empty() {
                return Some(response(
                    Value::Null,
                    Err(RpcError::invalid_request("empty batch")),
                ));
            }
            if calls.len() > node.settings.max_batch {
                return Some(response(
                    Value::Null,
                    Err(RpcError::limit_exceeded(format!(
                        "batch of {} calls exceeds the limit of {}",
                        calls.len(),
                        node.settings.max_batch
                    ))),
                ));
            }
            let mut answers = Vec::with_capacity(calls.len());
            for call in calls {
                if let Some(answer) = handle_call(node, call).await {
                    answers.push(answer);
                }
            }
            (!answers.is_empty()).then_some(Value::Array(answers))
        }
        call => handle_call(node, call).await,
    }
}

/// Answers one call object; `None` for a notification.
async fn handle_call(node: &Arc<Node>, call: Value) -> Option<Value> {
    let Value::Object(mut call) = call else {
        return Some(response(
            Value::Null,
            Err(RpcError::invalid_request("not a JSON-RPC request object")),
        ));
    };
    let id = call.remove("id");
    let notification = id.is_none();
    let id = id.unwrap_or(Value::Null);
    if !matches!(id, Value::Null | Value::Number(_) | Value::String(_)) {
        return Some(response(
            Value::Null,
            Err(RpcError::invalid_request(
                "id must be a number, a string or null",
            )),
        ));
    }
    if call.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some(response(
            id,
            Err(RpcError::invalid_request("jsonrpc must be \"2.0\"")),
        ));
    }
    let Some(Value::String(method)) = call.remove("method") else {
        return Some(response(
            id,
            Err(RpcError::invalid_request("method must be a string")),
        ));
    };
    let started = Instant::now();
    let outcome = match Params::from_value(call.remove("params")) {
        Ok(params) => methods::call(node, &method, params).await,
        Err(e) => Err(e),
    };
    node.metrics.observe_call(
        &method,
        outcome.as_ref().err().map(|e| e.code),
        started.elapsed().as_secs_f64(),
    );
    (!notification).then(|| response(id, outcome))
}
