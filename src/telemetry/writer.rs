//! Where log lines go: a buffer in memory written to stderr in pieces of `WRITE_AT` bytes by the
//! thread whose line fills it, and at least every `AT_MOST_EVERY` by a thread of its own — one system
//! call per hundred-odd lines under load instead of one per line, and no wake-up per line either (a
//! writer thread woken per line measured slower than writing directly). Warnings and errors are
//! written at once with everything before them (or, when another thread is writing at that moment,
//! by the timer's next turn). Lines are written whole and in the order they were finished.
//!
//! When stderr cannot keep up and `MAX_BUFFERED` bytes wait, new lines are dropped and counted; the
//! count is written in their place once the backlog is gone, so a gap never goes unnoticed.
//! [`flush`] writes what is buffered before the process exits.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

/// Bytes waiting at most; beyond, lines are dropped and counted (the sink is stuck).
const MAX_BUFFERED: usize = 8 << 20;
/// A line that brings the buffer to this size writes it out.
const WRITE_AT: usize = 32 << 10;
/// How long a line waits in the buffer at most (the timer thread's period).
const AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The lines waiting, and how many were dropped since the last write.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
}

struct Shared {
    pending: Mutex<Pending>,
    sink: Mutex<Box<dyn Write + Send>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes what waits, with a note of the dropped lines first.
    fn take(pending: &mut Pending) -> Vec<u8> {
        let mut bytes = std::mem::take(&mut pending.bytes);
        if pending.dropped > 0 {
            let note = format!(
                "sees: {} log line(s) dropped: stderr did not keep up\n",
                pending.dropped
            );
            bytes.splice(0..0, note.into_bytes());
            pending.dropped = 0;
        }
        bytes
    }

    /// Writes what waits, if anything. The sink stays locked from taking to writing, so batches reach
    /// it in the order they were taken, whoever writes them. `wait`: for the sink when another thread
    /// is writing to it; without, the lines stay for the next write or the timer's turn (a logging
    /// thread never waits for a stuck stderr).
    fn write_pending(&self, wait: bool) {
        let mut sink = match self.sink.try_lock() {
            Ok(sink) => sink,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) if wait => {
                self.sink.lock().unwrap_or_else(|e| e.into_inner())
            }
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        let bytes = {
            let mut pending = self.lock();
            if pending.bytes.is_empty() && pending.dropped == 0 {
                return;
            }
            Self::take(&mut pending)
        };
        // Nowhere to report a failing stderr: the lines are lost, as with a direct write.
        let _ = sink.write_all(&bytes);
        let _ = sink.flush();
    }

    /// The timer thread: writes what waits, every `AT_MOST_EVERY`.
    fn run(&self) {
        loop {
            std::thread::sleep(AT_MOST_EVERY);
            self.write_pending(true);
        }
    }
}

/// The `MakeWriter` of the log subscriber: one [`LineWriter`] per line.
#[derive(Clone)]
pub struct BufferedWriter {
    shared: Arc<Shared>,
}

impl BufferedWriter {
    /// A writer to `sink`, with its timer thread (named `sees-log`).
    pub fn spawn(sink: Box<dyn Write + Send>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            sink: Mutex::new(sink),
        });
        let thread = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("sees-log".to_owned())
            .spawn(move || thread.run())?;
        Ok(Self { shared })
    }

    /// Returns once every line finished before this call has been written to the sink: what waits
    /// is written from this thread, and a batch taken earlier was written before the sink could be
    /// locked here.
    pub fn flush(&self) {
        self.shared.write_pending(true);
    }
}

impl<'a> MakeWriter<'a> for BufferedWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            line: Vec::new(),
            urgent: false,
            shared: Arc::clone(&self.shared),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LineWriter {
        let mut writer = self.make_writer();
        writer.urgent = *meta.level() <= tracing::Level::WARN;
        writer
    }
}

/// Collects one formatted line; adds it to the buffer when dropped.
pub struct LineWriter {
    line: Vec<u8>,
    /// A warning or an error: written at once.
    urgent: bool,
    shared: Arc<Shared>,
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let mut pending = self.shared.lock();
        if pending.bytes.len() + self.line.len() > MAX_BUFFERED {
            pending.dropped += 1;
            return;
        }
        pending.bytes.extend_from_slice(&self.line);
        let write_now = self.urgent || pending.bytes.len() >= WRITE_AT;
        drop(pending);
        if write_now {
            self.shared.write_pending(false);
        }
    }
}

static INSTALLED: OnceLock<BufferedWriter> = OnceLock::new();

/// The process's writer to stderr (started on first use), or `None` when no thread could be started.
pub(super) fn stderr_writer() -> Option<BufferedWriter> {
    if let Some(writer) = INSTALLED.get() {
        return Some(writer.clone());
    }
    let writer = BufferedWriter::spawn(Box::new(std::io::stderr())).ok()?;
    Some(INSTALLED.get_or_init(|| writer).clone())
}

/// Writes the log lines still buffered (call before the process exits).
pub fn flush() {
    if let Some(writer) = INSTALLED.get() {
        writer.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Condvar;

    /// A sink the test can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn line(writer: &BufferedWriter, text: &str) {
        let mut w = writer.make_writer();
        // Written in pieces, as the formatter does: the line must still arrive whole.
        for piece in text.as_bytes().chunks(3) {
            w.write_all(piece).unwrap();
        }
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_and_in_each_threads_order() {
        let sink = Sink::default();
        let writer = BufferedWriter::spawn(Box::new(sink.clone())).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        line(
                            &writer,
                            &format!("thread {t} line {i} {}\n", "x".repeat(i % 50)),
                        );
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        writer.flush();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8000);
        for t in 0..4 {
            let prefix = format!("thread {t} line ");
            let own: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&prefix))
                .map(|rest| {
                    let (i, xs) = rest.split_once(' ').unwrap();
                    let i: usize = i.parse().unwrap();
                    assert_eq!(xs, "x".repeat(i % 50), "a line was cut or mixed");
                    i
                })
                .collect();
            assert_eq!(own, (0..2000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn flush_waits_for_every_finished_line() {
        let sink = Sink::default();
        let writer = BufferedWriter::spawn(Box::new(sink.clone())).unwrap();
        for i in 0..100 {
            line(&writer, &format!("{i}\n"));
        }
        writer.flush();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 100);
        assert!(text.ends_with("99\n"));
    }

    /// A sink that blocks until released: logging threads do not wait for it; the buffer fills, lines
    /// beyond it are dropped and counted, and the count is written once the sink moves again.
    #[test]
    fn a_stuck_sink_drops_and_counts_instead_of_blocking_the_caller() {
        struct Gate(Arc<(Mutex<bool>, Condvar)>, Sink);
        impl Write for Gate {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let (open, moved) = &*self.0;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = moved.wait(open).unwrap();
                }
                self.1.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let sink = Sink::default();
        let writer =
            BufferedWriter::spawn(Box::new(Gate(Arc::clone(&gate), sink.clone()))).unwrap();
        // A first write gets stuck in the sink (another thread's).
        line(&writer, "first\n");
        let stuck = {
            let writer = writer.clone();
            std::thread::spawn(move || writer.flush())
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        // These lines must not wait: 8 MiB hold seven 1 MiB lines, the other five are dropped.
        let big = "y".repeat(1 << 20);
        for _ in 0..12 {
            line(&writer, &format!("{big}\n"));
        }
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        stuck.join().unwrap();
        writer.flush();
        line(&writer, "after\n");
        writer.flush();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with('y')).count(), 7);
        assert!(
            text.contains("sees: 5 log line(s) dropped"),
            "the drop is reported"
        );
        assert!(text.starts_with("first\n") && text.ends_with("after\n"));
    }

    #[test]
    fn warnings_are_written_at_once_and_info_lines_within_the_timer_period() {
        let sink = Sink::default();
        let writer = BufferedWriter::spawn(Box::new(sink.clone())).unwrap();
        let mut info = writer.make_writer();
        info.write_all(b"info line\n").unwrap();
        drop(info);
        assert!(sink.0.lock().unwrap().is_empty(), "a short info line waits");
        let mut warn = writer.make_writer();
        warn.urgent = true;
        warn.write_all(b"warn line\n").unwrap();
        drop(warn);
        assert_eq!(&*sink.0.lock().unwrap(), b"info line\nwarn line\n");
        line(&writer, "later\n");
        std::thread::sleep(AT_MOST_EVERY * 3);
        assert!(String::from_utf8(sink.0.lock().unwrap().clone())
            .unwrap()
            .ends_with("later\n"));
    }
}
