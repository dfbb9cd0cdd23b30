//! The file operations the log's writer uses, behind a trait so that tests can inject short
//! writes, ENOSPC and EIO where the real disk would give them.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::path::Path;
use std::sync::Arc;

/// A log file open for appending.
pub trait SegmentFile: Send + Sync {
    /// Appends what it can of `buf` at the end, as write(2) does; may write less than asked.
    fn append(&self, buf: &[u8]) -> io::Result<usize>;
    /// Appends what it can of `bufs`, in order, as writev(2) does.
    fn append_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match bufs.iter().find(|b| !b.is_empty()) {
            Some(b) => self.append(b),
            None => Ok(0),
        }
    }

    /// Makes what was appended durable (fdatasync).
    fn sync(&self) -> io::Result<()>;
    /// Cuts the file back to `len` bytes.
    fn truncate(&self, len: u64) -> io::Result<()>;
}

/// Creates log files and makes directory entries durable.
pub trait Io: Send + Sync {
    fn create(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>>;
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real disk.
pub struct Disk;

struct DiskFile(File);

impl SegmentFile for DiskFile {
    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        (&self.0).write(buf)
    }

    fn append_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&self.0).write_vectored(bufs)
    }

    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

/// A new file at `path`, opened for appending (it must not exist yet).
fn create_appending(path: &Path) -> io::Result<File> {
    OpenOptions::new().create_new(true).append(true).open(path)
}

impl Io for Disk {
    fn create(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        Ok(Arc::new(DiskFile(create_appending(path)?)))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// A disk that fails on command, for tests of what the writer acknowledges.
#[cfg(test)]
pub mod faulty {
    use super::*;
    use parking_lot::Mutex;
    use std::collections::VecDeque;

    #[derive(Debug, Clone, Copy)]
    pub enum Fault {
        /// The next append writes only this many bytes (and reports so).
        Short(usize),
        /// The next append fails with ENOSPC after writing this many bytes.
        NoSpace(usize),
        /// The next append fails with EIO, writing nothing.
        Eio,
        /// The next sync fails with EIO.
        SyncEio,
        /// The next truncate fails with EIO.
        TruncateEio,
    }

    #[derive(Default)]
    pub struct Faults(Mutex<VecDeque<Fault>>);

    impl Faults {
        pub fn push(&self, f: Fault) {
            self.0.lock().push_back(f);
        }

        fn take(&self, pred: impl Fn(&Fault) -> bool) -> Option<Fault> {
            let mut q = self.0.lock();
            let i = q.iter().position(pred)?;
            q.remove(i)
        }
    }

    pub struct FaultyDisk(pub Arc<Faults>);

    struct FaultyFile(File, Arc<Faults>);

    impl SegmentFile for FaultyFile {
        fn append(&self, buf: &[u8]) -> io::Result<usize> {
            let f = self
                .1
                .take(|f| matches!(f, Fault::Short(_) | Fault::NoSpace(_) | Fault::Eio));
            match f {
                Some(Fault::Short(n)) => (&self.0).write(&buf[..n.min(buf.len())]),
                Some(Fault::NoSpace(n)) => {
                    (&self.0).write_all(&buf[..n.min(buf.len())])?;
                    Err(io::Error::from_raw_os_error(28))
                }
                Some(_) => Err(io::Error::from_raw_os_error(5)),
                None => (&self.0).write(buf),
            }
        }

        fn sync(&self) -> io::Result<()> {
            match self.1.take(|f| matches!(f, Fault::SyncEio)) {
                Some(_) => Err(io::Error::from_raw_os_error(5)),
                None => self.0.sync_data(),
            }
        }

        fn truncate(&self, len: u64) -> io::Result<()> {
            match self.1.take(|f| matches!(f, Fault::TruncateEio)) {
                Some(_) => Err(io::Error::from_raw_os_error(5)),
                None => self.0.set_len(len),
            }
        }
    }

    impl Io for FaultyDisk {
        fn create(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
            Ok(Arc::new(FaultyFile(
                create_appending(path)?,
                self.0.clone(),
            )))
        }

        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            Disk.sync_dir(dir)
        }
    }
}
