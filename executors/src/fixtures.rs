//! Locating the shared mainnet blocks for tests and benchmarks.

use std::path::PathBuf;

/// Environment variable naming the folder of mainnet block folders.
pub const MAINNET_DIR_ENV: &str = "SWITCHYARD_MAINNET_DIR";

/// The mainnet block folder: `$SWITCHYARD_MAINNET_DIR`, else `../shared/data/mainnet` beside the
/// workspace root. `None` when neither exists.
pub fn mainnet_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(MAINNET_DIR_ENV) {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = workspace.join("../shared/data/mainnet");
    dir.is_dir().then(|| dir.canonicalize().unwrap_or(dir))
}
