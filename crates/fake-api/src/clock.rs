//! The fake's clock: records exist only once their `created_at` is at or before `now`.
//! Either fixed (tests set and advance it) or live (real time plus an adjustable offset, so new
//! chats keep arriving as real time passes).

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy)]
enum Mode {
    Fixed(DateTime<Utc>),
    Live { offset: Duration },
}

/// A settable clock shared by the server and its handle.
#[derive(Debug)]
pub struct FakeClock {
    mode: Mutex<Mode>,
}

impl FakeClock {
    /// A clock stopped at `now`.
    pub fn fixed(now: DateTime<Utc>) -> Self {
        Self {
            mode: Mutex::new(Mode::Fixed(now)),
        }
    }

    /// A clock following real time.
    pub fn live() -> Self {
        Self {
            mode: Mutex::new(Mode::Live {
                offset: Duration::zero(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mode> {
        // A poisoned lock only means another thread panicked mid-update of a Copy value;
        // the value itself is still consistent.
        self.mode
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The fake's current time.
    pub fn now(&self) -> DateTime<Utc> {
        match *self.lock() {
            Mode::Fixed(now) => now,
            Mode::Live { offset } => Utc::now() + offset,
        }
    }

    /// Whether the clock follows real time.
    pub fn is_live(&self) -> bool {
        matches!(*self.lock(), Mode::Live { .. })
    }

    /// Moves the clock to `now`; a live clock keeps ticking from there.
    pub fn set(&self, now: DateTime<Utc>) {
        let mut mode = self.lock();
        *mode = match *mode {
            Mode::Fixed(_) => Mode::Fixed(now),
            Mode::Live { .. } => Mode::Live {
                offset: now - Utc::now(),
            },
        };
    }

    /// Moves the clock by `by` (negative moves it back).
    pub fn advance(&self, by: Duration) {
        let mut mode = self.lock();
        *mode = match *mode {
            Mode::Fixed(now) => Mode::Fixed(now + by),
            Mode::Live { offset } => Mode::Live {
                offset: offset + by,
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_775_000_000, 0).unwrap();
        let clock = FakeClock::fixed(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::minutes(5));
        assert_eq!(clock.now(), start + Duration::minutes(5));
        clock.set(start);
        assert_eq!(clock.now(), start);
        assert!(!clock.is_live());
    }

    #[test]
    fn a_live_clock_follows_real_time_from_where_it_was_set() {
        let clock = FakeClock::live();
        let target = DateTime::from_timestamp(1_775_000_000, 0).unwrap();
        clock.set(target);
        let now = clock.now();
        assert!(now >= target && now - target < Duration::seconds(5));
        clock.advance(Duration::hours(1));
        assert!(clock.now() - target >= Duration::hours(1));
        assert!(clock.is_live());
    }
}
