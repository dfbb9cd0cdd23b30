//! The one thread that appends to the log. Requests hand it framed records in the order they
//! must appear; it writes everything that queued up while the previous write ran in one go
//! (group commit), syncs as the policy says, and answers each request only then. A failed write
//! is cut back off the file, so nothing unacknowledged is left behind to be replayed, and the
//! requests that waited on it get the error.

use super::files::{Io, SegmentFile};
use super::{Fsync, LogStats, wal_path};
use parking_lot::Mutex;
use std::io::{self, IoSlice};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Bytes gathered into one write at most.
const GROUP_BYTES: usize = 8 << 20;
/// Buffers one writev takes at most (Linux's IOV_MAX).
const IOV_MAX: usize = 1024;

pub enum Msg {
    Append {
        record: Vec<u8>,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Start a new file; answers its number once every earlier record is written.
    Roll {
        done: oneshot::Sender<Result<u64, String>>,
    },
}

/// The file being appended to, shared with the syncing thread.
pub struct Current {
    pub file: Arc<dyn SegmentFile>,
    pub dirty: AtomicBool,
}

pub struct Writer {
    pub io: Arc<dyn Io>,
    pub dir: PathBuf,
    pub fsync: Fsync,
    pub segment_bytes: u64,
    pub number: u64,
    /// Bytes of the current file known to be whole records.
    pub len: u64,
    pub current: Arc<Mutex<Arc<Current>>>,
    pub stats: Arc<LogStats>,
    /// A failed write could not be cut back off: the file must be truncated before any more.
    pub broken: bool,
    /// When a failed write was last logged, and how many failed since.
    pub last_failure_log: Option<Instant>,
    pub failures_unlogged: u64,
}

impl Writer {
    pub fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        // The records gathered for one write, written as they are (writev), not copied.
        let mut buf: Vec<Vec<u8>> = Vec::with_capacity(256);
        let mut bytes = 0;
        let mut waiters: Vec<oneshot::Sender<Result<(), String>>> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append { record, done } => {
                        bytes += record.len();
                        buf.push(record);
                        waiters.push(done);
                    }
                    Msg::Roll { done } => {
                        self.flush(&mut buf, &mut waiters);
                        bytes = 0;
                        let r = self.roll().map(|()| self.number);
                        let _ = done.send(r.map_err(|e| e.to_string()));
                    }
                }
                if bytes < GROUP_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            self.flush(&mut buf, &mut waiters);
            bytes = 0;
        }
        // The senders are gone: make what was written durable before the process ends.
        if self.fsync != Fsync::Never {
            let _ = self.current.lock().file.sync();
        }
    }

    fn flush(
        &mut self,
        buf: &mut Vec<Vec<u8>>,
        waiters: &mut Vec<oneshot::Sender<Result<(), String>>>,
    ) {
        if buf.is_empty() {
            return;
        }
        let r = self.write(buf).map_err(|e| {
            self.stats.write_errors.fetch_add(1, Relaxed);
            let m = format!("the write-ahead log could not be written: {e}");
            // A full disk fails every write: say so once a second, with how many failed.
            self.failures_unlogged += 1;
            if self
                .last_failure_log
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
            {
                tracing::error!(failed_writes = self.failures_unlogged, "{m}");
                self.failures_unlogged = 0;
                self.last_failure_log = Some(Instant::now());
            }
            m
        });
        for w in waiters.drain(..) {
            let _ = w.send(r.clone());
        }
        buf.clear();
    }

    fn write(&mut self, records: &[Vec<u8>]) -> io::Result<()> {
        let file = self.current.lock().file.clone();
        if self.broken {
            file.truncate(self.len)?;
            self.broken = false;
        }
        if self.len >= self.segment_bytes {
            self.roll()?;
            return self.write(records);
        }
        let total: usize = records.iter().map(Vec::len).sum();
        let mut slices: Vec<IoSlice<'_>> = records.iter().map(|r| IoSlice::new(r)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match file.append_vectored(&rest[..rest.len().min(IOV_MAX)]) {
                Ok(0) => return self.undo(&*file, io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.undo(&*file, e),
            }
        }
        if self.fsync == Fsync::Always {
            let t = Instant::now();
            if let Err(e) = file.sync() {
                self.stats.fsync_errors.fetch_add(1, Relaxed);
                return self.undo(&*file, e);
            }
            self.stats.record_fsync(t.elapsed());
        } else {
            self.current.lock().dirty.store(true, Relaxed);
        }
        self.len += total as u64;
        self.stats.wal_bytes.fetch_add(total as u64, Relaxed);
        Ok(())
    }

    /// Cuts a failed write back off the file, so that replay never sees it.
    fn undo(&mut self, file: &dyn SegmentFile, e: io::Error) -> io::Result<()> {
        if file.truncate(self.len).is_err() {
            self.broken = true;
        }
        Err(e)
    }

    /// Closes the current file (synced, unless the policy is `never`) and starts the next.
    fn roll(&mut self) -> io::Result<()> {
        if self.broken {
            let file = self.current.lock().file.clone();
            file.truncate(self.len)?;
            self.broken = false;
        }
        if self.fsync != Fsync::Never {
            let old = self.current.lock().clone();
            old.file.sync()?;
            old.dirty.store(false, Relaxed);
        }
        let file = self.io.create(&wal_path(&self.dir, self.number + 1))?;
        if self.fsync != Fsync::Never {
            self.io.sync_dir(&self.dir)?;
        }
        self.number += 1;
        self.len = 0;
        *self.current.lock() = Arc::new(Current {
            file,
            dirty: AtomicBool::new(false),
        });
        Ok(())
    }
}

/// Syncs the current file once a second while it has unsynced writes (`everysec`).
pub fn sync_every_second(
    current: Arc<Mutex<Arc<Current>>>,
    stats: Arc<LogStats>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let cur = current.lock().clone();
        if cur.dirty.swap(false, Relaxed) {
            let t = Instant::now();
            match cur.file.sync() {
                Ok(()) => stats.record_fsync(t.elapsed()),
                Err(e) => {
                    stats.fsync_errors.fetch_add(1, Relaxed);
                    cur.dirty.store(true, Relaxed);
                    tracing::error!("the write-ahead log could not be synced: {e}");
                }
            }
        }
    }
}
