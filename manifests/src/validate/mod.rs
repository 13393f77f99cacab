//! Validation of API objects (being written).

use crate::error::FieldError;
use crate::registry::Object;

/// Every problem with `object`, as field errors.
pub fn validate(object: &Object) -> Vec<FieldError> {
    let _ = object;
    Vec::new()
}
