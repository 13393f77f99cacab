//! openraft's own storage test suite, run against the redb log and state machine.

use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};
use shoal_control::store::{LogStore, MachineConfig, NodeId, StateMachine, TypeConfig};
use tempfile::TempDir;

struct RedbBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for RedbBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().map_err(|e| {
            StorageError::from_io_error(
                openraft::ErrorSubject::Store,
                openraft::ErrorVerb::Write,
                e,
            )
        })?;
        let log = LogStore::open(&dir.path().join("log.redb"))
            .map_err(|e| openraft::StorageIOError::write_logs(&e))?;
        let machine = StateMachine::open(&dir.path().join("state.redb"), MachineConfig::default())
            .map_err(|e| openraft::StorageIOError::write_state_machine(&e))?;
        Ok((dir, log, machine))
    }
}

#[test]
fn openraft_storage_suite_passes() -> Result<(), Box<StorageError<NodeId>>> {
    Suite::test_all(RedbBuilder).map_err(Box::new)
}
