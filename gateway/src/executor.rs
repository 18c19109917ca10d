//! `switchyard executor`: a remote executor pool. It serves the pool protocol
//! (`switchyard_executors::protocol`) over HTTP/2 without TLS (h2c), holds a state replica
//! that the gateway keeps exact (a snapshot, then one diff per block), and executes batches on
//! it, at most `--threads` at a time, on blocking threads off the async workers.

use bytes::Bytes;
use clap::Args;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Incoming, server::conn::http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Serialize, de::DeserializeOwned};
use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc};
use switchyard_executors::{
    protocol::{self, Diff, ExecuteRequest, Health, ProtocolError, Snapshot, SyncAck, path},
    replica::Replica,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tracing::{debug, info};

/// `switchyard executor` flags.
#[derive(Debug, Clone, Args)]
pub struct ExecutorArgs {
    /// Listen address (HTTP/2 without TLS).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9600")]
    pub listen: SocketAddr,
    /// Batches executed at once [default: one per core].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Largest protocol message accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = protocol::DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
}

impl ExecutorArgs {
    /// Batches executed at once, resolved.
    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }
}

/// What every connection shares.
#[derive(Debug)]
struct Executor {
    replica: Replica,
    threads: usize,
    slots: Semaphore,
    max_message_bytes: usize,
}

/// Serves the protocol on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    threads: usize,
    max_message_bytes: usize,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let executor = Arc::new(Executor {
        replica: Replica::new(),
        threads,
        slots: Semaphore::new(threads),
        max_message_bytes,
    });
    tokio::task::spawn_blocking(switchyard_executors::execute::warm_up_precompiles);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = crate::serve::http::accept(&listener, "executor") => accepted,
            _ = &mut shutdown => break,
        };
        let executor = executor.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let executor = executor.clone();
                async move { Ok::<_, Infallible>(executor.handle(request).await) }
            });
            let connection = http2::Builder::new(TokioExecutor::new())
                .max_frame_size(1 << 20)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                debug!(%peer, cause = %e, "connection ended");
            }
        });
    }
    info!("executor stopped");
    Ok(())
}

/// A protocol answer as an HTTP response.
fn reply<T: Serialize>(result: Result<T, ProtocolError>) -> Response<Full<Bytes>> {
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err(e) => StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(protocol::encode(&result))))
        .expect("valid response")
}

impl Executor {
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let route = (request.method().clone(), request.uri().path().to_owned());
        match (route.0, route.1.as_str()) {
            (Method::GET, path::HEALTH) => reply(Ok(Health {
                head: self.replica.head(),
                threads: self.threads,
            })),
            (Method::POST, path::EXECUTE) => {
                let request: ExecuteRequest = match self.read(request).await {
                    Ok(request) => request,
                    Err(e) => return reply::<()>(Err(e)),
                };
                let Ok(_slot) = self.slots.acquire().await else {
                    unreachable!("the semaphore is never closed")
                };
                let this = self.clone();
                let outcome =
                    tokio::task::spawn_blocking(move || this.replica.execute(0, &request))
                        .await
                        .unwrap_or_else(|e| {
                            Err(ProtocolError::Malformed(format!("batch panicked: {e}")))
                        });
                if let Err(e) = &outcome {
                    info!(cause = %e, "batch refused");
                }
                reply(outcome)
            }
            (Method::POST, path::SNAPSHOT) => {
                let this = self.clone();
                let snapshot: Snapshot = match self.read(request).await {
                    Ok(snapshot) => snapshot,
                    Err(e) => return reply::<()>(Err(e)),
                };
                let head = tokio::task::spawn_blocking(move || this.replica.install(snapshot))
                    .await
                    .expect("installing a snapshot does not panic");
                info!(%head, "state snapshot installed");
                reply(Ok(SyncAck { head }))
            }
            (Method::POST, path::DIFF) => {
                let diff: Diff = match self.read(request).await {
                    Ok(diff) => diff,
                    Err(e) => return reply::<()>(Err(e)),
                };
                let this = self.clone();
                let advanced = tokio::task::spawn_blocking(move || this.replica.advance(&diff))
                    .await
                    .expect("applying a diff does not panic");
                reply(advanced.map(|head| SyncAck { head }))
            }
            (_, other) => reply::<()>(Err(ProtocolError::NotFound(other.to_owned()))),
        }
    }

    /// Reads and decodes a request body, bounded by the message limit.
    async fn read<T: DeserializeOwned + Send + 'static>(
        &self,
        request: Request<Incoming>,
    ) -> Result<T, ProtocolError> {
        let limit = self.max_message_bytes;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if let Some(size) = declared.filter(|size| *size > limit) {
            return Err(ProtocolError::Oversized { size, limit });
        }
        let bytes = Limited::new(request.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    ProtocolError::Oversized {
                        size: limit + 1,
                        limit,
                    }
                } else {
                    ProtocolError::Malformed(format!("reading the body: {e}"))
                }
            })?
            .to_bytes();
        tokio::task::spawn_blocking(move || protocol::decode(&bytes, limit))
            .await
            .unwrap_or_else(|e| Err(ProtocolError::Malformed(e.to_string())))
    }
}
