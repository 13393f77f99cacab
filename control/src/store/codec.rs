//! Binary layouts of what the state machine keeps in redb: object records and history events.
//!
//! Values are JSON text and are stored verbatim after a small fixed header, so reads copy bytes
//! instead of parsing. Every layout starts with a format version byte.

use super::error::CodecError;
use super::types::{Object, ObjectKey, Revision, Timestamp, Uid};

const RECORD_V1: u8 = 1;
const EVENT_V1: u8 = 1;

/// An object as the state machine stores it under its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) uid: Uid,
    pub(crate) create_revision: Revision,
    pub(crate) mod_revision: Revision,
    pub(crate) value: Vec<u8>,
}

impl Record {
    /// Layout: version, create revision, modify revision (u64 LE), uid length (u32 LE), uid,
    /// then the value to the end.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let uid = self.uid.0.as_bytes();
        let mut out = Vec::with_capacity(1 + 8 + 8 + 4 + uid.len() + self.value.len());
        out.push(RECORD_V1);
        out.extend_from_slice(&self.create_revision.0.to_le_bytes());
        out.extend_from_slice(&self.mod_revision.0.to_le_bytes());
        put_bytes(&mut out, uid);
        out.extend_from_slice(&self.value);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        const WHAT: &str = "object record";
        let mut r = ByteReader::new(bytes, WHAT);
        let version = r.u8()?;
        if version != RECORD_V1 {
            return Err(CodecError::UnknownVersion {
                what: WHAT,
                version,
            });
        }
        let create_revision = Revision(r.u64()?);
        let mod_revision = Revision(r.u64()?);
        let uid_len = r.u32()? as usize;
        let uid = r.str(uid_len)?.to_owned();
        Ok(Record {
            uid: Uid(uid),
            create_revision,
            mod_revision,
            value: r.rest().to_vec(),
        })
    }

    pub(crate) fn into_object(self, key: ObjectKey) -> Object {
        Object {
            key,
            uid: self.uid,
            value: self.value,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
        }
    }
}

/// The kind of a change, as Kubernetes watch events name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    fn code(self) -> u8 {
        match self {
            EventKind::Added => 1,
            EventKind::Modified => 2,
            EventKind::Deleted => 3,
        }
    }

    fn from_code(code: u8) -> Result<Self, CodecError> {
        match code {
            1 => Ok(EventKind::Added),
            2 => Ok(EventKind::Modified),
            3 => Ok(EventKind::Deleted),
            kind => Err(CodecError::UnknownKind {
                what: "history event",
                kind,
            }),
        }
    }
}

/// One applied change to one key, as kept in the history table and sent to live watchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) revision: Revision,
    pub(crate) kind: EventKind,
    /// The proposer's time of the command that made the change.
    pub(crate) at: Timestamp,
    pub(crate) key: String,
    pub(crate) previous: Option<Record>,
    pub(crate) current: Option<Record>,
}

impl Change {
    /// Layout: version, kind, timestamp (u64 LE, at a fixed offset so compaction can read it
    /// without decoding the rest), key length (u32 LE), key, then the previous and current
    /// records, each as a presence byte and, if present, length (u32 LE) and record bytes.
    /// The revision is the table key, not part of the value.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.key.len());
        out.push(EVENT_V1);
        out.push(self.kind.code());
        out.extend_from_slice(&self.at.0.to_le_bytes());
        put_bytes(&mut out, self.key.as_bytes());
        for record in [&self.previous, &self.current] {
            match record {
                None => out.push(0),
                Some(record) => {
                    out.push(1);
                    put_bytes(&mut out, &record.encode());
                }
            }
        }
        out
    }

    pub(crate) fn decode(revision: Revision, bytes: &[u8]) -> Result<Self, CodecError> {
        const WHAT: &str = "history event";
        let mut r = ByteReader::new(bytes, WHAT);
        let version = r.u8()?;
        if version != EVENT_V1 {
            return Err(CodecError::UnknownVersion {
                what: WHAT,
                version,
            });
        }
        let kind = EventKind::from_code(r.u8()?)?;
        let at = Timestamp(r.u64()?);
        let key_len = r.u32()? as usize;
        let key = r.str(key_len)?.to_owned();
        let mut records = [None, None];
        for slot in &mut records {
            if r.u8()? == 1 {
                let len = r.u32()? as usize;
                *slot = Some(Record::decode(r.take(len)?)?);
            }
        }
        let [previous, current] = records;
        Ok(Change {
            revision,
            kind,
            at,
            key,
            previous,
            current,
        })
    }

    /// Reads only the timestamp of an encoded event.
    pub(crate) fn decode_at(bytes: &[u8]) -> Result<Timestamp, CodecError> {
        let mut r = ByteReader::new(bytes, "history event");
        r.take(2)?;
        Ok(Timestamp(r.u64()?))
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Keys and records are far below 4 GiB: redb refuses values over 3 GiB.
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A cursor over a byte slice that reports truncation instead of panicking.
pub(crate) struct ByteReader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        ByteReader { bytes, what }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.bytes.len() < n {
            return Err(CodecError::Truncated { what: self.what });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn str(&mut self, n: usize) -> Result<&'a str, CodecError> {
        std::str::from_utf8(self.take(n)?).map_err(|_| CodecError::NotUtf8 { what: self.what })
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(rev: u64, value: &str) -> Record {
        Record {
            uid: Uid(format!("uid-{rev}")),
            create_revision: Revision(1),
            mod_revision: Revision(rev),
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn records_round_trip() {
        let r = record(7, "{\"a\":1}");
        assert_eq!(Record::decode(&r.encode()), Ok(r));
        let empty = Record {
            uid: Uid(String::new()),
            create_revision: Revision(0),
            mod_revision: Revision(0),
            value: Vec::new(),
        };
        assert_eq!(Record::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn changes_round_trip_with_and_without_records() {
        for (previous, current, kind) in [
            (None, Some(record(3, "{}")), EventKind::Added),
            (
                Some(record(3, "{}")),
                Some(record(4, "[1]")),
                EventKind::Modified,
            ),
            (Some(record(4, "[1]")), None, EventKind::Deleted),
        ] {
            let change = Change {
                revision: Revision(9),
                kind,
                at: Timestamp(1234),
                key: "pods/default/a".into(),
                previous,
                current,
            };
            let bytes = change.encode();
            assert_eq!(Change::decode(Revision(9), &bytes), Ok(change));
            assert_eq!(Change::decode_at(&bytes), Ok(Timestamp(1234)));
        }
    }

    #[test]
    fn truncated_or_unknown_bytes_are_errors_not_panics() {
        let bytes = record(2, "{\"x\":true}").encode();
        for cut in 0..26 {
            assert!(Record::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong = bytes.clone();
        wrong[0] = 9;
        assert_eq!(
            Record::decode(&wrong),
            Err(CodecError::UnknownVersion {
                what: "object record",
                version: 9
            })
        );
        let change = Change {
            revision: Revision(1),
            kind: EventKind::Added,
            at: Timestamp(1),
            key: "a//b".into(),
            previous: None,
            current: Some(record(1, "{}")),
        }
        .encode();
        for cut in 0..change.len() {
            assert!(
                Change::decode(Revision(1), &change[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }
}
