//! The string rules of Kubernetes names, labels, ports, keys and percentages, as small
//! character checks. Each returns kube-apiserver's messages for every rule the value breaks
//! (an empty list when it is valid), so callers can turn them into field errors.

/// Longest DNS-1123 or DNS-1035 label.
pub(crate) const LABEL_MAX: usize = 63;
/// Longest DNS-1123 subdomain.
pub(crate) const SUBDOMAIN_MAX: usize = 253;

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_PART_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const ENV_MSG: &str = "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";
/// The message for a malformed IP address.
pub(crate) const IP_MSG: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

/// Kubernetes' "too long" wording for names.
pub(crate) fn max_len(max: usize) -> String {
    format!("must be no more than {max} characters")
}

fn lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn label_chars(s: &[u8]) -> bool {
    !s.is_empty()
        && lower_alnum(s[0])
        && lower_alnum(s[s.len() - 1])
        && s.iter().all(|&b| lower_alnum(b) || b == b'-')
}

/// A DNS-1123 label: `my-name`.
pub(crate) fn dns1123_label(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > LABEL_MAX {
        errors.push(max_len(LABEL_MAX));
    }
    if !label_chars(s.as_bytes()) {
        errors.push(LABEL_MSG.to_owned());
    }
    errors
}

/// A DNS-1123 subdomain: `example.com`.
pub(crate) fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > SUBDOMAIN_MAX {
        errors.push(max_len(SUBDOMAIN_MAX));
    }
    if !s.split('.').all(|part| label_chars(part.as_bytes())) {
        errors.push(SUBDOMAIN_MSG.to_owned());
    }
    errors
}

/// A DNS-1035 label (starts with a letter), the rule for Service names.
pub(crate) fn dns1035_label(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > LABEL_MAX {
        errors.push(max_len(LABEL_MAX));
    }
    let b = s.as_bytes();
    if !label_chars(b) || !b[0].is_ascii_lowercase() {
        errors.push(DNS1035_MSG.to_owned());
    }
    errors
}

/// With `prefix` (a `generateName`), a trailing `-` is allowed, as the API server appends
/// random characters to it.
pub(crate) fn mask_trailing_dash(name: &str, prefix: bool) -> std::borrow::Cow<'_, str> {
    if prefix && name.len() > 1 && name.ends_with('-') {
        std::borrow::Cow::Owned(format!("{}a", &name[..name.len() - 1]))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn qualified_part(s: &[u8]) -> bool {
    !s.is_empty()
        && s[0].is_ascii_alphanumeric()
        && s[s.len() - 1].is_ascii_alphanumeric()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A qualified name, `[prefix/]name`: label keys, annotation keys, finalizers.
pub(crate) fn qualified_name(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let mut parts = s.split('/');
    let first = parts.next().unwrap_or("");
    let (prefix, name) = match (parts.next(), parts.next()) {
        (None, _) => (None, first),
        (Some(name), None) => (Some(first), name),
        (Some(_), Some(_)) => {
            errors.push(format!("a qualified name {QUALIFIED_PART_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"));
            return errors;
        }
    };
    match prefix {
        Some("") => errors.push("prefix part must be non-empty".to_owned()),
        Some(prefix) => {
            errors.extend(
                dns1123_subdomain(prefix)
                    .into_iter()
                    .map(|m| format!("prefix part {m}")),
            );
        }
        None => {}
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else if name.len() > LABEL_MAX {
        errors.push(format!("name part {}", max_len(LABEL_MAX)));
    }
    if !qualified_part(name.as_bytes()) {
        errors.push(format!("name part {QUALIFIED_PART_MSG}"));
    }
    errors
}

/// A label value: empty, or up to 63 characters with alphanumeric edges.
pub(crate) fn label_value(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > LABEL_MAX {
        errors.push(max_len(LABEL_MAX));
    }
    if !s.is_empty() && !qualified_part(s.as_bytes()) {
        errors.push(LABEL_VALUE_MSG.to_owned());
    }
    errors
}

/// An IANA service name, the rule for container port names and named target ports.
pub(crate) fn iana_svc_name(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > 15 {
        errors.push(max_len(15));
    }
    if s.is_empty() || !s.bytes().all(|b| lower_alnum(b) || b == b'-') {
        errors.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_owned(),
        );
    }
    if !s.bytes().any(|b| b.is_ascii_lowercase()) {
        errors.push("must contain at least one letter (a-z)".to_owned());
    }
    if s.contains("--") {
        errors.push("must not contain consecutive hyphens".to_owned());
    }
    if s.starts_with('-') || s.ends_with('-') {
        errors.push("must not begin or end with a hyphen".to_owned());
    }
    errors
}

/// A port number, 1 to 65535.
pub(crate) fn port_number(port: i32) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec!["must be between 1 and 65535, inclusive".to_owned()]
    }
}

fn chdir_prefix(s: &str, errors: &mut Vec<String>) {
    if s == "." {
        errors.push("must not be '.'".to_owned());
    } else if s == ".." {
        errors.push("must not be '..'".to_owned());
    } else if s.starts_with("..") {
        errors.push("must not start with '..'".to_owned());
    }
}

/// An environment variable name: `[-._a-zA-Z][-._a-zA-Z0-9]*`.
pub(crate) fn env_var_name(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let b = s.as_bytes();
    let ok_rest = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_');
    if b.is_empty() || b[0].is_ascii_digit() || !b.iter().all(|&c| ok_rest(c)) {
        errors.push(ENV_MSG.to_owned());
    }
    chdir_prefix(s, &mut errors);
    errors
}

/// A ConfigMap or Secret key: `[-._a-zA-Z0-9]+`, at most 253 characters.
pub(crate) fn config_key(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > SUBDOMAIN_MAX {
        errors.push(max_len(SUBDOMAIN_MAX));
    }
    if s.is_empty()
        || !s
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
    {
        errors.push(CONFIG_KEY_MSG.to_owned());
    }
    chdir_prefix(s, &mut errors);
    errors
}

/// A name usable as one URL path segment (RBAC object names such as `system:viewer`).
pub(crate) fn path_segment(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s == "." || s == ".." {
        errors.push(format!("may not be '{s}'"));
    }
    for bad in ["/", "%"] {
        if s.contains(bad) {
            errors.push(format!("may not contain '{bad}'"));
        }
    }
    errors
}

/// A percentage: `[0-9]+%`.
pub(crate) fn percent(s: &str) -> Vec<String> {
    match s.strip_suffix('%') {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Vec::new()
        }
        _ => vec![PERCENT_MSG.to_owned()],
    }
}

/// Whether `s` is an IPv4 or IPv6 address.
pub(crate) fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// Formats a string map as Go's `%#v` does, the way kube-apiserver prints label sets.
pub(crate) fn go_map(map: Option<&std::collections::BTreeMap<String, String>>) -> String {
    let Some(map) = map else {
        return "map[string]string(nil)".to_owned();
    };
    let entries: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}:{}", quote(k), quote(v)))
        .collect();
    format!("map[string]string{{{}}}", entries.join(", "))
}

/// Formats a string list as Go's `%#v` does.
pub(crate) fn go_list(list: &[String]) -> String {
    let entries: Vec<String> = list.iter().map(|s| quote(s)).collect();
    format!("[]string{{{}}}", entries.join(", "))
}

/// Quotes a string as Go's `%q` does for the common cases.
pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(dns1123_label("my-name").is_empty());
        assert!(dns1123_label("123-abc").is_empty());
        assert_eq!(dns1123_label("My-name"), vec![LABEL_MSG]);
        assert_eq!(dns1123_label("-a"), vec![LABEL_MSG]);
        assert_eq!(dns1123_label(""), vec![LABEL_MSG]);
        assert_eq!(dns1123_label(&"a".repeat(64)), vec![max_len(63)]);
        assert!(dns1123_subdomain("example.com").is_empty());
        assert!(dns1123_subdomain("a-1.b").is_empty());
        assert_eq!(dns1123_subdomain("Web_1"), vec![SUBDOMAIN_MSG]);
        assert_eq!(dns1123_subdomain("a..b"), vec![SUBDOMAIN_MSG]);
        assert_eq!(dns1123_subdomain("a."), vec![SUBDOMAIN_MSG]);
        assert_eq!(dns1123_subdomain(&"a".repeat(254)), vec![max_len(253)]);
        assert!(dns1035_label("web").is_empty());
        assert_eq!(dns1035_label("1web"), vec![DNS1035_MSG]);
        assert_eq!(mask_trailing_dash("web-", true), "weba");
        assert_eq!(mask_trailing_dash("web-", false), "web-");
    }

    #[test]
    fn qualified_names_and_label_values() {
        assert!(qualified_name("app").is_empty());
        assert!(qualified_name("app.kubernetes.io/name").is_empty());
        assert!(qualified_name("My_Key.1").is_empty());
        assert_eq!(qualified_name("/x"), vec!["prefix part must be non-empty"]);
        assert_eq!(
            qualified_name("Ex.com/x"),
            vec![format!("prefix part {SUBDOMAIN_MSG}")]
        );
        assert_eq!(
            qualified_name("a/"),
            vec![
                "name part must be non-empty".to_owned(),
                format!("name part {QUALIFIED_PART_MSG}")
            ]
        );
        assert_eq!(
            qualified_name(&"k".repeat(64)),
            vec![format!("name part {}", max_len(63))]
        );
        assert_eq!(qualified_name("a/b/c").len(), 1);
        assert!(qualified_name("a/b/c")[0].starts_with("a qualified name must consist"));
        assert!(label_value("").is_empty());
        assert!(label_value("v1.2_x-y").is_empty());
        assert_eq!(label_value("-x"), vec![LABEL_VALUE_MSG]);
        assert_eq!(label_value(&"v".repeat(64)), vec![max_len(63)]);
    }

    #[test]
    fn ports_env_keys_and_percentages() {
        assert!(iana_svc_name("http").is_empty());
        assert!(iana_svc_name("web-8080").is_empty());
        assert_eq!(
            iana_svc_name("8080"),
            vec!["must contain at least one letter (a-z)"]
        );
        assert_eq!(
            iana_svc_name("http--x-"),
            vec![
                "must not contain consecutive hyphens",
                "must not begin or end with a hyphen"
            ]
        );
        assert_eq!(iana_svc_name("a-very-long-port-name"), vec![max_len(15)]);
        assert_eq!(iana_svc_name("HTTP").len(), 2);
        assert!(port_number(1).is_empty() && port_number(65535).is_empty());
        assert_eq!(port_number(0).len(), 1);
        assert!(env_var_name("MY_VAR").is_empty());
        assert!(env_var_name("my.env-name").is_empty());
        assert_eq!(env_var_name("1X"), vec![ENV_MSG]);
        assert_eq!(env_var_name("A B"), vec![ENV_MSG]);
        assert_eq!(env_var_name(".."), vec!["must not be '..'"]);
        assert!(config_key("app.properties").is_empty());
        assert_eq!(config_key("a/b"), vec![CONFIG_KEY_MSG]);
        assert_eq!(config_key("..x"), vec!["must not start with '..'"]);
        assert!(path_segment("system:viewer").is_empty());
        assert_eq!(
            path_segment("a/b%"),
            vec!["may not contain '/'", "may not contain '%'"]
        );
        assert!(percent("25%").is_empty());
        assert_eq!(percent("25"), vec![PERCENT_MSG]);
        assert_eq!(percent("%"), vec![PERCENT_MSG]);
        assert!(is_ip("10.0.0.1") && is_ip("2001:db8::1") && !is_ip("10.0.0"));
    }

    #[test]
    fn go_formatting() {
        let map: std::collections::BTreeMap<String, String> = [
            ("app".to_owned(), "web".to_owned()),
            ("tier".to_owned(), "x".to_owned()),
        ]
        .into();
        assert_eq!(
            go_map(Some(&map)),
            r#"map[string]string{"app":"web", "tier":"x"}"#
        );
        assert_eq!(go_map(None), "map[string]string(nil)");
        assert_eq!(go_list(&["/healthz".to_owned()]), r#"[]string{"/healthz"}"#);
    }
}
