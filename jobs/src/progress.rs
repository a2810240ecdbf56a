//! A backfill's progress and status, derived from its batch rows so that the numbers the
//! Backfill view shows are never stored apart from the rows they count.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::kind::{BackfillStatus, JobStatus};
use crate::window::Window;

/// Counters, frontier and status of one backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BackfillProgress {
    pub total: u64,
    /// Batches that succeeded.
    pub done: u64,
    pub failed: u64,
    /// Batches enqueued or processing.
    pub in_flight: u64,
    /// Batches not handed to the queue yet.
    pub pending: u64,
    pub canceled: u64,
    /// The end of the longest run of succeeded batches starting at the range's start: every
    /// instant before it is ingested. `None` while the first batch has not succeeded.
    pub synced_up_to: Option<DateTime<Utc>>,
    pub status: BackfillStatus,
}

impl BackfillProgress {
    /// Derives the progress from the batches (in any order) and the backfill's flags.
    ///
    /// Status rules, first match wins:
    /// 1. `canceled` flag → canceled; `paused` flag → paused (the operator's word wins);
    /// 2. every batch succeeded (or there is none) → completed;
    /// 3. every batch finished and some failed → failed;
    /// 4. every batch finished, none failed, some canceled one by one → canceled;
    /// 5. no batch has left `pending` yet → pending;
    /// 6. otherwise (some batch started, some is unfinished) → running.
    pub fn from_batches(batches: &[(Window, JobStatus)], paused: bool, canceled: bool) -> Self {
        let mut progress = Self {
            total: 0,
            done: 0,
            failed: 0,
            in_flight: 0,
            pending: 0,
            canceled: 0,
            synced_up_to: None,
            status: BackfillStatus::Pending,
        };
        for (_, status) in batches {
            progress.total += 1;
            match status {
                JobStatus::Pending => progress.pending += 1,
                JobStatus::Enqueued | JobStatus::Processing => progress.in_flight += 1,
                JobStatus::Succeeded => progress.done += 1,
                JobStatus::Failed => progress.failed += 1,
                JobStatus::Canceled => progress.canceled += 1,
            }
        }
        progress.synced_up_to = succeeded_frontier(batches);
        progress.status = progress.derive_status(paused, canceled);
        progress
    }

    fn derive_status(&self, paused: bool, canceled: bool) -> BackfillStatus {
        let finished = self.done + self.failed + self.canceled;
        if canceled {
            BackfillStatus::Canceled
        } else if paused {
            BackfillStatus::Paused
        } else if self.done == self.total {
            BackfillStatus::Completed
        } else if finished == self.total && self.failed > 0 {
            BackfillStatus::Failed
        } else if finished == self.total {
            BackfillStatus::CompletedWithGaps
        } else if self.pending == self.total {
            BackfillStatus::Pending
        } else {
            BackfillStatus::Running
        }
    }
}

/// The end of the contiguous run of succeeded batches from the earliest one. A gap between
/// batches stops the run as a non-succeeded batch would, since nothing covers it.
fn succeeded_frontier(batches: &[(Window, JobStatus)]) -> Option<DateTime<Utc>> {
    let mut ordered: Vec<&(Window, JobStatus)> = batches.iter().collect();
    ordered.sort_by_key(|(window, _)| (window.start, window.end));
    let mut frontier: Option<DateTime<Utc>> = None;
    for (window, status) in ordered {
        if *status != JobStatus::Succeeded {
            break;
        }
        match frontier {
            Some(end) if window.start > end => break,
            Some(end) => frontier = Some(end.max(window.end)),
            None => frontier = Some(window.end),
        }
    }
    frontier
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::split_range;
    use chrono::TimeDelta;
    use proptest::prelude::*;

    fn day_batches(count: i64) -> Vec<Window> {
        let start = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        split_range(
            start,
            start + TimeDelta::days(count),
            TimeDelta::days(1),
            1000,
        )
        .unwrap()
    }

    fn with(windows: &[Window], statuses: &[JobStatus]) -> Vec<(Window, JobStatus)> {
        windows
            .iter()
            .copied()
            .zip(statuses.iter().copied())
            .collect()
    }

    use JobStatus::{Canceled, Enqueued, Failed, Pending, Processing, Succeeded};

    #[test]
    fn counters_add_up_and_the_frontier_stops_at_the_first_unfinished_batch() {
        let windows = day_batches(5);
        let progress = BackfillProgress::from_batches(
            &with(
                &windows,
                &[Succeeded, Succeeded, Processing, Succeeded, Pending],
            ),
            false,
            false,
        );
        assert_eq!(progress.total, 5);
        assert_eq!(progress.done, 3);
        assert_eq!(progress.in_flight, 1);
        assert_eq!(progress.pending, 1);
        assert_eq!(progress.synced_up_to, Some(windows[1].end));
        assert_eq!(progress.status, BackfillStatus::Running);
    }

    #[test]
    fn the_frontier_is_none_until_the_first_batch_succeeds() {
        let windows = day_batches(3);
        let progress = BackfillProgress::from_batches(
            &with(&windows, &[Enqueued, Succeeded, Succeeded]),
            false,
            false,
        );
        assert_eq!(progress.synced_up_to, None);
    }

    #[test]
    fn batches_given_out_of_order_give_the_same_progress() {
        let windows = day_batches(4);
        let mut batches = with(&windows, &[Succeeded, Succeeded, Failed, Succeeded]);
        let in_order = BackfillProgress::from_batches(&batches, false, false);
        batches.reverse();
        assert_eq!(
            BackfillProgress::from_batches(&batches, false, false),
            in_order
        );
        assert_eq!(in_order.synced_up_to, Some(windows[1].end));
    }

    #[test]
    fn a_gap_between_succeeded_batches_stops_the_frontier() {
        let windows = day_batches(3);
        let batches = [(windows[0], Succeeded), (windows[2], Succeeded)];
        let progress = BackfillProgress::from_batches(&batches, false, false);
        assert_eq!(progress.synced_up_to, Some(windows[0].end));
    }

    #[test]
    fn status_follows_the_batches() {
        let windows = day_batches(3);
        let status = |statuses: &[JobStatus]| {
            BackfillProgress::from_batches(&with(&windows, statuses), false, false).status
        };
        assert_eq!(
            status(&[Pending, Pending, Pending]),
            BackfillStatus::Pending
        );
        assert_eq!(
            status(&[Enqueued, Pending, Pending]),
            BackfillStatus::Running
        );
        assert_eq!(status(&[Failed, Pending, Pending]), BackfillStatus::Running);
        assert_eq!(
            status(&[Succeeded, Succeeded, Succeeded]),
            BackfillStatus::Completed
        );
        assert_eq!(
            status(&[Succeeded, Failed, Canceled]),
            BackfillStatus::Failed
        );
        assert_eq!(
            status(&[Succeeded, Canceled, Succeeded]),
            BackfillStatus::CompletedWithGaps
        );
    }

    #[test]
    fn pause_and_cancel_flags_win_and_cancel_wins_over_pause() {
        let windows = day_batches(2);
        let batches = with(&windows, &[Succeeded, Processing]);
        assert_eq!(
            BackfillProgress::from_batches(&batches, true, false).status,
            BackfillStatus::Paused
        );
        assert_eq!(
            BackfillProgress::from_batches(&batches, true, true).status,
            BackfillStatus::Canceled
        );
        let all_done = with(&windows, &[Succeeded, Succeeded]);
        assert_eq!(
            BackfillProgress::from_batches(&all_done, false, true).status,
            BackfillStatus::Canceled
        );
    }

    fn status() -> impl Strategy<Value = JobStatus> {
        proptest::sample::select(JobStatus::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn the_frontier_never_passes_the_first_batch_that_did_not_succeed(
            statuses in proptest::collection::vec(status(), 1..40),
        ) {
            let windows = day_batches(statuses.len() as i64);
            let progress = BackfillProgress::from_batches(&with(&windows, &statuses), false, false);
            let first_unfinished = statuses.iter().position(|status| *status != Succeeded);
            match (first_unfinished, progress.synced_up_to) {
                (Some(0), frontier) => prop_assert_eq!(frontier, None),
                (Some(index), frontier) => prop_assert_eq!(frontier, Some(windows[index].start)),
                (None, frontier) => prop_assert_eq!(frontier, Some(windows[windows.len() - 1].end)),
            }
            prop_assert_eq!(
                progress.done + progress.failed + progress.in_flight + progress.pending + progress.canceled,
                progress.total
            );
        }

        #[test]
        fn the_frontier_only_moves_forward_as_batches_succeed(
            statuses in proptest::collection::vec(status(), 1..40),
            order in proptest::collection::vec(any::<proptest::sample::Index>(), 1..40),
        ) {
            let windows = day_batches(statuses.len() as i64);
            let mut batches = with(&windows, &statuses);
            let mut previous = BackfillProgress::from_batches(&batches, false, false).synced_up_to;
            for index in order {
                let index = index.index(batches.len());
                batches[index].1 = Succeeded;
                let current = BackfillProgress::from_batches(&batches, false, false).synced_up_to;
                // None sorts before any instant.
                prop_assert!(current >= previous);
                previous = current;
            }
        }
    }
}
