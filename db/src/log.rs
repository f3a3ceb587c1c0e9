//! Append-only logs: records numbered from 1, read by range, trimmed from the oldest end.

use bytes::Bytes;
use std::time::Duration;

/// One record of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its sequence number.
    pub seq: u64,
    /// When it was appended, milliseconds since the Unix epoch. Never less than the time of
    /// the record before it in the log, even if the wall clock stepped back (on PostgreSQL:
    /// see docs/STORAGE.md for the one exception).
    pub time_ms: u64,
    /// The record.
    pub data: Bytes,
}

/// The state of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogInfo {
    /// The oldest sequence number still kept (`next` when empty).
    pub first: u64,
    /// The sequence number the next append gets.
    pub next: u64,
    /// Records kept.
    pub count: u64,
    /// Bytes of data kept.
    pub bytes: u64,
}

/// What a trim keeps: records are removed from the oldest end until every bound holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trim {
    /// At most this many records.
    pub max_count: Option<u64>,
    /// At most this many bytes of data.
    pub max_bytes: Option<u64>,
    /// No record older than this.
    pub max_age: Option<Duration>,
}

/// The most records one [`Op::Trim`](crate::Op::Trim) removes. A trim that removes exactly
/// this many may have left more over its bounds: call it again (in a request of its own, so
/// appends to the log are not held up behind one long trim) until it removes fewer.
pub const TRIM_SLICE: u64 = 4096;

impl Trim {
    /// The retention rule, for the oldest record still kept: whether it goes, given that the
    /// log keeps `count` records of `bytes` bytes (this one included) and that the record was
    /// appended at `time_ms`, now being `now_ms`. A trim removes oldest records while this
    /// holds, and stops at the first one that stays.
    pub fn drops(&self, count: u64, bytes: u64, time_ms: u64, now_ms: u64) -> bool {
        let too_many = self.max_count.is_some_and(|m| count > m);
        let too_big = self.max_bytes.is_some_and(|m| bytes > m);
        let too_old = self.max_age.is_some_and(|a| {
            let age = u64::try_from(a.as_millis()).unwrap_or(u64::MAX);
            time_ms < now_ms.saturating_sub(age)
        });
        too_many || too_big || too_old
    }
}

/// One trim slice, without the store: walks the log's oldest records from `info.first`
/// (`record(seq)` gives a record's length and time, `None` for a hole, which is skipped) and
/// decides with [`Trim::drops`] which go, at most `slice` of them. Returns the log's state
/// after the removal; the records that go are those from the old `first` up to the new one.
pub(crate) fn trim_slice<E>(
    trim: &Trim,
    now_ms: u64,
    slice: u64,
    mut info: LogInfo,
    mut record: impl FnMut(u64) -> Result<Option<(u64, u64)>, E>,
) -> Result<LogInfo, E> {
    let mut removed = 0;
    // Bounded by the sequence range too, so a count out of step with the records can never
    // keep the caller here.
    while removed < slice && info.count > 0 && info.first < info.next {
        let Some((len, time_ms)) = record(info.first)? else {
            info.first += 1; // a hole cannot happen, but must not stop the trim
            continue;
        };
        if !trim.drops(info.count, info.bytes, time_ms, now_ms) {
            break;
        }
        info.first += 1;
        info.count -= 1;
        info.bytes -= len.min(info.bytes);
        removed += 1;
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The model: the records kept are the longest tail whose oldest record the rule would
    /// keep, i.e. the shortest head whose removal leaves every bound held (or the log empty).
    fn model(trim: &Trim, now_ms: u64, log: &[(u64, u64)]) -> usize {
        (0..log.len())
            .find(|&cut| {
                let rest = &log[cut..];
                let bytes = rest.iter().map(|r| r.0).sum::<u64>();
                let count = rest.len() as u64;
                trim.max_count.is_none_or(|m| count <= m)
                    && trim.max_bytes.is_none_or(|m| bytes <= m)
                    && trim
                        .max_age
                        .is_none_or(|a| rest[0].1 >= now_ms.saturating_sub(a.as_millis() as u64))
            })
            .unwrap_or(log.len())
    }

    fn trims() -> impl Strategy<Value = Trim> {
        (
            proptest::option::of(0u64..30),
            proptest::option::of(0u64..400),
            proptest::option::of(0u64..100),
        )
            .prop_map(|(c, b, a)| Trim {
                max_count: c,
                max_bytes: b,
                max_age: a.map(Duration::from_millis),
            })
    }

    proptest! {
        /// Slices of the rule, called again while they remove a full slice, end where the
        /// model does; no call removes more than a slice; a short slice means done.
        #[test]
        fn slices_of_the_rule_agree_with_the_model(
            log in proptest::collection::vec((0u64..40, 0u64..200), 0..60),
            monotonic in any::<bool>(),
            trim in trims(),
            slice in 1u64..8,
            first in 1u64..1000,
        ) {
            let mut log = log;
            if monotonic {
                log.sort_by_key(|r| r.1);
            }
            let now_ms = 150;
            let mut info = LogInfo {
                first,
                next: first + log.len() as u64,
                count: log.len() as u64,
                bytes: log.iter().map(|r| r.0).sum(),
            };
            let at = |seq: u64| Ok::<_, ()>(log.get((seq - first) as usize).copied());
            let mut calls = 0;
            loop {
                let after = trim_slice(&trim, now_ms, slice, info, at).unwrap();
                let removed = info.count - after.count;
                prop_assert!(removed <= slice);
                prop_assert_eq!(after.first - info.first, removed, "no holes here");
                info = after;
                calls += 1;
                if removed < slice {
                    break;
                }
            }
            let cut = model(&trim, now_ms, &log);
            prop_assert_eq!(info.first - first, cut as u64);
            prop_assert_eq!(info.count, (log.len() - cut) as u64);
            prop_assert_eq!(info.bytes, log[cut..].iter().map(|r| r.0).sum::<u64>());
            prop_assert!(calls as u64 <= cut as u64 / slice + 1);
            // Done means done: once a slice came back short, another removes nothing.
            prop_assert_eq!(trim_slice(&trim, now_ms, slice, info, at).unwrap(), info);
        }
    }

    #[test]
    fn holes_are_skipped_and_not_counted() {
        let trim = Trim {
            max_count: Some(0),
            ..Trim::default()
        };
        let info = LogInfo {
            first: 1,
            next: 4,
            count: 2,
            bytes: 5,
        };
        let log = |seq: u64| Ok::<_, ()>((seq != 2).then_some((seq, 0)));
        let after = trim_slice(&trim, 0, 10, info, log).unwrap();
        assert_eq!((after.first, after.count, after.bytes), (4, 0, 1));
    }
}
