//! Time windows a job covers: the next sync window of an integration, the batches of a
//! backfill, and the checks on a requested backfill range.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// A half-open time range `[start, end)`. Windows built by this crate are never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// How long the window is.
    pub fn duration(&self) -> TimeDelta {
        self.end.signed_duration_since(self.start)
    }

    /// Whether `instant` falls inside `[start, end)`.
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.start <= instant && instant < self.end
    }
}

/// The Compliance API makes activity queryable within a minute; a window closer to now than
/// that would miss records that exist but are not indexed yet.
pub const MIN_SYNC_LAG: TimeDelta = TimeDelta::minutes(1);

/// How a sync job chooses its window. Built through [`SyncWindowSettings::new`], which
/// enforces the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncWindowSettings {
    lag: TimeDelta,
    overlap: TimeDelta,
    initial_lookback: TimeDelta,
    max_window: TimeDelta,
}

/// The longest window a sync job covers unless told otherwise: one attempt pulls at most an
/// hour of activity, so after a pause or an outage the backlog is caught up as consecutive
/// windows instead of one that no attempt can finish.
pub const DEFAULT_MAX_SYNC_WINDOW: TimeDelta = TimeDelta::hours(1);

/// A [`SyncWindowSettings`] value out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncWindowSettingsError {
    #[error("invalid lag {}: must be at least 60s, because the Compliance API makes activity queryable only within a minute", describe(.0))]
    LagTooShort(TimeDelta),
    #[error("invalid overlap {}: must be zero or more", describe(.0))]
    NegativeOverlap(TimeDelta),
    #[error("invalid initial_lookback {}: must be greater than zero", describe(.0))]
    NonPositiveInitialLookback(TimeDelta),
    #[error("invalid sync_max_window {}: must be at least 60s", describe(.0))]
    MaxWindowTooShort(TimeDelta),
}

impl SyncWindowSettings {
    /// - `lag`: how far behind now a window ends; at least [`MIN_SYNC_LAG`].
    /// - `overlap`: how far a window reaches back before the watermark, so that records
    ///   indexed a little late are still seen; zero or more.
    /// - `initial_lookback`: how far back the first window of a new integration starts.
    pub fn new(
        lag: TimeDelta,
        overlap: TimeDelta,
        initial_lookback: TimeDelta,
    ) -> Result<Self, SyncWindowSettingsError> {
        if lag < MIN_SYNC_LAG {
            return Err(SyncWindowSettingsError::LagTooShort(lag));
        }
        if overlap < TimeDelta::zero() {
            return Err(SyncWindowSettingsError::NegativeOverlap(overlap));
        }
        if initial_lookback <= TimeDelta::zero() {
            return Err(SyncWindowSettingsError::NonPositiveInitialLookback(
                initial_lookback,
            ));
        }
        Ok(Self {
            lag,
            overlap,
            initial_lookback,
            max_window: DEFAULT_MAX_SYNC_WINDOW,
        })
    }

    /// Caps how far past the watermark (or past the start, for a first window) a window
    /// reaches; at least a minute. The default is [`DEFAULT_MAX_SYNC_WINDOW`].
    pub fn with_max_window(self, max_window: TimeDelta) -> Result<Self, SyncWindowSettingsError> {
        if max_window < TimeDelta::minutes(1) {
            return Err(SyncWindowSettingsError::MaxWindowTooShort(max_window));
        }
        Ok(Self { max_window, ..self })
    }

    pub fn max_window(&self) -> TimeDelta {
        self.max_window
    }

    /// Whether an integration synced up to `watermark` has at least one whole capped window
    /// to cover at `now`: a backlog to catch up without waiting for the next tick.
    pub fn is_behind(&self, watermark: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        watermark
            .checked_add_signed(self.max_window)
            .is_some_and(|full| full <= saturating_sub(now, self.lag))
    }

    pub fn lag(&self) -> TimeDelta {
        self.lag
    }

    pub fn overlap(&self) -> TimeDelta {
        self.overlap
    }

    pub fn initial_lookback(&self) -> TimeDelta {
        self.initial_lookback
    }
}

impl Default for SyncWindowSettings {
    /// Lag 2 minutes (twice the indexing delay), overlap 2 minutes, first window 1 hour.
    fn default() -> Self {
        Self {
            lag: TimeDelta::minutes(2),
            overlap: TimeDelta::minutes(2),
            initial_lookback: TimeDelta::hours(1),
            max_window: DEFAULT_MAX_SYNC_WINDOW,
        }
    }
}

/// The window the next sync job of an integration covers, or `None` when it would not
/// reach past the watermark (nothing new to cover yet).
///
/// `start` is `watermark − overlap`, or `now − initial_lookback` rounded down to the whole
/// minute for an integration never synced (so that replicas whose clocks differ by seconds
/// mostly agree on it); `end` is `now − lag`, but at most `max_window` past the watermark (or
/// past the start of a first window), so a backlog is covered as consecutive windows, oldest
/// first; both are whole seconds. A window always ends after the watermark: a window that did not could
/// succeed without moving the watermark, and every later tick would compute it again. Any
/// schedule therefore makes progress, a 30-second one included. The start depends on the
/// watermark only, not on the clock, so scheduler replicas whose clocks differ by seconds
/// agree on it; which of their ends is recorded does not matter, since the next window starts
/// from the watermark that job leaves behind.
pub fn next_sync_window(
    watermark: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    settings: &SyncWindowSettings,
) -> Option<Window> {
    let end = floor_to_second(saturating_sub(now, settings.lag));
    let (start, reach_from) = match watermark {
        Some(watermark) if end <= watermark => return None,
        Some(watermark) => (
            floor_to_second(saturating_sub(watermark, settings.overlap)),
            watermark,
        ),
        None => {
            let start = floor_to_minute(saturating_sub(now, settings.initial_lookback));
            (start, start)
        }
    };
    let end = reach_from
        .checked_add_signed(settings.max_window)
        .map_or(end, |cap| end.min(floor_to_second(cap)));
    (start < end).then_some(Window { start, end })
}

/// The watermark after a sync job over a window ending at `window_end` succeeded: it only
/// moves forward, so a late success of an older window cannot pull it back.
pub fn advance_watermark(
    current: Option<DateTime<Utc>>,
    window_end: DateTime<Utc>,
) -> DateTime<Utc> {
    current.map_or(window_end, |current| current.max(window_end))
}

/// The most batches one backfill may be split into unless the caller says otherwise: about
/// 27 years of daily batches or 14 months of hourly ones.
pub const DEFAULT_MAX_BATCHES: u64 = 10_000;

/// Why a range cannot be split into batches.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("invalid start {}: must be before end {}", rfc3339(.start), rfc3339(.end))]
    EmptyRange {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error("invalid batch_width {}: must be greater than zero", describe(.0))]
    NonPositiveWidth(TimeDelta),
    #[error(
        "invalid batch_width {}: the range gives {batches} batches, more than the maximum of {max_batches}; use a wider batch_width or a shorter range",
        describe(.width)
    )]
    TooManyBatches {
        width: TimeDelta,
        batches: u128,
        max_batches: u64,
    },
}

/// How many batches of `width` cover `[start, end)`: `ceil((end − start) / width)`.
pub fn batch_count(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    width: TimeDelta,
) -> Result<u128, SplitError> {
    if start >= end {
        return Err(SplitError::EmptyRange { start, end });
    }
    if width <= TimeDelta::zero() {
        return Err(SplitError::NonPositiveWidth(width));
    }
    // Both are positive here.
    let length = nanoseconds(end.signed_duration_since(start)).unsigned_abs();
    Ok(length.div_ceil(nanoseconds(width).unsigned_abs()))
}

/// Splits `[start, end)` into contiguous batches of `width`, the last one shorter when the
/// range is not a multiple of `width`. Refuses ranges that give more than `max_batches`
/// batches before allocating any.
pub fn split_range(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    width: TimeDelta,
    max_batches: u64,
) -> Result<Vec<Window>, SplitError> {
    let batches = batch_count(start, end, width)?;
    if batches > u128::from(max_batches) {
        return Err(SplitError::TooManyBatches {
            width,
            batches,
            max_batches,
        });
    }
    // Bounded by max_batches just above.
    let mut windows = Vec::with_capacity(usize::try_from(batches).unwrap_or(0));
    let mut cursor = start;
    while cursor < end {
        let next = cursor
            .checked_add_signed(width)
            .map_or(end, |next| next.min(end));
        windows.push(Window {
            start: cursor,
            end: next,
        });
        cursor = next;
    }
    Ok(windows)
}

/// Why a requested backfill range is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackfillRangeError {
    #[error("invalid start {}: must be before end {}", rfc3339(.start), rfc3339(.end))]
    StartNotBeforeEnd {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error("invalid end {}: must not be in the future (now is {})", rfc3339(.end), rfc3339(.now))]
    EndInFuture {
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error(
        "invalid start {}: must not be before {}, the earliest time that can be backfilled",
        rfc3339(.start),
        rfc3339(.horizon)
    )]
    StartBeforeHorizon {
        start: DateTime<Utc>,
        horizon: DateTime<Utc>,
    },
}

/// Checks a requested backfill range: `start < end`, `end ≤ now`, `start ≥ horizon` (the
/// earliest instant the upstream still holds, e.g. its retention or when the API was enabled).
pub fn validate_backfill_range(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
) -> Result<Window, BackfillRangeError> {
    if start >= end {
        return Err(BackfillRangeError::StartNotBeforeEnd { start, end });
    }
    if end > now {
        return Err(BackfillRangeError::EndInFuture { end, now });
    }
    if start < horizon {
        return Err(BackfillRangeError::StartBeforeHorizon { start, horizon });
    }
    Ok(Window { start, end })
}

fn saturating_sub(instant: DateTime<Utc>, delta: TimeDelta) -> DateTime<Utc> {
    instant
        .checked_sub_signed(delta)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Rounds towards the past, also before 1970.
fn floor_to_second(instant: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(instant.timestamp(), 0).unwrap_or(instant)
}

/// Rounds towards the past, also before 1970.
fn floor_to_minute(instant: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = instant.timestamp().div_euclid(60) * 60;
    DateTime::from_timestamp(seconds, 0).unwrap_or(instant)
}

fn nanoseconds(delta: TimeDelta) -> i128 {
    i128::from(delta.num_seconds()) * 1_000_000_000 + i128::from(delta.subsec_nanos())
}

fn rfc3339(instant: &DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Seconds when whole, milliseconds otherwise: short and unambiguous in messages.
fn describe(delta: &TimeDelta) -> String {
    if delta.subsec_nanos() == 0 {
        format!("{}s", delta.num_seconds())
    } else {
        format!("{}ms", delta.num_milliseconds())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn settings(lag_minutes: i64, overlap_minutes: i64) -> SyncWindowSettings {
        SyncWindowSettings::new(
            TimeDelta::minutes(lag_minutes),
            TimeDelta::minutes(overlap_minutes),
            TimeDelta::hours(1),
        )
        .unwrap()
    }

    #[test]
    fn a_lag_under_a_minute_is_refused_with_the_field_and_the_bound() {
        let error = SyncWindowSettings::new(
            TimeDelta::seconds(30),
            TimeDelta::zero(),
            TimeDelta::hours(1),
        )
        .unwrap_err();
        assert_eq!(
            error,
            SyncWindowSettingsError::LagTooShort(TimeDelta::seconds(30))
        );
        assert!(error
            .to_string()
            .starts_with("invalid lag 30s: must be at least 60s"));
    }

    #[test]
    fn a_negative_overlap_and_an_empty_lookback_are_refused() {
        let overlap = SyncWindowSettings::new(
            TimeDelta::minutes(1),
            TimeDelta::seconds(-1),
            TimeDelta::hours(1),
        )
        .unwrap_err();
        assert_eq!(
            overlap.to_string(),
            "invalid overlap -1s: must be zero or more"
        );
        let lookback =
            SyncWindowSettings::new(TimeDelta::minutes(1), TimeDelta::zero(), TimeDelta::zero())
                .unwrap_err();
        assert_eq!(
            lookback.to_string(),
            "invalid initial_lookback 0s: must be greater than zero"
        );
    }

    #[test]
    fn the_default_settings_pass_their_own_validation() {
        let default = SyncWindowSettings::default();
        assert_eq!(
            SyncWindowSettings::new(default.lag(), default.overlap(), default.initial_lookback()),
            Ok(default)
        );
    }

    #[test]
    fn a_sync_window_starts_one_overlap_before_the_watermark_and_ends_lag_before_now() {
        let window = next_sync_window(
            Some(at("2026-04-08T10:00:00Z")),
            at("2026-04-08T10:07:42.5Z"),
            &settings(2, 3),
        )
        .unwrap();
        assert_eq!(window.start, at("2026-04-08T09:57:00Z"));
        assert_eq!(window.end, at("2026-04-08T10:05:42Z"));
    }

    #[test]
    fn a_window_ending_at_or_before_the_watermark_is_not_made() {
        let watermark = at("2026-04-08T10:05:00Z");
        // now − lag is the watermark itself, or lands on it once rounded down.
        for now in ["2026-04-08T10:06:00Z", "2026-04-08T10:06:00.9Z"] {
            assert_eq!(
                next_sync_window(Some(watermark), at(now), &settings(1, 2)),
                None,
                "{now}"
            );
        }
        let window =
            next_sync_window(Some(watermark), at("2026-04-08T10:06:01Z"), &settings(1, 2)).unwrap();
        assert_eq!(window.start, at("2026-04-08T10:03:00Z"));
        assert_eq!(window.end, at("2026-04-08T10:05:01Z"));
    }

    #[test]
    fn a_six_hour_backlog_is_covered_by_consecutive_one_hour_windows_oldest_first() {
        let settings = settings(2, 2);
        let now = at("2026-04-08T16:02:00Z");
        let mut watermark = at("2026-04-08T10:00:00Z");
        let mut windows = Vec::new();
        while let Some(window) = next_sync_window(Some(watermark), now, &settings) {
            assert!(settings.is_behind(watermark, now) || window.end == now - settings.lag());
            windows.push(window);
            watermark = advance_watermark(Some(watermark), window.end);
        }
        assert_eq!(windows.len(), 6);
        assert!(!settings.is_behind(watermark, now));
        assert_eq!(watermark, at("2026-04-08T16:00:00Z"));
        for (hour, window) in windows.iter().enumerate() {
            let hour = hour as i64;
            assert_eq!(
                window.end,
                at("2026-04-08T10:00:00Z") + TimeDelta::hours(hour + 1)
            );
            assert_eq!(window.duration(), TimeDelta::minutes(62));
        }
        // A first window is capped too.
        let first = next_sync_window(
            None,
            now,
            &settings.with_max_window(TimeDelta::minutes(20)).unwrap(),
        )
        .unwrap();
        assert_eq!(first.duration(), TimeDelta::minutes(20));
    }

    #[test]
    fn a_max_window_under_a_minute_is_refused_naming_the_setting() {
        let error = SyncWindowSettings::default()
            .with_max_window(TimeDelta::seconds(59))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid sync_max_window 59s: must be at least 60s"
        );
    }

    #[test]
    fn ticks_thirty_seconds_apart_each_get_a_window_past_the_last_one() {
        let settings = settings(1, 2);
        let mut now = at("2026-04-08T10:00:00Z");
        let mut watermark = None;
        let mut last_start = None;
        for tick in 0..20 {
            let window = next_sync_window(watermark, now, &settings)
                .unwrap_or_else(|| panic!("tick {tick} at {now} made no window"));
            assert!(watermark.is_none_or(|w| window.end > w && window.start <= w));
            // A new start each time: the jobs' unique key never meets an older row.
            assert!(last_start.is_none_or(|s| window.start > s));
            last_start = Some(window.start);
            watermark = Some(advance_watermark(watermark, window.end));
            now += TimeDelta::seconds(30);
        }
    }

    #[test]
    fn the_first_sync_window_looks_back_the_initial_lookback() {
        let window = next_sync_window(None, at("2026-04-08T10:07:42Z"), &settings(2, 3)).unwrap();
        assert_eq!(window.start, at("2026-04-08T09:07:00Z"));
        assert_eq!(window.end, at("2026-04-08T10:05:42Z"));
    }

    #[test]
    fn no_window_when_the_watermark_already_reaches_now_minus_lag() {
        let now = at("2026-04-08T10:01:30Z");
        assert_eq!(
            next_sync_window(Some(at("2026-04-08T10:00:00Z")), now, &settings(2, 0)),
            None
        );
        // A watermark ahead of this replica's clock gives nothing either.
        assert_eq!(
            next_sync_window(Some(at("2026-04-08T11:00:00Z")), now, &settings(1, 0)),
            None
        );
    }

    #[test]
    fn the_watermark_never_moves_back() {
        let later = at("2026-04-08T10:05:00Z");
        let earlier = at("2026-04-08T10:00:00Z");
        assert_eq!(advance_watermark(None, earlier), earlier);
        assert_eq!(advance_watermark(Some(earlier), later), later);
        assert_eq!(advance_watermark(Some(later), earlier), later);
    }

    #[test]
    fn flooring_to_the_minute_rounds_towards_the_past_before_1970() {
        assert_eq!(
            floor_to_minute(at("1969-12-31T23:59:30Z")),
            at("1969-12-31T23:59:00Z")
        );
    }

    #[test]
    fn a_backfill_range_is_split_into_width_sized_batches_with_a_short_last_one() {
        let windows = split_range(
            at("2026-01-01T00:00:00Z"),
            at("2026-01-03T12:00:00Z"),
            TimeDelta::days(1),
            DEFAULT_MAX_BATCHES,
        )
        .unwrap();
        assert_eq!(
            windows,
            [
                Window {
                    start: at("2026-01-01T00:00:00Z"),
                    end: at("2026-01-02T00:00:00Z")
                },
                Window {
                    start: at("2026-01-02T00:00:00Z"),
                    end: at("2026-01-03T00:00:00Z")
                },
                Window {
                    start: at("2026-01-03T00:00:00Z"),
                    end: at("2026-01-03T12:00:00Z")
                },
            ]
        );
    }

    #[test]
    fn splitting_refuses_an_empty_range_and_a_non_positive_width() {
        let start = at("2026-01-02T00:00:00Z");
        let end = at("2026-01-01T00:00:00Z");
        let error = split_range(start, end, TimeDelta::days(1), 10).unwrap_err();
        assert_eq!(error, SplitError::EmptyRange { start, end });
        assert_eq!(
            error.to_string(),
            "invalid start 2026-01-02T00:00:00Z: must be before end 2026-01-01T00:00:00Z"
        );
        let error = split_range(end, start, TimeDelta::zero(), 10).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid batch_width 0s: must be greater than zero"
        );
    }

    #[test]
    fn splitting_refuses_more_batches_than_the_cap() {
        let error = split_range(
            at("2020-01-01T00:00:00Z"),
            at("2026-01-01T00:00:00Z"),
            TimeDelta::hours(1),
            DEFAULT_MAX_BATCHES,
        )
        .unwrap_err();
        let SplitError::TooManyBatches { batches, .. } = error else {
            panic!("expected TooManyBatches, got {error:?}");
        };
        assert_eq!(batches, 2192 * 24);
        assert!(error
            .to_string()
            .starts_with("invalid batch_width 3600s: the range gives 52608 batches, more than the maximum of 10000"));
    }

    #[test]
    fn a_backfill_range_must_be_ordered_in_the_past_and_after_the_horizon() {
        let now = at("2026-04-08T00:00:00Z");
        let horizon = at("2020-04-08T00:00:00Z");
        let start = at("2026-01-01T00:00:00Z");
        assert_eq!(
            validate_backfill_range(start, now, now, horizon),
            Ok(Window { start, end: now })
        );
        assert!(matches!(
            validate_backfill_range(now, start, now, horizon),
            Err(BackfillRangeError::StartNotBeforeEnd { .. })
        ));
        let future =
            validate_backfill_range(start, at("2026-04-09T00:00:00Z"), now, horizon).unwrap_err();
        assert_eq!(
            future.to_string(),
            "invalid end 2026-04-09T00:00:00Z: must not be in the future (now is 2026-04-08T00:00:00Z)"
        );
        let early =
            validate_backfill_range(at("2019-01-01T00:00:00Z"), start, now, horizon).unwrap_err();
        assert_eq!(
            early.to_string(),
            "invalid start 2019-01-01T00:00:00Z: must not be before 2020-04-08T00:00:00Z, the earliest time that can be backfilled"
        );
    }

    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        // 1990..2100, with sub-second parts so widths do not divide ranges evenly.
        (631_152_000i64..4_102_444_800, 0u32..1_000_000_000)
            .prop_map(|(seconds, nanos)| DateTime::from_timestamp(seconds, nanos).unwrap())
    }

    proptest! {
        #[test]
        fn batches_are_contiguous_cover_the_range_and_respect_the_width(
            start in instant(),
            length_ms in 1i64..(400 * 24 * 3_600_000),
            width_ms in 1i64..(40 * 24 * 3_600_000),
        ) {
            let end = start + TimeDelta::milliseconds(length_ms);
            let width = TimeDelta::milliseconds(width_ms);
            prop_assume!(batch_count(start, end, width).unwrap() <= 50_000);
            let windows = split_range(start, end, width, 50_000).unwrap();

            prop_assert_eq!(windows.first().unwrap().start, start);
            prop_assert_eq!(windows.last().unwrap().end, end);
            for pair in windows.windows(2) {
                prop_assert_eq!(pair[0].end, pair[1].start);
            }
            for window in &windows {
                prop_assert!(window.start < window.end);
                prop_assert!(window.duration() <= width);
            }
            let expected = (length_ms + width_ms - 1) / width_ms;
            prop_assert_eq!(windows.len() as i64, expected);
        }

        #[test]
        fn replicas_with_different_clocks_agree_on_the_start_of_a_sync_window(
            watermark in instant(),
            after_watermark_s in 0i64..86_400,
            skew_ms in 0i64..120_000,
            overlap_s in 0i64..3_600,
        ) {
            let settings = SyncWindowSettings::new(
                TimeDelta::minutes(1),
                TimeDelta::seconds(overlap_s),
                TimeDelta::hours(1),
            ).unwrap();
            let now = watermark + TimeDelta::seconds(after_watermark_s);
            let skewed = now + TimeDelta::milliseconds(skew_ms);
            let first = next_sync_window(Some(watermark), now, &settings);
            let second = next_sync_window(Some(watermark), skewed, &settings);
            if let (Some(first), Some(second)) = (first, second) {
                prop_assert_eq!(first.start, second.start);
            }
            // A window, when there is one, never starts after the watermark, always ends
            // after it, and never ends closer to now than the lag.
            if let Some(window) = second {
                prop_assert!(window.start <= watermark);
                prop_assert!(window.end > watermark);
                prop_assert!(window.end <= skewed - settings.lag());
                prop_assert_eq!(window.end.timestamp_subsec_nanos(), 0);
            }
        }
    }
}
