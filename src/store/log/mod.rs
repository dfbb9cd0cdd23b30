//! The write-ahead log of a data directory: what the gateway accepted (documents as stored,
//! control-plane state), appended before a request is acknowledged, replayed on start.
//!
//! ```text
//! DIR/FORMAT                      "xray-gateway data directory, format 1"
//! DIR/LOCK                        held (flock) while a gateway has the directory open
//! DIR/wal/NNNNNNNNNNNNNNNNNNNN.wal records, in order; a new file at start and past the size
//! DIR/NNNNNNNNNNNNNNNNNNNN.ckpt   every live trace and control state as of the start of
//!                                 wal file NNNN; the wal files before it are deleted
//! ```
//!
//! Recovery reads the newest checkpoint, then every wal file from its number on. A record cut
//! short at the end of the last file is what a crash leaves: it is cut off and logged. Damage
//! anywhere else is a startup error naming the file and offset, unless `repair` is set, which
//! cuts the log there.

pub mod files;
pub mod payload;
pub mod record;
mod writer;

use files::Io;
use parking_lot::Mutex;
use record::{Damage, Kind, Next, Reader};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use writer::{Current, Msg, Writer};

pub const FORMAT: &str = "xray-gateway data directory, format 1";

/// When appended records are made durable against power loss (a crash of the process alone
/// loses nothing written: the kernel holds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fsync {
    /// Before every acknowledgement (requests waiting together share one sync).
    Always,
    /// In the background, once a second.
    Everysec,
    /// Never; the kernel writes back when it likes.
    Never,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    pub fsync: Fsync,
    /// A new wal file is started past this size.
    pub segment_bytes: u64,
    /// Cut the log at damage instead of refusing to start.
    pub repair: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the data directory {} is in use by another gateway (its LOCK is held)",
        .0.display()
    )]
    Locked(PathBuf),
    #[error(
        "the data directory {} has format '{found}'; this gateway reads '{FORMAT}'",
        path.display()
    )]
    Format { path: PathBuf, found: String },
    #[error(
        "the log is damaged in {} at byte {offset}: {why}; start with --repair to cut it there \
         (records from that point on are lost)",
        file.display()
    )]
    Corrupt {
        file: PathBuf,
        offset: u64,
        why: String,
    },
    #[error("{0}")]
    Write(String),
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LogError + use<> {
    let path = path.to_owned();
    move |source| LogError::Io { what, path, source }
}

/// Counters for `/health` and the checkpoint policy.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Bytes in wal files since the last checkpoint (what replay would read after it).
    pub wal_bytes: AtomicU64,
    pub checkpoint_bytes: AtomicU64,
    pub fsyncs: AtomicU64,
    pub fsync_micros_total: AtomicU64,
    pub fsync_micros_max: AtomicU64,
    pub fsync_errors: AtomicU64,
    pub write_errors: AtomicU64,
}

impl LogStats {
    fn record_fsync(&self, d: Duration) {
        let us = d.as_micros() as u64;
        self.fsyncs.fetch_add(1, Relaxed);
        self.fsync_micros_total.fetch_add(us, Relaxed);
        self.fsync_micros_max.fetch_max(us, Relaxed);
        crate::metrics::METRICS
            .fsync_latency
            .observe(d.as_secs_f64());
    }

    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "wal_bytes": self.wal_bytes.load(Relaxed),
            "checkpoint_bytes": self.checkpoint_bytes.load(Relaxed),
            "fsyncs": self.fsyncs.load(Relaxed),
            "fsync_seconds_total": self.fsync_micros_total.load(Relaxed) as f64 / 1e6,
            "fsync_seconds_max": self.fsync_micros_max.load(Relaxed) as f64 / 1e6,
            "fsync_errors": self.fsync_errors.load(Relaxed),
            "write_errors": self.write_errors.load(Relaxed),
        })
    }
}

pub fn wal_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.wal"))
}

fn checkpoint_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.ckpt"))
}

/// Files named `NNNN<ext>` in `dir`, by number.
fn numbered(dir: &Path, ext: &str) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err("cannot list", dir))? {
        let e = e.map_err(io_err("cannot list", dir))?;
        let name = e.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|s| s.strip_suffix(ext))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((n, e.path()));
    }
    out.sort();
    Ok(out)
}

/// An open data directory's log.
pub struct Log {
    tx: mpsc::UnboundedSender<Msg>,
    root: PathBuf,
    wal_dir: PathBuf,
    io: Arc<dyn Io>,
    fsync: Fsync,
    pub stats: Arc<LogStats>,
    stop_sync: Arc<AtomicBool>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Held for as long as the log is open: its lock keeps other gateways out.
    _lock: File,
}

/// An appended record's acknowledgement: resolves once it is written (and synced, under
/// `always`).
pub struct Ticket(oneshot::Receiver<Result<(), String>>);

/// A queued roll: resolves to the new file's number.
pub struct Rolled(oneshot::Receiver<Result<u64, String>>);

impl Rolled {
    pub async fn wait(self) -> Result<u64, LogError> {
        match self.0.await {
            Ok(r) => r.map_err(LogError::Write),
            Err(_) => Err(LogError::Write("the write-ahead log has stopped".into())),
        }
    }
}

impl Ticket {
    pub async fn wait(self) -> Result<(), LogError> {
        match self.0.await {
            Ok(r) => r.map_err(LogError::Write),
            Err(_) => Err(LogError::Write("the write-ahead log has stopped".into())),
        }
    }
}

impl Log {
    /// Opens (or creates) the data directory, takes its lock and starts appending to a new wal
    /// file; returns the log and what to replay, which the caller reads before serving.
    pub fn open(opts: &Options, io: Arc<dyn Io>) -> Result<(Log, Replay), LogError> {
        let root = opts.dir.clone();
        fs::create_dir_all(&root).map_err(io_err("cannot create", &root))?;
        let lock_path = root.join("LOCK");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("cannot open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(LogError::Locked(root)),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_err("cannot lock", &lock_path)(e));
            }
        }
        check_format(&root)?;
        let wal_dir = root.join("wal");
        fs::create_dir_all(&wal_dir).map_err(io_err("cannot create", &wal_dir))?;
        for (_, tmp) in numbered(&root, ".ckpt.tmp")? {
            fs::remove_file(&tmp).map_err(io_err("cannot remove", &tmp))?;
        }
        let checkpoint = numbered(&root, ".ckpt")?.pop();
        let from = checkpoint.as_ref().map_or(0, |c| c.0);
        let mut wal = Vec::new();
        for (n, p) in numbered(&wal_dir, ".wal")? {
            if n < from {
                // Covered by the checkpoint; a crash came between writing it and tidying up.
                fs::remove_file(&p).map_err(io_err("cannot remove", &p))?;
            } else {
                wal.push((n, p));
            }
        }
        let stats = Arc::new(LogStats::default());
        if let Some((_, p)) = &checkpoint {
            stats
                .checkpoint_bytes
                .store(fs::metadata(p).map_or(0, |m| m.len()), Relaxed);
        }
        let replay_bytes: u64 = wal
            .iter()
            .map(|(_, p)| fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        stats.wal_bytes.store(replay_bytes, Relaxed);
        let number = wal.last().map_or(from.max(1), |w| w.0 + 1);
        let file = io
            .create(&wal_path(&wal_dir, number))
            .map_err(io_err("cannot create", &wal_path(&wal_dir, number)))?;
        io.sync_dir(&wal_dir)
            .map_err(io_err("cannot sync", &wal_dir))?;
        let current = Arc::new(Mutex::new(Arc::new(Current {
            file,
            dirty: AtomicBool::new(false),
        })));
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            io: io.clone(),
            dir: wal_dir.clone(),
            fsync: opts.fsync,
            segment_bytes: opts.segment_bytes,
            number,
            len: 0,
            current: current.clone(),
            stats: stats.clone(),
            broken: false,
            last_failure_log: None,
            failures_unlogged: 0,
        };
        let mut threads = vec![
            std::thread::Builder::new()
                .name("wal-writer".into())
                .spawn(move || writer.run(rx))
                .map_err(io_err("cannot start the writer for", &wal_dir))?,
        ];
        let stop_sync = Arc::new(AtomicBool::new(false));
        if opts.fsync == Fsync::Everysec {
            let (current, stats, stop) = (current, stats.clone(), stop_sync.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("wal-sync".into())
                    .spawn(move || writer::sync_every_second(current, stats, stop))
                    .map_err(io_err("cannot start the syncer for", &wal_dir))?,
            );
        }
        let total_bytes = replay_bytes + stats.checkpoint_bytes.load(Relaxed);
        let log = Log {
            tx,
            root: root.clone(),
            wal_dir,
            io,
            fsync: opts.fsync,
            stats,
            stop_sync,
            threads: Mutex::new(threads),
            _lock: lock,
        };
        let replay = Replay {
            total_bytes,
            checkpoint: checkpoint.map(|c| c.1),
            wal,
            repair: opts.repair,
        };
        Ok((log, replay))
    }

    /// Queues a framed record behind every record queued before it.
    pub fn append(&self, record: Vec<u8>) -> Ticket {
        let (done, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::Append { record, done });
        Ticket(rx)
    }

    /// Starts a new wal file once everything queued is written; returns its number.
    pub async fn roll(&self) -> Result<u64, LogError> {
        self.queue_roll().wait().await
    }

    /// Queues the start of a new wal file behind every record queued before it, at once (so a
    /// caller holding a lock knows exactly which of its records fall before the new file).
    pub fn queue_roll(&self) -> Rolled {
        let (done, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::Roll { done });
        Rolled(rx)
    }

    /// Writes checkpoint `n` (every record `fill` produces, in chunks), then deletes the older
    /// checkpoint and the wal files before `n`, which it covers.
    pub fn write_checkpoint(
        &self,
        n: u64,
        mut fill: impl FnMut(&mut dyn FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()>,
    ) -> Result<u64, LogError> {
        use std::io::Write;
        let tmp = self.root.join(format!("{n:020}.ckpt.tmp"));
        let file = File::create(&tmp).map_err(io_err("cannot create", &tmp))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut bytes = 0u64;
        fill(&mut |chunk| {
            bytes += chunk.len() as u64;
            out.write_all(chunk)
        })
        .map_err(io_err("cannot write", &tmp))?;
        let file = out
            .into_inner()
            .map_err(|e| io_err("cannot write", &tmp)(e.into_error()))?;
        if self.fsync != Fsync::Never {
            file.sync_all().map_err(io_err("cannot sync", &tmp))?;
        }
        let done = checkpoint_path(&self.root, n);
        fs::rename(&tmp, &done).map_err(io_err("cannot rename", &tmp))?;
        if self.fsync != Fsync::Never {
            self.io
                .sync_dir(&self.root)
                .map_err(io_err("cannot sync", &self.root))?;
        }
        let mut freed = 0u64;
        for (m, p) in numbered(&self.root, ".ckpt")? {
            if m < n {
                fs::remove_file(&p).map_err(io_err("cannot remove", &p))?;
            }
        }
        for (m, p) in numbered(&self.wal_dir, ".wal")? {
            if m < n {
                freed += fs::metadata(&p).map_or(0, |x| x.len());
                fs::remove_file(&p).map_err(io_err("cannot remove", &p))?;
            }
        }
        let _ = self
            .stats
            .wal_bytes
            .fetch_update(Relaxed, Relaxed, |w| Some(w.saturating_sub(freed)));
        self.stats.checkpoint_bytes.store(bytes, Relaxed);
        Ok(bytes)
    }

    /// Bytes the directory holds in checkpoint and wal files.
    pub fn disk_bytes(&self) -> u64 {
        self.stats.wal_bytes.load(Relaxed) + self.stats.checkpoint_bytes.load(Relaxed)
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.stop_sync.store(true, Relaxed);
        // Closing the channel ends the writer once it has written what was queued.
        let (tx, _) = mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.tx, tx));
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}

fn check_format(root: &Path) -> Result<(), LogError> {
    let path = root.join("FORMAT");
    match fs::read_to_string(&path) {
        Ok(s) if s.trim() == FORMAT => Ok(()),
        Ok(s) => Err(LogError::Format {
            path: root.to_owned(),
            found: s.trim().chars().take(80).collect(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let has_files = fs::read_dir(root)
                .map_err(io_err("cannot list", root))?
                .filter_map(Result::ok)
                .any(|e| e.file_name() != "LOCK");
            if has_files {
                return Err(LogError::Format {
                    path: root.to_owned(),
                    found: "(no FORMAT file, but other files)".into(),
                });
            }
            fs::write(&path, format!("{FORMAT}\n")).map_err(io_err("cannot write", &path))
        }
        Err(e) => Err(io_err("cannot read", &path)(e)),
    }
}

/// What an opened directory holds to be replayed, oldest first.
pub struct Replay {
    checkpoint: Option<PathBuf>,
    wal: Vec<(u64, PathBuf)>,
    repair: bool,
    /// Bytes of the checkpoint and wal files to read.
    pub total_bytes: u64,
}

/// What a replay read.
#[derive(Debug, Default, Clone, Copy)]
pub struct Replayed {
    pub records: u64,
    pub bytes: u64,
    /// Bytes cut off the end of the last file (a record a crash left half written).
    pub torn_bytes: u64,
}

impl Replay {
    /// Reads every record in order into `apply`; `progress` hears the bytes read so far.
    pub fn run(
        self,
        mut apply: impl FnMut(Kind, &[u8]),
        progress: &dyn Fn(u64),
    ) -> Result<Replayed, LogError> {
        let mut done = Replayed::default();
        if let Some(p) = &self.checkpoint {
            // A checkpoint is renamed into place whole: damage in it is never a torn write.
            read_file(p, &mut apply, &mut done, progress)?.map_or(Ok(()), |(offset, d)| {
                Err(LogError::Corrupt {
                    file: p.clone(),
                    offset,
                    why: describe(&d),
                })
            })?;
        }
        for (i, (_, p)) in self.wal.iter().enumerate() {
            let Some((offset, damage)) = read_file(p, &mut apply, &mut done, progress)? else {
                continue;
            };
            // The end of the log is the last file with anything in it (a gateway killed while
            // it replayed has already started an empty file after it).
            let later_empty = self.wal[i + 1..]
                .iter()
                .all(|(_, l)| fs::metadata(l).is_ok_and(|m| m.len() == 0));
            let torn_tail = later_empty && damage == Damage::Torn;
            if !torn_tail && !self.repair {
                return Err(LogError::Corrupt {
                    file: p.clone(),
                    offset,
                    why: describe(&damage),
                });
            }
            let len = fs::metadata(p).map_or(0, |m| m.len());
            cut(p, offset)?;
            done.torn_bytes += len.saturating_sub(offset);
            if torn_tail {
                tracing::warn!(
                    file = %p.display(),
                    offset,
                    bytes = len - offset,
                    "cut a half-written record off the end of the log (left by a crash)"
                );
            } else {
                tracing::warn!(
                    file = %p.display(),
                    offset,
                    "repair: cut the log at damage ({}); later files are removed",
                    describe(&damage)
                );
                for (_, later) in &self.wal[i + 1..] {
                    fs::remove_file(later).map_err(io_err("cannot remove", later))?;
                }
                break;
            }
        }
        Ok(done)
    }
}

fn describe(d: &Damage) -> String {
    match d {
        Damage::Torn => "a record is cut short".into(),
        Damage::Corrupt(why) => why.clone(),
    }
}

fn cut(p: &Path, len: u64) -> Result<(), LogError> {
    let f = File::options()
        .write(true)
        .open(p)
        .map_err(io_err("cannot open", p))?;
    f.set_len(len).map_err(io_err("cannot truncate", p))?;
    f.sync_all().map_err(io_err("cannot sync", p))
}

/// Reads one file's records into `apply`; returns where and how it is damaged, if it is.
fn read_file(
    p: &Path,
    apply: &mut impl FnMut(Kind, &[u8]),
    done: &mut Replayed,
    progress: &dyn Fn(u64),
) -> Result<Option<(u64, Damage)>, LogError> {
    let f = File::open(p).map_err(io_err("cannot open", p))?;
    let mut r = Reader::new(std::io::BufReader::with_capacity(1 << 20, f));
    let mut last_report = 0;
    loop {
        let before = r.offset();
        match r.next_record().map_err(io_err("cannot read", p))? {
            Next::Record { kind, payload } => {
                apply(kind, payload);
                done.records += 1;
            }
            Next::End => return Ok(None),
            Next::Damaged(d) => return Ok(Some((r.offset(), d))),
        }
        done.bytes += r.offset() - before;
        if done.bytes - last_report > 4 << 20 {
            last_report = done.bytes;
            progress(done.bytes);
        }
    }
}

#[cfg(test)]
mod tests;
