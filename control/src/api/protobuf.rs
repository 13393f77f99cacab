//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded to JSON.
//!
//! kubectl ≥ 1.32 sends the bodies of `create namespace|configmap|secret|serviceaccount|service|
//! deployment|job|cronjob|role|clusterrole|rolebinding|clusterrolebinding`, `auth can-i` and the
//! pods of `debug` as protobuf, with no JSON fallback
//! (`shared/KUBECTL-WIRE.md` §1.4). The server is JSON inside, so [`decode_body`] turns such a body
//! into the JSON object kubectl would have sent instead. One generic decoder walks the wire format,
//! driven by the tables in `schema.rs`; a field number the tables do not know is an error, so
//! nothing is silently dropped.
//!
//! # How the JSON is shaped
//!
//! The goal is the JSON that Go's `encoding/json` writes for the same object:
//! - `apiVersion` and `kind` come from the envelope; field names are the JSON names.
//! - gogo-protobuf writes every non-pointer field, zero or not. A zero scalar (`""`, `false`,
//!   `0`) is left out where the Go field is tagged `omitempty`, and kept where it is a pointer or
//!   has no `omitempty` (`containerPort`, `status.allowed`, `replicas: 0`).
//! - A message on the wire is always written, empty or not (`strategy: {}`, `resources: {}`),
//!   as Go writes struct values; pointer structs are only on the wire when set.
//! - A zero `Time` (an empty message) is left out where Go writes `null`; both decode to `None`.
//!   A set `Time` is RFC 3339 in whole seconds, as `metav1.Time` writes it.
//! - A field absent from the wire is absent from the JSON, even where Go would write its zero
//!   value. gogo-protobuf never leaves such fields out, so this only matters for other encoders,
//!   and the server applies defaults to absent fields anyway.

mod schema;
mod wire;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use schema::{Field, Message, Shape, Ty, Zero};
use wire::{At, Context, Reader, Wire};

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes before the `runtime.Unknown` envelope.
const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error("the body does not start with the kubernetes protobuf magic")]
    MissingMagic,
    #[error("the protobuf envelope does not name an apiVersion and a kind")]
    MissingTypeMeta,
    #[error("the protobuf envelope's content encoding {0:?} is not supported")]
    UnsupportedEncoding(String),
    #[error("the protobuf envelope's content type {0:?} is not supported")]
    UnsupportedContentType(String),
    #[error("kind {api_version} {kind} cannot be decoded from protobuf")]
    UnsupportedKind { api_version: String, kind: String },
    #[error("{message} ends inside a varint")]
    TruncatedVarint { message: String },
    #[error("{message} holds a varint longer than ten bytes")]
    OverlongVarint { message: String },
    #[error("field {field} of {message} is {length} bytes long but only {remaining} bytes remain")]
    Truncated {
        message: String,
        field: u32,
        length: u64,
        remaining: usize,
    },
    #[error("field {field} of {message} is not known")]
    UnknownField { message: String, field: u32 },
    #[error("field {field} of {message} has wire type {wire_type}, which does not fit its type")]
    WireType {
        message: String,
        field: u32,
        wire_type: u8,
    },
    #[error("field {field} of {message} is not valid utf-8")]
    InvalidUtf8 {
        message: String,
        field: u32,
        #[source]
        source: std::str::Utf8Error,
    },
    #[error("field {field} of {message} is not valid json")]
    InvalidJson {
        message: String,
        field: u32,
        #[source]
        source: serde_json::Error,
    },
    #[error("field {field} of {message} is not a valid time")]
    InvalidTime {
        message: String,
        field: u32,
        #[source]
        source: jiff::Error,
    },
}

/// Decodes a protobuf request body into its JSON form.
pub fn decode_body(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = bytes
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let Envelope {
        api_version,
        kind,
        raw,
    } = Envelope::decode(envelope)?;
    let Some(message) = schema::kind(&api_version, &kind) else {
        return Err(ProtobufError::UnsupportedKind { api_version, kind });
    };
    let mut object = Map::new();
    object.insert("apiVersion".to_owned(), Value::String(api_version));
    object.insert("kind".to_owned(), Value::String(kind));
    decode_message(message, raw, &mut object)?;
    Ok(Value::Object(object))
}

/// `runtime.Unknown`: `{1: TypeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding,
/// 4: contentType}`.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
}

impl<'a> Envelope<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut envelope = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
        };
        let mut reader = Reader::new(Context::Message("Unknown"), bytes);
        while let Some((at, wire)) = reader.next_field()? {
            match at.field {
                1 => {
                    let mut type_meta = Reader::new(Context::Message("TypeMeta"), at.len(wire)?);
                    while let Some((at, wire)) = type_meta.next_field()? {
                        match at.field {
                            1 => envelope.api_version = at.string(wire)?,
                            2 => envelope.kind = at.string(wire)?,
                            _ => return Err(at.unknown()),
                        }
                    }
                }
                2 => envelope.raw = at.len(wire)?,
                3 => {
                    let encoding = at.string(wire)?;
                    if !encoding.is_empty() {
                        return Err(ProtobufError::UnsupportedEncoding(encoding));
                    }
                }
                4 => {
                    let content_type = at.string(wire)?;
                    if !content_type.is_empty() && content_type != CONTENT_TYPE {
                        return Err(ProtobufError::UnsupportedContentType(content_type));
                    }
                }
                _ => return Err(at.unknown()),
            }
        }
        if envelope.api_version.is_empty() || envelope.kind.is_empty() {
            return Err(ProtobufError::MissingTypeMeta);
        }
        Ok(envelope)
    }
}

/// Decodes one message with its table, adding its fields to `out`.
fn decode_message(
    message: &'static Message,
    bytes: &[u8],
    out: &mut Map<String, Value>,
) -> Result<(), ProtobufError> {
    let mut reader = Reader::new(Context::Message(message.name), bytes);
    while let Some((at, wire)) = reader.next_field()? {
        let field = message.field(at.field).ok_or_else(|| at.unknown())?;
        decode_field(message, field, at, wire, out)?;
    }
    Ok(())
}

fn decode_field(
    message: &'static Message,
    field: &'static Field,
    at: At,
    wire: Wire<'_>,
    out: &mut Map<String, Value>,
) -> Result<(), ProtobufError> {
    match field.shape {
        Shape::Inline(inner) => decode_message(inner, at.len(wire)?, out),
        // A message field seen twice merges, as protobuf says; `object_slot` makes that free.
        Shape::One(Ty::Msg(inner), _) => {
            decode_message(inner, at.len(wire)?, object_slot(out, field.json))
        }
        Shape::One(ty, zero) => {
            if let Some(value) = decode_value(ty, wire, at)?
                && (zero == Zero::Keep || !is_zero(&value))
            {
                out.insert(field.json.to_owned(), value);
            }
            Ok(())
        }
        Shape::Many(ty) => {
            let items = array_slot(out, field.json);
            match wire {
                Wire::Len(packed) if ty.is_varint() => {
                    let mut reader = Reader::new(at.context, packed);
                    while !reader.is_empty() {
                        let value = Wire::Varint(reader.varint()?);
                        items.extend(decode_value(ty, value, at)?);
                    }
                }
                wire => items.extend(decode_value(ty, wire, at)?),
            }
            Ok(())
        }
        Shape::Map(ty) => {
            let context = Context::MapEntry {
                message: message.name,
                field: field.json,
            };
            let (key, value) = decode_entry(ty, Reader::new(context, at.len(wire)?))?;
            object_slot(out, field.json).insert(key, value);
            Ok(())
        }
    }
}

/// Decodes one value; `None` for a zero `Time` or an empty raw JSON field, which Go leaves out.
fn decode_value(ty: Ty, wire: Wire<'_>, at: At) -> Result<Option<Value>, ProtobufError> {
    let value = match ty {
        Ty::Str => Value::String(at.string(wire)?),
        Ty::Bytes => Value::String(BASE64.encode(at.len(wire)?)),
        Ty::Bool => Value::Bool(at.varint(wire)? != 0),
        // Protobuf sign-extends negative int32s to 64 bits, so truncating restores them.
        Ty::I32 => Value::from(at.varint(wire)? as i32),
        Ty::I64 => Value::from(at.varint(wire)? as i64),
        Ty::Msg(inner) => {
            let mut object = Map::new();
            decode_message(inner, at.len(wire)?, &mut object)?;
            Value::Object(object)
        }
        Ty::Time => return decode_time(at.len(wire)?, at),
        Ty::Quantity => {
            let mut reader = Reader::new(Context::Message("Quantity"), at.len(wire)?);
            let mut quantity = "0".to_owned();
            while let Some((inner, wire)) = reader.next_field()? {
                match inner.field {
                    1 => quantity = inner.string(wire)?,
                    _ => return Err(inner.unknown()),
                }
            }
            Value::String(quantity)
        }
        Ty::IntOrString => {
            let mut reader = Reader::new(Context::Message("IntOrString"), at.len(wire)?);
            let (mut is_string, mut int, mut string) = (false, 0, String::new());
            while let Some((inner, wire)) = reader.next_field()? {
                match inner.field {
                    1 => is_string = inner.varint(wire)? == 1,
                    2 => int = inner.varint(wire)? as i32,
                    3 => string = inner.string(wire)?,
                    _ => return Err(inner.unknown()),
                }
            }
            if is_string {
                Value::String(string)
            } else {
                Value::from(int)
            }
        }
        Ty::RawJson => {
            let mut reader = Reader::new(Context::Message("FieldsV1"), at.len(wire)?);
            let mut raw: &[u8] = &[];
            while let Some((inner, wire)) = reader.next_field()? {
                match inner.field {
                    1 => raw = inner.len(wire)?,
                    _ => return Err(inner.unknown()),
                }
            }
            if raw.is_empty() {
                return Ok(None);
            }
            serde_json::from_slice(raw).map_err(|source| ProtobufError::InvalidJson {
                message: at.context.to_string(),
                field: at.field,
                source,
            })?
        }
    };
    Ok(Some(value))
}

/// `metav1.Time` as `metav1.Time` writes itself to JSON: RFC 3339 in UTC, whole seconds.
/// An empty message is Go's zero time, which `Time.Marshal` writes as nothing at all.
fn decode_time(bytes: &[u8], at: At) -> Result<Option<Value>, ProtobufError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let mut reader = Reader::new(Context::Message("Time"), bytes);
    let (mut seconds, mut nanos) = (0, 0);
    while let Some((inner, wire)) = reader.next_field()? {
        match inner.field {
            1 => seconds = inner.varint(wire)? as i64,
            2 => nanos = inner.varint(wire)? as i32,
            _ => return Err(inner.unknown()),
        }
    }
    let time =
        jiff::Timestamp::new(seconds, nanos).map_err(|source| ProtobufError::InvalidTime {
            message: at.context.to_string(),
            field: at.field,
            source,
        })?;
    Ok(Some(Value::String(
        time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )))
}

/// One `{1: key, 2: value}` entry of a map field. Missing parts are zero, as in Go.
fn decode_entry(ty: Ty, mut reader: Reader<'_>) -> Result<(String, Value), ProtobufError> {
    let (mut key, mut value) = (String::new(), None);
    while let Some((at, wire)) = reader.next_field()? {
        match at.field {
            1 => key = at.string(wire)?,
            2 => value = decode_value(ty, wire, at)?,
            _ => return Err(at.unknown()),
        }
    }
    let zero = match ty {
        Ty::Quantity => "0",
        _ => "",
    };
    Ok((key, value.unwrap_or_else(|| Value::String(zero.to_owned()))))
}

/// Whether Go's `omitempty` would leave this scalar out.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(string) => string.is_empty(),
        Value::Bool(flag) => !flag,
        Value::Number(number) => number.as_i64() == Some(0),
        _ => false,
    }
}

/// The JSON object under `key`, made if missing.
fn object_slot<'m>(out: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = out.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(object) => object,
        _ => unreachable!("the slot was just made an object"),
    }
}

/// The JSON array under `key`, made if missing.
fn array_slot<'m>(out: &'m mut Map<String, Value>, key: &str) -> &'m mut Vec<Value> {
    let slot = out.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    match slot {
        Value::Array(items) => items,
        _ => unreachable!("the slot was just made an array"),
    }
}

#[cfg(test)]
mod tests;
