//! The one way a status column is written once its row exists: a [`Move`] is a conditional
//! update `SET status = to, … WHERE status IN (allowed predecessors) AND …`, so two writers
//! racing on a row can never leave it in a state its state machine forbids, and the caller
//! learns from the count whether its move happened.

use chrono::{DateTime, Utc};
use logwarden_entities::{backfill, integration, job};
use logwarden_jobs::kind::{BackfillStatus, IntegrationStatus, JobStatus};
use sea_orm::sea_query::{Expr, IntoCondition, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IdenStatic, QueryFilter,
    UpdateMany, Value,
};

/// A status whose moves are guarded: its state machine and the columns that change with it.
pub trait Lifecycle: Copy + PartialEq + Into<Value> + 'static {
    type Entity: EntityTrait;

    /// The status column.
    fn column() -> <Self::Entity as EntityTrait>::Column;

    /// Every status that may move to `self`.
    fn allowed_from(self) -> Vec<Self>;

    /// The timestamps a move to `self` sets at `now`.
    fn stamps(self, now: DateTime<Utc>)
        -> Vec<(<Self::Entity as EntityTrait>::Column, SimpleExpr)>;
}

/// A guarded status change of the rows that match its filters.
#[must_use = "a move changes nothing until it is applied"]
pub struct Move<S: Lifecycle> {
    to: S,
    from: Vec<S>,
    rows: Condition,
    sets: Vec<(<S::Entity as EntityTrait>::Column, SimpleExpr)>,
}

/// A move of job rows.
pub type JobMove = Move<JobStatus>;

impl<S: Lifecycle> Move<S> {
    /// A move to `to` from every status allowed to move there, setting the timestamps that go
    /// with `to` at `now`.
    pub fn to(to: S, now: DateTime<Utc>) -> Self {
        Self {
            to,
            from: to.allowed_from(),
            rows: Condition::all(),
            sets: to.stamps(now),
        }
    }

    /// Only rows that are now in one of `statuses`. A status that may not move to the target
    /// is dropped, never matched.
    pub fn from(mut self, statuses: &[S]) -> Self {
        self.from.retain(|status| statuses.contains(status));
        self
    }

    /// Only rows that also match `condition` (an id, a backfill, an owner, …).
    pub fn filter(mut self, condition: impl IntoCondition) -> Self {
        self.rows = self.rows.add(condition);
        self
    }

    /// Also writes `column`, replacing the default of the move when it sets the same column.
    pub fn set(
        mut self,
        column: <S::Entity as EntityTrait>::Column,
        value: impl Into<SimpleExpr>,
    ) -> Self {
        self.sets
            .retain(|(existing, _)| existing.as_str() != column.as_str());
        self.sets.push((column, value.into()));
        self
    }

    /// Applies the move in one statement; returns how many rows moved (0 when none was in an
    /// allowed status, e.g. because another writer moved it first).
    pub async fn apply(self, db: &impl ConnectionTrait) -> Result<u64, DbErr> {
        match self.statement() {
            Some(update) => Ok(update.exec(db).await?.rows_affected),
            None => Ok(0),
        }
    }

    /// Applies the move in one statement and returns the rows it moved, as they are after
    /// the move (`RETURNING`): none of those another writer moved first.
    pub async fn apply_returning(
        self,
        db: &impl ConnectionTrait,
    ) -> Result<Vec<<S::Entity as EntityTrait>::Model>, DbErr> {
        match self.statement() {
            Some(update) => update.exec_with_returning(db).await,
            None => Ok(Vec::new()),
        }
    }

    /// The conditional update, or none when no status may move to the target.
    fn statement(self) -> Option<UpdateMany<S::Entity>> {
        if self.from.is_empty() {
            return None;
        }
        let status = S::column();
        let mut update =
            <S::Entity as EntityTrait>::update_many().col_expr(status, Expr::value(self.to));
        for (column, value) in self.sets {
            update = update.col_expr(column, value);
        }
        Some(update.filter(status.is_in(self.from)).filter(self.rows))
    }
}

fn null() -> SimpleExpr {
    Expr::value(Option::<DateTime<Utc>>::None)
}

impl Lifecycle for JobStatus {
    type Entity = job::Entity;

    fn column() -> job::Column {
        job::Column::Status
    }

    fn allowed_from(self) -> Vec<Self> {
        self.predecessors().collect()
    }

    /// Enqueued: `enqueued_at`; processing: `started_at` and the first heartbeat; finished:
    /// `finished_at`; back to pending: `finished_at` cleared (an operator's retry).
    fn stamps(self, now: DateTime<Utc>) -> Vec<(job::Column, SimpleExpr)> {
        let at = Expr::value(Some(now));
        match self {
            JobStatus::Pending => vec![(job::Column::FinishedAt, null())],
            JobStatus::Enqueued => vec![(job::Column::EnqueuedAt, at)],
            JobStatus::Processing => vec![
                (job::Column::StartedAt, at.clone()),
                (job::Column::HeartbeatAt, at),
            ],
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled => {
                vec![(job::Column::FinishedAt, at)]
            }
        }
    }
}

impl Lifecycle for BackfillStatus {
    type Entity = backfill::Entity;

    fn column() -> backfill::Column {
        backfill::Column::Status
    }

    fn allowed_from(self) -> Vec<Self> {
        self.predecessors().collect()
    }

    /// `updated_at` always; `finished_at` set on reaching a terminal status, cleared otherwise.
    fn stamps(self, now: DateTime<Utc>) -> Vec<(backfill::Column, SimpleExpr)> {
        let finished = if self.is_terminal() {
            Expr::value(Some(now))
        } else {
            null()
        };
        vec![
            (backfill::Column::UpdatedAt, Expr::value(now)),
            (backfill::Column::FinishedAt, finished),
        ]
    }
}

impl Lifecycle for IntegrationStatus {
    type Entity = integration::Entity;

    fn column() -> integration::Column {
        integration::Column::Status
    }

    fn allowed_from(self) -> Vec<Self> {
        self.predecessors().collect()
    }

    fn stamps(self, now: DateTime<Utc>) -> Vec<(integration::Column, SimpleExpr)> {
        vec![(integration::Column::UpdatedAt, Expr::value(now))]
    }
}
