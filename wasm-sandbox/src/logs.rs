//! Captured stdout and stderr of a container: timestamped lines in a bounded buffer that
//! answers "the last N lines", "since T", "follow" and "the previous run". A guest that floods
//! its output loses its oldest lines; it can never exhaust the host's memory.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::SystemTime;

use tokio::io::AsyncWrite;
use tokio::sync::broadcast;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longest line kept; longer output is split, as container runtimes split long lines.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Lines buffered for followers that fall behind before they miss lines.
const FOLLOW_BUFFER: usize = 1024;

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One captured line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// When the line was completed.
    pub time: SystemTime,
    /// Where it was written.
    pub stream: Stream,
    /// The text, without its newline.
    pub text: String,
}

/// The logs of one container across its runs: the current run and the one before.
#[derive(Clone, Debug)]
pub struct LogStore {
    inner: Arc<Mutex<Runs>>,
    follow: broadcast::Sender<LogLine>,
}

#[derive(Debug)]
struct Runs {
    capacity: usize,
    current: Run,
    previous: Option<Run>,
    /// Whether a run has started: the first one leaves no previous run behind.
    started: bool,
}

#[derive(Debug, Default)]
struct Run {
    lines: VecDeque<LogLine>,
    bytes: usize,
    /// Lines dropped because the buffer was full.
    dropped: u64,
}

impl LogStore {
    /// A store keeping about `capacity` bytes of text per run.
    pub fn new(capacity: usize) -> Self {
        let (follow, _) = broadcast::channel(FOLLOW_BUFFER);
        Self {
            inner: Arc::new(Mutex::new(Runs {
                capacity: capacity.max(MAX_LINE_BYTES),
                current: Run::default(),
                previous: None,
                started: false,
            })),
            follow,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Runs> {
        // A panic while holding the lock cannot leave the buffer inconsistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a new run: the current lines become the previous run's (unless this is the
    /// first run, which has no run before it).
    pub fn start_run(&self) {
        let mut runs = self.lock();
        let finished = std::mem::take(&mut runs.current);
        let had_run = std::mem::replace(&mut runs.started, true);
        if had_run || !finished.lines.is_empty() {
            runs.previous = Some(finished);
        }
    }

    /// Appends a line (split if longer than [`MAX_LINE_BYTES`]).
    pub fn push(&self, stream: Stream, text: &str) {
        let time = SystemTime::now();
        let mut runs = self.lock();
        let capacity = runs.capacity;
        let mut rest = text;
        loop {
            let cut = floor_char_boundary(rest, MAX_LINE_BYTES);
            let (piece, tail) = rest.split_at(cut);
            let line = LogLine {
                time,
                stream,
                text: piece.to_owned(),
            };
            if self.follow.receiver_count() > 0 {
                // Nobody keeping up is fine: a lagging follower is told what it missed.
                let _ = self.follow.send(line.clone());
            }
            let run = &mut runs.current;
            run.bytes += line.text.len();
            run.lines.push_back(line);
            while run.bytes > capacity {
                match run.lines.pop_front() {
                    Some(old) => {
                        run.bytes -= old.text.len();
                        run.dropped += 1;
                    }
                    None => break,
                }
            }
            if tail.is_empty() {
                break;
            }
            rest = tail;
        }
    }

    /// The current run's lines, the last `tail` of them if given, at or after `since`.
    pub fn lines(&self, tail: Option<usize>, since: Option<SystemTime>) -> Vec<LogLine> {
        select(&self.lock().current, tail, since)
    }

    /// The previous run's lines, if the container has restarted.
    pub fn previous(&self, tail: Option<usize>, since: Option<SystemTime>) -> Option<Vec<LogLine>> {
        self.lock()
            .previous
            .as_ref()
            .map(|run| select(run, tail, since))
    }

    /// Lines dropped from the current run because it outgrew the buffer.
    pub fn dropped(&self) -> u64 {
        self.lock().current.dropped
    }

    /// Lines as they are written from now on (a follower that falls more than a thousand
    /// lines behind is told how many it missed).
    pub fn follow(&self) -> broadcast::Receiver<LogLine> {
        self.follow.subscribe()
    }

    /// A sink for one stream of one run, to hand to WASI as stdout or stderr.
    pub(crate) fn sink(&self, stream: Stream) -> LogSink {
        LogSink {
            store: self.clone(),
            stream,
            partial: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

fn select(run: &Run, tail: Option<usize>, since: Option<SystemTime>) -> Vec<LogLine> {
    let lines = run
        .lines
        .iter()
        .filter(|l| since.is_none_or(|t| l.time >= t));
    let mut selected: Vec<LogLine> = lines.cloned().collect();
    if let Some(tail) = tail {
        let skip = selected.len().saturating_sub(tail);
        selected.drain(..skip);
    }
    selected
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// Splits written bytes into lines and stores them.
#[derive(Clone, Debug)]
pub(crate) struct LogSink {
    store: LogStore,
    stream: Stream,
    /// Bytes of an unfinished line.
    partial: Arc<Mutex<Vec<u8>>>,
}

impl LogSink {
    fn write(&self, bytes: &[u8]) {
        let mut partial = self
            .partial
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            partial.extend_from_slice(chunk);
            let complete = partial.last() == Some(&b'\n');
            if complete || partial.len() >= MAX_LINE_BYTES {
                let line = partial.strip_suffix(b"\n").unwrap_or(&partial);
                self.store.push(self.stream, &String::from_utf8_lossy(line));
                partial.clear();
            }
        }
    }

    /// Stores an unfinished last line (when the container ends).
    pub(crate) fn flush_partial(&self) {
        let mut partial = self
            .partial
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !partial.is_empty() {
            self.store
                .push(self.stream, &String::from_utf8_lossy(&partial));
            partial.clear();
        }
    }
}

impl IsTerminal for LogSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogSink {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for LogSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_lines_bounded_and_remembers_the_previous_run() {
        let store = LogStore::new(MAX_LINE_BYTES);
        let sink = store.sink(Stream::Stdout);
        sink.write(b"first\nsec");
        sink.write(b"ond\n");
        assert_eq!(
            store
                .lines(None, None)
                .iter()
                .map(|l| l.text.as_str())
                .collect::<Vec<_>>(),
            ["first", "second"]
        );
        for i in 0..10_000 {
            sink.write(format!("flood {i}\n").as_bytes());
        }
        let total: usize = store.lines(None, None).iter().map(|l| l.text.len()).sum();
        assert!(total <= MAX_LINE_BYTES, "{total}");
        assert!(store.dropped() > 0);
        assert_eq!(store.lines(Some(1), None)[0].text, "flood 9999");
        store.start_run();
        assert!(store.lines(None, None).is_empty());
        assert_eq!(store.previous(Some(1), None).unwrap()[0].text, "flood 9999");
    }

    #[test]
    fn the_first_run_has_no_previous_run() {
        let store = LogStore::new(1 << 20);
        store.start_run();
        store.sink(Stream::Stdout).write(b"one\n");
        assert!(store.previous(None, None).is_none());
        store.start_run();
        assert_eq!(store.previous(None, None).unwrap()[0].text, "one");
    }

    #[test]
    fn long_lines_are_split() {
        let store = LogStore::new(1 << 20);
        let sink = store.sink(Stream::Stderr);
        sink.write(&vec![b'x'; MAX_LINE_BYTES * 2 + 10]);
        sink.flush_partial();
        let lengths: Vec<usize> = store
            .lines(None, None)
            .iter()
            .map(|l| l.text.len())
            .collect();
        assert_eq!(lengths, [MAX_LINE_BYTES, MAX_LINE_BYTES, 10]);
    }
}
