//! The segments-per-second quota, per account and region as X-Ray applies it: a request takes
//! all its documents' worth at once or is refused whole, so a throttled request stores nothing.

use crate::store::Partition;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::time::Duration;

/// A refusal, with when a retry of the same size could pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttled {
    pub retry_after: Duration,
}

pub struct SegmentQuota {
    limiter: Option<DefaultKeyedRateLimiter<Partition>>,
    per_second: u32,
}

impl SegmentQuota {
    pub fn unlimited() -> SegmentQuota {
        SegmentQuota {
            limiter: None,
            per_second: 0,
        }
    }

    /// `per_second` documents a second, a second's worth in a burst.
    pub fn per_second(per_second: NonZeroU32) -> SegmentQuota {
        SegmentQuota {
            limiter: Some(DefaultKeyedRateLimiter::keyed(Quota::per_second(
                per_second,
            ))),
            per_second: per_second.get(),
        }
    }

    /// Takes `n` documents' worth for `part`, or refuses them all.
    pub fn take(&self, part: &Partition, n: usize) -> Result<(), Throttled> {
        let (Some(limiter), Some(n)) = (&self.limiter, NonZeroU32::new(n as u32)) else {
            return Ok(());
        };
        match limiter.check_key_n(part, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Throttled {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }),
            // More than a second's worth at once can never pass.
            Err(_) => Err(Throttled {
                retry_after: Duration::from_secs(1),
            }),
        }
    }

    /// The message of a refusal.
    pub fn message(&self, t: Throttled) -> String {
        format!(
            "Rate exceeded: the quota is {} segment documents a second for this account and region; retry in {} ms.",
            self.per_second,
            t.retry_after.as_millis().max(1)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_takes_its_whole_size_or_nothing_and_accounts_are_apart() {
        let q = SegmentQuota::per_second(NonZeroU32::new(100).unwrap());
        let (a, b) = (
            Partition::default(),
            Partition {
                account: "111111111111".into(),
                region: "us-east-1".into(),
            },
        );
        assert!(q.take(&a, 60).is_ok());
        let refused = q.take(&a, 60).unwrap_err();
        assert!(
            refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(1)
        );
        assert!(q.take(&a, 40).is_ok(), "the refused request took nothing");
        assert!(q.take(&b, 100).is_ok());
        assert!(q.take(&b, 101).is_err());
        assert!(SegmentQuota::unlimited().take(&a, 1_000_000).is_ok());
    }
}
