//! Defaulting, as kube-apiserver applies it before validation (being written).

use crate::registry::Object;

/// Fills in every default Kubernetes applies to `object`.
pub fn apply_defaults(object: &mut Object) {
    let _ = object;
}
