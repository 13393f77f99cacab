//! The integration tests of `shoal-control`, one binary with a module per area.

mod common;
mod leadership;
mod machine;
mod pagination;
mod snapshot;
mod suite;
mod watch;
