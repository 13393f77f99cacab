//! The protobuf wire format, as far as Kubernetes objects use it: tags, varints and
//! length-delimited payloads, read with bounds checks and errors that name the message and field.

use std::fmt;

use super::ProtobufError;

/// Where the reader is, for error messages.
#[derive(Debug, Clone, Copy)]
pub(super) enum Context {
    Message(&'static str),
    /// An entry of the map field `field` of `message`.
    MapEntry {
        message: &'static str,
        field: &'static str,
    },
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Context::Message(name) => f.write_str(name),
            Context::MapEntry { message, field } => write!(f, "the {field} entry of {message}"),
        }
    }
}

/// One field's payload as it is on the wire.
#[derive(Debug, Clone, Copy)]
pub(super) enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
    /// `fixed64` or `fixed32`: no Kubernetes type in the schema uses them, so only the wire
    /// type (1 or 5) is kept, for the error.
    Fixed(u8),
}

impl Wire<'_> {
    pub(super) fn wire_type(self) -> u8 {
        match self {
            Wire::Varint(_) => 0,
            Wire::Len(_) => 2,
            Wire::Fixed(wire_type) => wire_type,
        }
    }
}

/// A field of a message being read: everything an error about it needs to say.
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    pub(super) context: Context,
    pub(super) field: u32,
}

impl At {
    pub(super) fn len(self, wire: Wire<'_>) -> Result<&[u8], ProtobufError> {
        match wire {
            Wire::Len(bytes) => Ok(bytes),
            other => Err(self.wire_type(other)),
        }
    }

    pub(super) fn varint(self, wire: Wire<'_>) -> Result<u64, ProtobufError> {
        match wire {
            Wire::Varint(value) => Ok(value),
            other => Err(self.wire_type(other)),
        }
    }

    pub(super) fn string(self, wire: Wire<'_>) -> Result<String, ProtobufError> {
        let bytes = self.len(wire)?;
        let string = std::str::from_utf8(bytes).map_err(|source| ProtobufError::InvalidUtf8 {
            message: self.context.to_string(),
            field: self.field,
            source,
        })?;
        Ok(string.to_owned())
    }

    pub(super) fn unknown(self) -> ProtobufError {
        ProtobufError::UnknownField {
            message: self.context.to_string(),
            field: self.field,
        }
    }

    pub(super) fn wire_type(self, wire: Wire<'_>) -> ProtobufError {
        ProtobufError::WireType {
            message: self.context.to_string(),
            field: self.field,
            wire_type: wire.wire_type(),
        }
    }
}

/// Reads the fields of one message, in wire order.
pub(super) struct Reader<'a> {
    context: Context,
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(context: Context, bytes: &'a [u8]) -> Self {
        Reader { context, bytes }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(super) fn next_field(&mut self) -> Result<Option<(At, Wire<'a>)>, ProtobufError> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        // A number past u32 can match no table entry, so it is reported as unknown.
        let at = At {
            context: self.context,
            field: u32::try_from(tag >> 3).unwrap_or(u32::MAX),
        };
        let wire = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(at, 8)?;
                Wire::Fixed(1)
            }
            2 => {
                let length = self.varint()?;
                Wire::Len(self.take(at, length)?)
            }
            5 => {
                self.take(at, 4)?;
                Wire::Fixed(5)
            }
            // 3 and 4 are proto2 groups, 6 and 7 do not exist; none can be skipped safely.
            other => {
                return Err(ProtobufError::WireType {
                    message: self.context.to_string(),
                    field: at.field,
                    wire_type: other as u8,
                });
            }
        };
        Ok(Some((at, wire)))
    }

    pub(super) fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0;
        for (index, &byte) in self.bytes.iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[index + 1..];
                return Ok(value);
            }
        }
        let message = self.context.to_string();
        if self.bytes.len() >= 10 {
            Err(ProtobufError::OverlongVarint { message })
        } else {
            Err(ProtobufError::TruncatedVarint { message })
        }
    }

    fn take(&mut self, at: At, length: u64) -> Result<&'a [u8], ProtobufError> {
        let remaining = self.bytes.len();
        match usize::try_from(length) {
            Ok(length) if length <= remaining => {
                let (taken, rest) = self.bytes.split_at(length);
                self.bytes = rest;
                Ok(taken)
            }
            _ => Err(ProtobufError::Truncated {
                message: self.context.to_string(),
                field: at.field,
                length,
                remaining,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: Context = Context::Message("ObjectMeta");

    /// Every field of `bytes`, or the first error's message.
    fn fields(bytes: &[u8]) -> Result<Vec<(u32, u8)>, String> {
        let mut reader = Reader::new(CONTEXT, bytes);
        let mut fields = Vec::new();
        while let Some((at, wire)) = reader.next_field().map_err(|error| error.to_string())? {
            fields.push((at.field, wire.wire_type()));
        }
        Ok(fields)
    }

    #[test]
    fn every_wire_type_kubernetes_can_send_is_read_and_skipped_correctly() {
        // 7: varint 300, 1: "ab", 20: fixed64, 21: fixed32.
        let bytes = [
            0x38, 0xac, 0x02, 0x0a, 0x02, b'a', b'b', 0xa1, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0xad,
            0x01, 1, 2, 3, 4,
        ];
        assert_eq!(fields(&bytes), Ok(vec![(7, 0), (1, 2), (20, 1), (21, 5)]));
        let mut reader = Reader::new(CONTEXT, &bytes);
        let (at, wire) = reader.next_field().unwrap().unwrap();
        assert_eq!(at.varint(wire).unwrap(), 300);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let truncated_tag = fields(&[0x80]);
        assert_eq!(
            truncated_tag,
            Err("ObjectMeta ends inside a varint".to_owned())
        );
        let truncated_value = fields(&[0x38, 0xff, 0xff]);
        assert_eq!(
            truncated_value,
            Err("ObjectMeta ends inside a varint".to_owned())
        );
        let truncated_length = fields(&[0x0a, 0x05, b'a']);
        let message = "field 1 of ObjectMeta is 5 bytes long but only 1 bytes remain";
        assert_eq!(truncated_length, Err(message.to_owned()));
        let truncated_fixed = fields(&[0x09, 1, 2]);
        let message = "field 1 of ObjectMeta is 8 bytes long but only 2 bytes remain";
        assert_eq!(truncated_fixed, Err(message.to_owned()));
    }

    #[test]
    fn a_varint_longer_than_ten_bytes_is_an_error() {
        let overlong = [
            0x38, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ];
        let message = "ObjectMeta holds a varint longer than ten bytes";
        assert_eq!(fields(&overlong), Err(message.to_owned()));
    }

    #[test]
    fn groups_and_undefined_wire_types_are_errors() {
        for wire_type in [3_u8, 4, 6, 7] {
            let message = format!(
                "field 2 of ObjectMeta has wire type {wire_type}, which does not fit its type"
            );
            assert_eq!(fields(&[0x10 | wire_type]), Err(message));
        }
    }

    #[test]
    fn map_entries_are_named_in_errors() {
        let context = Context::MapEntry {
            message: "ObjectMeta",
            field: "labels",
        };
        let error = Reader::new(context, &[0x0a]).next_field().unwrap_err();
        assert_eq!(
            error.to_string(),
            "the labels entry of ObjectMeta ends inside a varint"
        );
    }
}
