//! The model in service: loaded from `--model` at start, then reloaded atomically on
//! `switchyard_reloadModel`, on SIGHUP, or when the file changes (its modification time or
//! length, polled every second).
//!
//! A reload reads the file once, checks it whole ([`Model::from_json`]) and only then swaps the
//! [`RouterSlot`], so a block is always routed by one complete model. A file that does not load
//! leaves the old model in service; the failure is logged with `warn!` and counted in
//! `switchyard_model_reload_failures_total`.

use super::hooks::{ReloadHook, RouterSlot};
use alloy_primitives::keccak256;
use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};
use switchyard_model::{Error, Model, ModelRouter};
use tokio::{
    signal::unix::{Signal, SignalKind, signal},
    task::JoinHandle,
};
use tracing::{info, warn};

/// How often the model file is checked for changes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What a change of the model file is detected by: its modification time and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl FileStamp {
    /// The stamp of `path` now; `None` when it cannot be read.
    pub fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            modified: meta.modified().ok(),
            len: meta.len(),
        })
    }
}

/// A model file, read and checked.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// The model.
    pub model: Arc<Model>,
    /// Its version: `v<format version>-<schema hash>-<first 12 hex digits of the keccak-256 of
    /// the file>`, so two different files never share one.
    pub version: String,
    /// The file's stamp, taken before it was read: a write after the read changes it.
    pub stamp: Option<FileStamp>,
}

impl LoadedModel {
    /// Reads and checks the model file at `path`.
    pub fn load(path: &Path) -> switchyard_model::Result<Self> {
        let stamp = FileStamp::of(path);
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|e| Error::CorruptModel {
            path: path.to_owned(),
            reason: format!("not UTF-8: {e}"),
        })?;
        let model = Model::from_json(text, path)?;
        let digest = keccak256(&bytes);
        let file_hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        let version = format!(
            "v{}-{}-{file_hash}",
            model.format_version, model.schema.hash
        );
        Ok(Self {
            model: Arc::new(model),
            version,
            stamp,
        })
    }

    /// The model's pair threshold.
    pub fn threshold(&self) -> f64 {
        f64::from(self.model.threshold)
    }
}

/// Loads the model file into the [`RouterSlot`]; the [`ReloadHook`] of `switchyard_reloadModel`
/// and the target of SIGHUP and the file watch.
///
/// Reloads are serialised, and a file identical to the model in service (same version) is not
/// swapped again.
#[derive(Debug)]
pub struct ModelLoader {
    path: PathBuf,
    slot: RouterSlot,
    /// The stamp of the file at the last load attempt, whatever triggered it, so the watch does
    /// not retry (and count again) a file another trigger already tried.
    last_attempt: Mutex<Option<FileStamp>>,
}

impl ModelLoader {
    /// Puts `loaded` (read from `path`) in service in `slot` and returns its loader.
    pub fn install(path: PathBuf, slot: RouterSlot, loaded: &LoadedModel) -> Self {
        let router = ModelRouter::shared(loaded.model.clone());
        let threshold = router.threshold().clone();
        slot.swap(Arc::new(router), loaded.version.clone(), Some(threshold));
        info!(model = %path.display(), version = %loaded.version, threshold = loaded.threshold(), "model in service");
        Self {
            path,
            slot,
            last_attempt: Mutex::new(loaded.stamp),
        }
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the file and swaps it in; on failure the reason, and the old model stays.
    /// Failures are neither logged nor counted here (see [`ModelLoader::reload_from`]).
    fn load_and_swap(&self) -> Result<String, String> {
        let mut last = self.last_attempt.lock().unwrap_or_else(|e| e.into_inner());
        *last = FileStamp::of(&self.path);
        let loaded = LoadedModel::load(&self.path).map_err(|e| e.to_string())?;
        *last = loaded.stamp;
        if self.slot.current().version == loaded.version {
            return Ok(loaded.version);
        }
        let router = ModelRouter::shared(loaded.model.clone());
        let threshold = router.threshold().clone();
        let old = self
            .slot
            .swap(Arc::new(router), loaded.version.clone(), Some(threshold));
        info!(model = %self.path.display(), from = %old.version, to = %loaded.version, threshold = loaded.threshold(), "model reloaded");
        Ok(loaded.version)
    }

    /// Reloads for `trigger` (`sighup`, `file_change`), logging and counting a failure.
    pub fn reload_from(&self, trigger: &'static str) -> Result<String, String> {
        self.load_and_swap().inspect_err(|reason| {
            self.slot.record_reload_failure();
            warn!(trigger, model = %self.path.display(), %reason, "model reload failed; the old model stays in service");
        })
    }

    /// Whether the file changed since the last load attempt.
    fn changed(&self) -> bool {
        let now = FileStamp::of(&self.path);
        now.is_some() && now != *self.last_attempt.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the reload triggers besides `switchyard_reloadModel`: SIGHUP and the file watch.
    /// Abort the handles to stop them.
    pub fn spawn_triggers(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        let mut triggers = vec![tokio::spawn(watch_file(self.clone()))];
        if let Some(hangup) = hangups() {
            triggers.push(tokio::spawn(on_sighup(self.clone(), hangup)));
        }
        triggers
    }
}

impl ReloadHook for ModelLoader {
    /// The caller (`switchyard_reloadModel`) logs and counts a failure.
    fn reload(&self) -> Result<String, String> {
        self.load_and_swap()
    }
}

/// Polls the file's stamp every [`POLL_INTERVAL`] and reloads when it changes. A missing file
/// is not a change: the old model stays until a file appears again.
async fn watch_file(loader: Arc<ModelLoader>) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if loader.changed() {
            let loader = loader.clone();
            let _ = tokio::task::spawn_blocking(move || loader.reload_from("file_change")).await;
        }
    }
}

/// Listens for SIGHUP. Registered before the server answers, so a SIGHUP sent once it is up
/// never meets the signal's default action (ending the process).
fn hangups() -> Option<Signal> {
    signal(SignalKind::hangup())
        .inspect_err(|err| warn!(cause = %err, "cannot listen for SIGHUP"))
        .ok()
}

/// Reloads on every SIGHUP.
async fn on_sighup(loader: Arc<ModelLoader>, mut hangup: Signal) {
    while hangup.recv().await.is_some() {
        info!(model = %loader.path().display(), "SIGHUP: reloading the model");
        let loader = loader.clone();
        let _ = tokio::task::spawn_blocking(move || loader.reload_from("sighup")).await;
    }
}

/// Answers SIGHUP with a log line when no model is configured.
pub fn ignore_sighup() -> Option<JoinHandle<()>> {
    let mut hangup = hangups()?;
    Some(tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            warn!("SIGHUP ignored: no model is configured (start with --model FILE to reload one)");
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_garbage_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        assert!(matches!(LoadedModel::load(&path), Err(Error::Io { .. })));
        std::fs::write(&path, b"not json").unwrap();
        let err = LoadedModel::load(&path).unwrap_err();
        assert!(err.to_string().contains("corrupt model file"), "{err}");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(LoadedModel::load(&path).is_err());
    }

    #[test]
    fn stamp_changes_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert_eq!(FileStamp::of(&path), None);
        std::fs::write(&path, b"a").unwrap();
        let first = FileStamp::of(&path).unwrap();
        std::fs::write(&path, b"ab").unwrap();
        assert_ne!(Some(first), FileStamp::of(&path));
    }

    #[test]
    fn loader_crosses_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ModelLoader>();
    }
}
