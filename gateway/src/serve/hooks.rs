//! Extension points of the server: the router in service ([`RouterSlot`]), a hook called after
//! every committed block ([`BlockObserver`]) and a model reload hook ([`ReloadHook`]).
//!
//! The traffic-log writer attaches as a [`BlockObserver`]; model hot reload swaps the router in
//! the [`RouterSlot`] (from `switchyard_reloadModel`, SIGHUP or a file watch alike). The slot is
//! read once per block, so a swap takes effect at the next block and never mid-block.

use std::{
    fmt,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};
use switchyard_executors::{
    Block, State,
    parallel::ParallelRun,
    router::{ContractRouter, Router},
};
use switchyard_model::Threshold;

/// The router in service with its version, as one value so both change together.
#[derive(Debug, Clone)]
pub struct ActiveRouter {
    /// The router every block goes through.
    pub router: Arc<dyn Router>,
    /// Its version: the router's name for built-ins, the model's version for a model.
    pub version: String,
    /// The model's pair threshold in service (shared with the router, tuned at run time), when
    /// the router has one.
    pub threshold: Option<Threshold>,
    /// When it entered service.
    pub since: SystemTime,
}

impl ActiveRouter {
    /// The pair threshold in service now, when the router has one.
    pub fn threshold_now(&self) -> Option<f64> {
        self.threshold.as_ref().map(|t| f64::from(t.get()))
    }
}

/// A cheaply readable, atomically swappable holder of the router in service.
///
/// Clones share the slot. Readers take an `Arc` snapshot ([`RouterSlot::current`]); a writer
/// replaces it whole ([`RouterSlot::swap`]). The default holds the `contract` router.
#[derive(Debug, Clone)]
pub struct RouterSlot {
    inner: Arc<SlotInner>,
}

#[derive(Debug)]
struct SlotInner {
    active: RwLock<Arc<ActiveRouter>>,
    /// Incremented on every swap, so observers can tell a new router from the same one.
    generation: AtomicU64,
    reload_failures: AtomicU64,
}

impl Default for RouterSlot {
    fn default() -> Self {
        Self::new(Arc::new(ContractRouter), "contract", None)
    }
}

impl RouterSlot {
    /// A slot holding `router` at `version`.
    pub fn new(
        router: Arc<dyn Router>,
        version: impl Into<String>,
        threshold: Option<Threshold>,
    ) -> Self {
        let active = ActiveRouter {
            router,
            version: version.into(),
            threshold,
            since: SystemTime::now(),
        };
        Self {
            inner: Arc::new(SlotInner {
                active: RwLock::new(Arc::new(active)),
                generation: AtomicU64::new(0),
                reload_failures: AtomicU64::new(0),
            }),
        }
    }

    /// The router in service now.
    pub fn current(&self) -> Arc<ActiveRouter> {
        self.inner
            .active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Puts `router` in service from the next block on; returns the one it replaces.
    pub fn swap(
        &self,
        router: Arc<dyn Router>,
        version: impl Into<String>,
        threshold: Option<Threshold>,
    ) -> Arc<ActiveRouter> {
        let next = Arc::new(ActiveRouter {
            router,
            version: version.into(),
            threshold,
            since: SystemTime::now(),
        });
        let mut active = self.inner.active.write().unwrap_or_else(|e| e.into_inner());
        self.inner.generation.fetch_add(1, Ordering::Relaxed);
        std::mem::replace(&mut *active, next)
    }

    /// Number of swaps so far.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Relaxed)
    }

    /// Counts a failed reload (whatever triggered it); exported as
    /// `switchyard_model_reload_failures_total`.
    pub fn record_reload_failure(&self) {
        self.inner.reload_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Failed reloads so far.
    pub fn reload_failures(&self) -> u64 {
        self.inner.reload_failures.load(Ordering::Relaxed)
    }
}

/// A block the gateway committed, as observers see it.
#[derive(Debug, Clone, Copy)]
pub struct CommittedBlock<'a> {
    /// The executed block (environment and transactions, in block order).
    pub block: &'a Arc<Block>,
    /// Its hash.
    pub hash: alloy_primitives::B256,
    /// The parallel run: routing, outcomes with read/write sets, commit report, timings.
    pub run: &'a ParallelRun,
    /// The state the block executed on.
    pub pre_state: &'a Arc<State>,
    /// The version of the router that routed it.
    pub router_version: &'a str,
}

/// Called after every committed block, on the sequencer's task, before the next block starts.
///
/// Keep it short (hand heavy work to another thread): the next block waits for it. A failure
/// is logged by the implementation; it cannot undo the block.
pub trait BlockObserver: Send + Sync + fmt::Debug {
    /// One committed block.
    fn on_block(&self, block: CommittedBlock<'_>);

    /// The server is stopping: flush anything buffered. Called once, after the last block.
    fn on_shutdown(&self) {}
}

/// Reloads the model, for `switchyard_reloadModel` (and any other trigger that shares it).
///
/// On success the hook has already swapped the [`RouterSlot`] and returns the new version; on
/// failure it returns the reason and the old router stays in service.
pub trait ReloadHook: Send + Sync + fmt::Debug {
    /// Loads the model file again and puts it in service.
    fn reload(&self) -> Result<String, String>;
}

/// Everything a caller can plug into [`super::serve`].
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    /// The router slot; the default holds the `contract` router.
    pub router: RouterSlot,
    /// Called after every committed block.
    pub observer: Option<Arc<dyn BlockObserver>>,
    /// Called by `switchyard_reloadModel`; without it the method answers "no model configured".
    pub reload: Option<Arc<dyn ReloadHook>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_executors::router::SenderRouter;

    #[test]
    fn swap_replaces_router_and_version_together() {
        let slot = RouterSlot::default();
        let reader = slot.clone();
        assert_eq!(reader.current().version, "contract");
        let old = slot.swap(Arc::new(SenderRouter), "v2", Some(Threshold::new(0.5)));
        assert_eq!(old.router.name(), "contract");
        let now = reader.current();
        assert_eq!((now.router.name(), now.version.as_str()), ("sender", "v2"));
        assert_eq!(now.threshold_now(), Some(0.5));
        assert_eq!(reader.generation(), 1);
    }

    #[test]
    fn hooks_cross_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Hooks>();
        assert_send_sync::<RouterSlot>();
    }
}
