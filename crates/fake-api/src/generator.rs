//! Deterministic generator of the fake organisation: a pure function of the seed, the size
//! knobs and the start time. The organisation (users, groups, projects) is generated once and
//! each day of chats and activity separately, so a live server can keep adding days while the
//! days already served stay byte-identical.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use serde_json::{json, Value};

use super::conversations::{ToolKind, TOPICS};
use super::plants::PLANTS;
use super::random::{hex_string, tagged_id, uuid, Stream};

/// Size and shape of the generated organisation.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of users.
    pub users: u32,
    /// Average chats a user starts per working day (weekends see a fifth of it).
    pub chats_per_user_per_day: u32,
    /// Average user turns per chat; actual chats vary around it.
    pub turns_per_chat: u32,
    /// First instant of the generated history.
    pub start: DateTime<Utc>,
    /// Length of the history in days.
    pub days: u32,
    /// Share of user prompts in non-deleted chats replaced by a planted policy hit.
    pub plant_rate: f64,
}

/// The organisation every record belongs to.
#[derive(Debug, Clone)]
pub struct Organisation {
    pub uuid: uuid::Uuid,
    /// Tagged id (`org_...`).
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Sorted by `created_at` (the join date), as the users endpoint lists them.
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub projects: Vec<Project>,
    /// Indices into `projects` that each user can file chats under.
    pub projects_by_user: Vec<Vec<usize>>,
    /// Id of the Compliance Access Key that the organisation's SIEM uses (it shows up in
    /// `compliance_api_accessed` activity).
    pub siem_api_key_id: String,
    pub admin_api_key_id: String,
    pub scim_directory_id: String,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub full_name: String,
    pub email: String,
    pub organization_role: &'static str,
    pub created_at: DateTime<Utc>,
    pub ip_address: String,
    pub user_agent: &'static str,
    /// Offset of the user's working hours from UTC, in hours.
    pub utc_offset_hours: i64,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: &'static str,
    pub description: &'static str,
    pub source_type: &'static str,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub members: Vec<GroupMember>,
}

#[derive(Debug, Clone)]
pub struct GroupMember {
    /// Index into `Organisation::users`.
    pub user: usize,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub name: &'static str,
    pub owner: usize,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Chat {
    pub id: String,
    /// The UUID in the chat's claude.ai link.
    pub uuid: uuid::Uuid,
    /// Index into `Organisation::users`.
    pub user: usize,
    /// Index into `Organisation::projects`.
    pub project: Option<usize>,
    pub model: Option<&'static str>,
    pub name: &'static str,
    /// Equal to the first message's `created_at`.
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// In `created_at` order.
    pub messages: Vec<Message>,
}

/// What a message says; rendered to text only when served, so large organisations stay small
/// in memory.
#[derive(Debug, Clone)]
pub enum MessageBody {
    Prompt {
        topic: u16,
        turn: u8,
        variant: u64,
    },
    Plant {
        plant: u16,
    },
    Answer {
        topic: u16,
        turn: u8,
        variant: u64,
        tool_use_id: Option<String>,
    },
    PlantReply {
        plant: u16,
        variant: u64,
    },
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub body: MessageBody,
    pub files: Vec<ChatFile>,
    pub generated_files: Vec<GeneratedFile>,
    pub artifacts: Vec<Artifact>,
}

impl Message {
    /// The planted policy hit this message carries, if any.
    pub fn plant(&self) -> Option<&'static super::plants::Plant> {
        match self.body {
            MessageBody::Plant { plant } => PLANTS.get(usize::from(plant)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ChatFile {
    pub id: String,
    pub filename: &'static str,
    pub mime_type: &'static str,
    pub size_bytes: u64,
    pub md5: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct GeneratedFile {
    pub id: String,
    pub filename: &'static str,
    pub mime_type: &'static str,
    pub size_bytes: u64,
    pub md5: String,
}

#[derive(Debug, Clone)]
pub struct Artifact {
    pub id: String,
    pub version_id: String,
    pub title: &'static str,
    pub artifact_type: &'static str,
}

/// Who performed an activity.
#[derive(Debug, Clone)]
pub enum Actor {
    /// Index into `Organisation::users`.
    User(usize),
    Api {
        api_key_id: String,
        ip_address: &'static str,
        user_agent: &'static str,
    },
    AdminApiKey {
        admin_api_key_id: String,
        ip_address: &'static str,
        user_agent: &'static str,
    },
    Unauthenticated {
        email: String,
        ip_address: String,
        user_agent: &'static str,
    },
    System {
        service: &'static str,
    },
    ScimDirectorySync {
        directory_id: String,
        workos_event_id: String,
    },
}

#[derive(Debug, Clone)]
pub struct Activity {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub kind: &'static str,
    /// False for events the real feed records without an organisation (sign-in, sign-out,
    /// Compliance API calls).
    pub in_organisation: bool,
    pub actor: Actor,
    /// Type-specific fields, in output order.
    pub fields: Vec<(&'static str, Value)>,
}

/// One day of generated records.
#[derive(Debug, Clone, Default)]
pub struct Day {
    pub chats: Vec<Chat>,
    pub activities: Vec<Activity>,
}

// Stream labels: each generated part draws from its own stream so that changing one knob
// (for example the number of users) does not reshuffle unrelated parts.
const ORG_STREAM: u64 = 1;
const USER_DAY_STREAM: u64 = 2;
const CHAT_STREAM: u64 = 3;
const ORG_DAY_STREAM: u64 = 4;

const ORG_NAMES: &[&str] = &[
    "Meridian Labs",
    "Bluefin Logistics",
    "Harbor Health Partners",
    "Cobalt Ridge Capital",
    "Lattice Works",
    "Northgate Retail",
    "Summit Aerospace",
    "Juniper Learning",
];

const FIRST_NAMES: &[&str] = &[
    "Alice", "Bruno", "Chen", "Dana", "Elif", "Farah", "Gustavo", "Hana", "Ines", "Jonas", "Kofi",
    "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Samir", "Tara", "Umar", "Vera",
    "Wei", "Ximena", "Yusuf", "Zoe", "Amara", "Bjorn", "Carmen", "Dmitri", "Esther", "Felix",
    "Greta", "Hugo", "Isla", "Julian", "Keiko", "Leon", "Maya", "Niko",
];

const LAST_NAMES: &[&str] = &[
    "Abbott", "Becker", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi",
    "Schmidt", "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Yilmaz", "Zhang", "Almeida", "Brennan",
    "Costa", "Delgado",
];

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36 Edg/141.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Claude/1.0.7 (Macintosh; Intel Mac OS X 14_6) Electron/36.4.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0",
    "Claude/1.0.7 (Windows NT 10.0; Win64; x64) Electron/36.4.0",
];

const SIEM_USER_AGENT: &str = "python-httpx/0.28.1";
const SIEM_IP: &str = "203.0.113.40";
const ADMIN_TOOL_IP: &str = "203.0.113.41";
const ADMIN_TOOL_USER_AGENT: &str = "terraform-provider-anthropic/0.6.2";

const GROUPS: &[(&str, &str)] = &[
    ("Engineering", "All members of the engineering organization"),
    ("Data and Analytics", "Analysts and data engineers"),
    ("Marketing", "Brand, growth and product marketing"),
    ("Finance", "Finance, billing and procurement"),
    ("Customer Support", "Support agents and team leads"),
    ("Legal", "Legal and compliance"),
    ("People", "HR, recruiting and workplace"),
    ("Leadership", "Directors and above"),
];

const PROJECT_NAMES: &[&str] = &[
    "Billing platform",
    "Q3 board pack",
    "Onboarding revamp",
    "Support macros",
    "Data warehouse migration",
    "Brand guidelines",
    "Hiring plan",
    "Mobile app launch",
    "Pricing research",
    "Security questionnaire answers",
    "Partner newsletter",
    "Incident reviews",
];

const MODELS: &[(Option<&str>, u32)] = &[
    (Some("claude-sonnet-4-5"), 10),
    (Some("claude-opus-4-7"), 6),
    (Some("claude-haiku-4-5"), 2),
    (Some("claude-opus-4-1"), 1),
    (None, 1),
];

/// Relative chance of starting a chat in each local hour of the day.
const HOUR_WEIGHTS: [u32; 24] = [
    0, 0, 0, 0, 0, 0, 1, 3, 8, 12, 12, 10, 6, 9, 11, 11, 9, 6, 3, 2, 2, 1, 1, 0,
];

/// The default start of the generated history.
pub fn default_start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_775_001_600, 0).unwrap_or(DateTime::UNIX_EPOCH) // 2026-04-01T00:00:00Z
}

/// Generates the organisation: users, groups and projects.
pub fn organisation(config: &GeneratorConfig) -> Organisation {
    let mut rng = Stream::new(config.seed, &[ORG_STREAM]);
    let org_uuid = uuid(&mut rng);
    let org_id = tagged_id("org_", &mut rng);
    let name = rng
        .pick(ORG_NAMES)
        .copied()
        .unwrap_or("Meridian Labs")
        .to_string();
    let domain = format!("{}.com", name.to_lowercase().replace(' ', ""));
    let created_at = config.start - Duration::days(rng.between(400, 900));

    let mut users = Vec::with_capacity(config.users as usize);
    let mut used_emails = std::collections::HashSet::new();
    for index in 0..config.users as usize {
        let first = rng.pick(FIRST_NAMES).copied().unwrap_or("Alice");
        let last = rng.pick(LAST_NAMES).copied().unwrap_or("Abbott");
        let base = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
        let mut email = format!("{base}@{domain}");
        let mut suffix = 2;
        while !used_emails.insert(email.clone()) {
            email = format!("{base}{suffix}@{domain}");
            suffix += 1;
        }
        let joined = created_at
            + Duration::days(rng.between(0, (config.start - created_at).num_days() - 2))
            + Duration::seconds(rng.between(0, 86_399));
        users.push(User {
            id: tagged_id("user_", &mut rng),
            full_name: format!("{first} {last}"),
            email,
            organization_role: "user",
            created_at: joined,
            ip_address: format!("198.51.100.{}", 10 + index % 240),
            user_agent: rng.pick(USER_AGENTS).copied().unwrap_or(USER_AGENTS[0]),
            utc_offset_hours: [-8, -5, -5, 0, 0, 1, 1, 1, 2, 9][rng.index(10)],
        });
    }
    users.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    for (index, user) in users.iter_mut().enumerate() {
        user.organization_role = match index {
            0 => "primary_owner",
            1 | 2 => "admin",
            3 => "billing",
            i if i % 5 == 4 => "developer",
            i if i % 11 == 7 => "claude_code_user",
            _ => "user",
        };
    }

    let role_pool: Vec<String> = (0..4).map(|_| tagged_id("rbac_role_", &mut rng)).collect();
    let group_count = (config.users as usize / 4).clamp(2, GROUPS.len());
    let mut groups: Vec<Group> = GROUPS[..group_count]
        .iter()
        .map(|(name, description)| {
            let group_created = created_at + Duration::days(rng.between(1, 60));
            let roles = (0..rng.between(1, 2))
                .filter_map(|_| rng.pick(&role_pool).cloned())
                .collect();
            Group {
                id: tagged_id("rbac_group_", &mut rng),
                name,
                description,
                source_type: if rng.chance(0.7) { "scim" } else { "direct" },
                roles,
                created_at: group_created,
                updated_at: group_created + Duration::days(rng.between(0, 30)),
                members: Vec::new(),
            }
        })
        .collect();
    for (user_index, user) in users.iter().enumerate() {
        let memberships = if rng.chance(0.3) { 2 } else { 1 };
        for _ in 0..memberships {
            let group_index = rng.index(groups.len());
            let group = &mut groups[group_index];
            if group.members.iter().any(|m| m.user == user_index) {
                continue;
            }
            let joined =
                user.created_at.max(group.created_at) + Duration::hours(rng.between(1, 72));
            group.members.push(GroupMember {
                user: user_index,
                created_at: joined,
                updated_at: joined,
            });
        }
    }
    for group in &mut groups {
        group.members.sort_by_key(|m| (m.created_at, m.user));
    }

    let project_count = (config.users as usize / 3).clamp(2, 40);
    let projects: Vec<Project> = (0..project_count)
        .map(|i| {
            let owner = rng.index(users.len().max(1));
            let created = if rng.chance(0.7) || config.days < 2 {
                config.start - Duration::days(rng.between(1, 120))
                    + Duration::seconds(rng.between(0, 86_399))
            } else {
                config.start
                    + Duration::days(rng.between(0, i64::from(config.days) - 1))
                    + Duration::hours(rng.between(8, 17))
                    + Duration::seconds(rng.between(0, 3_599))
            };
            Project {
                id: tagged_id("claude_proj_", &mut rng),
                name: PROJECT_NAMES[i % PROJECT_NAMES.len()],
                owner,
                created_at: created,
            }
        })
        .collect();
    let mut projects_by_user = vec![Vec::new(); users.len()];
    for (project_index, project) in projects.iter().enumerate() {
        let owner_groups: Vec<&Group> = groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m.user == project.owner))
            .collect();
        for (user_index, allowed) in projects_by_user.iter_mut().enumerate() {
            let shares_group = owner_groups
                .iter()
                .any(|g| g.members.iter().any(|m| m.user == user_index));
            if user_index == project.owner || shares_group {
                allowed.push(project_index);
            }
        }
    }

    Organisation {
        uuid: org_uuid,
        id: org_id,
        name,
        created_at,
        users,
        groups,
        projects,
        projects_by_user,
        siem_api_key_id: tagged_id("apikey_", &mut rng),
        admin_api_key_id: tagged_id("admkey_", &mut rng),
        scim_directory_id: tagged_id("directory_", &mut rng),
    }
}

/// Generates day `day_index` (0 = the day of `config.start`): every chat started that day with
/// all its turns (later turns may fall on following days) and the day's activity.
pub fn day(config: &GeneratorConfig, org: &Organisation, day_index: u32) -> Day {
    let day_start = config.start + Duration::days(i64::from(day_index));
    let weekend = matches!(day_start.weekday(), Weekday::Sat | Weekday::Sun);
    let mut out = Day::default();
    for (user_index, user) in org.users.iter().enumerate() {
        let mut rng = Stream::new(
            config.seed,
            &[USER_DAY_STREAM, u64::from(day_index), user_index as u64],
        );
        let draws = 2 * config.chats_per_user_per_day;
        let p = if weekend { 0.1 } else { 0.5 };
        let chat_count = (0..draws).filter(|_| rng.chance(p)).count();
        let mut first_activity: Option<DateTime<Utc>> = None;
        let mut last_activity: Option<DateTime<Utc>> = None;
        for chat_index in 0..chat_count {
            let hour = rng.weighted(&HOUR_WEIGHTS) as i64;
            let mut started = day_start
                + Duration::hours(hour - user.utc_offset_hours)
                + Duration::seconds(rng.between(0, 3_599));
            if started < config.start {
                started += Duration::days(1);
            }
            let chat_key = [
                CHAT_STREAM,
                u64::from(day_index),
                user_index as u64,
                chat_index as u64,
            ];
            let mut chat_rng = Stream::new(config.seed, &chat_key);
            let (chat, activities) = chat(config, org, user_index, started, &mut chat_rng);
            first_activity =
                Some(first_activity.map_or(chat.created_at, |t| t.min(chat.created_at)));
            let ended = chat
                .messages
                .last()
                .map_or(chat.created_at, |m| m.created_at);
            last_activity = Some(last_activity.map_or(ended, |t| t.max(ended)));
            out.chats.push(chat);
            out.activities.extend(activities);
        }
        if let (Some(first), Some(last)) = (first_activity, last_activity) {
            out.activities
                .extend(session_activity(org, user_index, first, last, &mut rng));
        }
    }
    out.activities
        .extend(organisation_activity(config, org, day_index, day_start));
    out
}

fn vary_turns(turns: u32, rng: &mut Stream) -> u32 {
    let delta = [-1i64, 0, 0, 0, 1, 2][rng.index(6)];
    (i64::from(turns) + delta).max(1) as u32
}

fn chat(
    config: &GeneratorConfig,
    org: &Organisation,
    user: usize,
    started: DateTime<Utc>,
    rng: &mut Stream,
) -> (Chat, Vec<Activity>) {
    let topic_index = rng.index(TOPICS.len());
    let topic = &TOPICS[topic_index];
    let deleted = rng.chance(0.04);
    let project = match org.projects_by_user.get(user) {
        Some(allowed) if !allowed.is_empty() && rng.chance(0.3) => {
            let candidate = allowed[rng.index(allowed.len())];
            // A chat can only be filed under a project that already exists.
            (org.projects[candidate].created_at < started).then_some(candidate)
        }
        _ => None,
    };
    let model_weights: Vec<u32> = MODELS.iter().map(|(_, w)| *w).collect();
    let model = MODELS[rng.weighted(&model_weights)].0;
    let chat_id = tagged_id("claude_chat_", rng);
    let chat_uuid = uuid(rng);
    let project_id = project.map(|p| org.projects[p].id.clone());
    let turns = vary_turns(config.turns_per_chat, rng);
    let artifact_id = tagged_id("claude_artifact_", rng);

    let mut activities = Vec::new();
    let mut messages = Vec::with_capacity(turns as usize * 2);
    let mut at = started;
    activities.push(activity(
        rng,
        at,
        "claude_chat_created",
        Actor::User(user),
        vec![
            ("claude_chat_id", json!(chat_id)),
            ("claude_project_id", json!(project_id)),
        ],
    ));
    // The app loads a chat as soon as it is created, so the first view often shares the
    // creation's second: the feed has timestamp ties that only the id orders.
    if rng.chance(0.5) {
        activities.push(activity(
            rng,
            at,
            "claude_chat_viewed",
            Actor::User(user),
            vec![
                ("claude_chat_id", json!(chat_id)),
                ("claude_project_id", json!(project_id)),
            ],
        ));
    }
    for turn in 0..turns {
        let turn_u8 = u8::try_from(turn).unwrap_or(u8::MAX);
        let planted = (!deleted && rng.chance(config.plant_rate))
            .then(|| u16::try_from(rng.index(PLANTS.len())).unwrap_or(0));
        let variant = rng.next_u64();
        let mut files = Vec::new();
        if turn == 0 {
            if let Some((filename, mime_type)) = topic.attachment {
                let uploaded = at - Duration::seconds(rng.between(5, 90));
                let file = ChatFile {
                    id: tagged_id("claude_file_", rng),
                    filename,
                    mime_type,
                    size_bytes: rng.between(8_000, 900_000) as u64,
                    md5: hex_string(32, rng),
                    created_at: uploaded,
                };
                activities.push(activity(
                    rng,
                    uploaded,
                    "claude_file_uploaded",
                    Actor::User(user),
                    vec![
                        ("claude_file_id", json!(file.id)),
                        ("filename", json!(file.filename)),
                    ],
                ));
                files.push(file);
            }
        }
        messages.push(Message {
            id: tagged_id("claude_chat_msg_", rng),
            role: Role::User,
            created_at: at,
            body: match planted {
                Some(plant) => MessageBody::Plant { plant },
                None => MessageBody::Prompt {
                    topic: u16::try_from(topic_index).unwrap_or(0),
                    turn: turn_u8,
                    variant,
                },
            },
            files,
            generated_files: Vec::new(),
            artifacts: Vec::new(),
        });

        let uses_tool = turn == 0 && planted.is_none() && topic.tool.is_some();
        let generation = rng.between(4, 40) + if uses_tool { rng.between(8, 45) } else { 0 };
        at += Duration::seconds(generation);
        let mut generated_files = Vec::new();
        let mut artifacts = Vec::new();
        let body = match planted {
            Some(plant) => MessageBody::PlantReply { plant, variant },
            None => {
                let tool_use_id = uses_tool.then(|| tagged_id("toolu_", rng));
                if uses_tool {
                    if let Some((filename, mime_type)) = topic.generated_file {
                        generated_files.push(GeneratedFile {
                            id: tagged_id("claude_gen_file_", rng),
                            filename,
                            mime_type,
                            size_bytes: rng.between(4_000, 60_000) as u64,
                            md5: hex_string(32, rng),
                        });
                    }
                }
                if let Some((title, artifact_type)) = topic.artifact {
                    if turn <= 1 {
                        let version_id = tagged_id("claude_artifact_version_", rng);
                        if turn == 0 {
                            activities.push(activity(
                                rng,
                                at,
                                "claude_artifact_created",
                                Actor::User(user),
                                vec![
                                    ("claude_artifact_id", json!(artifact_id)),
                                    ("claude_chat_id", json!(chat_id)),
                                ],
                            ));
                        }
                        artifacts.push(Artifact {
                            id: artifact_id.clone(),
                            version_id,
                            title,
                            artifact_type,
                        });
                    }
                }
                MessageBody::Answer {
                    topic: u16::try_from(topic_index).unwrap_or(0),
                    turn: turn_u8,
                    variant,
                    tool_use_id,
                }
            }
        };
        messages.push(Message {
            id: tagged_id("claude_chat_msg_", rng),
            role: Role::Assistant,
            created_at: at,
            body,
            files: Vec::new(),
            generated_files,
            artifacts,
        });
        if rng.chance(0.5) {
            let viewed = at + Duration::seconds(rng.between(1, 120));
            activities.push(activity(
                rng,
                viewed,
                "claude_chat_viewed",
                Actor::User(user),
                vec![
                    ("claude_chat_id", json!(chat_id)),
                    ("claude_project_id", json!(project_id)),
                ],
            ));
        }
        // Most follow-ups come within minutes; some chats are picked up again hours later,
        // which moves the chat's updated_at into a later polling window.
        at += if turn + 1 < turns && rng.chance(0.15) {
            Duration::seconds(rng.between(3_600, 7 * 3_600))
        } else {
            Duration::seconds(rng.between(20, 600))
        };
    }

    let last_message = messages.last().map_or(started, |m| m.created_at);
    if rng.chance(0.05) {
        let renamed = last_message + Duration::seconds(rng.between(30, 3_600));
        activities.push(activity(
            rng,
            renamed,
            "claude_chat_updated",
            Actor::User(user),
            vec![("claude_chat_id", json!(chat_id))],
        ));
    }
    let deleted_at =
        deleted.then(|| last_message + Duration::seconds(rng.between(600, 30 * 3_600)));
    if let Some(deleted_at) = deleted_at {
        activities.push(activity(
            rng,
            deleted_at,
            "claude_chat_deleted",
            Actor::User(user),
            vec![
                ("claude_chat_id", json!(chat_id)),
                ("claude_project_id", json!(project_id)),
            ],
        ));
    }
    let chat = Chat {
        id: chat_id,
        uuid: chat_uuid,
        user,
        project,
        model,
        name: topic.title,
        created_at: started,
        deleted_at,
        messages,
    };
    (chat, activities)
}

/// Sign-in and sign-out around a user's working day.
fn session_activity(
    org: &Organisation,
    user: usize,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    rng: &mut Stream,
) -> Vec<Activity> {
    let mut out = Vec::new();
    let person = &org.users[user];
    let signed_in = first - Duration::seconds(rng.between(60, 45 * 60));
    if rng.chance(0.05) {
        let failed = signed_in - Duration::seconds(rng.between(20, 300));
        out.push(activity(
            rng,
            failed,
            "sso_login_failed",
            Actor::Unauthenticated {
                email: person.email.clone(),
                ip_address: person.ip_address.clone(),
                user_agent: person.user_agent,
            },
            vec![("failure_reason", json!("idp_assertion_expired"))],
        ));
    }
    out.push(activity(
        rng,
        signed_in,
        "sso_login_succeeded",
        Actor::User(user),
        Vec::new(),
    ));
    if rng.chance(0.3) {
        let signed_out = last + Duration::seconds(rng.between(600, 7_200));
        out.push(activity(
            rng,
            signed_out,
            "user_logged_out",
            Actor::User(user),
            Vec::new(),
        ));
    }
    if rng.chance(0.03) {
        let changed = first + Duration::seconds(rng.between(60, 1_800));
        out.push(activity(
            rng,
            changed,
            "claude_user_settings_updated",
            Actor::User(user),
            Vec::new(),
        ));
    }
    out.iter_mut()
        .filter(|a| {
            matches!(
                a.kind,
                "sso_login_succeeded" | "sso_login_failed" | "user_logged_out"
            )
        })
        .for_each(|a| a.in_organisation = false);
    out
}

/// Organisation-wide activity of one day: the SIEM polling the Compliance API, admin changes,
/// directory sync, project creation.
fn organisation_activity(
    config: &GeneratorConfig,
    org: &Organisation,
    day_index: u32,
    day_start: DateTime<Utc>,
) -> Vec<Activity> {
    let mut rng = Stream::new(config.seed, &[ORG_DAY_STREAM, u64::from(day_index)]);
    let mut out = Vec::new();
    for hour in (1..24).step_by(2) {
        let at = day_start + Duration::hours(hour) + Duration::seconds(rng.between(0, 300));
        let mut polled = activity(
            &mut rng,
            at,
            "compliance_api_accessed",
            Actor::Api {
                api_key_id: org.siem_api_key_id.clone(),
                ip_address: SIEM_IP,
                user_agent: SIEM_USER_AGENT,
            },
            vec![
                ("request_method", json!("GET")),
                ("request_path", json!("/v1/compliance/activities")),
            ],
        );
        polled.in_organisation = false;
        out.push(polled);
    }
    let admins: Vec<usize> = org
        .users
        .iter()
        .enumerate()
        .filter(|(_, u)| matches!(u.organization_role, "primary_owner" | "admin"))
        .map(|(i, _)| i)
        .collect();
    let working = |rng: &mut Stream| {
        day_start + Duration::hours(rng.between(9, 17)) + Duration::seconds(rng.between(0, 3_599))
    };
    if let Some(&admin) = rng.pick(&admins) {
        if rng.chance(0.3) && !org.users.is_empty() {
            let target = rng.index(org.users.len());
            let at = working(&mut rng);
            out.push(activity(
                &mut rng,
                at,
                "claude_user_role_updated",
                Actor::User(admin),
                vec![
                    ("target_user_id", json!(org.users[target].id)),
                    ("previous_role", json!("user")),
                    ("new_role", json!(org.users[target].organization_role)),
                ],
            ));
        }
        if rng.chance(0.2) {
            let at = working(&mut rng);
            out.push(activity(
                &mut rng,
                at,
                "claude_organization_settings_updated",
                Actor::User(admin),
                vec![("updated_settings", json!(["default_model"]))],
            ));
        }
        if rng.chance(0.1) {
            let at = working(&mut rng);
            out.push(activity(
                &mut rng,
                at,
                "org_members_exported",
                Actor::User(admin),
                Vec::new(),
            ));
        }
    }
    if rng.chance(0.25) {
        let at = working(&mut rng);
        out.push(activity(
            &mut rng,
            at,
            "org_invites_listed",
            Actor::AdminApiKey {
                admin_api_key_id: org.admin_api_key_id.clone(),
                ip_address: ADMIN_TOOL_IP,
                user_agent: ADMIN_TOOL_USER_AGENT,
            },
            Vec::new(),
        ));
    }
    if rng.chance(0.4) && !org.groups.is_empty() && !org.users.is_empty() {
        let group = &org.groups[rng.index(org.groups.len())];
        let member = &org.users[rng.index(org.users.len())];
        let at = day_start
            + Duration::hours(rng.between(0, 23))
            + Duration::seconds(rng.between(0, 3_599));
        let event_id = tagged_id("event_", &mut rng);
        out.push(activity(
            &mut rng,
            at,
            "group_member_added",
            Actor::ScimDirectorySync {
                directory_id: org.scim_directory_id.clone(),
                workos_event_id: event_id,
            },
            vec![
                ("group_id", json!(group.id)),
                ("user_ids", json!([member.id])),
            ],
        ));
    }
    let at = day_start + Duration::hours(3) + Duration::seconds(rng.between(0, 1_800));
    out.push(activity(
        &mut rng,
        at,
        "org_directory_resync_completed",
        Actor::System {
            service: "directory_sync",
        },
        Vec::new(),
    ));
    let day_end = day_start + Duration::days(1);
    for project in org
        .projects
        .iter()
        .filter(|p| p.created_at >= day_start && p.created_at < day_end)
    {
        out.push(activity(
            &mut rng,
            project.created_at,
            "claude_project_created",
            Actor::User(project.owner),
            vec![
                ("claude_project_id", json!(project.id)),
                ("project_name", json!(project.name)),
            ],
        ));
    }
    out
}

fn activity(
    rng: &mut Stream,
    created_at: DateTime<Utc>,
    kind: &'static str,
    actor: Actor,
    fields: Vec<(&'static str, Value)>,
) -> Activity {
    Activity {
        id: tagged_id("activity_", rng),
        created_at,
        kind,
        in_organisation: true,
        actor,
        fields,
    }
}

/// The tool kind of a topic's tool call, for rendering.
pub fn topic_tool(topic: u16) -> Option<ToolKind> {
    TOPICS
        .get(usize::from(topic))
        .and_then(|t| t.tool)
        .map(|t| t.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> GeneratorConfig {
        GeneratorConfig {
            seed,
            users: 12,
            chats_per_user_per_day: 3,
            turns_per_chat: 3,
            start: default_start(),
            days: 14,
            plant_rate: 0.08,
        }
    }

    fn fingerprint(org: &Organisation, days: &[Day]) -> Vec<String> {
        let mut out: Vec<String> = org
            .users
            .iter()
            .map(|u| format!("{}{}", u.id, u.email))
            .collect();
        for day in days {
            for chat in &day.chats {
                out.push(format!(
                    "{}{:?}{}",
                    chat.id,
                    chat.deleted_at,
                    chat.messages.len()
                ));
                out.extend(
                    chat.messages
                        .iter()
                        .map(|m| format!("{}{}{:?}", m.id, m.created_at, m.body)),
                );
            }
            out.extend(
                day.activities
                    .iter()
                    .map(|a| format!("{}{}{}", a.id, a.created_at, a.kind)),
            );
        }
        out
    }

    #[test]
    fn the_default_start_is_the_first_of_april_2026() {
        assert_eq!(default_start().to_rfc3339(), "2026-04-01T00:00:00+00:00");
    }

    #[test]
    fn the_same_seed_generates_the_same_organisation_and_days() {
        let cfg = config(7);
        let (a, b) = (organisation(&cfg), organisation(&cfg));
        let days_a: Vec<Day> = (0..3).map(|d| day(&cfg, &a, d)).collect();
        let days_b: Vec<Day> = (0..3).map(|d| day(&cfg, &b, d)).collect();
        assert_eq!(fingerprint(&a, &days_a), fingerprint(&b, &days_b));
        let other = organisation(&config(8));
        assert_ne!(a.uuid, other.uuid);
    }

    #[test]
    fn assistant_messages_finish_after_the_prompt_they_answer() {
        let cfg = config(3);
        let org = organisation(&cfg);
        for d in 0..cfg.days {
            for chat in day(&cfg, &org, d).chats {
                assert_eq!(chat.created_at, chat.messages[0].created_at);
                for pair in chat.messages.chunks(2) {
                    assert_eq!(pair[0].role, Role::User);
                    assert_eq!(pair[1].role, Role::Assistant);
                    assert!(pair[1].created_at > pair[0].created_at);
                }
                assert!(chat
                    .messages
                    .windows(2)
                    .all(|w| w[0].created_at < w[1].created_at));
            }
        }
    }

    #[test]
    fn plants_appear_near_the_configured_rate_and_never_in_deleted_chats() {
        let cfg = config(11);
        let org = organisation(&cfg);
        let (mut prompts, mut planted, mut deleted_chats) = (0usize, 0usize, 0usize);
        for d in 0..cfg.days {
            for chat in day(&cfg, &org, d).chats {
                let plants = chat.messages.iter().filter(|m| m.plant().is_some()).count();
                if chat.deleted_at.is_some() {
                    deleted_chats += 1;
                    assert_eq!(plants, 0);
                    continue;
                }
                prompts += chat
                    .messages
                    .iter()
                    .filter(|m| m.role == Role::User)
                    .count();
                planted += plants;
            }
        }
        let rate = planted as f64 / prompts as f64;
        assert!(
            (0.05..0.11).contains(&rate),
            "plant rate {rate} over {prompts} prompts"
        );
        assert!(deleted_chats > 0);
    }

    #[test]
    fn users_are_sorted_by_join_date_with_unique_emails() {
        let org = organisation(&GeneratorConfig {
            users: 200,
            ..config(5)
        });
        assert!(org
            .users
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at));
        let emails: std::collections::HashSet<&str> =
            org.users.iter().map(|u| u.email.as_str()).collect();
        assert_eq!(emails.len(), 200);
        assert!(org.users.iter().all(|u| u.created_at < default_start()));
    }

    #[test]
    fn a_day_has_varied_activity_types_and_actor_kinds() {
        let cfg = config(2);
        let org = organisation(&cfg);
        let activities: Vec<Activity> = (0..cfg.days)
            .flat_map(|d| day(&cfg, &org, d).activities)
            .collect();
        let kinds: std::collections::HashSet<&str> = activities.iter().map(|a| a.kind).collect();
        for expected in [
            "claude_chat_created",
            "claude_chat_viewed",
            "claude_file_uploaded",
            "sso_login_succeeded",
            "compliance_api_accessed",
            "org_directory_resync_completed",
        ] {
            assert!(kinds.contains(expected), "missing {expected}");
        }
        assert!(activities
            .iter()
            .any(|a| matches!(a.actor, Actor::Api { .. })));
        assert!(activities
            .iter()
            .any(|a| matches!(a.actor, Actor::System { .. })));
        assert!(activities
            .iter()
            .any(|a| matches!(a.actor, Actor::ScimDirectorySync { .. })));
    }

    #[test]
    fn some_chats_continue_hours_after_they_started() {
        let cfg = config(4);
        let org = organisation(&cfg);
        let resumed = (0..cfg.days)
            .flat_map(|d| day(&cfg, &org, d).chats)
            .filter(|c| {
                c.messages
                    .windows(2)
                    .any(|w| w[1].created_at - w[0].created_at > Duration::hours(1))
            })
            .count();
        assert!(resumed > 0);
    }

    #[test]
    fn generating_a_large_organisation_is_fast() {
        let cfg = GeneratorConfig {
            users: 250,
            ..config(9)
        };
        let started = std::time::Instant::now();
        let org = organisation(&cfg);
        let chats: usize = (0..cfg.days).map(|d| day(&cfg, &org, d).chats.len()).sum();
        assert!(chats > 5_000, "{chats} chats");
        // Debug builds included: generation must not dominate a benchmark's start-up.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
