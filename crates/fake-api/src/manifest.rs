//! The ground truth of a time window: how many activities, chats, messages, prompts and
//! planted hits a complete walk over the endpoints should find, computed from the same data
//! and clock the endpoints serve.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::dataset::Dataset;
use super::faults::FaultConfig;
use super::generator::Role;
use super::plants::PLANTS;
use super::render::timestamp;

/// Counts for `[from, to)`.
///
/// - `activities`: activities created in the window.
/// - `chats`: chats whose `updated_at` (the last message, or the deletion) is in the window.
/// - `messages`: all existing messages of those chats.
/// - `prompt_events`: user messages of those chats that are not deleted.
/// - `planted`: planted hits among those prompts, by policy (every planted policy listed).
/// - `tolerance`: share of the window's activities and chats that the endpoints do not serve
///   yet, or serve in an older state, because the late-index fault holds them back; a walk
///   made now may come up short by this much. 0.0 without that fault.
///
/// Counts cover records that exist at the fake's `now`; they ignore indexing delay, which is
/// what `tolerance` accounts for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub from: String,
    pub to: String,
    pub activities: u64,
    pub chats: u64,
    pub messages: u64,
    pub prompt_events: u64,
    pub planted: BTreeMap<String, u64>,
    pub tolerance: f64,
}

/// Computes the manifest of `[from, to)` as of `now`.
pub fn manifest(
    data: &Dataset,
    now: DateTime<Utc>,
    faults: &FaultConfig,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Manifest {
    let truth_faults = FaultConfig::default();
    let truth = data.at(now, &truth_faults);
    let served = data.at(now, faults);
    let in_window = |t: DateTime<Utc>| t >= from && t < to;

    let mut hidden = 0u64;
    let mut activities = 0u64;
    for activity in data.activities().iter() {
        if in_window(activity.created_at) && truth.activity_visible(activity) {
            activities += 1;
            if !served.activity_visible(activity) {
                hidden += 1;
            }
        }
    }

    let mut planted: BTreeMap<String, u64> =
        PLANTS.iter().map(|p| (p.policy.to_string(), 0)).collect();
    let (mut chats, mut messages, mut prompt_events) = (0u64, 0u64, 0u64);
    for chat in data.chats() {
        let Some(state) = truth.chat_state(chat) else {
            continue;
        };
        if !in_window(state.updated_at) {
            continue;
        }
        chats += 1;
        if served.chat_state(chat) != Some(state) {
            hidden += 1;
        }
        let existing = &chat.messages[..state.messages];
        messages += existing.len() as u64;
        if state.deleted_at.is_some() {
            continue;
        }
        for message in existing.iter().filter(|m| m.role == Role::User) {
            prompt_events += 1;
            if let Some(plant) = message.plant() {
                *planted.entry(plant.policy.to_string()).or_insert(0) += 1;
            }
        }
    }

    let total = activities + chats;
    Manifest {
        from: timestamp(from),
        to: timestamp(to),
        activities,
        chats,
        messages,
        prompt_events,
        planted,
        tolerance: if total == 0 {
            0.0
        } else {
            hidden as f64 / total as f64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::LateIndexFault;
    use crate::generator::{default_start, GeneratorConfig};
    use chrono::Duration;

    fn dataset() -> Dataset {
        Dataset::generate(GeneratorConfig {
            seed: 4,
            users: 8,
            chats_per_user_per_day: 3,
            turns_per_chat: 3,
            start: default_start(),
            days: 4,
            plant_rate: 0.2,
        })
    }

    #[test]
    fn the_window_counts_add_up_across_adjacent_windows() {
        let data = dataset();
        let end = data.history_end();
        let faults = FaultConfig::default();
        let whole = manifest(
            &data,
            end,
            &faults,
            default_start() - Duration::days(1),
            end + Duration::days(2),
        );
        let mid = default_start() + Duration::days(2);
        let first = manifest(
            &data,
            end,
            &faults,
            default_start() - Duration::days(1),
            mid,
        );
        let second = manifest(&data, end, &faults, mid, end + Duration::days(2));
        assert_eq!(whole.activities, first.activities + second.activities);
        assert_eq!(whole.chats, first.chats + second.chats);
        assert_eq!(
            whole.prompt_events,
            first.prompt_events + second.prompt_events
        );
        let planted: u64 = whole.planted.values().sum();
        assert!(planted > 0);
        assert_eq!(whole.tolerance, 0.0);
        assert_eq!(whole.planted.len(), 7);
    }

    #[test]
    fn late_indexing_shows_up_as_tolerance() {
        let data = dataset();
        let end = data.history_end();
        let faults = FaultConfig {
            late_index: Some(LateIndexFault {
                fraction: 1.0,
                delay_secs: 10 * 86_400,
            }),
            ..FaultConfig::default()
        };
        let m = manifest(&data, end, &faults, default_start(), end);
        assert!(m.activities > 0);
        assert_eq!(m.tolerance, 1.0);
    }
}
