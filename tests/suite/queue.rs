//! The job transports: what apalis leaves behind for finished tasks in Redis is vacuumed, and
//! the in-process queue takes pushes from many tasks at once while its worker consumes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::{BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use chrono::{TimeDelta, Utc};
use logwarden::infra::queue::{MemoryTransport, RedisTransport, Transport};
use logwarden::infra::secret::Secret;
use logwarden_jobs::kind::JobKind;
use logwarden_jobs::payload::{JobPayload, Priority};
use tokio_util::sync::CancellationToken;

use crate::helpers::{redis_url, unique_name};

const TASKS: u64 = 40;

struct Seen {
    count: AtomicU64,
    all: CancellationToken,
}

async fn run(_payload: JobPayload, seen: Data<Arc<Seen>>) -> Result<(), BoxDynError> {
    if seen.count.fetch_add(1, Ordering::SeqCst) + 1 == TASKS {
        seen.all.cancel();
    }
    Ok(())
}

/// Keys of the transport's prefix.
async fn keys(conn: &mut redis::aio::ConnectionManager, prefix: &str) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(format!("*{prefix}*"))
        .query_async(conn)
        .await
        .expect("list keys")
}

/// Tasks apalis holds under the prefix: fields of the task data hashes, and metadata keys.
async fn held_tasks(conn: &mut redis::aio::ConnectionManager, prefix: &str) -> (usize, usize) {
    let (mut data, mut meta) = (0, 0);
    for key in keys(conn, prefix).await {
        if key.ends_with(":data") {
            let fields: usize = redis::cmd("HLEN")
                .arg(&key)
                .query_async(conn)
                .await
                .expect("hash length");
            data += fields;
        } else if key.contains(":meta:") {
            meta += 1;
        }
    }
    (data, meta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_tasks_are_vacuumed_from_redis_and_nothing_else_is() {
    let prefix = unique_name("lwqueue");
    let redis = RedisTransport::connect(&Secret::new(redis_url()), &prefix)
        .await
        .expect("connect");
    let mut conn = redis.conn.clone();
    let transport = Transport::Redis(redis.clone());
    let start = Utc::now();
    let payload = |job_id: u64, kind: JobKind| JobPayload {
        job_id: job_id as i64,
        kind,
        integration_id: 1,
        window_start: start,
        window_end: start + TimeDelta::hours(1),
        attempt: 1,
    };
    for job_id in 1..=TASKS {
        let batch = payload(job_id, JobKind::BackfillBatch);
        transport.push("default", &batch).await.expect("push");
    }
    // Two more wait in the sync queue and are never run: vacuuming must leave them.
    for job_id in [TASKS + 1, TASKS + 2] {
        let sync = payload(job_id, JobKind::Sync);
        transport.push("default", &sync).await.expect("push");
    }
    let queued = TASKS as usize + 2;
    assert_eq!(held_tasks(&mut conn, &prefix).await, (queued, queued));

    let seen = Arc::new(Seen {
        count: AtomicU64::new(0),
        all: CancellationToken::new(),
    });
    let all = seen.all.clone();
    let worker = WorkerBuilder::new(unique_name("vacuum-worker"))
        .backend(redis.consumer("default", Priority::Backfill, 4))
        .concurrency(4)
        .data(seen.clone())
        .build(run)
        .run_until(async move {
            all.cancelled().await;
            Ok::<(), std::io::Error>(())
        });
    tokio::time::timeout(Duration::from_secs(60), worker)
        .await
        .expect("the worker ran every task in time")
        .expect("the worker ran");
    assert_eq!(seen.count.load(Ordering::SeqCst), TASKS);

    // Acknowledgements land after the handler returns; vacuum until all of them are gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut removed = 0;
    while removed < TASKS as usize {
        assert!(Instant::now() < deadline, "only {removed} tasks vacuumed");
        removed += redis.vacuum("default").await.expect("vacuum");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(removed, TASKS as usize);
    assert_eq!(
        held_tasks(&mut conn, &prefix).await,
        (2, 2),
        "only the queued sync tasks stay"
    );
    assert_eq!(redis.vacuum("default").await.expect("vacuum"), 0);

    let keys = keys(&mut conn, &prefix).await;
    if !keys.is_empty() {
        let () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .expect("clean up");
    }
}

/// Job ids a worker was handed, and a token cancelled once it has had `expected` of them.
struct Delivered {
    ids: std::sync::Mutex<Vec<i64>>,
    expected: usize,
    all: CancellationToken,
}

async fn deliver(payload: JobPayload, delivered: Data<Arc<Delivered>>) -> Result<(), BoxDynError> {
    let mut ids = delivered.ids.lock().expect("ids");
    ids.push(payload.job_id);
    if ids.len() == delivered.expected {
        delivered.all.cancel();
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_in_process_queue_delivers_every_job_pushed_by_many_tasks_at_once_while_its_worker_consumes(
) {
    const PUSHERS: i64 = 4;
    const EACH: i64 = 2_000;
    let memory = MemoryTransport::default();
    let transport = Transport::Memory(memory.clone());
    let storage = memory
        .take_storage("default", Priority::Backfill)
        .expect("the queue's storage");
    let delivered = Arc::new(Delivered {
        ids: std::sync::Mutex::new(Vec::new()),
        expected: (PUSHERS * EACH) as usize,
        all: CancellationToken::new(),
    });
    let all = delivered.all.clone();
    let worker = tokio::spawn(
        WorkerBuilder::new(unique_name("memory-worker"))
            .backend(storage)
            .concurrency(4)
            .data(delivered.clone())
            .build(deliver)
            .run_until(async move {
                all.cancelled().await;
                Ok::<(), std::io::Error>(())
            }),
    );
    let start = Utc::now();

    let pushers: Vec<_> = (0..PUSHERS)
        .map(|pusher| {
            let transport = transport.clone();
            tokio::spawn(async move {
                for n in 0..EACH {
                    let batch = JobPayload {
                        job_id: pusher * EACH + n + 1,
                        kind: JobKind::BackfillBatch,
                        integration_id: 1,
                        window_start: start,
                        window_end: start + TimeDelta::hours(1),
                        attempt: 1,
                    };
                    transport.push("default", &batch).await.expect("push");
                }
            })
        })
        .collect();
    for pusher in pushers {
        tokio::time::timeout(Duration::from_secs(60), pusher)
            .await
            .expect("every push returned")
            .expect("a pusher finished without panicking");
    }
    tokio::time::timeout(Duration::from_secs(60), worker)
        .await
        .expect("the worker was handed every job in time")
        .expect("the worker task")
        .expect("the worker ran");

    let mut ids = delivered.ids.lock().expect("ids").clone();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=PUSHERS * EACH).collect::<Vec<_>>(),
        "each job once"
    );
}
