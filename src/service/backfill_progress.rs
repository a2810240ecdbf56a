//! How far along backfills are: when their first batch started, their percentage done, and
//! an estimate of when they finish, from the recent batch rate and the rate budget.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use logwarden_entities::job;
use logwarden_jobs::kind::JobStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::Error;

/// The window over which the recent batch rate is measured.
pub const RATE_WINDOW: TimeDelta = TimeDelta::minutes(15);

/// What the batch rows of one backfill say about its pace.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Pace {
    pub started_at: Option<DateTime<Utc>>,
    /// Batches that succeeded within [`RATE_WINDOW`] before now.
    pub recent_done: i64,
    /// Compliance API requests of its succeeded batches, and how many batches those are.
    pub requests: i64,
    pub succeeded: i64,
}

/// A backfill id, its first start, and its succeeded batches, their requests, the recent ones.
type PaceRow = (Option<i64>, Option<DateTime<Utc>>, i64, i64, i64);

/// The pace of every backfill in `ids`, in one grouped query. The sums are cast to BIGINT
/// because PostgreSQL sums BIGINT columns as NUMERIC.
pub(crate) async fn paces(
    db: &impl ConnectionTrait,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<HashMap<i64, Pace>, Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let succeeded = JobStatus::Succeeded.as_str();
    let since = now - RATE_WINDOW;
    let rows: Vec<PaceRow> = job::Entity::find()
        .select_only()
        .column(job::Column::BackfillId)
        .column_as(job::Column::StartedAt.min(), "started_at")
        .column_as(
            Expr::cust_with_values(
                "CAST(SUM(CASE WHEN status = $1 THEN 1 ELSE 0 END) AS BIGINT)",
                [succeeded],
            ),
            "succeeded",
        )
        .column_as(
            Expr::cust_with_values(
                "CAST(SUM(CASE WHEN status = $1 THEN requests ELSE 0 END) AS BIGINT)",
                [succeeded],
            ),
            "requests",
        )
        .column_as(
            Expr::cust_with_values(
                "CAST(SUM(CASE WHEN status = $1 AND finished_at > $2 THEN 1 ELSE 0 END) AS BIGINT)",
                [sea_orm::Value::from(succeeded), sea_orm::Value::from(since)],
            ),
            "recent",
        )
        .filter(job::Column::BackfillId.is_in(ids.iter().copied()))
        .group_by(job::Column::BackfillId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, started_at, succeeded, requests, recent_done)| {
            Some((
                id?,
                Pace {
                    started_at,
                    recent_done,
                    requests,
                    succeeded,
                },
            ))
        })
        .collect())
}

/// Percentage of batches finished (succeeded or failed), 0 to 100.
pub(crate) fn percent(total: i64, finished: i64) -> f64 {
    if total <= 0 {
        return 100.0;
    }
    ((finished as f64 / total as f64) * 1000.0).round() / 10.0
}

/// When `remaining` batches will be done: at the recent batch rate, but never sooner than the
/// rate budget allows at the requests per batch seen so far. `None` when nothing gives a pace.
pub(crate) fn eta(
    pace: &Pace,
    remaining: i64,
    requests_per_minute: u32,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if remaining <= 0 {
        return None;
    }
    let by_rate = (pace.recent_done > 0)
        .then(|| remaining as f64 * RATE_WINDOW.num_seconds() as f64 / pace.recent_done as f64);
    let by_budget = (pace.succeeded > 0 && requests_per_minute > 0).then(|| {
        let per_batch = pace.requests as f64 / pace.succeeded as f64;
        remaining as f64 * per_batch * 60.0 / f64::from(requests_per_minute)
    });
    let seconds = match (by_rate, by_budget) {
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) => a,
        (None, Some(_)) | (None, None) => return None,
    };
    Some(now + TimeDelta::seconds(seconds.ceil() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_follows_the_recent_rate_but_never_beats_the_rate_budget() {
        let now: DateTime<Utc> = "2026-04-08T00:00:00Z".parse().unwrap();
        let pace = Pace {
            started_at: None,
            recent_done: 15,
            requests: 100,
            succeeded: 10,
        };
        // 15 batches in 15 minutes: 30 remaining take 30 minutes; the budget (10 requests
        // per batch at 600/min) would allow 30 s.
        assert_eq!(eta(&pace, 30, 600, now), Some(now + TimeDelta::minutes(30)));
        // At 6 requests a minute the budget is the bound: 30 × 10 / 6 = 50 minutes.
        assert_eq!(eta(&pace, 30, 6, now), Some(now + TimeDelta::minutes(50)));
        assert_eq!(eta(&Pace::default(), 30, 600, now), None);
        assert_eq!(eta(&pace, 0, 600, now), None);
        assert_eq!(percent(3, 1), 33.3);
        assert_eq!(percent(0, 0), 100.0);
    }
}
