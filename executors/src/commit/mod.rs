//! The ordered commit: validate each speculative result by the values it read, in block order;
//! apply it if valid, re-execute it on the committed state if not.
//!
//! A transaction's execution is a deterministic function of the block environment and the
//! values it reads. If every value it read equals the committed value at its turn, its
//! speculative outcome is the sequential one. Otherwise re-executing against the committed
//! state is always correct, only slower. Cascades need no special handling: a later
//! transaction that read a since-invalidated write fails the same value check.
//!
//! [`ordered_commit`] commits results computed beforehand; [`LiveCommit`] commits while pools
//! still deliver them, driven by the pools themselves.
//!
//! # Layout
//! - [`validate`](mod@validate): validation by value, and the balance deltas a stale result may
//!   be shifted by instead of re-executed.
//! - [`cursor`]: the resumable walk in block order ([`ordered_commit`] runs it to the end) and
//!   its report.
//! - [`live`]: [`LiveCommit`], the commit the pools deliver to and drive.

pub mod cursor;
pub mod live;
pub mod validate;

pub use cursor::{ABANDON_AFTER, ABANDON_MISS_SHARE, CommitReport, ordered_commit};
pub use live::{DRIVE_PER_DELIVERED, Head, LiveCommit};
pub use validate::{is_plain_transfer, takes_balance_as_delta, validate};
