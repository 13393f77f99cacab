//! Field paths such as `spec.template.spec.containers[0].image`: the one way every error in
//! Shoal points at a place inside an object.

use std::fmt;

/// One step of a [`FieldPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A struct field: `.spec`.
    Field(String),
    /// A list index: `[3]`.
    Index(usize),
    /// A key of a free-form map: `[app.kubernetes.io/name]`.
    Key(String),
}

/// A path from the root of an object to one of its fields, printed the way Kubernetes prints
/// them in `Status` causes: `spec.containers[0].ports[1].containerPort`, `metadata.labels[app]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The root of an object (prints as an empty string).
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Parses a dotted path like `spec.template.spec` (no indices): a convenience for tests and
    /// static tables.
    pub fn parse_dotted(path: &str) -> Self {
        Self(
            path.split('.')
                .filter(|s| !s.is_empty())
                .map(|s| Segment::Field(s.to_owned()))
                .collect(),
        )
    }

    /// This path extended by a struct field.
    #[must_use]
    pub fn field(&self, name: &str) -> Self {
        self.with(Segment::Field(name.to_owned()))
    }

    /// This path extended by a list index.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        self.with(Segment::Index(index))
    }

    /// This path extended by a map key.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        self.with(Segment::Key(key.to_owned()))
    }

    /// This path followed by all of `other`.
    #[must_use]
    pub fn join(&self, other: &FieldPath) -> Self {
        let mut segments = self.0.clone();
        segments.extend(other.0.iter().cloned());
        Self(segments)
    }

    fn with(&self, segment: Segment) -> Self {
        let mut segments = Vec::with_capacity(self.0.len() + 1);
        segments.extend(self.0.iter().cloned());
        segments.push(segment);
        Self(segments)
    }

    /// Appends a segment in place.
    pub fn push(&mut self, segment: Segment) {
        self.0.push(segment);
    }

    /// Removes the last segment.
    pub fn pop(&mut self) -> Option<Segment> {
        self.0.pop()
    }

    /// The segments from the root.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// Whether this is the root path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `self` starts with all of `prefix`.
    pub fn starts_with(&self, prefix: &FieldPath) -> bool {
        self.0.starts_with(&prefix.0)
    }
}

impl From<Vec<Segment>> for FieldPath {
    fn from(segments: Vec<Segment>) -> Self {
        Self(segments)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Field(name) if i == 0 => f.write_str(name)?,
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => write!(f, "[{key}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_kubernetes() {
        let path = FieldPath::root()
            .field("spec")
            .field("containers")
            .index(0)
            .field("ports")
            .index(1)
            .field("containerPort");
        assert_eq!(
            path.to_string(),
            "spec.containers[0].ports[1].containerPort"
        );
        assert_eq!(
            FieldPath::root()
                .field("metadata")
                .field("labels")
                .key("app")
                .to_string(),
            "metadata.labels[app]"
        );
        assert_eq!(FieldPath::root().to_string(), "");
        assert!(path.starts_with(&FieldPath::parse_dotted("spec.containers")));
    }
}
