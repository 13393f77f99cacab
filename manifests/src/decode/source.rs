//! The source side of decoding: splitting a stream into documents and parsing each into
//! JSON plus a map of where every node was, so later problems can point into the file.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::{DuplicateKeyPolicy, Spanned};

use super::Position;
use crate::path::{FieldPath, Segment};

/// Positions of the nodes of one parsed document, to point at fields found wrong later; for
/// an item of a `List`, the document's map seen from that item (cheap to clone).
#[derive(Clone, Debug)]
pub struct SourceMap {
    root: Arc<PosNode>,
    /// Where the object sits in its document (empty unless it is a `List` item).
    prefix: FieldPath,
}

#[derive(Clone, Debug)]
enum PosNode {
    Scalar(Position),
    Seq(Position, Vec<PosNode>),
    Map(Position, Vec<(String, Position, PosNode)>),
}

impl PosNode {
    fn position(&self) -> Position {
        match self {
            Self::Scalar(p) | Self::Seq(p, _) | Self::Map(p, _) => *p,
        }
    }
}

impl SourceMap {
    /// A map that knows no positions (for JSON bodies, which are not shown to people by line).
    pub(super) fn empty() -> Self {
        Self {
            root: Arc::new(PosNode::Scalar(Position { line: 0, column: 0 })),
            prefix: FieldPath::root(),
        }
    }

    /// The position of the value at `path`, or of its nearest ancestor present in the source.
    pub fn locate(&self, path: &FieldPath) -> Position {
        self.walk(path, false)
    }

    /// The position of the key that names the field at `path` (for unknown or duplicate
    /// fields), falling back as [`SourceMap::locate`] does.
    pub fn locate_key(&self, path: &FieldPath) -> Position {
        self.walk(path, true)
    }

    fn walk(&self, path: &FieldPath, key: bool) -> Position {
        let mut node: &PosNode = &self.root;
        let total = self.prefix.segments().len() + path.segments().len();
        let segments = self.prefix.segments().iter().chain(path.segments());
        for (i, segment) in segments.enumerate() {
            let last = i + 1 == total;
            let next = match (segment, node) {
                (Segment::Field(name) | Segment::Key(name), PosNode::Map(_, entries)) => {
                    // The last entry wins for duplicate keys, as when decoding.
                    match entries.iter().rev().find(|(k, _, _)| k == name) {
                        Some((_, key_position, _)) if key && last => return *key_position,
                        Some((_, _, child)) => Some(child),
                        None => None,
                    }
                }
                (Segment::Index(index), PosNode::Seq(_, items)) => items.get(*index),
                _ => None,
            };
            match next {
                Some(child) => node = child,
                None => break,
            }
        }
        node.position()
    }

    /// The map of the object at `path` inside this one (an item of a `List`): shares the
    /// document's positions rather than copying them.
    pub(super) fn at(&self, path: &FieldPath) -> SourceMap {
        SourceMap {
            root: Arc::clone(&self.root),
            prefix: self.prefix.join(path),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Splitting a stream into documents.

pub(super) struct Chunk {
    /// Document number, from 1.
    pub(super) number: usize,
    /// Line of the chunk's first line in the file, from 1.
    first_line: u64,
    text: String,
}

impl Chunk {
    pub(super) fn is_blank(&self) -> bool {
        self.text.lines().all(|line| {
            let line = line.trim();
            line.is_empty() || line.starts_with('#')
        })
    }
}

/// Splits at `---` (and `...`) lines, keeping each document's line numbers. A `---` line is a
/// document boundary in YAML wherever it appears at column 1, even after a block scalar, so
/// this agrees with the parser. Text on the `---` line itself stays with the new document.
pub(super) fn split_documents(text: &str) -> Vec<Chunk> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut chunks = Vec::new();
    let mut current = Chunk {
        number: 1,
        first_line: 1,
        text: String::new(),
    };
    let mut first_marker = true;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_number = index as u64 + 1;
        let marker = ["---", "..."].into_iter().find(|m| {
            line.starts_with(m) && line[3..].chars().next().is_none_or(char::is_whitespace)
        });
        match marker {
            Some(marker) => {
                // Text before the first marker is a document only if it has content.
                let number = if first_marker && current.is_blank() {
                    current.number
                } else {
                    current.number + 1
                };
                first_marker = false;
                let rest = &line[3..];
                let previous = std::mem::replace(
                    &mut current,
                    Chunk {
                        number,
                        first_line: line_number,
                        text: String::new(),
                    },
                );
                chunks.push(previous);
                if marker == "---" {
                    current.text.push_str("   ");
                    current.text.push_str(rest);
                } else {
                    current.text.push('\n');
                }
            }
            None => current.text.push_str(line),
        }
    }
    chunks.push(current);
    chunks
}

// ---------------------------------------------------------------------------------------
// Parsing one document into JSON plus positions.

/// A YAML node as parsed, with the spans of its children.
enum YamlNode {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<YamlNode>>),
    Map(Vec<(Spanned<YamlNode>, Spanned<YamlNode>)>),
}

impl<'de> Deserialize<'de> for YamlNode {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = YamlNode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<YamlNode, E> {
        Ok(YamlNode::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<YamlNode, E> {
        Ok(YamlNode::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<YamlNode, E> {
        Ok(YamlNode::UInt(v))
    }
    fn visit_i128<E>(self, v: i128) -> Result<YamlNode, E> {
        Ok(YamlNode::Float(v as f64))
    }
    fn visit_u128<E>(self, v: u128) -> Result<YamlNode, E> {
        Ok(YamlNode::Float(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<YamlNode, E> {
        Ok(YamlNode::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<YamlNode, E> {
        Ok(YamlNode::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<YamlNode, E> {
        Ok(YamlNode::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<YamlNode, E> {
        Ok(YamlNode::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E>(self) -> Result<YamlNode, E> {
        Ok(YamlNode::Null)
    }
    fn visit_none<E>(self) -> Result<YamlNode, E> {
        Ok(YamlNode::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<YamlNode, D::Error> {
        YamlNode::deserialize(d)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<YamlNode, D::Error> {
        YamlNode::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YamlNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<YamlNode>>()? {
            items.push(item);
        }
        Ok(YamlNode::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YamlNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<YamlNode>>()? {
            let value = map.next_value::<Spanned<YamlNode>>()?;
            entries.push((key, value));
        }
        Ok(YamlNode::Map(entries))
    }
}

pub(super) struct ParseError {
    pub(super) position: Option<Position>,
    pub(super) message: String,
}

/// One parsed document: its JSON, where its nodes were, and the keys given twice (the path
/// of the field and the position of the repeated key).
pub(super) struct Parsed {
    pub(super) value: Value,
    pub(super) source_map: SourceMap,
    pub(super) duplicates: Vec<(FieldPath, Position)>,
}

pub(super) fn parse_chunk(chunk: &Chunk) -> Result<Parsed, ParseError> {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    let node: Spanned<YamlNode> = serde_saphyr::from_str_with_options(&chunk.text, options)
        .map_err(|e| {
            let position = e.location().map(|l| Position {
                line: l.line() + chunk.first_line - 1,
                column: l.column(),
            });
            let message = e.without_snippet().to_string();
            ParseError {
                position,
                message: first_line_of(&message),
            }
        })?;
    let mut converter = Converter {
        first_line: chunk.first_line,
        duplicates: Vec::new(),
    };
    let mut path = FieldPath::root();
    let (value, root) = converter.convert(node, &mut path)?;
    Ok(Parsed {
        value,
        source_map: SourceMap {
            root: Arc::new(root),
            prefix: FieldPath::root(),
        },
        duplicates: converter.duplicates,
    })
}

/// The message without the location serde-saphyr appends (ours is reported separately).
fn first_line_of(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message);
    match line.rfind(" at line ") {
        Some(at) => line[..at].to_owned(),
        None => line.to_owned(),
    }
}

struct Converter {
    first_line: u64,
    duplicates: Vec<(FieldPath, Position)>,
}

impl Converter {
    fn position(&self, node: &Spanned<YamlNode>) -> Position {
        let location = node.referenced;
        Position {
            line: location.line() + self.first_line - 1,
            column: location.column(),
        }
    }

    fn convert(
        &mut self,
        node: Spanned<YamlNode>,
        path: &mut FieldPath,
    ) -> Result<(Value, PosNode), ParseError> {
        let position = self.position(&node);
        let value = match node.value {
            YamlNode::Null => Value::Null,
            YamlNode::Bool(b) => Value::Bool(b),
            YamlNode::Int(i) => Value::Number(i.into()),
            YamlNode::UInt(u) => Value::Number(u.into()),
            YamlNode::Float(f) => match Number::from_f64(f) {
                Some(n) => Value::Number(n),
                None => {
                    return Err(ParseError {
                        position: Some(position),
                        message: format!("{f} is not a number JSON can carry"),
                    });
                }
            },
            YamlNode::Str(s) => Value::String(s),
            YamlNode::Seq(items) => {
                let mut values = Vec::with_capacity(items.len());
                let mut positions = Vec::with_capacity(items.len());
                for (index, item) in items.into_iter().enumerate() {
                    path.push(Segment::Index(index));
                    let (value, pos) = self.convert(item, path)?;
                    path.pop();
                    values.push(value);
                    positions.push(pos);
                }
                return Ok((Value::Array(values), PosNode::Seq(position, positions)));
            }
            YamlNode::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                let mut positions = Vec::with_capacity(entries.len());
                let mut seen: BTreeMap<String, ()> = BTreeMap::new();
                for (key, value) in entries {
                    let key_position = self.position(&key);
                    let key = scalar_key(key.value).ok_or_else(|| ParseError {
                        position: Some(key_position),
                        message: "a mapping key must be a string, a number or a boolean".to_owned(),
                    })?;
                    path.push(Segment::Field(key.clone()));
                    if seen.insert(key.clone(), ()).is_some() {
                        self.duplicates.push((path.clone(), key_position));
                    }
                    let (child, pos) = self.convert(value, path)?;
                    path.pop();
                    // Last one wins, like kube-apiserver's non-strict decoding.
                    map.insert(key.clone(), child);
                    positions.push((key, key_position, pos));
                }
                return Ok((Value::Object(map), PosNode::Map(position, positions)));
            }
        };
        Ok((value, PosNode::Scalar(position)))
    }
}

/// Scalar keys become strings, as sigs.k8s.io/yaml turns them into JSON keys.
fn scalar_key(node: YamlNode) -> Option<String> {
    match node {
        YamlNode::Str(s) => Some(s),
        YamlNode::Int(i) => Some(i.to_string()),
        YamlNode::UInt(u) => Some(u.to_string()),
        YamlNode::Float(f) => Some(f.to_string()),
        YamlNode::Bool(b) => Some(b.to_string()),
        YamlNode::Null => Some("null".to_owned()),
        YamlNode::Seq(_) | YamlNode::Map(_) => None,
    }
}
