//! Reading fields of untyped API objects (`serde_json::Value`), for code that looks at a few
//! fields of many objects and would gain nothing from decoding them into their types.

use serde_json::Value;

/// The string at a JSON pointer (`/spec/nodeName`), or `""` when it is missing or not a
/// string.
pub fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strings_at_pointers() {
        let pod = json!({"spec": {"nodeName": "n1", "priority": 3}});
        assert_eq!(str_at(&pod, "/spec/nodeName"), "n1");
        assert_eq!(str_at(&pod, "/spec/priority"), "");
        assert_eq!(str_at(&pod, "/status/phase"), "");
    }
}
