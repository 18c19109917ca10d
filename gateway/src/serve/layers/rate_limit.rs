//! Per-client rate limiting: a GCRA limiter (governor) keyed by the client's IP address.
//!
//! A client over its rate gets [`RateLimited`], which the refusal layer turns into HTTP 429 with
//! a JSON-RPC -32005 error. Off unless `rpc.rate_limit_per_second` is set.

use super::ClientAddr;
use futures_util::future::BoxFuture;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::Request;
use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::Arc,
    task::{Context, Poll},
};
use tower::{BoxError, Layer, Service};

/// The client exceeded its request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit exceeded for this client")]
pub struct RateLimited;

/// Limits each client IP to a rate with a burst allowance.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

impl RateLimitLayer {
    /// `Some((per_second, burst))` turns limiting on; `None` passes everything.
    pub fn new(limit: Option<(NonZeroU32, NonZeroU32)>) -> Self {
        Self {
            limiter: limit.map(|(rate, burst)| {
                Arc::new(RateLimiter::keyed(
                    Quota::per_second(rate).allow_burst(burst),
                ))
            }),
        }
    }

    /// Forgets clients whose allowance is full again (bounds memory; call periodically).
    pub fn prune(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// The service of [`RateLimitLayer`].
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

impl<S, B> Service<Request<B>> for RateLimit<S>
where
    S: Service<Request<B>> + Send,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if let (Some(limiter), Some(ClientAddr(addr))) =
            (&self.limiter, req.extensions().get::<ClientAddr>())
            && limiter.check_key(&addr.ip()).is_err()
        {
            return Box::pin(async { Err(RateLimited.into()) });
        }
        let fut = self.inner.call(req);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tower::{ServiceExt, service_fn};

    #[tokio::test]
    async fn second_request_over_a_burst_of_one_is_refused() {
        let one = NonZeroU32::new(1).unwrap();
        let svc = RateLimitLayer::new(Some((one, one)))
            .layer(service_fn(|_: Request<()>| async { Ok::<_, BoxError>(()) }));
        let req = || {
            let mut r = Request::new(());
            r.extensions_mut()
                .insert(ClientAddr("127.0.0.1:1".parse::<SocketAddr>().unwrap()));
            r
        };
        svc.clone().oneshot(req()).await.unwrap();
        let err = svc.clone().oneshot(req()).await.unwrap_err();
        assert!(err.is::<RateLimited>());
        // Another client has its own allowance.
        let mut other = Request::new(());
        other
            .extensions_mut()
            .insert(ClientAddr("127.0.0.2:1".parse::<SocketAddr>().unwrap()));
        svc.oneshot(other).await.unwrap();
    }
}
