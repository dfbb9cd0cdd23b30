use super::files::faulty::{Fault, Faults, FaultyDisk};
use super::files::{Disk, Io};
use super::payload::{Docs, docs_record};
use super::*;
use crate::store::Partition;

fn options(dir: &Path, fsync: Fsync) -> Options {
    Options {
        dir: dir.to_owned(),
        fsync,
        segment_bytes: 64 << 20,
        repair: false,
    }
}

fn record(doc: &str) -> Vec<u8> {
    let mut buf = Vec::new();
    docs_record(&mut buf, &Partition::default(), 1, &[doc]);
    buf
}

/// Every document a replay of `dir` yields, in order.
fn replayed(dir: &Path, repair: bool) -> Result<Vec<String>, LogError> {
    let opts = Options {
        repair,
        ..options(dir, Fsync::Never)
    };
    let (_log, replay) = Log::open(&opts, Arc::new(Disk))?;
    let mut out = Vec::new();
    replay.run(
        |kind, p| {
            assert_eq!(kind, Kind::Docs);
            out.extend(Docs::decode(p).unwrap().docs.iter().map(|d| d.to_string()));
        },
        &|_| {},
    )?;
    Ok(out)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Appends `docs` one record each and waits for each acknowledgement.
fn append_all(log: &Log, docs: &[String]) -> Vec<Result<(), LogError>> {
    rt().block_on(async {
        let mut out = Vec::new();
        for d in docs {
            out.push(log.append(record(d)).wait().await);
        }
        out
    })
}

fn docs(n: usize, tag: &str) -> Vec<String> {
    (0..n).map(|i| format!("{{\"{tag}\":{i}}}")).collect()
}

fn wal_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    numbered(&dir.join("wal"), ".wal").unwrap()
}

#[test]
fn acknowledged_records_come_back_in_order_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let sent = docs(100, "a");
    {
        let (log, _) = Log::open(&options(dir.path(), Fsync::Always), Arc::new(Disk)).unwrap();
        assert!(append_all(&log, &sent).iter().all(Result::is_ok));
    }
    assert_eq!(replayed(dir.path(), false).unwrap(), sent);
    // Each start appends to a new file; the old ones still replay first.
    let more = docs(3, "b");
    {
        let (log, _) = Log::open(&options(dir.path(), Fsync::Never), Arc::new(Disk)).unwrap();
        append_all(&log, &more);
    }
    let all: Vec<String> = sent.iter().chain(&more).cloned().collect();
    assert_eq!(replayed(dir.path(), false).unwrap(), all);
}

#[test]
fn a_cut_at_every_byte_of_the_last_records_replays_a_prefix_of_what_was_acknowledged() {
    let src = tempfile::tempdir().unwrap();
    let sent = docs(5, "x");
    {
        let (log, _) = Log::open(&options(src.path(), Fsync::Never), Arc::new(Disk)).unwrap();
        append_all(&log, &sent);
    }
    let (_, file) = wal_files(src.path()).remove(0);
    let bytes = fs::read(&file).unwrap();
    let last_two = bytes.len() - 2 * record(&sent[4]).len();
    for cut in last_two..=bytes.len() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("FORMAT"), FORMAT).unwrap();
        fs::create_dir(dir.path().join("wal")).unwrap();
        fs::write(wal_path(&dir.path().join("wal"), 1), &bytes[..cut]).unwrap();
        let got = replayed(dir.path(), false).unwrap();
        assert_eq!(got, sent[..got.len()], "cut at {cut}");
        assert!(got.len() >= 3, "cut at {cut} lost whole records");
        // The torn tail is gone from the file: a second recovery reads the same.
        assert_eq!(replayed(dir.path(), false).unwrap(), got);
    }
}

#[test]
fn damage_before_the_last_file_stops_the_start_and_repair_cuts_there() {
    let dir = tempfile::tempdir().unwrap();
    for tag in ["a", "b"] {
        let (log, _) = Log::open(&options(dir.path(), Fsync::Never), Arc::new(Disk)).unwrap();
        append_all(&log, &docs(4, tag));
    }
    let files = wal_files(dir.path());
    let first = &files[0].1;
    let mut bytes = fs::read(first).unwrap();
    let one = record("{\"a\":0}").len();
    bytes[one + 12] ^= 1; // inside the second record's payload
    fs::write(first, &bytes).unwrap();
    match replayed(dir.path(), false) {
        Err(LogError::Corrupt { file, offset, .. }) => {
            assert_eq!(&file, first);
            assert_eq!(offset, one as u64);
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
    assert_eq!(replayed(dir.path(), true).unwrap(), vec!["{\"a\":0}"]);
    assert_eq!(replayed(dir.path(), false).unwrap(), vec!["{\"a\":0}"]);
}

#[test]
fn failed_writes_are_refused_retryably_and_never_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let io: Arc<dyn Io> = Arc::new(FaultyDisk(faults.clone()));
    let (log, _) = Log::open(&options(dir.path(), Fsync::Always), io).unwrap();
    let mut acknowledged = Vec::new();
    let plan: Vec<Option<Fault>> = vec![
        None,
        Some(Fault::Short(3)),
        Some(Fault::NoSpace(5)),
        None,
        Some(Fault::Eio),
        Some(Fault::SyncEio),
        None,
        Some(Fault::NoSpace(7)),
        Some(Fault::TruncateEio),
        None,
        None,
    ];
    let mut refused = 0;
    for (i, fault) in plan.iter().enumerate() {
        let doc = format!("{{\"n\":{i}}}");
        if let Some(f) = fault {
            faults.push(*f);
        }
        // A failed truncate leaves the next write to cut the file first.
        if matches!(fault, Some(Fault::TruncateEio)) {
            faults.push(Fault::Eio);
        }
        match append_all(&log, std::slice::from_ref(&doc)).remove(0) {
            Ok(()) => acknowledged.push(doc),
            Err(LogError::Write(m)) => {
                assert!(m.contains("could not be written"), "{m}");
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    // A short write is not a failure: the rest is written after it.
    assert_eq!(refused, 5);
    drop(log);
    assert_eq!(replayed(dir.path(), false).unwrap(), acknowledged);
}

#[test]
fn a_second_gateway_cannot_open_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, _) = Log::open(&options(dir.path(), Fsync::Never), Arc::new(Disk)).unwrap();
    match Log::open(&options(dir.path(), Fsync::Never), Arc::new(Disk)) {
        Err(e @ LogError::Locked(_)) => assert!(e.to_string().contains("in use")),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened twice"),
    }
}

#[test]
fn an_unknown_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("FORMAT"),
        "xray-gateway data directory, format 9\n",
    )
    .unwrap();
    let err = Log::open(&options(dir.path(), Fsync::Never), Arc::new(Disk))
        .err()
        .unwrap();
    assert!(err.to_string().contains("format 9"), "{err}");
}

#[test]
fn a_checkpoint_replaces_the_files_before_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (log, _) = Log::open(&options(dir.path(), Fsync::Everysec), Arc::new(Disk)).unwrap();
        append_all(&log, &docs(3, "old"));
        let n = rt().block_on(log.roll()).unwrap();
        append_all(&log, &docs(2, "new"));
        log.write_checkpoint(n, &mut |out: &mut dyn FnMut(
            &[u8],
        )
            -> std::io::Result<()>| {
            out(&record("{\"checkpointed\":1}"))
        })
        .unwrap();
        assert!(wal_files(dir.path()).iter().all(|(m, _)| *m >= n));
    }
    let mut want = vec!["{\"checkpointed\":1}".to_owned()];
    want.extend(docs(2, "new"));
    assert_eq!(replayed(dir.path(), false).unwrap(), want);
}

#[test]
fn files_roll_past_their_size() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        segment_bytes: 200,
        ..options(dir.path(), Fsync::Everysec)
    };
    let sent = docs(40, "r");
    {
        let (log, _) = Log::open(&opts, Arc::new(Disk)).unwrap();
        append_all(&log, &sent);
    }
    assert!(wal_files(dir.path()).len() > 5);
    assert_eq!(replayed(dir.path(), false).unwrap(), sent);
}
