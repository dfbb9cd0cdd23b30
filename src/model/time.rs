//! Time on the X-Ray wire is epoch seconds as a JSON number; inside we keep microseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Epoch microseconds.
pub type Micros = i64;

/// Converts epoch seconds to microseconds, refusing what cannot be a time.
pub fn secs_to_micros(secs: f64) -> Option<Micros> {
    if !secs.is_finite() || !(0.0..=1.0e12).contains(&secs) {
        return None;
    }
    Some((secs * 1_000_000.0).round() as Micros)
}

pub fn micros_to_secs(us: Micros) -> f64 {
    us as f64 / 1_000_000.0
}

/// A source of "now", injectable so retention and ordering are testable without sleeping.
pub trait Clock: Send + Sync + 'static {
    fn now_micros(&self) -> Micros;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> Micros {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as Micros)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_convert_to_micros_and_back() {
        assert_eq!(secs_to_micros(1480615200.010), Some(1_480_615_200_010_000));
        assert_eq!(micros_to_secs(1_480_615_200_010_000), 1480615200.01);
        assert_eq!(secs_to_micros(f64::NAN), None);
        assert_eq!(secs_to_micros(-1.0), None);
    }
}
