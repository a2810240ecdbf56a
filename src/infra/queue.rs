//! The job transport. Redis (apalis-redis) for the fleet, an in-process apalis memory queue
//! for the embedded single-process mode. Either way the transport only carries job ids: the
//! `jobs` rows are the record, and the scheduler's repair pass re-pushes any row that is
//! `enqueued` but no longer in the transport (a flushed or restarted Redis, a crashed push).
//!
//! Each push also adds the job id to a "queued" marker set, removed when a worker claims the
//! job; the repair pass compares `enqueued` rows against it. The marker is added after the
//! push, so a crash between the two costs a duplicate delivery (harmless: claiming is a
//! conditional update) and never a lost job.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis::prelude::{
    BackendExt, IntervalStrategy, MemorySink, MemoryStorage, MemoryStorageError, PollWith,
    RandomId, Task, TaskBuilder, TaskId, TaskSink,
};
use apalis_redis::{Config as RedisQueueConfig, ConnectionManager, RedisStorage};
use futures::channel::mpsc::UnboundedSender;
use futures::SinkExt;
use logwarden_jobs::payload::{JobPayload, Priority};
use redis::AsyncCommands;

use crate::infra::secret::{redact_url, Secret};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("cannot reach Redis at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("Redis error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("queue error: {0}")]
    Push(String),
}

/// How often an idle worker looks for new tasks in Redis.
pub const IDLE_POLL: Duration = Duration::from_millis(200);

/// The name of a data plane's queue for one priority. The `{…}` hash tag keeps every key of a
/// queue in one Redis Cluster slot, as apalis' Lua scripts require.
pub fn queue_name(prefix: &str, plane: &str, priority: Priority) -> String {
    format!("{{{prefix}:{plane}}}:{priority}")
}

/// The transport shared by the scheduler (push) and the workers (claim).
#[derive(Clone)]
pub enum Transport {
    Redis(RedisTransport),
    Memory(MemoryTransport),
}

impl Transport {
    /// Pushes a job to its data plane's queue and marks it queued.
    pub async fn push(&self, plane: &str, payload: &JobPayload) -> Result<(), QueueError> {
        match self {
            Self::Redis(redis) => redis.push(plane, payload).await,
            Self::Memory(memory) => memory.push(plane, payload).await,
        }
    }

    /// Which of `job_ids` the transport still holds (pushed, not yet claimed).
    pub async fn queued(&self, job_ids: &[i64]) -> Result<HashSet<i64>, QueueError> {
        match self {
            Self::Redis(redis) => redis.queued(job_ids).await,
            Self::Memory(memory) => Ok(memory.queued(job_ids)),
        }
    }

    /// A worker took the job: drop its queued marker.
    pub async fn claimed(&self, job_id: i64) -> Result<(), QueueError> {
        match self {
            Self::Redis(redis) => redis.claimed(job_id).await,
            Self::Memory(memory) => {
                memory.claimed(job_id);
                Ok(())
            }
        }
    }

    /// Takes the fleet-wide idempotency key of one scheduler action for `ttl`; false when
    /// another replica holds it. The in-process transport has one scheduler: always true.
    pub async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, QueueError> {
        match self {
            Self::Redis(redis) => {
                let mut conn = redis.conn.clone();
                let taken: Option<String> = redis::cmd("SET")
                    .arg(format!("{}:once:{key}", redis.prefix))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl.as_millis() as u64)
                    .query_async(&mut conn)
                    .await?;
                Ok(taken.is_some())
            }
            Self::Memory(_) => Ok(true),
        }
    }

    /// A Redis connection for locks and rate limiting, when the transport is Redis.
    pub fn redis(&self) -> Option<&RedisTransport> {
        match self {
            Self::Redis(redis) => Some(redis),
            Self::Memory(_) => None,
        }
    }
}

/// apalis-redis queues under one key prefix.
#[derive(Clone)]
pub struct RedisTransport {
    pub conn: ConnectionManager,
    pub prefix: String,
}

impl RedisTransport {
    pub async fn connect(url: &Secret, prefix: &str) -> Result<Self, QueueError> {
        let conn = apalis_redis::connect(url.expose().to_owned())
            .await
            .map_err(|err| QueueError::Connect {
                url: redact_url(url.expose()),
                message: err.to_string(),
            })?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn marker_key(&self) -> String {
        format!("{}:queued", self.prefix)
    }

    /// The apalis configuration of one queue: the Redis-side attempt budget is one (attempts
    /// are counted in the row).
    fn config(&self, plane: &str, priority: Priority) -> RedisQueueConfig {
        RedisQueueConfig::default()
            .queue(queue_name(&self.prefix, plane, priority))
            // This is apalis' acknowledgement switch, not only a storage one: without it a
            // finished task never leaves its worker's in-flight set, and when that worker is
            // later deemed gone, every task it ever ran is queued again.
            .persist_results(true)
            .emit_events(false)
            .heartbeat_interval(Duration::from_secs(10))
    }

    /// The apalis storage of one queue, for pushing.
    pub fn storage(&self, plane: &str, priority: Priority) -> RedisStorage<JobPayload> {
        RedisStorage::new(self.conn.clone()).with_config(self.config(plane, priority))
    }

    /// The apalis storage of one queue for a worker with `slots` concurrent jobs: it takes
    /// at most `slots` tasks per fetch, so one process does not hold tasks that another
    /// could run, and it looks for tasks every [`IDLE_POLL`] while idle (by itself apalis
    /// looks again only at its next heartbeat).
    pub fn consumer(
        &self,
        plane: &str,
        priority: Priority,
        slots: usize,
    ) -> PollWith<RedisStorage<JobPayload>, IntervalStrategy> {
        let config = self.config(plane, priority).batch_size(slots.max(1));
        RedisStorage::new(self.conn.clone())
            .with_config(config)
            .poll_with_interval(IDLE_POLL)
    }

    async fn push(&self, plane: &str, payload: &JobPayload) -> Result<(), QueueError> {
        let mut storage = self.storage(plane, payload.priority());
        // No idempotency key: a job is pushed again with the same attempt number after a
        // release (shutdown, pause) or when the repair pass finds it lost, and apalis would
        // silently drop such a push while the first one's key lives. A duplicate delivery is
        // harmless instead: only one worker's conditional claim succeeds.
        let task = TaskBuilder::new(payload.clone()).max_attempts(1).build();
        storage
            .push_task(task)
            .await
            .map_err(|err| QueueError::Push(err.to_string()))?;
        let mut conn = self.conn.clone();
        let _: () = conn.sadd(self.marker_key(), payload.job_id).await?;
        Ok(())
    }

    async fn queued(&self, job_ids: &[i64]) -> Result<HashSet<i64>, QueueError> {
        if job_ids.is_empty() {
            return Ok(HashSet::new());
        }
        let mut conn = self.conn.clone();
        let present: Vec<bool> = redis::cmd("SMISMEMBER")
            .arg(self.marker_key())
            .arg(job_ids)
            .query_async(&mut conn)
            .await?;
        Ok(job_ids
            .iter()
            .zip(present)
            .filter_map(|(id, present)| present.then_some(*id))
            .collect())
    }

    async fn claimed(&self, job_id: i64) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: () = conn.srem(self.marker_key(), job_id).await?;
        Ok(())
    }

    /// Deletes what apalis keeps of the finished tasks of a data plane's queues: the task's
    /// payload, result and metadata, and its entry in the done set (apalis keeps them all
    /// forever). The `jobs` rows are the record, so nothing of value goes. Returns how many
    /// tasks it removed.
    pub async fn vacuum(&self, plane: &str) -> Result<usize, QueueError> {
        let script = redis::Script::new(VACUUM_DONE);
        let mut conn = self.conn.clone();
        let mut removed = 0;
        for priority in [Priority::Sync, Priority::Backfill] {
            let config = self.config(plane, priority);
            loop {
                let batch: usize = script
                    .key(config.done_jobs_set())
                    .key(config.job_data_hash())
                    .key(config.job_meta_hash())
                    .arg(VACUUM_BATCH)
                    .invoke_async(&mut conn)
                    .await?;
                removed += batch;
                if batch < VACUUM_BATCH {
                    break;
                }
            }
        }
        Ok(removed)
    }
}

/// Tasks one vacuum call removes at most, so Redis is never blocked for long.
const VACUUM_BATCH: usize = 500;

/// KEYS: the done set, the task data hash, the task metadata prefix; ARGV: how many. Pops
/// finished task ids and deletes everything apalis-redis stores under them.
const VACUUM_DONE: &str = r"
local ids = redis.call('SPOP', KEYS[1], ARGV[1])
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3] .. ':result', id)
  redis.call('DEL', KEYS[3] .. ':' .. id)
end
return #ids
";

type Senders = HashMap<String, UnboundedSender<Task<JobPayload>>>;

/// In-process queues (apalis memory backend), one per data plane and priority.
///
/// Pushes go straight into the queue's channel (`unbounded_send` takes no lock), not through
/// apalis' `MemorySink`: its `poll_ready` drops the lock future it was queued on when the lock
/// is taken, so a push that met the consuming worker's poll (or another push) on that lock was
/// never woken. The scheduler's loop then waited on it for good, with jobs left `enqueued`
/// and their queued markers set, where no repair pass looks. The storage gets a sink of its
/// own over another sender of the channel, polled by its one consumer alone.
#[derive(Clone, Default)]
pub struct MemoryTransport {
    senders: Arc<Mutex<Senders>>,
    storages: Arc<Mutex<HashMap<String, MemoryStorage<JobPayload>>>>,
    queued: Arc<Mutex<HashSet<i64>>>,
}

impl MemoryTransport {
    fn ensure(&self, name: &str) -> UnboundedSender<Task<JobPayload>> {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = senders.get(name) {
            return sender.clone();
        }
        let (sender, receiver) = futures::channel::mpsc::unbounded();
        let storage_sender = Box::new(
            sender
                .clone()
                .sink_map_err(|err| MemoryStorageError::Other(Box::new(err))),
        )
            as Box<
                dyn futures::Sink<Task<JobPayload>, Error = MemoryStorageError>
                    + Send
                    + Sync
                    + Unpin,
            >;
        let storage_sink = MemorySink::new(Arc::new(futures::lock::Mutex::new(storage_sender)));
        let storage = MemoryStorage::new_with(storage_sink, Box::pin(receiver));
        senders.insert(name.to_owned(), sender.clone());
        self.storages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), storage);
        sender
    }

    /// Takes the storage (the receiving end) of a queue; one consumer per queue.
    pub fn take_storage(
        &self,
        plane: &str,
        priority: Priority,
    ) -> Option<MemoryStorage<JobPayload>> {
        let name = queue_name("memory", plane, priority);
        self.ensure(&name);
        self.storages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&name)
    }

    async fn push(&self, plane: &str, payload: &JobPayload) -> Result<(), QueueError> {
        let sender = self.ensure(&queue_name("memory", plane, payload.priority()));
        let task = TaskBuilder::new(payload.clone())
            .task_id(TaskId::from_string(RandomId::default()))
            .build();
        sender
            .unbounded_send(task)
            .map_err(|err| QueueError::Push(err.to_string()))?;
        self.queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(payload.job_id);
        Ok(())
    }

    fn queued(&self, job_ids: &[i64]) -> HashSet<i64> {
        let queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        job_ids
            .iter()
            .copied()
            .filter(|id| queued.contains(id))
            .collect()
    }

    fn claimed(&self, job_id: i64) {
        self.queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&job_id);
    }
}
