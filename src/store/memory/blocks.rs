//! Stored texts (documents, and encoded trace summaries in blocks of their own), kept in
//! blocks of about 64 KB per shard.
//!
//! A shard's newest texts are appended to its open block as they are. A full block is
//! compressed as one zstd frame. Texts of one application repeat each other's bytes, so a
//! block of them packs better than each text packed alone with a dictionary, for a fraction
//! of the CPU: a dictionary has to be searched again for every text, and small texts pay for
//! building entropy tables each time, which made packing the largest single cost of ingest.
//! Reading one text back unpacks its whole block (a few microseconds); readers that want
//! several texts keep the last unpacked block at hand.
//!
//! Each block counts its live texts and is freed when the last one is released. Bytes of
//! texts released from a block that still holds live ones stay until the block goes, so
//! when the shard's blocks hold more than twice the text still live, the store moves the live
//! texts out of the blocks that are mostly dead (`sparse`, `relocate`) and those blocks
//! go: the work is paid for by the bytes that died first.

use std::cell::RefCell;
use std::sync::Arc;

/// Raw bytes at which the open block is sealed.
const BLOCK_BYTES: usize = 64 * 1024;
/// Fast: whole blocks of similar text leave the matcher little to search for.
const LEVEL: i32 = 1;

/// How a kind of text is packed: zstd's match finder tuned for it, over level 1's defaults
/// for a 64 KB input (a hash table of 2^13 entries, matches of 6 bytes or more). Measured
/// with `zstd -b` on blocks the store sealed from realistic traffic (unique IDs and values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Packing {
    hash_log: u32,
    min_match: u32,
}

impl Packing {
    /// JSON documents repeat their keys and quoting in runs of 7 bytes or more; shorter
    /// matches cost the matcher time and the entropy coder more sequences than they save,
    /// and a table of 2^12 entries stays in the first-level cache: 18 % faster and 5 %
    /// smaller than the defaults (on templated documents, which pack 15×, 4 % slower).
    pub const DOCUMENTS: Packing = Packing {
        hash_log: 12,
        min_match: 7,
    };
    /// Encoded summaries repeat shorter binary runs (field tags, varints, interned IDs) and
    /// keep the default 6-byte matches; the smaller table alone makes them 14 % faster, 1 %
    /// larger.
    pub const SUMMARIES: Packing = Packing {
        hash_log: 12,
        min_match: 6,
    };
}

/// Where a document's text is: a block slot, and the span of the text in the block's raw bytes.
/// Ordered by block first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Loc {
    block: u32,
    offset: u32,
    pub len: u32,
}

/// A sealed block's bytes. Shared, so that readers can unpack outside the shard's lock.
pub(super) struct Sealed {
    bytes: Box<[u8]>,
    raw_len: u32,
    compressed: bool,
}

impl Sealed {
    fn unpack(&self) -> Vec<u8> {
        if !self.compressed {
            return self.bytes.to_vec();
        }
        DECOMPRESSOR
            .with(|d| {
                d.borrow_mut()
                    .as_mut()
                    .and_then(|d| d.decompress(&self.bytes, self.raw_len as usize).ok())
            })
            .unwrap_or_default()
    }
}

enum Body {
    Open(Vec<u8>),
    Sealed(Arc<Sealed>),
}

struct Block {
    body: Body,
    live: u32,
    /// Raw bytes of the live documents.
    live_raw: u32,
}

impl Block {
    fn raw_len(&self) -> usize {
        match &self.body {
            Body::Open(raw) => raw.len(),
            Body::Sealed(s) => s.raw_len as usize,
        }
    }

    fn held(&self) -> usize {
        match &self.body {
            Body::Open(raw) => raw.len(),
            Body::Sealed(s) => s.bytes.len(),
        }
    }
}

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        RefCell::new(zstd::bulk::Compressor::new(LEVEL).ok());
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        RefCell::new(zstd::bulk::Decompressor::new().ok());
}

fn compress(raw: &[u8], packing: Packing) -> Option<Vec<u8>> {
    use zstd::zstd_safe::CParameter;
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        let c = c.as_mut()?;
        c.set_parameter(CParameter::HashLog(packing.hash_log))
            .ok()?;
        c.set_parameter(CParameter::MinMatch(packing.min_match))
            .ok()?;
        c.compress(raw).ok()
    })
}

fn seal(raw: Vec<u8>, packing: Packing) -> Sealed {
    let packed = compress(&raw, packing);
    match packed {
        Some(p) if p.len() < raw.len() => Sealed {
            bytes: p.into_boxed_slice(),
            raw_len: raw.len() as u32,
            compressed: true,
        },
        _ => Sealed {
            raw_len: raw.len() as u32,
            bytes: raw.into_boxed_slice(),
            compressed: false,
        },
    }
}

/// A document's text as read under the lock: copied out of the open block, or a reference to
/// its sealed block, to unpack afterwards.
pub(super) enum Text {
    Plain(Vec<u8>),
    Packed {
        block: Arc<Sealed>,
        offset: u32,
        len: u32,
    },
}

/// Blocks an unpacker keeps unpacked. Readers go in time order, and texts of one time are
/// spread over the few blocks that were open while they arrived (concurrent writers run ahead
/// of each other, late documents come): keeping only the last block unpacked again and again
/// the same handful, which made zstd most of the cost of a filter that reads summaries.
const UNPACKED_BLOCKS: usize = 8;

/// Unpacks texts, keeping the blocks it unpacked last.
pub(super) struct Unpacker {
    /// Most recently used last.
    recent: Vec<(Arc<Sealed>, Vec<u8>)>,
    keep: usize,
}

impl Default for Unpacker {
    fn default() -> Self {
        Unpacker::keeping(UNPACKED_BLOCKS)
    }
}

impl Unpacker {
    /// An unpacker that keeps `keep` blocks unpacked.
    pub fn keeping(keep: usize) -> Unpacker {
        Unpacker {
            recent: Vec::new(),
            keep: keep.max(1),
        }
    }

    pub fn bytes<'t>(&'t mut self, text: &'t Text) -> &'t [u8] {
        match text {
            Text::Plain(b) => b,
            Text::Packed { block, offset, len } => {
                match self.recent.iter().position(|(b, _)| Arc::ptr_eq(b, block)) {
                    Some(i) => {
                        let hit = self.recent.remove(i);
                        self.recent.push(hit);
                    }
                    None => {
                        if self.recent.len() >= self.keep {
                            self.recent.remove(0);
                        }
                        self.recent.push((block.clone(), block.unpack()));
                    }
                }
                let raw = &self.recent.last().expect("just used").1;
                raw.get(*offset as usize..(*offset + *len) as usize)
                    .unwrap_or_default()
            }
        }
    }

    pub fn string(&mut self, text: &Text) -> String {
        String::from_utf8_lossy(self.bytes(text)).into_owned()
    }
}

/// One shard's blocks of one kind of text.
pub(super) struct Blocks {
    packing: Packing,
    slots: Vec<Option<Block>>,
    free: Vec<u32>,
    open: Option<u32>,
    /// Raw bytes of all blocks held, and of the live documents in them.
    raw: usize,
    live_raw: usize,
}

impl Blocks {
    pub fn new(packing: Packing) -> Blocks {
        Blocks {
            packing,
            slots: Vec::new(),
            free: Vec::new(),
            open: None,
            raw: 0,
            live_raw: 0,
        }
    }

    /// Stores `text` and returns where; `held` changes by the bytes this adds or frees.
    pub fn append(&mut self, text: &[u8], held: &mut i64) -> Loc {
        if let Some(o) = self.open {
            let full = match &self.slots[o as usize] {
                Some(Block {
                    body: Body::Open(raw),
                    ..
                }) => !raw.is_empty() && raw.len() + text.len() > BLOCK_BYTES,
                _ => true,
            };
            if full {
                self.seal_open(held);
            }
        }
        let o = match self.open {
            Some(o) => o,
            None => {
                let block = Block {
                    body: Body::Open(Vec::with_capacity(BLOCK_BYTES.max(text.len()))),
                    live: 0,
                    live_raw: 0,
                };
                let o = self.place(block);
                self.open = Some(o);
                o
            }
        };
        let Some(Block {
            body: Body::Open(raw),
            live,
            live_raw,
        }) = &mut self.slots[o as usize]
        else {
            unreachable!("the open slot holds the open block");
        };
        let offset = raw.len() as u32;
        raw.extend_from_slice(text);
        *live += 1;
        *live_raw += text.len() as u32;
        self.raw += text.len();
        self.live_raw += text.len();
        *held += text.len() as i64;
        Loc {
            block: o,
            offset,
            len: text.len() as u32,
        }
    }

    fn place(&mut self, block: Block) -> u32 {
        match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(block);
                s
            }
            None => {
                self.slots.push(Some(block));
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn seal_open(&mut self, held: &mut i64) {
        let Some(o) = self.open.take() else { return };
        let Some(block) = self.slots[o as usize].as_mut() else {
            return;
        };
        if let Body::Open(raw) = &mut block.body {
            let raw = std::mem::take(raw);
            let before = raw.len();
            let sealed = seal(raw, self.packing);
            *held += sealed.bytes.len() as i64 - before as i64;
            block.body = Body::Sealed(Arc::new(sealed));
        }
    }

    /// Gives up a document's text; its block goes when this was the last one in it.
    pub fn release(&mut self, loc: Loc, held: &mut i64) {
        let Some(block) = self
            .slots
            .get_mut(loc.block as usize)
            .and_then(Option::as_mut)
        else {
            return;
        };
        block.live = block.live.saturating_sub(1);
        block.live_raw = block.live_raw.saturating_sub(loc.len);
        self.live_raw = self.live_raw.saturating_sub(loc.len as usize);
        if block.live > 0 {
            return;
        }
        *held -= block.held() as i64;
        self.raw = self.raw.saturating_sub(block.raw_len());
        if self.open == Some(loc.block) {
            // Keep the open block's buffer for the next documents.
            if let Body::Open(raw) = &mut block.body {
                raw.clear();
            }
        } else {
            self.slots[loc.block as usize] = None;
            self.free.push(loc.block);
        }
    }

    /// Whether the sealed blocks hold more dead text than live (and a quarter block more):
    /// moving the live text out of the mostly dead ones then frees more than it copies. The
    /// open block is left out, since moving text cannot empty it.
    pub fn wants_compaction(&self) -> bool {
        let (open_raw, open_live) = self
            .open
            .and_then(|o| self.slots[o as usize].as_ref())
            .map_or((0, 0), |b| (b.raw_len(), b.live_raw as usize));
        let raw = self.raw.saturating_sub(open_raw);
        let live = self.live_raw.saturating_sub(open_live);
        raw.saturating_sub(live) > live + BLOCK_BYTES / 4
    }

    /// Whether `loc` is in a sealed block that is mostly dead text.
    pub fn sparse(&self, loc: Loc) -> bool {
        self.open != Some(loc.block)
            && self
                .slots
                .get(loc.block as usize)
                .and_then(Option::as_ref)
                .is_some_and(|b| (b.live_raw as usize) * 2 < b.raw_len())
    }

    /// Moves a document's text to the open block; returns where it is now.
    pub fn relocate(&mut self, loc: Loc, held: &mut i64, unpacker: &mut Unpacker) -> Loc {
        let text = self.text(loc);
        let bytes = unpacker.bytes(&text).to_vec();
        let moved = self.append(&bytes, held);
        self.release(loc, held);
        moved
    }

    pub fn text(&self, loc: Loc) -> Text {
        match self.slots.get(loc.block as usize).and_then(Option::as_ref) {
            Some(Block {
                body: Body::Open(raw),
                ..
            }) => Text::Plain(
                raw.get(loc.offset as usize..(loc.offset + loc.len) as usize)
                    .unwrap_or_default()
                    .to_vec(),
            ),
            Some(Block {
                body: Body::Sealed(s),
                ..
            }) => Text::Packed {
                block: s.clone(),
                offset: loc.offset,
                len: loc.len,
            },
            None => Text::Plain(Vec::new()),
        }
    }

    /// Whether the stored text at `loc` is `text`, without copying it out of an open block.
    pub fn holds(&self, loc: Loc, text: &[u8], unpacker: &mut Unpacker) -> bool {
        if loc.len as usize != text.len() {
            return false;
        }
        match self.slots.get(loc.block as usize).and_then(Option::as_ref) {
            Some(Block {
                body: Body::Open(raw),
                ..
            }) => raw.get(loc.offset as usize..(loc.offset + loc.len) as usize) == Some(text),
            _ => unpacker.bytes(&self.text(loc)) == text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(i: usize) -> String {
        format!(
            r#"{{"trace_id":"1-5f000000-{i:024x}","id":"{i:016x}","name":"checkout","start_time":{i}.5,"end_time":{i}.75,"http":{{"request":{{"method":"GET","url":"https://shop.example.com/cart/{i}"}}}}}}"#
        )
    }

    #[test]
    fn texts_read_back_from_open_and_sealed_blocks() {
        let mut b = Blocks::new(Packing::DOCUMENTS);
        let mut held = 0;
        let locs: Vec<(Loc, String)> = (0..3000)
            .map(|i| {
                let d = doc(i);
                (b.append(d.as_bytes(), &mut held), d)
            })
            .collect();
        let raw: usize = locs.iter().map(|(_, d)| d.len()).sum();
        assert!(b.slots.len() > 2, "several blocks were sealed");
        assert!(
            (held as usize) * 4 < raw,
            "similar documents pack well: {held} of {raw}"
        );
        let mut u = Unpacker::default();
        for (loc, d) in &locs {
            assert_eq!(u.string(&b.text(*loc)), *d);
            assert!(b.holds(*loc, d.as_bytes(), &mut u));
        }
        assert!(!b.holds(locs[0].0, doc(1).as_bytes(), &mut u));
    }

    #[test]
    fn a_block_is_freed_with_its_last_document() {
        let mut b = Blocks::new(Packing::DOCUMENTS);
        let mut held = 0;
        let locs: Vec<Loc> = (0..3000)
            .map(|i| b.append(doc(i).as_bytes(), &mut held))
            .collect();
        let first = locs[0].block;
        let in_first: Vec<Loc> = locs.iter().filter(|l| l.block == first).copied().collect();
        let before = held;
        for l in &in_first[1..] {
            b.release(*l, &mut held);
        }
        assert_eq!(held, before, "a block with a live document stays whole");
        b.release(in_first[0], &mut held);
        assert!(held < before);
        assert!(b.slots[first as usize].is_none());
        // The freed slot is reused, and documents elsewhere still read back.
        for i in 0..3000 {
            b.append(doc(i).as_bytes(), &mut held);
        }
        assert!(b.slots[first as usize].is_some());
        let mut u = Unpacker::default();
        assert_eq!(u.string(&b.text(locs[2999])), doc(2999));
        for l in &locs[in_first.len()..] {
            b.release(*l, &mut held);
        }
    }

    #[test]
    fn live_documents_move_out_of_mostly_dead_blocks() {
        let mut b = Blocks::new(Packing::DOCUMENTS);
        let mut held = 0;
        let mut locs: Vec<(Loc, String)> = (0..6000)
            .map(|i| {
                let d = doc(i);
                (b.append(d.as_bytes(), &mut held), d)
            })
            .collect();
        assert!(!b.wants_compaction());
        // Four documents in five die, spread over every block.
        let mut kept = Vec::new();
        for (i, (loc, d)) in locs.drain(..).enumerate() {
            if i % 5 == 0 {
                kept.push((loc, d));
            } else {
                b.release(loc, &mut held);
            }
        }
        assert!(b.wants_compaction());
        let before = b.raw;
        let mut u = Unpacker::default();
        for (loc, _) in kept.iter_mut() {
            if b.sparse(*loc) {
                *loc = b.relocate(*loc, &mut held, &mut u);
            }
        }
        assert!(!b.wants_compaction());
        assert!(
            b.raw * 2 < before,
            "dead blocks went: {} of {before}",
            b.raw
        );
        for (loc, d) in &kept {
            assert_eq!(u.string(&b.text(*loc)), *d);
        }
        for (loc, _) in kept {
            b.release(loc, &mut held);
        }
        assert_eq!(held, 0);
        assert_eq!((b.raw, b.live_raw), (0, 0));
    }

    #[test]
    fn releasing_everything_returns_every_byte() {
        let mut b = Blocks::new(Packing::DOCUMENTS);
        let mut held = 0;
        let locs: Vec<Loc> = (0..1000)
            .map(|i| b.append(doc(i).as_bytes(), &mut held))
            .collect();
        for l in locs {
            b.release(l, &mut held);
        }
        assert_eq!(held, 0);
    }
}
