//! The generated organisation held in memory with its indexes, and the queries the endpoints
//! run against it as of a point in time: a record is served only once it exists (`created_at`
//! at or before `now`) and, under the late-index fault, once it has been indexed.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use super::faults::FaultConfig;
use super::generator::{
    self, Activity, Actor, Chat, ChatFile, GeneratorConfig, Message, Organisation,
};

/// Inclusive and exclusive bounds on a timestamp; the empty value accepts everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeBounds {
    pub gt: Option<DateTime<Utc>>,
    pub gte: Option<DateTime<Utc>>,
    pub lt: Option<DateTime<Utc>>,
    pub lte: Option<DateTime<Utc>>,
}

impl TimeBounds {
    pub fn is_empty(&self) -> bool {
        self.gt.is_none() && self.gte.is_none() && self.lt.is_none() && self.lte.is_none()
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.gt.is_none_or(|b| t > b)
            && self.gte.is_none_or(|b| t >= b)
            && self.lt.is_none_or(|b| t < b)
            && self.lte.is_none_or(|b| t <= b)
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// Which side of a cursor a page is taken from, in the list's own order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    After,
    Before,
}

/// A cursor resolved to the sort key of the item it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub direction: Direction,
    pub time: DateTime<Utc>,
    pub id: String,
}

/// One page of results.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

/// Takes a page from `sorted` (ascending by key, in the list's own order) next to `anchor`.
/// With `repeat_anchor`, a page taken after the anchor starts with the anchor item itself.
fn paginate<K: Ord, T>(
    sorted: Vec<(K, T)>,
    anchor: Option<(Direction, K)>,
    limit: usize,
    repeat_anchor: bool,
) -> Page<T> {
    let (start, end, has_more) = match &anchor {
        None => {
            let end = sorted.len().min(limit);
            (0, end, sorted.len() > end)
        }
        Some((Direction::After, key)) => {
            let after = sorted.partition_point(|(k, _)| k <= key);
            let end = (after + limit).min(sorted.len());
            // The repeated anchor comes on top of a full page of new items, so a client that
            // deduplicates still makes progress even with a limit of 1.
            let start = if repeat_anchor && after > 0 && sorted[after - 1].0 == *key {
                after - 1
            } else {
                after
            };
            (start, end, sorted.len() > end)
        }
        Some((Direction::Before, key)) => {
            let end = sorted.partition_point(|(k, _)| k < key);
            let start = end.saturating_sub(limit);
            (start, end, start > 0)
        }
    };
    collect(sorted, start, end, has_more)
}

fn collect<K, T>(sorted: Vec<(K, T)>, start: usize, end: usize, has_more: bool) -> Page<T> {
    let items = sorted
        .into_iter()
        .skip(start)
        .take(end.saturating_sub(start))
        .map(|(_, item)| item)
        .collect();
    Page { items, has_more }
}

/// Filters of the activities endpoint.
#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    pub created: TimeBounds,
    pub types: Option<HashSet<String>>,
    pub exclude_types: Option<HashSet<String>>,
    pub actor_ids: Option<HashSet<String>>,
    pub organization_ids: Option<HashSet<String>>,
    pub order: Option<SortOrder>,
    pub limit: usize,
    pub anchor: Option<Anchor>,
    pub repeat_anchor: bool,
}

/// Sort key of the chats endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatOrder {
    CreatedAt,
    UpdatedAt,
}

impl ChatOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatOrder::CreatedAt => "created_at",
            ChatOrder::UpdatedAt => "updated_at",
        }
    }
}

/// Filters of the chats endpoint.
#[derive(Debug, Clone)]
pub struct ChatQuery {
    pub order_by: ChatOrder,
    pub created: TimeBounds,
    pub updated: TimeBounds,
    pub user_ids: Option<HashSet<String>>,
    pub project_ids: Option<HashSet<String>>,
    pub organization_ids: Option<HashSet<String>>,
    pub limit: usize,
    pub anchor: Option<Anchor>,
    pub repeat_anchor: bool,
}

/// Filters of the chat messages endpoint.
#[derive(Debug, Clone)]
pub struct MessageQuery {
    pub created: TimeBounds,
    pub updated: TimeBounds,
    pub order: SortOrder,
    pub limit: Option<usize>,
    pub anchor: Option<Anchor>,
    pub repeat_anchor: bool,
}

/// A chat as it looks at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatState {
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// How many of the chat's messages exist (they are a prefix, in time order).
    pub messages: usize,
}

/// Where a file sits.
#[derive(Debug, Clone, Copy)]
struct FileLocation {
    chat: usize,
    message: usize,
    file: usize,
}

/// The organisation and all generated days.
#[derive(Debug)]
pub struct Dataset {
    config: GeneratorConfig,
    org: Organisation,
    chats: Vec<Chat>,
    /// Sorted by (`created_at`, `id`).
    activities: Vec<Activity>,
    chat_index: HashMap<String, usize>,
    activity_index: HashMap<String, usize>,
    file_index: HashMap<String, FileLocation>,
    days_generated: u32,
}

impl Dataset {
    /// Generates the organisation and the configured days.
    pub fn generate(config: GeneratorConfig) -> Self {
        let org = generator::organisation(&config);
        let mut dataset = Self {
            config,
            org,
            chats: Vec::new(),
            activities: Vec::new(),
            chat_index: HashMap::new(),
            activity_index: HashMap::new(),
            file_index: HashMap::new(),
            days_generated: 0,
        };
        let days = dataset.config.days;
        dataset.add_days(days);
        dataset
    }

    fn add_days(&mut self, until_day: u32) {
        if until_day <= self.days_generated {
            return;
        }
        for day_index in self.days_generated..until_day {
            let day = generator::day(&self.config, &self.org, day_index);
            for chat in day.chats {
                let chat_slot = self.chats.len();
                self.chat_index.insert(chat.id.clone(), chat_slot);
                for (message_slot, message) in chat.messages.iter().enumerate() {
                    for (file_slot, file) in message.files.iter().enumerate() {
                        self.file_index.insert(
                            file.id.clone(),
                            FileLocation {
                                chat: chat_slot,
                                message: message_slot,
                                file: file_slot,
                            },
                        );
                    }
                }
                self.chats.push(chat);
            }
            self.activities.extend(day.activities);
        }
        self.days_generated = until_day;
        self.activities.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        self.activity_index = self
            .activities
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
    }

    /// Generates further days so that everything up to `until` exists (live mode).
    pub fn extend_through(&mut self, until: DateTime<Utc>) {
        let needed = (until - self.config.start).num_days() + 1;
        if needed > i64::from(self.days_generated) {
            self.add_days(u32::try_from(needed).unwrap_or(u32::MAX));
        }
    }

    /// Number of days generated so far (more than `days` once live mode has extended it).
    pub fn generated_days(&self) -> u32 {
        self.days_generated
    }

    pub fn organisation(&self) -> &Organisation {
        &self.org
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// End of the configured history (`start + days`).
    pub fn history_end(&self) -> DateTime<Utc> {
        self.config.start + Duration::days(i64::from(self.config.days))
    }

    pub fn chats(&self) -> &[Chat] {
        &self.chats
    }

    pub fn activities(&self) -> &[Activity] {
        &self.activities
    }

    pub fn chat(&self, id: &str) -> Option<&Chat> {
        self.chat_index.get(id).and_then(|i| self.chats.get(*i))
    }

    pub fn activity(&self, id: &str) -> Option<&Activity> {
        self.activity_index
            .get(id)
            .and_then(|i| self.activities.get(*i))
    }

    /// The file, the chat and the message it is attached to.
    pub fn file(&self, id: &str) -> Option<(&Chat, &Message, &ChatFile)> {
        let location = self.file_index.get(id)?;
        let chat = self.chats.get(location.chat)?;
        let message = chat.messages.get(location.message)?;
        let file = message.files.get(location.file)?;
        Some((chat, message, file))
    }

    /// The dataset as served at `now` under `faults`.
    pub fn at<'a>(&'a self, now: DateTime<Utc>, faults: &'a FaultConfig) -> View<'a> {
        View {
            data: self,
            now,
            faults,
        }
    }
}

/// Position of a record in a time-ordered list: its time, then its id.
type SortKey<'k> = (DateTime<Utc>, &'k str);

/// The dataset as seen at one instant.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub data: &'a Dataset,
    pub now: DateTime<Utc>,
    faults: &'a FaultConfig,
}

impl<'a> View<'a> {
    pub fn activity_visible(&self, activity: &Activity) -> bool {
        activity.created_at + self.faults.index_delay(&activity.id) <= self.now
    }

    /// The chat's state, or `None` while it does not exist yet (or is not indexed yet).
    pub fn chat_state(&self, chat: &Chat) -> Option<ChatState> {
        let delay = self.faults.index_delay(&chat.id);
        let visible_until = self.now - delay;
        let messages = chat
            .messages
            .partition_point(|m| m.created_at <= visible_until);
        if messages == 0 {
            return None;
        }
        let last = chat.messages[messages - 1].created_at;
        let deleted_at = chat.deleted_at.filter(|d| *d <= visible_until);
        Some(ChatState {
            updated_at: deleted_at.unwrap_or(last),
            deleted_at,
            messages,
        })
    }

    pub fn activities<'q>(&self, query: &'q ActivityQuery) -> Page<&'a Activity>
    where
        'a: 'q,
    {
        let all = &self.data.activities;
        let lower = query
            .created
            .gte
            .into_iter()
            .chain(query.created.gt)
            .max()
            .map_or(0, |t| all.partition_point(|a| a.created_at < t));
        let upper = query
            .created
            .lte
            .into_iter()
            .chain(query.created.lt)
            .min()
            .map_or(all.len(), |t| all.partition_point(|a| a.created_at <= t));
        let org = &self.data.org;
        let matching = all[lower..upper.max(lower)].iter().filter(|a| {
            self.activity_visible(a)
                && query.created.contains(a.created_at)
                && query.types.as_ref().is_none_or(|t| t.contains(a.kind))
                && query
                    .exclude_types
                    .as_ref()
                    .is_none_or(|t| !t.contains(a.kind))
                && query.actor_ids.as_ref().is_none_or(|ids| match a.actor {
                    Actor::User(u) => ids.contains(&org.users[u].id),
                    _ => false,
                })
                && query.organization_ids.as_ref().is_none_or(|ids| {
                    a.in_organisation
                        && (ids.contains(&org.id) || ids.contains(&org.uuid.to_string()))
                })
        });
        let anchor_key = |a: &'q Anchor| (a.time, a.id.as_str());
        match query.order.unwrap_or(SortOrder::Desc) {
            SortOrder::Asc => {
                let sorted: Vec<_> = matching
                    .map(|a| ((a.created_at, a.id.as_str()), a))
                    .collect();
                let anchor = query.anchor.as_ref().map(|a| (a.direction, anchor_key(a)));
                paginate(sorted, anchor, query.limit, query.repeat_anchor)
            }
            SortOrder::Desc => {
                let mut sorted: Vec<_> = matching
                    .map(|a| (Reverse((a.created_at, a.id.as_str())), a))
                    .collect();
                sorted.reverse();
                let anchor = query
                    .anchor
                    .as_ref()
                    .map(|a| (a.direction, Reverse(anchor_key(a))));
                paginate(sorted, anchor, query.limit, query.repeat_anchor)
            }
        }
    }

    pub fn chats<'q>(&self, query: &'q ChatQuery) -> Page<(&'a Chat, ChatState)>
    where
        'a: 'q,
    {
        let org = &self.data.org;
        let mut sorted: Vec<(SortKey<'q>, (&'a Chat, ChatState))> = self
            .data
            .chats
            .iter()
            .filter_map(|chat| self.chat_state(chat).map(|state| (chat, state)))
            .filter(|(chat, state)| {
                query.created.contains(chat.created_at)
                    && query.updated.contains(state.updated_at)
                    && query
                        .user_ids
                        .as_ref()
                        .is_none_or(|ids| ids.contains(&org.users[chat.user].id))
                    && query.project_ids.as_ref().is_none_or(|ids| {
                        chat.project
                            .is_some_and(|p| ids.contains(&org.projects[p].id))
                    })
                    && query.organization_ids.as_ref().is_none_or(|ids| {
                        ids.contains(&org.id) || ids.contains(&org.uuid.to_string())
                    })
            })
            .map(|(chat, state)| {
                let time = match query.order_by {
                    ChatOrder::CreatedAt => chat.created_at,
                    ChatOrder::UpdatedAt => state.updated_at,
                };
                ((time, chat.id.as_str()), (chat, state))
            })
            .collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let anchor = query
            .anchor
            .as_ref()
            .map(|a| (a.direction, (a.time, a.id.as_str())));
        paginate(sorted, anchor, query.limit, query.repeat_anchor)
    }

    /// A page of the chat's existing messages.
    pub fn messages<'q>(
        &self,
        chat: &'a Chat,
        state: ChatState,
        query: &'q MessageQuery,
    ) -> Page<&'a Message>
    where
        'a: 'q,
    {
        let existing = chat.messages[..state.messages].iter().filter(|m| {
            query.created.contains(m.created_at) && query.updated.contains(m.created_at)
        });
        let limit = query.limit.unwrap_or(usize::MAX);
        let anchor_key = |a: &'q Anchor| (a.time, a.id.as_str());
        match query.order {
            SortOrder::Asc => {
                let sorted: Vec<_> = existing
                    .map(|m| ((m.created_at, m.id.as_str()), m))
                    .collect();
                let anchor = query.anchor.as_ref().map(|a| (a.direction, anchor_key(a)));
                paginate(sorted, anchor, limit, query.repeat_anchor)
            }
            SortOrder::Desc => {
                let mut sorted: Vec<_> = existing
                    .map(|m| (Reverse((m.created_at, m.id.as_str())), m))
                    .collect();
                sorted.reverse();
                let anchor = query
                    .anchor
                    .as_ref()
                    .map(|a| (a.direction, Reverse(anchor_key(a))));
                paginate(sorted, anchor, limit, query.repeat_anchor)
            }
        }
    }

    /// A file that exists and whose chat has not been deleted.
    pub fn file(&self, id: &str) -> Option<(&'a Chat, &'a Message, &'a ChatFile)> {
        let (chat, message, file) = self.data.file(id)?;
        let state = self.chat_state(chat)?;
        let message_exists = chat.messages[..state.messages]
            .iter()
            .any(|m| m.id == message.id);
        (message_exists && state.deleted_at.is_none() && file.created_at <= self.now)
            .then_some((chat, message, file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::default_start;

    fn dataset() -> Dataset {
        Dataset::generate(GeneratorConfig {
            seed: 21,
            users: 6,
            chats_per_user_per_day: 3,
            turns_per_chat: 3,
            start: default_start(),
            days: 3,
            plant_rate: 0.08,
        })
    }

    #[test]
    fn pagination_after_and_before_a_key_returns_adjacent_pages() {
        let sorted: Vec<(u32, u32)> = (0..10).map(|i| (i, i)).collect();
        let first = paginate(sorted.clone(), None, 4, false);
        assert_eq!(first.items, vec![0, 1, 2, 3]);
        assert!(first.has_more);
        let next = paginate(sorted.clone(), Some((Direction::After, 3)), 4, false);
        assert_eq!(next.items, vec![4, 5, 6, 7]);
        let last = paginate(sorted.clone(), Some((Direction::After, 7)), 4, false);
        assert_eq!(last.items, vec![8, 9]);
        assert!(!last.has_more);
        let back = paginate(sorted.clone(), Some((Direction::Before, 8)), 4, false);
        assert_eq!(back.items, vec![4, 5, 6, 7]);
        assert!(back.has_more);
        let repeated = paginate(sorted, Some((Direction::After, 3)), 4, true);
        assert_eq!(repeated.items, vec![3, 4, 5, 6, 7]);
    }

    #[test]
    fn nothing_exists_before_its_created_at() {
        let data = dataset();
        let faults = FaultConfig::default();
        let early = data.at(default_start(), &faults);
        let query = ActivityQuery {
            limit: 5_000,
            ..ActivityQuery::default()
        };
        assert!(early.activities(&query).items.is_empty());
        let late = data.at(data.history_end(), &faults);
        let all = late.activities(&query).items;
        assert!(!all.is_empty());
        assert!(all.iter().all(|a| a.created_at <= data.history_end()));
    }

    #[test]
    fn a_chat_grows_as_its_later_messages_come_into_existence() {
        let data = dataset();
        let faults = FaultConfig::default();
        let chat = data.chats().iter().find(|c| c.messages.len() >= 4).unwrap();
        let view = data.at(chat.messages[1].created_at, &faults);
        let state = view.chat_state(chat).unwrap();
        assert_eq!(state.messages, 2);
        assert_eq!(state.updated_at, chat.messages[1].created_at);
        assert!(data
            .at(chat.created_at - Duration::seconds(1), &faults)
            .chat_state(chat)
            .is_none());
    }

    #[test]
    fn extending_a_live_dataset_keeps_existing_days_unchanged() {
        let mut data = dataset();
        let before: Vec<String> = data.chats().iter().map(|c| c.id.clone()).collect();
        data.extend_through(data.history_end() + Duration::days(2));
        let after: Vec<String> = data.chats().iter().map(|c| c.id.clone()).collect();
        assert!(after.len() > before.len());
        assert_eq!(&after[..before.len()], &before[..]);
        assert!(data
            .activities()
            .windows(2)
            .all(|w| (w[0].created_at, &w[0].id) <= (w[1].created_at, &w[1].id)));
    }
}
