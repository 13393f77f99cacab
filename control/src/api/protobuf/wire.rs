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
