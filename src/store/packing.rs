//! Compression for many small, similar texts that are read one at a time (encoded trace
//! summaries; documents are packed in blocks instead, see `memory::blocks`).
//!
//! One small text compresses poorly on its own, but the texts of one application share most
//! of their bytes with each other. So each `Packer` compresses with a dictionary: a seed of
//! common X-Ray vocabulary at first, then, once enough text has been seen, a zstd dictionary
//! trained on the first texts of this run (it carries entropy tables too, so small texts need
//! not build their own). Each packed text records which dictionary it used, so both
//! stay readable. Compression contexts are pooled with their dictionary loaded, since loading
//! a dictionary costs far more than compressing one small document with it.

use parking_lot::Mutex;
use std::sync::OnceLock;
use zstd::bulk::{Compressor, Decompressor};

/// Fast: documents are small and similar, so the dictionary does most of the work.
const LEVEL: i32 = 1;

/// How much sample text the learned dictionary is trained on.
const SAMPLE_BYTES: usize = 128 * 1024;
/// Size of a trained dictionary.
const DICTIONARY_BYTES: usize = 16 * 1024;

/// Which dictionary a text was packed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Packing {
    Raw = 0,
    Seed = 1,
    Learned = 2,
}

pub struct Packer {
    seed: &'static [u8],
    learned: OnceLock<Box<[u8]>>,
    sample: Mutex<Vec<Vec<u8>>>,
    compressors: Mutex<Vec<(Packing, Compressor<'static>)>>,
    decompressors: Mutex<Vec<(Packing, Decompressor<'static>)>>,
}

/// Vocabulary of rendered trace summaries.
pub const SUMMARY_SEED: &str = concat!(
    r#""StartTime":1,"Duration":0.,"ResponseTime":0.,"HasFault":false,"HasError":false,"HasThrottle":false,"#,
    r#""IsPartial":false,"Http":{"HttpURL":"https://","HttpStatus":200,"HttpMethod":"GET","UserAgent":"","ClientIp":""},"#,
    r#""Annotations":{"":[{"AnnotationValue":{"StringValue":""},"ServiceIds":[{"Name":"","Names":[""]}]}]},"Users":[],"#,
    r#""ServiceIds":[{"Name":"","Names":[""],"AccountId":"","Type":"AWS::EC2::Instance"}],"ResourceARNs":[],"InstanceIds":[],"#,
    r#""AvailabilityZones":[],"EntryPoint":{"Name":"","Names":[""]},"FaultRootCauses":[],"ErrorRootCauses":[],"#,
    r#""ResponseTimeRootCauses":[{"Services":[{"Name":"","Names":[""],"EntityPath":[{"Name":"","Coverage":1.0}],"Inferred":false}],"ClientImpacting":true}]"#,
);

impl Packer {
    pub fn new(seed: &'static str) -> Packer {
        Packer {
            seed: seed.as_bytes(),
            learned: OnceLock::new(),
            sample: Mutex::new(Vec::new()),
            compressors: Mutex::new(Vec::new()),
            decompressors: Mutex::new(Vec::new()),
        }
    }

    fn dictionary(&self, packing: Packing) -> &[u8] {
        match packing {
            Packing::Learned => self.learned.get().map_or(self.seed, |d| &d[..]),
            _ => self.seed,
        }
    }

    fn compressor(&self, packing: Packing) -> Option<Compressor<'static>> {
        let mut pool = self.compressors.lock();
        while let Some((k, c)) = pool.pop() {
            if k == packing {
                return Some(c);
            }
        }
        drop(pool);
        let mut c = Compressor::with_dictionary(LEVEL, self.dictionary(packing)).ok()?;
        // The store keeps each text's length and dictionary; the frame need not repeat them.
        c.include_magicbytes(false).ok()?;
        c.include_checksum(false).ok()?;
        c.include_contentsize(false).ok()?;
        c.include_dictid(false).ok()?;
        Some(c)
    }

    fn decompressor(&self, packing: Packing) -> Option<Decompressor<'static>> {
        let mut pool = self.decompressors.lock();
        if let Some(i) = pool.iter().position(|(k, _)| *k == packing) {
            return Some(pool.swap_remove(i).1);
        }
        drop(pool);
        let mut d = Decompressor::with_dictionary(self.dictionary(packing)).ok()?;
        d.include_magicbytes(false).ok()?;
        Some(d)
    }

    pub fn pack(&self, text: &[u8]) -> (Packing, Box<[u8]>) {
        let packing = if self.learned.get().is_some() {
            Packing::Learned
        } else {
            self.learn_from(text);
            Packing::Seed
        };
        let Some(mut c) = self.compressor(packing) else {
            return (Packing::Raw, text.into());
        };
        let packed = c.compress(text);
        self.compressors.lock().push((packing, c));
        match packed {
            Ok(p) if p.len() < text.len() => (packing, p.into_boxed_slice()),
            _ => (Packing::Raw, text.into()),
        }
    }

    pub fn unpack(&self, packing: Packing, packed: &[u8], len: usize) -> Vec<u8> {
        if packing == Packing::Raw {
            return packed.to_vec();
        }
        let Some(mut d) = self.decompressor(packing) else {
            return Vec::new();
        };
        let text = d.decompress(packed, len).unwrap_or_default();
        self.decompressors.lock().push((packing, d));
        text
    }

    fn learn_from(&self, text: &[u8]) {
        let mut sample = self.sample.lock();
        if self.learned.get().is_some() {
            return;
        }
        sample.push(text.to_vec());
        let total: usize = sample.iter().map(Vec::len).sum();
        if total >= SAMPLE_BYTES {
            let dict = zstd::dict::from_samples(&sample, DICTIONARY_BYTES).unwrap_or_else(|_| {
                // Too uniform or too few texts to train on: use them as raw content instead.
                let mut raw = self.seed.to_vec();
                sample.iter().for_each(|s| raw.extend_from_slice(s));
                raw
            });
            let _ = self.learned.set(dict.into_boxed_slice());
            *sample = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_packed_before_and_after_learning_both_unpack() {
        let p = Packer::new(SUMMARY_SEED);
        let doc = |i: usize| {
            format!(
                r#"{{"trace_id":"1-5f000000-{i:024x}","id":"{i:016x}","name":"checkout","start_time":{i}.5,"end_time":{i}.75,"http":{{"request":{{"method":"GET","url":"https://shop.example.com/cart/{i}"}}}}}}"#
            )
        };
        let mut packed = Vec::new();
        for i in 0..2000 {
            let d = doc(i);
            let (k, b) = p.pack(d.as_bytes());
            packed.push((d, k, b));
        }
        assert_eq!(packed[0].1, Packing::Seed);
        assert_eq!(packed.last().unwrap().1, Packing::Learned);
        for (d, k, b) in &packed {
            assert_eq!(p.unpack(*k, b, d.len()), d.as_bytes());
        }
        let (d, _, b) = packed.last().unwrap();
        assert!(
            b.len() * 3 < d.len(),
            "learned dictionary packs similar documents well: {} of {}",
            b.len(),
            d.len()
        );
    }

    #[test]
    fn incompressible_text_is_kept_raw() {
        let p = Packer::new(SUMMARY_SEED);
        let (k, b) = p.pack(b"x");
        assert_eq!((k, &b[..]), (Packing::Raw, &b"x"[..]));
        assert_eq!(p.unpack(k, &b, 1), b"x");
    }
}
