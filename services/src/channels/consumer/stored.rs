//! A consumer's persisted state and its byte format.
//!
//! Version 1, all integers big-endian:
//!
//! ```text
//! version:u8 (1) epoch:u64 ack_wait_secs:u64 ack_wait_nanos:u32 max_ack_pending:u32
//! floor:u64 delivered_upto:u64 ranges:u32 (start:u64 end:u64)*ranges
//! ```
//!
//! Ranges are the acknowledged sequence numbers `[start, end)` above the floor: increasing,
//! not adjacent, with `floor < start < end <= delivered_upto`. Exactly one encoding is valid
//! for each state.

use super::{Config, MAX_ACK_PENDING};
use std::time::Duration;

/// What a consumer persists (see [`super::Consumer::restore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The caller's ownership token (compare-and-set on attach).
    pub epoch: u64,
    /// The consumer's settings.
    pub config: Config,
    /// Every sequence number below it is acknowledged or was trimmed.
    pub floor: u64,
    /// The next sequence number never delivered.
    pub delivered_upto: u64,
    /// Acknowledged ranges `[start, end)` above the floor, in order.
    pub acked: Vec<(u64, u64)>,
}

const VERSION: u8 = 1;
const HEAD: usize = 1 + 8 + 8 + 4 + 4 + 8 + 8 + 4;

impl Stored {
    /// The bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEAD + 16 * self.acked.len());
        b.push(VERSION);
        b.extend_from_slice(&self.epoch.to_be_bytes());
        b.extend_from_slice(&self.config.ack_wait.as_secs().to_be_bytes());
        b.extend_from_slice(&self.config.ack_wait.subsec_nanos().to_be_bytes());
        b.extend_from_slice(&self.config.max_ack_pending.to_be_bytes());
        b.extend_from_slice(&self.floor.to_be_bytes());
        b.extend_from_slice(&self.delivered_upto.to_be_bytes());
        let n = u32::try_from(self.acked.len()).expect("at most MAX_ACK_PENDING ranges");
        b.extend_from_slice(&n.to_be_bytes());
        for &(start, end) in &self.acked {
            b.extend_from_slice(&start.to_be_bytes());
            b.extend_from_slice(&end.to_be_bytes());
        }
        b
    }

    /// Reads bytes written by [`Stored::encode`]; the error says what is wrong.
    pub fn decode(b: &[u8]) -> Result<Stored, String> {
        let mut r = Reader(b);
        let version = r.take::<1>()?[0];
        if version != VERSION {
            return Err(format!(
                "consumer state has version {version}, this build reads {VERSION}"
            ));
        }
        let epoch = r.u64()?;
        let secs = r.u64()?;
        let nanos = u32::from_be_bytes(r.take()?);
        if nanos >= 1_000_000_000 {
            return Err("consumer state: ack_wait nanoseconds out of range".into());
        }
        let max_ack_pending = u32::from_be_bytes(r.take()?);
        if !(1..=MAX_ACK_PENDING).contains(&max_ack_pending) {
            return Err("consumer state: max_ack_pending out of range".into());
        }
        let floor = r.u64()?;
        let delivered_upto = r.u64()?;
        if floor == 0 || floor > delivered_upto {
            return Err("consumer state: floor out of range".into());
        }
        let n = u32::from_be_bytes(r.take()?) as usize;
        if r.0.len() != n.checked_mul(16).ok_or("consumer state: too many ranges")? {
            return Err("consumer state: wrong length".into());
        }
        let mut acked = Vec::with_capacity(n);
        let mut prev_end = floor; // a range starts above the floor and the previous range
        // Sequence numbers in flight: those in [floor, delivered_upto) not acknowledged.
        let mut unacked = 0u64;
        for _ in 0..n {
            let (start, end) = (r.u64()?, r.u64()?);
            if start <= prev_end || end <= start || end > delivered_upto {
                return Err("consumer state: acknowledged ranges out of order".into());
            }
            unacked += start - prev_end;
            prev_end = end;
            acked.push((start, end));
        }
        unacked += delivered_upto - prev_end;
        if unacked > u64::from(MAX_ACK_PENDING) {
            return Err("consumer state: more than MAX_ACK_PENDING in flight".into());
        }
        Ok(Stored {
            epoch,
            config: Config {
                ack_wait: Duration::new(secs, nanos),
                max_ack_pending,
            },
            floor,
            delivered_upto,
            acked,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or("consumer state: truncated")?;
        self.0 = rest;
        Ok(*head)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.take().map(u64::from_be_bytes)
    }
}
