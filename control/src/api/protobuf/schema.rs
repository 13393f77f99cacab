//! The protobuf schema of the kinds kubectl sends as protobuf: for each message of k8s.io/api's
//! `generated.proto`, its field numbers, JSON names and types. Data only, one child module per
//! API group (`meta` for what they share); the decoder in the parent module walks the wire
//! format with these tables.
//!
//! Architecture invariant: the tables are acyclic (no message reaches itself), so the decoder's
//! recursion depth is bounded by the schema, never by the input. A unit test checks this.

use Shape::{Inline, Many, Map, One};
use Ty::{Bool, I32, I64};

/// One protobuf message, as far as Shoal knows it. A field number missing here is an error.
#[derive(Debug)]
pub(super) struct Message {
    /// The Go type's name, for error messages: `ObjectMeta`.
    pub(super) name: &'static str,
    pub(super) fields: &'static [Field],
}

impl Message {
    pub(super) fn field(&self, number: u32) -> Option<&'static Field> {
        self.fields.iter().find(|field| field.number == number)
    }
}

/// One field of a message.
#[derive(Debug)]
pub(super) struct Field {
    pub(super) number: u32,
    /// The JSON name. For an inline field it is only the proto field's name, for reading.
    pub(super) json: &'static str,
    pub(super) shape: Shape,
}

/// How often a field occurs and where its JSON goes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    /// A single value.
    One(Ty, Zero),
    /// `repeated`: a JSON array. Varint types may come packed or one by one.
    Many(Ty),
    /// `map<string, T>`: a JSON object.
    Map(Ty),
    /// A Go struct embedded with `json:",inline"` (`VolumeSource` in `Volume`): its fields
    /// become fields of the enclosing JSON object.
    Inline(&'static Message),
}

/// What the JSON form does with a single scalar that holds its zero value.
///
/// gogo-protobuf writes every non-pointer field, zero or not, so the wire cannot tell "unset"
/// from "zero"; the Go type's JSON tag can, and this mirrors it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Zero {
    /// A value field tagged `omitempty`: Go's JSON leaves `""`, `false` and `0` out.
    Omit,
    /// A pointer (only on the wire when set) or a field without `omitempty`: written as is.
    Keep,
}

/// The type of a field's values.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ty {
    Str,
    Bool,
    I32,
    I64,
    /// `bytes`, written as base64 the way Go's JSON writes `[]byte`.
    Bytes,
    Msg(&'static Message),
    /// `metav1.Time`: `{1: seconds, 2: nanos}`, written as RFC 3339 in whole seconds.
    Time,
    /// `resource.Quantity`: `{1: string}`, written as the string.
    Quantity,
    /// `intstr.IntOrString`: `{1: type, 2: intVal, 3: strVal}`, written as a number or string.
    IntOrString,
    /// `metav1.FieldsV1` and `runtime.RawExtension`: `{1: bytes}` holding JSON, written as is.
    RawJson,
}

impl Ty {
    pub(super) fn is_varint(self) -> bool {
        matches!(self, Bool | I32 | I64)
    }
}

/// A single value tagged `omitempty`, or a message (for which [`Zero`] does not matter).
const fn field(number: u32, json: &'static str, ty: Ty) -> Field {
    Field {
        number,
        json,
        shape: One(ty, Zero::Omit),
    }
}

/// A single value that is a pointer or has no `omitempty`.
const fn keep(number: u32, json: &'static str, ty: Ty) -> Field {
    Field {
        number,
        json,
        shape: One(ty, Zero::Keep),
    }
}

const fn list(number: u32, json: &'static str, ty: Ty) -> Field {
    Field {
        number,
        json,
        shape: Many(ty),
    }
}

const fn map(number: u32, json: &'static str, value: Ty) -> Field {
    Field {
        number,
        json,
        shape: Map(value),
    }
}

const fn inline(number: u32, json: &'static str, message: &'static Message) -> Field {
    Field {
        number,
        json,
        shape: Inline(message),
    }
}

// Invoked with braces, which rustfmt leaves alone: one field per line reads best here.
macro_rules! message {
    ($static:ident, $name:literal, [$($field:expr),* $(,)?]) => {
        pub(super) static $static: Message = Message { name: $name, fields: &[$($field),*] };
    };
}

/// A kind whose fields are `metadata`, `spec` and `status`, as most kinds' are.
macro_rules! object {
    ($static:ident, $name:literal, $spec:ident, $status:ident) => {
        message! {$static, $name, [
            super::meta::METADATA,
            super::field(2, "spec", super::Ty::Msg(&$spec)),
            super::field(3, "status", super::Ty::Msg(&$status)),
        ]}
    };
}

mod apps;
mod authorization;
mod batch;
mod core;
mod meta;
mod rbac;

/// A group's decodable kinds: `apiVersion`, `kind` and the message.
type Kinds = &'static [(&'static str, &'static str, &'static Message)];

static GROUPS: &[Kinds] = &[
    core::KINDS,
    apps::KINDS,
    batch::KINDS,
    authorization::KINDS,
    rbac::KINDS,
];

/// Every kind that can be decoded.
pub(super) fn kinds()
-> impl Iterator<Item = &'static (&'static str, &'static str, &'static Message)> {
    GROUPS.iter().flat_map(|kinds| kinds.iter())
}

pub(super) fn kind(api_version: &str, kind: &str) -> Option<&'static Message> {
    kinds()
        .find(|(version, name, _)| *version == api_version && *name == kind)
        .map(|(_, _, message)| *message)
}
