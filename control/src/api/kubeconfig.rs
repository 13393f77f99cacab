//! Writing the kubeconfig that points kubectl at a Shoal cluster.
//!
//! The YAML is emitted by hand: the document has a fixed shape, and every value is written as a
//! double-quoted scalar, so no name, URL or token can change the structure whatever it contains.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A kubeconfig with one cluster, one user and one context, all three named after `cluster`
/// except the user, and that context selected.
///
/// `server_url` is the API server's address (`https://127.0.0.1:6443`), `ca_pem` the cluster
/// CA that kubectl must trust (it goes in as `certificate-authority-data`), `token` the bearer
/// token kubectl sends on every request.
pub fn render(cluster: &str, server_url: &str, ca_pem: &str, user: &str, token: &str) -> String {
    let cluster = quote(cluster);
    let user = quote(user);
    let server = quote(server_url);
    let ca = quote(&STANDARD.encode(ca_pem));
    let token = quote(token);
    format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: {cluster}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {user}
  user:
    token: {token}
contexts:
- name: {cluster}
  context:
    cluster: {cluster}
    user: {user}
current-context: {cluster}
preferences: {{}}
"#
    )
}

/// Writes a kubeconfig only its owner may read (mode 0600), creating parent directories.
///
/// The file is replaced atomically, so a reader never sees half a kubeconfig.
pub fn write(path: &Path, contents: &str) -> io::Result<()> {
    write_private(path, contents.as_bytes())
}

/// Writes a file holding a secret: mode 0600, parent directories created, replaced atomically
/// (a temporary file beside it, synced, then renamed over it). The CA key and the admin token
/// are written this way too.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent)?;
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".{}.tmp", std::process::id()));
    let temporary = parent.join(temporary_name);
    // A leftover from an earlier crash keeps its old mode if reopened, so start afresh.
    match std::fs::remove_file(&temporary) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = (|| {
        let mut file = private_options().open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(unix)]
fn private_options() -> std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true).mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    options
}

/// `value` as a YAML double-quoted scalar. The escapes used are those JSON shares with YAML;
/// the characters YAML 1.1 parsers (kubectl's) take as line breaks are escaped too, so they
/// survive unfolded.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    /// The value of the first line that starts with `key: `, decoded as the JSON string it is.
    fn value_of(yaml: &str, key: &str) -> String {
        let line = yaml
            .lines()
            .map(str::trim_start)
            .map(|line| line.strip_prefix("- ").unwrap_or(line))
            .find_map(|line| line.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("no {key} in\n{yaml}"));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{key}: {line} is not quoted: {e}"))
    }

    #[test]
    fn renders_one_cluster_user_and_selected_context() {
        let yaml = render("shoal", "https://127.0.0.1:6443", CA, "admin", "t0ken");
        let expected = format!(
            r#"apiVersion: v1
kind: Config
clusters:
- name: "shoal"
  cluster:
    server: "https://127.0.0.1:6443"
    certificate-authority-data: "{}"
users:
- name: "admin"
  user:
    token: "t0ken"
contexts:
- name: "shoal"
  context:
    cluster: "shoal"
    user: "admin"
current-context: "shoal"
preferences: {{}}
"#,
            STANDARD.encode(CA)
        );
        assert_eq!(yaml, expected);
    }

    #[test]
    fn certificate_authority_data_is_the_base64_of_the_pem() {
        let yaml = render("shoal", "https://h:1", CA, "admin", "t");
        let data = value_of(&yaml, "certificate-authority-data");
        assert_eq!(STANDARD.decode(data).expect("base64"), CA.as_bytes());
    }

    #[test]
    fn values_that_look_like_yaml_stay_values() {
        let tricky = "a: b # c\n- \"d\" \\ \u{2028} \u{7}";
        let yaml = render(tricky, "https://h:1", CA, tricky, tricky);
        let plain = render("c", "https://h:1", CA, "u", "t");
        assert_eq!(
            yaml.lines().count(),
            plain.lines().count(),
            "no value added a line:\n{yaml}"
        );
        for key in [
            "name",
            "server",
            "token",
            "cluster",
            "user",
            "current-context",
        ] {
            let expected = if key == "server" {
                "https://h:1"
            } else {
                tricky
            };
            assert_eq!(value_of(&yaml, key), expected, "{key}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn write_creates_parents_and_is_private() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a/b/kubeconfig");
        write(&path, "first").expect("write");
        write(&path, "second").expect("overwrite");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "second");
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, ["kubeconfig"], "no temporary file is left");
    }
}
