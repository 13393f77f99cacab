//! The integration tests of `shoal-control`, one binary with a module per area.

mod cluster;
mod common;
mod faults;
mod leadership;
mod machine;
mod nodes;
mod pagination;
mod scheduler;
mod snapshot;
mod suite;
mod tls;
mod watch;
