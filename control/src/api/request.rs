//! What a request asks for: the resource path parsed against the kind registry, and the query
//! parameters of each verb. Parsing is pure and table-driven so every path kubectl builds is
//! unit-tested here, away from HTTP.

use std::collections::HashMap;

use shoal_manifests::decode::FieldValidation;
use shoal_manifests::registry::{self, KindInfo, Subresource};
use shoal_manifests::selector::{FieldSelector, LabelSelector};

use super::error::ApiError;

/// A resource path: `/api/v1/namespaces/default/pods/web/log` and its relatives.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: &'static KindInfo,
    /// The namespace in the path; `None` for cluster-scoped kinds and all-namespace lists.
    pub namespace: Option<String>,
    /// The object's name; `None` for a collection.
    pub name: Option<String>,
    pub subresource: Option<Subresource>,
}

impl Target {
    /// The resource in messages: `deployments.apps`.
    pub fn resource(&self) -> String {
        self.kind.qualified_plural()
    }

    /// The namespace, or `""` for cluster-scoped objects.
    pub fn namespace_or_empty(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
}

/// Parses a path below the API root. `None` when it is not a resource path at all (discovery,
/// OpenAPI and unknown paths are someone else's); `Err` when it names a resource that does not
/// exist.
pub fn parse_path(path: &str) -> Option<Result<Target, ApiError>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return None,
    };
    Some(parse_resource(group, version, rest))
}

fn parse_resource(group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let find =
        |plural: &str| registry::by_resource(group, version, plural).ok_or(ApiError::NoRoute);
    let target = |kind, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        let subresource = match sub {
            None => None,
            Some(sub) => Some(subresource_of(kind, sub).ok_or(ApiError::NoRoute)?),
        };
        if name.is_some_and(str::is_empty) || namespace.is_some_and(str::is_empty) {
            return Err(ApiError::NoRoute);
        }
        Ok(Target {
            kind,
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource,
        })
    };
    match rest {
        // `/api/v1/namespaces/{ns}/{resource}...` unless `{resource}` is a subresource of the
        // namespace itself (`namespaces/x/status`).
        ["namespaces", ns, resource, tail @ ..]
            if group.is_empty() && !is_namespace_subresource(resource) || !group.is_empty() =>
        {
            let kind = find(resource)?;
            if !kind.namespaced {
                return Err(ApiError::NoRoute);
            }
            match tail {
                [] => target(kind, Some(ns), None, None),
                [name] => target(kind, Some(ns), Some(name), None),
                [name, sub] => target(kind, Some(ns), Some(name), Some(sub)),
                _ => Err(ApiError::NoRoute),
            }
        }
        [resource, tail @ ..] => {
            let kind = find(resource)?;
            match (kind.namespaced, tail) {
                (_, []) => target(kind, None, None, None),
                (false, [name]) => target(kind, None, Some(name), None),
                (false, [name, sub]) => target(kind, None, Some(name), Some(sub)),
                _ => Err(ApiError::NoRoute),
            }
        }
        [] => Err(ApiError::NoRoute),
    }
}

fn is_namespace_subresource(segment: &str) -> bool {
    matches!(segment, "status" | "finalize")
}

fn subresource_of(kind: &KindInfo, name: &str) -> Option<Subresource> {
    kind.subresources
        .iter()
        .copied()
        .find(|sub| sub.name() == name)
}

/// The query string as a multimap, percent-decoded.
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, Vec<String>>);

impl Query {
    pub fn parse(raw: &str) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            map.entry(percent_decode(key))
                .or_default()
                .push(percent_decode(value));
        }
        Query(map)
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }

    /// A boolean parameter: present as `true`, `1` or empty.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| matches!(v, "true" | "1" | "" | "True"))
    }

    fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::BadRequest(format!("{key}: invalid value {v:?}: not a number"))
                })
            })
            .transpose()
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// What resourceVersion a read or watch starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionMatch {
    /// No resourceVersion: the latest, linearizably.
    Latest,
    /// `resourceVersion=0`: any recent state, from this node.
    Any,
    /// A specific revision (for watches: after it).
    Exact(u64),
}

/// The parameters of a list or watch.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: usize,
    pub continue_token: Option<String>,
    pub version: VersionMatch,
    pub watch: bool,
    pub bookmarks: bool,
    pub timeout_seconds: Option<u64>,
}

impl ListQuery {
    pub fn parse(query: &Query, kind: &KindInfo) -> Result<Self, ApiError> {
        let labels = match query.get("labelSelector").filter(|s| !s.is_empty()) {
            Some(text) => LabelSelector::parse(text)
                .map_err(|e| ApiError::BadRequest(format!("unable to parse requirement: {e}")))?,
            None => LabelSelector::everything(),
        };
        let fields = match query.get("fieldSelector").filter(|s| !s.is_empty()) {
            Some(text) => {
                let selector = FieldSelector::parse(text)
                    .map_err(|e| ApiError::BadRequest(format!("invalid field selector: {e}")))?;
                selector
                    .validate_for(kind)
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                selector
            }
            None => FieldSelector::everything(),
        };
        Ok(ListQuery {
            labels,
            fields,
            limit: usize::try_from(query.number("limit")?.unwrap_or(0)).unwrap_or(usize::MAX),
            continue_token: query
                .get("continue")
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
            version: parse_version(query.get("resourceVersion"))?,
            watch: query.flag("watch"),
            bookmarks: query.flag("allowWatchBookmarks"),
            timeout_seconds: query.number("timeoutSeconds")?,
        })
    }
}

fn parse_version(value: Option<&str>) -> Result<VersionMatch, ApiError> {
    match value {
        None | Some("") => Ok(VersionMatch::Latest),
        Some("0") => Ok(VersionMatch::Any),
        Some(text) => text
            .parse::<u64>()
            .map(VersionMatch::Exact)
            .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {text:?}"))),
    }
}

/// The parameters of create, update and patch.
#[derive(Debug, Clone)]
pub struct WriteQuery {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub validation: FieldValidation,
    pub force: bool,
}

impl WriteQuery {
    pub fn parse(query: &Query) -> Result<Self, ApiError> {
        let dry_run = match query.all("dryRun") {
            [] => false,
            values if values.iter().all(|v| v == "All") => true,
            values => {
                return Err(ApiError::BadRequest(format!(
                    "dryRun: unsupported value {:?}: supported values: \"All\"",
                    values.join(",")
                )));
            }
        };
        let validation = match query.get("fieldValidation").filter(|v| !v.is_empty()) {
            None => FieldValidation::Warn,
            Some(value) => FieldValidation::from_query(value).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "fieldValidation: unsupported value {value:?}: supported values: \
                     \"Ignore\", \"Strict\", \"Warn\""
                ))
            })?,
        };
        let field_manager = query
            .get("fieldManager")
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        if field_manager
            .as_ref()
            .is_some_and(|m| m.chars().count() > 128)
        {
            return Err(ApiError::BadRequest(
                "fieldManager: Too long: may not be longer than 128".to_owned(),
            ));
        }
        Ok(WriteQuery {
            dry_run,
            field_manager,
            validation,
            force: query.flag("force"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &str) -> Target {
        parse_path(path)
            .expect("a resource path")
            .expect("a known resource")
    }

    #[test]
    fn namespaced_and_cluster_paths() {
        let t = parse("/api/v1/namespaces/default/pods");
        assert_eq!(
            (t.kind.kind, t.namespace.as_deref(), t.name.as_deref()),
            ("Pod", Some("default"), None)
        );
        let t = parse("/apis/apps/v1/namespaces/web/deployments/app/scale");
        assert_eq!(t.kind.kind, "Deployment");
        assert_eq!(t.name.as_deref(), Some("app"));
        assert_eq!(t.subresource, Some(Subresource::Scale));
        let t = parse("/api/v1/pods");
        assert_eq!((t.kind.kind, t.namespace.as_deref()), ("Pod", None));
        let t = parse("/api/v1/nodes/edge-1");
        assert_eq!((t.kind.kind, t.name.as_deref()), ("Node", Some("edge-1")));
        let t = parse("/api/v1/namespaces/wasm-apps");
        assert_eq!(
            (t.kind.kind, t.name.as_deref()),
            ("Namespace", Some("wasm-apps"))
        );
        let t = parse("/api/v1/namespaces/wasm-apps/status");
        assert_eq!(t.kind.kind, "Namespace");
        assert_eq!(t.subresource, Some(Subresource::Status));
        let t = parse("/api/v1/namespaces/default/pods/web/log");
        assert_eq!(t.subresource, Some(Subresource::Log));
    }

    #[test]
    fn unknown_resources_and_shapes_are_not_found() {
        assert!(parse_path("/version").is_none());
        assert!(parse_path("/api/v1").is_none());
        assert!(parse_path("/apis/apps/v1").is_none());
        for path in [
            "/api/v1/namespaces/default/widgets",
            "/apis/apps/v1/namespaces/default/deployments/web/log",
            "/api/v1/namespaces/default/pods/a/b/c",
            "/api/v1/namespaces/default/nodes",
            "/api/v1/pods/web",
            "/apis/apps/v2/deployments",
        ] {
            assert!(
                matches!(parse_path(path), Some(Err(ApiError::NoRoute))),
                "{path}"
            );
        }
    }

    #[test]
    fn query_parameters() {
        let q = Query::parse(
            "labelSelector=app%3Dweb%2Ctier+in+(a,b)&limit=500&watch=true&resourceVersion=12&allowWatchBookmarks=true&timeoutSeconds=300",
        );
        let kind = registry::resolve("pods").unwrap();
        let list = ListQuery::parse(&q, kind).unwrap();
        assert_eq!(list.limit, 500);
        assert!(list.watch && list.bookmarks);
        assert_eq!(list.version, VersionMatch::Exact(12));
        assert_eq!(list.timeout_seconds, Some(300));
        assert_eq!(list.labels.requirements().len(), 2);

        let q = Query::parse(
            "fieldSelector=spec.nodeName%3Dn1,status.phase!%3DFailed&resourceVersion=0",
        );
        let list = ListQuery::parse(&q, kind).unwrap();
        assert_eq!(list.fields.requirements().len(), 2);
        assert_eq!(list.version, VersionMatch::Any);

        let q = Query::parse("fieldSelector=spec.bogus%3Dx");
        assert!(matches!(
            ListQuery::parse(&q, kind),
            Err(ApiError::BadRequest(_))
        ));
        let q = Query::parse("limit=lots");
        assert!(matches!(
            ListQuery::parse(&q, kind),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn write_parameters() {
        let w = WriteQuery::parse(&Query::parse(
            "fieldManager=kubectl&fieldValidation=Strict&force=true&dryRun=All",
        ))
        .unwrap();
        assert!(w.dry_run && w.force);
        assert_eq!(w.validation, FieldValidation::Strict);
        assert_eq!(w.field_manager.as_deref(), Some("kubectl"));
        let w = WriteQuery::parse(&Query::parse("")).unwrap();
        assert!(!w.dry_run && !w.force);
        assert_eq!(w.validation, FieldValidation::Warn);
        assert!(WriteQuery::parse(&Query::parse("fieldValidation=Loose")).is_err());
        assert!(WriteQuery::parse(&Query::parse("dryRun=Some")).is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%3Db%2Cc"), "a=b,c");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
