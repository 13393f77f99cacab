//! Printer columns for `kubectl get` (being written).

use crate::registry::Column;
/// Columns of the kind.
pub static NAMESPACE: &[Column] = &[];
/// Columns of the kind.
pub static NODE: &[Column] = &[];
/// Columns of the kind.
pub static POD: &[Column] = &[];
/// Columns of the kind.
pub static SERVICE: &[Column] = &[];
/// Columns of the kind.
pub static ENDPOINTS: &[Column] = &[];
/// Columns of the kind.
pub static CONFIG_MAP: &[Column] = &[];
/// Columns of the kind.
pub static SECRET: &[Column] = &[];
/// Columns of the kind.
pub static EVENT: &[Column] = &[];
/// Columns of the kind.
pub static SERVICE_ACCOUNT: &[Column] = &[];
/// Columns of the kind.
pub static PERSISTENT_VOLUME_CLAIM: &[Column] = &[];
/// Columns of the kind.
pub static DEPLOYMENT: &[Column] = &[];
/// Columns of the kind.
pub static REPLICA_SET: &[Column] = &[];
/// Columns of the kind.
pub static DAEMON_SET: &[Column] = &[];
/// Columns of the kind.
pub static STATEFUL_SET: &[Column] = &[];
/// Columns of the kind.
pub static JOB: &[Column] = &[];
/// Columns of the kind.
pub static CRON_JOB: &[Column] = &[];
/// Columns of the kind.
pub static HORIZONTAL_POD_AUTOSCALER: &[Column] = &[];
/// Columns of the kind.
pub static ENDPOINT_SLICE: &[Column] = &[];
/// Columns of the kind.
pub static LEASE: &[Column] = &[];
/// Columns of the kind.
pub static ROLE: &[Column] = &[];
/// Columns of the kind.
pub static CLUSTER_ROLE: &[Column] = &[];
/// Columns of the kind.
pub static ROLE_BINDING: &[Column] = &[];
/// Columns of the kind.
pub static CLUSTER_ROLE_BINDING: &[Column] = &[];
