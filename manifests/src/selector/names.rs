//! The label key and value rules selectors enforce, with the messages apimachinery's
//! `validation.IsQualifiedName` and `IsValidLabelValue` give.

const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_MSG: &str = "a valid label value must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

/// The longest name part of a label key, and the longest label value.
const MAX_NAME_LEN: usize = 63;
/// The longest DNS subdomain, used as a key prefix.
const MAX_SUBDOMAIN_LEN: usize = 253;

/// `msg (e.g. 'a',  or 'b', regex used for validation is 'fmt')`, spaced as apimachinery does.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{msg} (e.g. {}regex used for validation is '{fmt}')",
        examples.join(" or ")
    )
}

fn max_len_error(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// Whether `text` is `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
fn is_name_part(text: &str) -> bool {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Whether `text` is a lowercase RFC 1123 subdomain (ignoring length).
fn is_subdomain_shape(text: &str) -> bool {
    text.split('.').all(|label| {
        let bytes = label.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                is_lower_alnum(*first)
                    && is_lower_alnum(*last)
                    && bytes.iter().all(|&b| is_lower_alnum(b) || b == b'-')
            }
            _ => false,
        }
    })
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Problems with a label key (`[prefix/]name`), empty when it is valid.
pub(crate) fn qualified_name_errors(key: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errors.push("prefix part must be non-empty".to_owned());
            } else {
                if prefix.len() > MAX_SUBDOMAIN_LEN {
                    errors.push(format!("prefix part {}", max_len_error(MAX_SUBDOMAIN_LEN)));
                }
                if !is_subdomain_shape(prefix) {
                    let message = regex_error(
                        DNS1123_SUBDOMAIN_MSG,
                        DNS1123_SUBDOMAIN_FMT,
                        &["example.com"],
                    );
                    errors.push(format!("prefix part {message}"));
                }
            }
            *name
        }
        _ => {
            let message = regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"],
            );
            errors.push(format!(
                "a qualified name {message} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
            return errors;
        }
    };
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else if name.len() > MAX_NAME_LEN {
        errors.push(format!("name part {}", max_len_error(MAX_NAME_LEN)));
    }
    if !is_name_part(name) {
        let message = regex_error(
            QUALIFIED_NAME_MSG,
            QUALIFIED_NAME_FMT,
            &["MyName", "my.name", "123-abc"],
        );
        errors.push(format!("name part {message}"));
    }
    errors
}

/// Problems with a label value, empty when it is valid.
pub(crate) fn label_value_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > MAX_NAME_LEN {
        errors.push(max_len_error(MAX_NAME_LEN));
    }
    if !value.is_empty() && !is_name_part(value) {
        errors.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errors
}

/// A string quoted as Go's `%q` quotes it (for the characters labels can hold).
pub(crate) fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(qualified_name_errors("app").is_empty());
        assert!(qualified_name_errors("app.kubernetes.io/name").is_empty());
        assert!(qualified_name_errors("A_b.c-9").is_empty());
        assert_eq!(
            qualified_name_errors("app:"),
            [
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            ]
        );
        assert_eq!(
            qualified_name_errors("/a"),
            ["prefix part must be non-empty"]
        );
        assert_eq!(qualified_name_errors("a/").len(), 2);
        assert!(qualified_name_errors("a/b/c")[0].starts_with("a qualified name must consist"));
        assert!(
            qualified_name_errors("Example.com/a")[0]
                .starts_with("prefix part a lowercase RFC 1123")
        );
        assert_eq!(
            qualified_name_errors(&"a".repeat(64)),
            ["name part must be no more than 63 characters"]
        );
    }

    #[test]
    fn values() {
        assert!(label_value_errors("").is_empty());
        assert!(label_value_errors("v1.2_3-x").is_empty());
        assert_eq!(label_value_errors("-a").len(), 1);
        assert_eq!(
            label_value_errors(&"a".repeat(64)),
            ["must be no more than 63 characters"]
        );
    }
}
