//! A remote executor's state replica: the gateway's head, kept exact by a snapshot and then one
//! diff per committed block, and the batches executed on it.
//!
//! The replica holds exactly one block's state. A batch names its parent block; unless that is
//! the block held, the batch is refused ([`ProtocolError::UnknownParent`] or
//! [`ProtocolError::StaleParent`]), so a batch never runs on stale state. A diff replaces the
//! state copy-on-write: batches already running keep the state they started on.

use crate::{
    pool::{BatchResponse, execute_batch},
    protocol::{BlockRef, Diff, ExecuteRequest, ProtocolError, Snapshot},
    state::State,
};
use std::sync::{Arc, RwLock};

/// The state after one block, shared by the batches running on it.
#[derive(Debug, Default)]
pub struct Replica {
    head: RwLock<Option<(BlockRef, Arc<State>)>>,
}

impl Replica {
    /// An empty replica: every batch is refused until a snapshot arrives.
    pub fn new() -> Self {
        Self::default()
    }

    /// The block held, if any.
    pub fn head(&self) -> Option<BlockRef> {
        self.read().as_ref().map(|(head, _)| *head)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<(BlockRef, Arc<State>)>> {
        self.head.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the replica with a snapshot.
    pub fn install(&self, snapshot: Snapshot) -> BlockRef {
        let head = snapshot.head;
        *self.head.write().unwrap_or_else(|e| e.into_inner()) =
            Some((head, Arc::new(snapshot.state)));
        head
    }

    /// Applies the diff of the block after the one held; refuses any other.
    pub fn advance(&self, diff: &Diff) -> Result<BlockRef, ProtocolError> {
        let mut guard = self.head.write().unwrap_or_else(|e| e.into_inner());
        let (head, state) = guard.as_mut().ok_or(ProtocolError::UnknownParent {
            asked: diff.parent,
            head: None,
        })?;
        if *head == diff.head {
            // A repeated diff (the gateway retried after losing the answer): already applied.
            return Ok(*head);
        }
        check_parent(diff.parent, Some(*head))?;
        Arc::make_mut(state).apply_diff(&diff.diff);
        *head = diff.head;
        Ok(*head)
    }

    /// Executes a batch on its parent's state, if that is the state held.
    pub fn execute(
        &self,
        pool: usize,
        request: &ExecuteRequest,
    ) -> Result<BatchResponse, ProtocolError> {
        let state = {
            let guard = self.read();
            check_parent(request.parent, guard.as_ref().map(|(head, _)| *head))?;
            guard.as_ref().map(|(_, state)| state.clone())
        }
        .expect("checked: the replica holds the parent");
        Ok(execute_batch(
            pool,
            state,
            &request.block,
            &request.txs,
            None,
            None,
            None,
        )?)
    }
}

/// Refuses `asked` unless it is exactly `head`.
fn check_parent(asked: BlockRef, head: Option<BlockRef>) -> Result<(), ProtocolError> {
    match head {
        Some(head) if head == asked => Ok(()),
        Some(head) if head.number > asked.number => Err(ProtocolError::StaleParent { asked, head }),
        head => Err(ProtocolError::UnknownParent { asked, head }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{State, StateReader, state::StateDiff, synthetic};
    use alloy_primitives::B256;

    fn at(number: u64) -> BlockRef {
        BlockRef {
            number,
            hash: B256::with_last_byte(number as u8),
        }
    }

    #[test]
    fn refuses_parents_it_does_not_hold_and_executes_on_the_one_it_does() {
        let (block, state) = synthetic::independent_transfers(4);
        let replica = Replica::new();
        let request = |parent| ExecuteRequest {
            parent,
            block: block.clone(),
            txs: vec![0, 1],
        };
        assert_eq!(
            replica.execute(0, &request(at(1))).unwrap_err(),
            ProtocolError::UnknownParent {
                asked: at(1),
                head: None
            }
        );
        replica.install(Snapshot {
            head: at(1),
            state: state.clone(),
        });
        let response = replica.execute(0, &request(at(1))).unwrap();
        assert_eq!(response.results.len(), 2);

        // Block 2 commits: the replica follows, and block 1 is now stale.
        let (address, account) = state.accounts().next().unwrap();
        let mut changed = State::new();
        changed.insert_account(
            *address,
            account.info.balance + alloy_primitives::U256::from(1),
            0,
            None,
            [],
        );
        let mut overlay = crate::Overlay::new(Arc::new(state.clone()));
        overlay.apply(&crate::WriteSet {
            accounts: vec![(
                *address,
                crate::AccountWrite::Updated {
                    info: changed.account(address).unwrap(),
                    storage_cleared: false,
                    info_changed: true,
                    storage: vec![],
                },
            )],
        });
        let mut diff: StateDiff = overlay.diff();
        diff.block_hashes.push((2, at(2).hash));
        let step = Diff {
            parent: at(1),
            head: at(2),
            diff,
        };
        assert_eq!(replica.advance(&step), Ok(at(2)));
        assert_eq!(
            replica.advance(&step),
            Ok(at(2)),
            "a repeated diff is harmless"
        );
        assert!(matches!(
            replica.execute(0, &request(at(1))),
            Err(ProtocolError::StaleParent { .. })
        ));
        assert!(matches!(
            replica.execute(0, &request(at(3))),
            Err(ProtocolError::UnknownParent { .. })
        ));
        let skipping = Diff {
            parent: at(3),
            head: at(4),
            diff: StateDiff::default(),
        };
        assert!(replica.advance(&skipping).unwrap_err().needs_sync());
        assert_eq!(replica.head(), Some(at(2)));
        // The diff landed exactly.
        let guard = replica.read();
        let held = &guard.as_ref().unwrap().1;
        assert_eq!(
            held.summary(address).unwrap().balance,
            account.info.balance + alloy_primitives::U256::from(1)
        );
        assert_eq!(held.block_hash(2), Some(at(2).hash));
    }
}
