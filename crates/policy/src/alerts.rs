//! Alerts and issues as pure logic: which violations produce alerts (their configured
//! action is `alert`, `block` or `modify`), and how alerts of the same user and policy group
//! into issues within a time window. The store persists the result.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::config::Action;

/// A stored violation, reduced to what alerting needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The store's id of the violation.
    pub id: i64,
    pub user: String,
    pub policy: String,
    /// Event time, seconds since the Unix epoch.
    pub at: i64,
    /// The configured action.
    pub action: Action,
}

/// An alert raised for a violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub violation_id: i64,
    pub user: String,
    pub policy: String,
    pub at: i64,
    pub action: Action,
}

/// Triage status of an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl IssueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Open => "open",
            IssueStatus::Acknowledged => "acknowledged",
            IssueStatus::Resolved => "resolved",
        }
    }
}

impl fmt::Display for IssueStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An issue status that is not one of the valid values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown issue status `{0}`; valid values: open, acknowledged, resolved")]
pub struct UnknownIssueStatus(pub String);

impl FromStr for IssueStatus {
    type Err = UnknownIssueStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(IssueStatus::Open),
            "acknowledged" => Ok(IssueStatus::Acknowledged),
            "resolved" => Ok(IssueStatus::Resolved),
            other => Err(UnknownIssueStatus(other.to_owned())),
        }
    }
}

/// Alerts of one user and policy grouped for triage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// The store's id; `None` for an issue created by this grouping.
    pub id: Option<i64>,
    pub user: String,
    pub policy: String,
    pub status: IssueStatus,
    pub first_at: i64,
    pub last_at: i64,
    /// Violation ids of the issue's alerts, ascending by time.
    pub violation_ids: Vec<i64>,
}

/// The alerts the violations produce, in input order.
pub fn alerts_for(violations: &[Violation]) -> Vec<Alert> {
    violations
        .iter()
        .filter(|v| v.action.effective() == Action::Alert)
        .map(|v| Alert {
            violation_id: v.id,
            user: v.user.clone(),
            policy: v.policy.clone(),
            at: v.at,
            action: v.action,
        })
        .collect()
}

/// Groups new alerts into issues.
///
/// An alert joins the most recent unresolved issue of the same user and policy when it
/// falls within `window_secs` of that issue's last alert (a gap rule, so a steady stream
/// stays one issue); otherwise it opens a new issue. Resolved issues are never reopened.
/// Alerts already in an issue are ignored, so re-running over the same alerts changes
/// nothing. Returns every issue that is new or changed, existing ones first (by id), then
/// new ones ordered by user, policy and time.
pub fn group_into_issues(existing: &[Issue], alerts: &[Alert], window_secs: i64) -> Vec<Issue> {
    let mut issues: Vec<Issue> = existing.to_vec();
    let mut changed = vec![false; issues.len()];
    let mut known: std::collections::BTreeSet<i64> = issues
        .iter()
        .flat_map(|i| i.violation_ids.iter().copied())
        .collect();
    let mut sorted: Vec<&Alert> = alerts
        .iter()
        .filter(|a| !known.contains(&a.violation_id))
        .collect();
    sorted.sort_by(|a, b| {
        (&a.user, &a.policy, a.at, a.violation_id).cmp(&(&b.user, &b.policy, b.at, b.violation_id))
    });
    let mut latest: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (idx, issue) in issues.iter().enumerate() {
        if issue.status == IssueStatus::Resolved {
            continue;
        }
        let key = (issue.user.clone(), issue.policy.clone());
        let newer = latest
            .get(&key)
            .is_none_or(|&j| issues[j].last_at < issue.last_at);
        if newer {
            latest.insert(key, idx);
        }
    }
    for alert in sorted {
        if !known.insert(alert.violation_id) {
            continue;
        }
        let key = (alert.user.clone(), alert.policy.clone());
        let joinable = latest.get(&key).copied().filter(|&j| {
            let issue = &issues[j];
            alert.at >= issue.first_at - window_secs && alert.at - issue.last_at <= window_secs
        });
        match joinable {
            Some(j) => {
                let issue = &mut issues[j];
                issue.first_at = issue.first_at.min(alert.at);
                issue.last_at = issue.last_at.max(alert.at);
                issue.violation_ids.push(alert.violation_id);
                if j < changed.len() {
                    changed[j] = true;
                }
            }
            None => {
                issues.push(Issue {
                    id: None,
                    user: alert.user.clone(),
                    policy: alert.policy.clone(),
                    status: IssueStatus::Open,
                    first_at: alert.at,
                    last_at: alert.at,
                    violation_ids: vec![alert.violation_id],
                });
                latest.insert(key, issues.len() - 1);
            }
        }
    }
    let existing_count = changed.len();
    issues
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i >= existing_count || changed[*i])
        .map(|(_, issue)| issue)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(id: i64, user: &str, policy: &str, at: i64, action: Action) -> Violation {
        Violation {
            id,
            user: user.into(),
            policy: policy.into(),
            at,
            action,
        }
    }

    #[test]
    fn only_alert_block_and_modify_produce_alerts() {
        let v = [
            violation(1, "u", "pii", 0, Action::Log),
            violation(2, "u", "pii", 0, Action::Alert),
            violation(3, "u", "pii", 0, Action::Block),
            violation(4, "u", "pii", 0, Action::Modify),
        ];
        let ids: Vec<i64> = alerts_for(&v).iter().map(|a| a.violation_id).collect();
        assert_eq!(ids, vec![2, 3, 4]);
    }

    #[test]
    fn alerts_of_one_user_and_policy_within_the_window_form_one_issue() {
        let v = [
            violation(1, "ana", "pii", 100, Action::Alert),
            violation(2, "ana", "pii", 400, Action::Alert),
            violation(3, "ana", "pii", 2000, Action::Alert),
            violation(4, "ana", "jailbreak", 150, Action::Alert),
            violation(5, "tom", "pii", 120, Action::Alert),
        ];
        let issues = group_into_issues(&[], &alerts_for(&v), 600);
        let groups: Vec<(String, String, Vec<i64>)> = issues
            .iter()
            .map(|i| (i.user.clone(), i.policy.clone(), i.violation_ids.clone()))
            .collect();
        assert_eq!(
            groups,
            vec![
                ("ana".into(), "jailbreak".into(), vec![4]),
                ("ana".into(), "pii".into(), vec![1, 2]),
                ("ana".into(), "pii".into(), vec![3]),
                ("tom".into(), "pii".into(), vec![5]),
            ]
        );
        assert!(issues
            .iter()
            .all(|i| i.status == IssueStatus::Open && i.id.is_none()));
    }

    #[test]
    fn new_alerts_join_open_issues_but_not_resolved_ones_and_reruns_change_nothing() {
        let open = Issue {
            id: Some(7),
            user: "ana".into(),
            policy: "pii".into(),
            status: IssueStatus::Acknowledged,
            first_at: 0,
            last_at: 100,
            violation_ids: vec![1],
        };
        let resolved = Issue {
            id: Some(8),
            user: "tom".into(),
            policy: "pii".into(),
            status: IssueStatus::Resolved,
            first_at: 0,
            last_at: 100,
            violation_ids: vec![2],
        };
        let alerts = alerts_for(&[
            violation(3, "ana", "pii", 200, Action::Alert),
            violation(4, "tom", "pii", 200, Action::Alert),
        ]);
        let updated = group_into_issues(&[open.clone(), resolved.clone()], &alerts, 600);
        assert_eq!(updated.len(), 2);
        assert_eq!(
            (updated[0].id, updated[0].violation_ids.clone()),
            (Some(7), vec![1, 3])
        );
        assert_eq!(
            (updated[1].id, updated[1].violation_ids.clone()),
            (None, vec![4])
        );
        let again = group_into_issues(
            &[
                updated[0].clone(),
                resolved,
                Issue {
                    id: Some(9),
                    ..updated[1].clone()
                },
            ],
            &alerts,
            600,
        );
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn a_bad_status_names_the_valid_values() {
        assert_eq!(
            "acknowledged".parse::<IssueStatus>(),
            Ok(IssueStatus::Acknowledged)
        );
        let err = "closed".parse::<IssueStatus>().expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "unknown issue status `closed`; valid values: open, acknowledged, resolved"
        );
    }
}
