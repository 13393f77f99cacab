//! Container image references as Shoal reads them: a Wasm component named by an OCI
//! reference, an `http(s)://` URL or a `file://` path, each optionally pinned by a
//! `@sha256:` digest. Validation and the agent's puller share this one parser.

use std::fmt;

/// The registry used for OCI references that name no registry, as Docker does.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// The longest OCI repository name (registry and path), as Docker allows.
const MAX_NAME_LENGTH: usize = 255;

/// Why an image reference does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// The reference is empty.
    #[error("invalid reference format: repository name must have at least one component")]
    Empty,
    /// The reference does not follow the OCI reference grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// A path component of the repository has upper-case letters.
    #[error("invalid reference format: repository name must be lowercase")]
    Uppercase,
    /// A path component of the repository has characters or separators it may not have.
    #[error(
        "invalid reference format: repository path component {component:?} must match [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
    )]
    InvalidComponent {
        /// The offending component.
        component: String,
    },
    /// The registry host (or its port) is malformed.
    #[error(
        "invalid reference format: registry host {host:?} is not a valid host name with optional port"
    )]
    InvalidRegistry {
        /// The offending registry part.
        host: String,
    },
    /// Registry and repository together are too long.
    #[error("invalid reference format: repository name must not be more than 255 characters")]
    NameTooLong,
    /// The tag is malformed.
    #[error("invalid reference format: tag {tag:?} must match [\\w][\\w.-]{{0,127}}")]
    InvalidTag {
        /// The offending tag.
        tag: String,
    },
    /// The digest is not `sha256:` followed by 64 lower-case hex characters.
    #[error("digest must be sha256:<64 hex characters>")]
    InvalidDigest,
    /// A URL scheme other than `http`, `https` or `file`.
    #[error(
        "unsupported image URL scheme {scheme:?}: use an OCI reference, http://, https:// or file://"
    )]
    UnsupportedScheme {
        /// The scheme as written.
        scheme: String,
    },
    /// An `http(s)://` URL without a host.
    #[error("image URL must have a host")]
    MissingHost,
    /// An `http(s)://` URL whose host or port is malformed.
    #[error("image URL host {host:?} is not a valid host name with optional port")]
    InvalidUrlHost {
        /// The offending authority.
        host: String,
    },
    /// A URL or path containing whitespace or control characters.
    #[error("image URL may not contain whitespace or control characters")]
    InvalidCharacter,
    /// A `file://` reference whose path is not absolute.
    #[error("file image path must be absolute (file:///path/to/component.wasm)")]
    RelativePath,
}

/// A content digest: `sha256:` and 64 lower-case hex characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:<64 lower-case hex>`.
    ///
    /// # Errors
    /// [`ImageRefError::InvalidDigest`] for any other text.
    pub fn parse(text: &str) -> Result<Self, ImageRefError> {
        let hex = text
            .strip_prefix("sha256:")
            .ok_or(ImageRefError::InvalidDigest)?;
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(hex.to_owned()))
        } else {
            Err(ImageRefError::InvalidDigest)
        }
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

/// Where the component comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ImageSource {
    /// An OCI artifact in a registry.
    Oci {
        /// Registry host with optional port (`docker.io` when none was written).
        registry: String,
        /// Repository path inside the registry (`library/` added for bare Docker Hub names).
        repository: String,
        /// The tag, if one was written.
        tag: Option<String>,
    },
    /// A plain download over HTTP or HTTPS.
    Http {
        /// `true` for `https`.
        tls: bool,
        /// Host with optional port (lower-cased), possibly with user information.
        authority: String,
        /// Path, query and fragment, starting with `/` when present.
        path: String,
    },
    /// A file on the node, for air-gapped edges.
    File {
        /// Absolute path.
        path: String,
    },
}

/// A parsed image reference, optionally pinned by digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    source: ImageSource,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parses an `image:` value.
    ///
    /// # Errors
    /// What is wrong with the reference, worded like Docker's messages.
    pub fn parse(text: &str) -> Result<Self, ImageRefError> {
        if text.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if let Some((scheme, rest)) = text.split_once("://") {
            return parse_url(scheme, rest);
        }
        parse_oci(text)
    }

    /// Where the component comes from.
    pub fn source(&self) -> &ImageSource {
        &self.source
    }

    /// The digest the content must have, if pinned.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The tag of an OCI reference, if written.
    pub fn tag(&self) -> Option<&str> {
        match &self.source {
            ImageSource::Oci { tag, .. } => tag.as_deref(),
            _ => None,
        }
    }

    /// Whether the content behind the name may change between pulls: an OCI reference
    /// tagged `latest` or untagged, or a URL or path, in each case without a digest. Such
    /// images default to `imagePullPolicy: Always`.
    pub fn is_mutable(&self) -> bool {
        if self.digest.is_some() {
            return false;
        }
        match &self.source {
            ImageSource::Oci { tag, .. } => tag.as_deref().is_none_or(|t| t == "latest"),
            ImageSource::Http { .. } | ImageSource::File { .. } => true,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            ImageSource::Oci {
                registry,
                repository,
                tag,
            } => {
                write!(f, "{registry}/{repository}")?;
                if let Some(tag) = tag {
                    write!(f, ":{tag}")?;
                }
            }
            ImageSource::Http {
                tls,
                authority,
                path,
            } => {
                let scheme = if *tls { "https" } else { "http" };
                write!(f, "{scheme}://{authority}{path}")?;
            }
            ImageSource::File { path } => write!(f, "file://{path}")?,
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Splits a trailing `@digest` off an URL or path: the suffix after the last `@` counts as a
/// digest when it holds no `/` (user information in URLs is always followed by a path).
fn split_url_digest(rest: &str) -> Result<(&str, Option<Digest>), ImageRefError> {
    match rest.rsplit_once('@') {
        Some((body, suffix)) if !suffix.contains('/') => Ok((body, Some(Digest::parse(suffix)?))),
        _ => Ok((rest, None)),
    }
}

fn parse_url(scheme: &str, rest: &str) -> Result<ImageRef, ImageRefError> {
    let scheme_lower = scheme.to_ascii_lowercase();
    if !matches!(scheme_lower.as_str(), "http" | "https" | "file") {
        return Err(ImageRefError::UnsupportedScheme {
            scheme: scheme.to_owned(),
        });
    }
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ImageRefError::InvalidCharacter);
    }
    let (body, digest) = split_url_digest(rest)?;
    if scheme_lower == "file" {
        let path = body.strip_prefix("localhost").unwrap_or(body);
        if !path.starts_with('/') {
            return Err(ImageRefError::RelativePath);
        }
        return Ok(ImageRef {
            source: ImageSource::File {
                path: path.to_owned(),
            },
            digest,
        });
    }
    let end = body.find(['/', '?', '#']).unwrap_or(body.len());
    let (authority, path) = body.split_at(end);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        return Err(ImageRefError::MissingHost);
    }
    if !is_host_with_port(host_port) {
        return Err(ImageRefError::InvalidUrlHost {
            host: host_port.to_owned(),
        });
    }
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => format!("{user}@{}", host.to_ascii_lowercase()),
        None => authority.to_ascii_lowercase(),
    };
    Ok(ImageRef {
        source: ImageSource::Http {
            tls: scheme_lower == "https",
            authority,
            path: path.to_owned(),
        },
        digest,
    })
}

fn parse_oci(text: &str) -> Result<ImageRef, ImageRefError> {
    let (name_tag, digest) = match text.split_once('@') {
        Some((_, digest)) if digest.contains('@') => return Err(ImageRefError::InvalidFormat),
        Some((name_tag, digest)) => (name_tag, Some(Digest::parse(digest)?)),
        None => (text, None),
    };
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (&name_tag[..at], Some(&name_tag[at + 1..]))
        }
        None => (name_tag, None),
    };
    if name.is_empty() {
        return Err(ImageRefError::InvalidFormat);
    }
    let (registry, remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DEFAULT_REGISTRY, name),
    };
    if !is_host_with_port(registry) {
        return Err(ImageRefError::InvalidRegistry {
            host: registry.to_owned(),
        });
    }
    if remainder.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ImageRefError::Uppercase);
    }
    for component in remainder.split('/') {
        if !is_path_component(component) {
            return Err(if component.is_empty() {
                ImageRefError::InvalidFormat
            } else {
                ImageRefError::InvalidComponent {
                    component: component.to_owned(),
                }
            });
        }
    }
    let registry = if registry == "index.docker.io" {
        DEFAULT_REGISTRY
    } else {
        registry
    };
    let repository = if registry == DEFAULT_REGISTRY && !remainder.contains('/') {
        format!("library/{remainder}")
    } else {
        remainder.to_owned()
    };
    if registry.len() + 1 + repository.len() > MAX_NAME_LENGTH {
        return Err(ImageRefError::NameTooLong);
    }
    if let Some(tag) = tag
        && !is_tag(tag)
    {
        return Err(ImageRefError::InvalidTag {
            tag: tag.to_owned(),
        });
    }
    Ok(ImageRef {
        source: ImageSource::Oci {
            registry: registry.to_owned(),
            repository,
            tag: tag.map(str::to_owned),
        },
        digest,
    })
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        // A separator run: one '.', one '_', exactly two '_', or any number of '-'.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&b| word(b) || b == b'.' || b == b'-')
}

/// A DNS host name (labels of letters, digits and inner hyphens), an IPv4 address or a
/// bracketed IPv6 address, with an optional `:port`.
fn is_host_with_port(text: &str) -> bool {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn canonical(text: &str) -> String {
        match ImageRef::parse(text) {
            Ok(image) => image.to_string(),
            Err(error) => panic!("{text}: {error}"),
        }
    }

    fn error(text: &str) -> String {
        match ImageRef::parse(text) {
            Ok(image) => panic!("{text} parsed as {image}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn oci_references_normalise_like_docker() {
        assert_eq!(canonical("nginx"), "docker.io/library/nginx");
        assert_eq!(canonical("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(canonical("user/app:v1"), "docker.io/user/app:v1");
        assert_eq!(canonical("index.docker.io/user/app"), "docker.io/user/app");
        assert_eq!(
            canonical("ghcr.io/org/team/app:1.0"),
            "ghcr.io/org/team/app:1.0"
        );
        assert_eq!(canonical("localhost/app"), "localhost/app");
        assert_eq!(
            canonical("localhost:5000/app:dev"),
            "localhost:5000/app:dev"
        );
        assert_eq!(canonical("10.0.0.1:5000/a/b"), "10.0.0.1:5000/a/b");
        assert_eq!(canonical("[::1]:5000/app"), "[::1]:5000/app");
        assert_eq!(canonical("Registry.Example/app"), "Registry.Example/app");
        assert_eq!(
            canonical("registry.example/web-wasm:1.0"),
            "registry.example/web-wasm:1.0"
        );
        assert_eq!(
            canonical("a/b__c/d--e/f.g_h"),
            "docker.io/a/b__c/d--e/f.g_h"
        );
        let pinned = format!("ghcr.io/org/app:1.0@sha256:{HEX}");
        assert_eq!(canonical(&pinned), pinned);
        let image = ImageRef::parse(&format!("app@sha256:{HEX}")).unwrap();
        assert_eq!(image.digest().map(Digest::hex), Some(HEX));
        assert_eq!(image.tag(), None);
        assert!(!image.is_mutable());
    }

    #[test]
    fn latest_and_untagged_are_mutable() {
        assert!(ImageRef::parse("app").unwrap().is_mutable());
        assert!(ImageRef::parse("app:latest").unwrap().is_mutable());
        assert!(!ImageRef::parse("app:1").unwrap().is_mutable());
        assert!(
            ImageRef::parse("https://x.example/a.wasm")
                .unwrap()
                .is_mutable()
        );
        let pinned = format!("file:///opt/a.wasm@sha256:{HEX}");
        assert!(!ImageRef::parse(&pinned).unwrap().is_mutable());
    }

    #[test]
    fn urls_and_files() {
        assert_eq!(
            canonical("https://Cdn.Example.com/apps/hello.wasm"),
            "https://cdn.example.com/apps/hello.wasm"
        );
        assert_eq!(
            canonical("HTTP://cdn.example:8080/a.wasm?v=2"),
            "http://cdn.example:8080/a.wasm?v=2"
        );
        let pinned = format!("https://cdn.example/a.wasm@sha256:{HEX}");
        let image = ImageRef::parse(&pinned).unwrap();
        assert_eq!(image.to_string(), pinned);
        assert!(matches!(
            image.source(),
            ImageSource::Http { tls: true, .. }
        ));
        assert_eq!(
            canonical("file:///var/lib/shoal/app.wasm"),
            "file:///var/lib/shoal/app.wasm"
        );
        assert_eq!(
            canonical("file://localhost/opt/app.wasm"),
            "file:///opt/app.wasm"
        );
        let pinned = format!("file:///opt/app.wasm@sha256:{HEX}");
        assert_eq!(
            ImageRef::parse(&pinned).unwrap().digest().map(Digest::hex),
            Some(HEX)
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            error(""),
            "invalid reference format: repository name must have at least one component"
        );
        assert_eq!(
            error("Nginx"),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(
            error("ghcr.io/Org/app"),
            "invalid reference format: repository name must be lowercase"
        );
        assert!(error("app-/x").contains("path component \"app-\""));
        assert!(error("a/b..c").contains("path component"));
        assert_eq!(error("a//b"), "invalid reference format");
        assert_eq!(error(":tag"), "invalid reference format");
        assert!(error("app:-bad").contains("tag \"-bad\""));
        assert!(error(&format!("app:{}", "t".repeat(129))).contains("tag"));
        assert!(error("reg_istry.io:x/app").contains("registry host"));
        assert_eq!(
            error(&format!("{}/a", "a".repeat(256))),
            "invalid reference format: repository name must not be more than 255 characters"
        );
        assert_eq!(
            error("app@sha256:abc"),
            "digest must be sha256:<64 hex characters>"
        );
        assert_eq!(
            error(&format!("app@sha512:{HEX}")),
            "digest must be sha256:<64 hex characters>"
        );
        assert_eq!(
            error(&format!("app@sha256:{}", HEX.to_uppercase())),
            "digest must be sha256:<64 hex characters>"
        );
        assert_eq!(error("a@b@c"), "invalid reference format");
        assert!(error("ftp://x/a.wasm").starts_with("unsupported image URL scheme \"ftp\""));
        assert_eq!(error("https:///a.wasm"), "image URL must have a host");
        assert!(error("https://bad_host/a.wasm").contains("host \"bad_host\""));
        assert_eq!(
            error("https://x.example/a b.wasm"),
            "image URL may not contain whitespace or control characters"
        );
        assert_eq!(
            error("file://relative/app.wasm"),
            "file image path must be absolute (file:///path/to/component.wasm)"
        );
        assert_eq!(
            error("https://x.example/a.wasm@sha256:zz"),
            "digest must be sha256:<64 hex characters>"
        );
    }
}
