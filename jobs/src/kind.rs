//! What a job is (its kind), how an attempt at it ended, and where it, its backfill and its
//! integration stand (their statuses), with the moves each status may make so the store can
//! refuse illegal ones.

use crate::enum_text::text_enum;

text_enum! {
    /// The kind of work a job row describes.
    pub enum JobKind (field = "kind") {
        /// The periodic pull of an integration's newest window.
        Sync = "sync",
        /// One batch of a backfill over a past range.
        BackfillBatch = "backfill_batch",
        /// A second pull of an older window, for records the API indexed late.
        Reconcile = "reconcile",
        /// Re-evaluation of stored events against the installed policy set.
        Reevaluate = "reevaluate",
    }
}

text_enum! {
    /// Where a job stands. A job's truth is its row; the queue only transports it.
    ///
    /// | from         | allowed moves                                                     |
    /// | ------------ | ----------------------------------------------------------------- |
    /// | `pending`    | `enqueued`, `canceled`                                            |
    /// | `enqueued`   | `processing`, `pending` (withdrawn on pause), `canceled`          |
    /// | `processing` | `succeeded`, `failed`, `canceled`, `enqueued`/`pending` (retry), `processing` (takeover) |
    /// | `failed`     | `pending`, `enqueued` (an operator retries it)                    |
    /// | `succeeded`, `canceled` | none                                                   |
    pub enum JobStatus (field = "status") {
        /// Recorded, not yet handed to the queue (backfill batches wait here for flow control).
        Pending = "pending",
        /// Handed to the queue, waiting for a worker.
        Enqueued = "enqueued",
        /// A worker is running an attempt.
        Processing = "processing",
        Succeeded = "succeeded",
        /// Failed permanently or ran out of attempts; an operator may retry it.
        Failed = "failed",
        Canceled = "canceled",
    }
}

impl JobStatus {
    /// Whether no worker will touch the job again unless an operator acts.
    ///
    /// A failed job is terminal even though an operator may send it back to `pending`.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }

    /// Whether the job is in the queue or on a worker, i.e. counts against flow control.
    pub const fn is_in_flight(self) -> bool {
        matches!(self, Self::Enqueued | Self::Processing)
    }

    /// Whether a job may move from `self` to `next`.
    ///
    /// Staying in the same status is not a move and returns `false`, with one exception:
    /// `processing → processing` is a takeover, when another worker claims a job whose worker
    /// died (the row's worker name and attempt change, the status does not).
    pub const fn can_transition_to(self, next: JobStatus) -> bool {
        use JobStatus::{Canceled, Enqueued, Failed, Pending, Processing, Succeeded};
        match self {
            Pending => matches!(next, Enqueued | Canceled),
            // Back to pending when the scheduler withdraws a queued job (pause, flow control).
            Enqueued => matches!(next, Processing | Pending | Canceled),
            // Enqueued or pending again when a transient failure schedules another attempt.
            Processing => matches!(
                next,
                Processing | Succeeded | Failed | Canceled | Enqueued | Pending
            ),
            // "Retry failed batches" puts failed rows back in line.
            Failed => matches!(next, Pending | Enqueued),
            Succeeded | Canceled => false,
        }
    }

    /// Every status that may move to `self`: the `status IN (…)` of a guarded update.
    pub fn predecessors(self) -> impl Iterator<Item = JobStatus> {
        Self::ALL
            .iter()
            .copied()
            .filter(move |from| from.can_transition_to(self))
    }
}

text_enum! {
    /// How one attempt at a job ended, as the Jobs view lists attempts.
    pub enum AttemptOutcome (field = "outcome") {
        Succeeded = "succeeded",
        /// Failed with a transient error; another attempt follows after a backoff.
        Retry = "retry",
        /// Failed for good (permanent error or last attempt).
        Failed = "failed",
        /// Its worker stopped sending heartbeats; the job was taken over.
        Abandoned = "abandoned",
    }
}

text_enum! {
    /// Where a backfill stands, derived from its batches and its pause/cancel flags.
    pub enum BackfillStatus (field = "status") {
        /// No batch has started yet.
        Pending = "pending",
        /// At least one batch has started and not every batch is finished.
        Running = "running",
        /// Every batch succeeded.
        Completed = "completed",
        /// Every batch finished, none failed, and an operator canceled some one by one: the
        /// range is ingested except where those batches were.
        CompletedWithGaps = "completed_with_gaps",
        /// Every batch finished and at least one failed.
        Failed = "failed",
        Canceled = "canceled",
        /// Stopped by an operator; no new batch is enqueued until it resumes.
        Paused = "paused",
    }
}

impl BackfillStatus {
    /// Whether the backfill makes no further progress unless an operator acts.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::CompletedWithGaps | Self::Failed | Self::Canceled
        )
    }

    /// Whether a backfill may move from `self` to `next`; staying put is not a move.
    ///
    /// | from        | allowed moves                                                      |
    /// | ----------- | ------------------------------------------------------------------ |
    /// | `pending`   | `running`, `completed`, `completed_with_gaps`, `failed`, `paused`, `canceled` |
    /// | `running`   | `pending` (every batch back in line), `completed`, `completed_with_gaps`, `failed`, `paused`, `canceled` |
    /// | `paused`    | `running` (resumed), `canceled`                                    |
    /// | `failed`    | `running` (failed batches retried), `canceled`                     |
    /// | `completed`, `completed_with_gaps`, `canceled` | none                            |
    pub const fn can_transition_to(self, next: BackfillStatus) -> bool {
        use BackfillStatus::{
            Canceled, Completed, CompletedWithGaps, Failed, Paused, Pending, Running,
        };
        match self {
            Pending => matches!(
                next,
                Running | Completed | CompletedWithGaps | Failed | Paused | Canceled
            ),
            Running => matches!(
                next,
                Pending | Completed | CompletedWithGaps | Failed | Paused | Canceled
            ),
            Paused | Failed => matches!(next, Running | Canceled),
            Completed | CompletedWithGaps | Canceled => false,
        }
    }

    /// Every status that may move to `self`.
    pub fn predecessors(self) -> impl Iterator<Item = BackfillStatus> {
        Self::ALL
            .iter()
            .copied()
            .filter(move |from| from.can_transition_to(self))
    }
}

text_enum! {
    /// Where an integration's records come from.
    pub enum IntegrationKind (field = "kind") {
        /// Pulled from the Anthropic Compliance API.
        AnthropicComplianceApi = "anthropic_compliance_api",
        /// Pushed by Island to `POST /api/v1/ingest/{integration_id}/events`, signed with
        /// the integration's own secret; never pulled.
        Island = "island",
    }
}

text_enum! {
    /// Whether an integration is pulled.
    pub enum IntegrationStatus (field = "status") {
        /// Gets a sync job every period.
        Active = "active",
        /// Gets no new sync jobs; its queued jobs wait. Ingested data stays.
        Paused = "paused",
        /// Its jobs are canceled. Ingested data stays unless an operator purges it.
        Deleted = "deleted",
    }
}

impl IntegrationStatus {
    /// Whether the integration can never become active again.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Deleted)
    }

    /// Whether the scheduler creates sync jobs for it.
    pub const fn is_scheduled(self) -> bool {
        matches!(self, Self::Active)
    }

    /// Whether an integration may move from `self` to `next`: pause and resume flip
    /// `active` and `paused`; either may be deleted, and nothing comes back from deleted.
    pub const fn can_transition_to(self, next: IntegrationStatus) -> bool {
        use IntegrationStatus::{Active, Deleted, Paused};
        match self {
            Active => matches!(next, Paused | Deleted),
            Paused => matches!(next, Active | Deleted),
            Deleted => false,
        }
    }

    /// Every status that may move to `self`.
    pub fn predecessors(self) -> impl Iterator<Item = IntegrationStatus> {
        Self::ALL
            .iter()
            .copied()
            .filter(move |from| from.can_transition_to(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobStatus::{Canceled, Enqueued, Failed, Pending, Processing, Succeeded};

    #[test]
    fn a_bad_job_status_names_the_field_and_lists_every_valid_value() {
        let error = "done".parse::<JobStatus>().unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"invalid status "done": expected one of pending, enqueued, processing, succeeded, failed, canceled"#
        );
    }

    #[test]
    fn a_bad_job_kind_names_the_kind_field() {
        let error = "Sync".parse::<JobKind>().unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"invalid kind "Sync": expected one of sync, backfill_batch, reconcile, reevaluate"#
        );
    }

    #[test]
    fn every_enum_round_trips_through_text_and_json() {
        fn round_trip<T>(all: &[T])
        where
            T: Copy
                + PartialEq
                + std::fmt::Debug
                + std::fmt::Display
                + std::str::FromStr
                + serde::Serialize
                + serde::de::DeserializeOwned,
            <T as std::str::FromStr>::Err: std::fmt::Debug,
        {
            for value in all {
                let text = value.to_string();
                assert_eq!(text.parse::<T>().unwrap(), *value);
                let json = serde_json::to_string(value).unwrap();
                assert_eq!(json, format!("\"{text}\""));
                assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *value);
            }
        }
        round_trip(JobKind::ALL);
        round_trip(JobStatus::ALL);
        round_trip(BackfillStatus::ALL);
        round_trip(IntegrationStatus::ALL);
        round_trip(IntegrationKind::ALL);
        round_trip(AttemptOutcome::ALL);
        assert_eq!(JobKind::BackfillBatch.as_str(), "backfill_batch");
    }

    #[test]
    fn a_job_walks_the_happy_path() {
        assert!(Pending.can_transition_to(Enqueued));
        assert!(Enqueued.can_transition_to(Processing));
        assert!(Processing.can_transition_to(Succeeded));
    }

    #[test]
    fn finished_jobs_cannot_be_reopened_except_failed_ones_by_an_operator() {
        for next in JobStatus::ALL {
            assert!(!Succeeded.can_transition_to(*next), "succeeded -> {next}");
            assert!(!Canceled.can_transition_to(*next), "canceled -> {next}");
        }
        assert!(Failed.can_transition_to(Pending));
        assert!(Failed.can_transition_to(Enqueued));
        assert!(!Failed.can_transition_to(Processing));
        assert!(!Failed.can_transition_to(Succeeded));
    }

    #[test]
    fn a_job_cannot_skip_the_queue_or_finish_without_running() {
        assert!(!Pending.can_transition_to(Processing));
        assert!(!Pending.can_transition_to(Succeeded));
        assert!(!Enqueued.can_transition_to(Succeeded));
        assert!(!Enqueued.can_transition_to(Failed));
    }

    #[test]
    fn any_unfinished_job_can_be_canceled() {
        for status in JobStatus::ALL {
            assert_eq!(
                status.can_transition_to(JobStatus::Canceled),
                !status.is_terminal(),
                "{status}"
            );
        }
    }

    #[test]
    fn staying_put_is_not_a_move_except_a_processing_takeover() {
        for status in JobStatus::ALL {
            assert_eq!(
                status.can_transition_to(*status),
                *status == JobStatus::Processing,
                "{status}"
            );
        }
    }

    #[test]
    fn terminal_and_in_flight_statuses_are_disjoint() {
        for status in JobStatus::ALL {
            assert!(!(status.is_terminal() && status.is_in_flight()), "{status}");
        }
        assert!(JobStatus::Enqueued.is_in_flight());
        assert!(JobStatus::Processing.is_in_flight());
        assert!(!JobStatus::Pending.is_in_flight());
    }

    #[test]
    fn terminal_statuses_of_backfills_and_integrations() {
        let terminal: Vec<_> = BackfillStatus::ALL
            .iter()
            .filter(|status| status.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                &BackfillStatus::Completed,
                &BackfillStatus::CompletedWithGaps,
                &BackfillStatus::Failed,
                &BackfillStatus::Canceled
            ]
        );
        assert!(IntegrationStatus::Deleted.is_terminal());
        assert!(!IntegrationStatus::Paused.is_terminal());
        assert!(IntegrationStatus::Active.is_scheduled());
        assert!(!IntegrationStatus::Paused.is_scheduled());
    }

    #[test]
    fn predecessors_are_exactly_the_statuses_that_may_move_there() {
        for to in JobStatus::ALL {
            for from in JobStatus::ALL {
                assert_eq!(
                    to.predecessors().any(|p| p == *from),
                    from.can_transition_to(*to),
                    "{from} -> {to}"
                );
            }
        }
        assert_eq!(
            Pending.predecessors().collect::<Vec<_>>(),
            [Enqueued, Processing, Failed]
        );
        assert_eq!(
            Canceled.predecessors().collect::<Vec<_>>(),
            [Pending, Enqueued, Processing]
        );
    }

    #[test]
    fn a_backfill_ends_completed_or_canceled_for_good_and_a_failed_one_can_be_retried() {
        use BackfillStatus as B;
        for next in B::ALL {
            assert!(
                !B::Completed.can_transition_to(*next),
                "completed -> {next}"
            );
            assert!(!B::Canceled.can_transition_to(*next), "canceled -> {next}");
            assert!(
                !next.can_transition_to(*next),
                "{next} -> {next} is no move"
            );
        }
        assert!(B::Failed.can_transition_to(B::Running));
        assert!(B::Paused.can_transition_to(B::Running));
        assert!(
            !B::Paused.can_transition_to(B::Completed),
            "a paused backfill stays paused"
        );
        assert_eq!(
            B::Running.predecessors().collect::<Vec<_>>(),
            [B::Pending, B::Failed, B::Paused]
        );
    }

    #[test]
    fn pending_and_running_backfills_can_be_paused_and_all_but_finished_ones_canceled() {
        use BackfillStatus as B;
        for status in [B::Pending, B::Running] {
            assert!(status.can_transition_to(B::Paused), "{status}");
        }
        for status in B::ALL {
            let cancelable = !matches!(status, B::Completed | B::CompletedWithGaps | B::Canceled);
            assert_eq!(
                status.can_transition_to(B::Canceled),
                cancelable,
                "{status}"
            );
        }
    }

    #[test]
    fn an_integration_pauses_resumes_and_is_deleted_for_good() {
        use IntegrationStatus::{Active, Deleted, Paused};
        assert!(Active.can_transition_to(Paused));
        assert!(Paused.can_transition_to(Active));
        assert!(!Active.can_transition_to(Active));
        assert_eq!(Deleted.predecessors().collect::<Vec<_>>(), [Active, Paused]);
        for next in IntegrationStatus::ALL {
            assert!(!Deleted.can_transition_to(*next), "deleted -> {next}");
        }
    }
}
