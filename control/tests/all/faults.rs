//! Faults injected into the real peer transport of a 3-node cluster on loopback: a partitioned
//! minority cannot commit while the majority can, a healed node converges, and across many fault
//! cycles every acknowledged write survives and every read is linearizable.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use shoal_control::store::lincheck::History;
use shoal_control::store::{
    Command, Consistency, NodeId, ObjectKey, ObjectValue, Op, Preconditions, Store, StoreConfig,
    Timestamp,
};

use crate::common::{create, key, must_write, update, value_text, within};
use crate::nodes::Cluster;

/// Requests give up quickly, so a partitioned node's clients learn it fast.
fn quick(config: StoreConfig) -> StoreConfig {
    StoreConfig {
        request_timeout: Duration::from_secs(1),
        ..config
    }
}

async fn value_on(cluster: &Cluster, id: NodeId, k: &ObjectKey) -> String {
    let object = cluster.get(id, k).await.expect("object exists");
    value_text(&object.value).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_cannot_commit_while_the_majority_moves_on() {
    let cluster = Cluster::form_with(3, quick).await;
    let old = cluster.leader().await;
    let k = key("configmaps", "default", "register");
    must_write(cluster.store(old), create(&k, r#""before""#)).await;

    tracing::info!("--- isolate the leader");
    cluster.faults.isolate(old);
    let mut leadership = cluster.store(old).leadership().receiver();
    let minority = cluster
        .store(old)
        .write(Command::single(
            Timestamp::now(),
            update(&k, r#""minority""#, Preconditions::none()),
        ))
        .await;
    assert!(
        minority.is_err(),
        "a minority commits nothing: {minority:?}"
    );
    within(leadership.wait_for(|l| !l.is_leader))
        .await
        .expect("the isolated leader reports its leadership lost");
    let read = cluster.store(old).read(Consistency::Linearizable).await;
    assert!(read.is_err(), "a minority serves no linearizable read");

    let majority: Vec<NodeId> = cluster
        .running()
        .into_iter()
        .filter(|id| *id != old)
        .collect();
    let new = cluster.leader_among(&majority).await;
    assert_ne!(new, old);
    let other = cluster.other_than(&[old, new]);
    must_write(
        cluster.store(other),
        update(&k, r#""majority""#, Preconditions::none()),
    )
    .await;
    assert!(cluster.faults.dropped() > 0, "the plan dropped requests");

    tracing::info!("--- heal");
    cluster.faults.heal();
    cluster.leader().await;
    assert_eq!(value_on(&cluster, old, &k).await, r#""majority""#);
    cluster.converged_with(new).await;
    let local = cluster
        .store(old)
        .read(Consistency::Local)
        .await
        .expect("local read");
    let object = local.get(&k).await.expect("get").expect("object");
    assert_eq!(
        value_text(&object.value),
        r#""majority""#,
        "the minority's uncommitted write was discarded"
    );
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_follower_cannot_commit_and_converges_after_healing() {
    let cluster = Cluster::form_with(3, quick).await;
    let leader = cluster.leader().await;
    let follower = cluster.other_than(&[leader]);
    let k = key("configmaps", "default", "register");
    must_write(cluster.store(leader), create(&k, "0")).await;

    tracing::info!("--- isolate a follower");
    cluster.faults.isolate(follower);
    let refused = cluster
        .store(follower)
        .write(Command::single(
            Timestamp::now(),
            update(&k, "-1", Preconditions::none()),
        ))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(
        cluster
            .store(follower)
            .read(Consistency::Linearizable)
            .await
            .is_err(),
        "no linearizable read without the leader"
    );
    for i in 1..=5 {
        must_write(
            cluster.store(leader),
            update(&k, &i.to_string(), Preconditions::none()),
        )
        .await;
    }

    tracing::info!("--- heal");
    cluster.faults.heal();
    let leader = cluster.leader().await;
    cluster.converged_with(leader).await;
    assert_eq!(value_on(&cluster, follower, &k).await, "5");
    cluster.stop_all().await;
}

/// A small deterministic generator, so a failing cycle can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The faults a cycle injects, in turn.
#[derive(Debug, Clone, Copy)]
enum Fault {
    IsolateLeader,
    IsolateFollower,
    CutLeaderFromOneFollower,
    RestartLeader,
}

const FAULTS: [Fault; 4] = [
    Fault::IsolateLeader,
    Fault::IsolateFollower,
    Fault::CutLeaderFromOneFollower,
    Fault::RestartLeader,
];

type Register = History<String, u64>;

fn register_value(bytes: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["v"].as_u64())
        .expect("a register value")
}

/// One client: `ops` random reads and writes on random keys through random running nodes.
async fn client(
    cluster: &Cluster,
    history: &Register,
    keys: &[ObjectKey],
    client: u64,
    ops: u64,
    rng: &mut Rng,
) {
    let nodes = cluster.running();
    for op in 0..ops {
        let store: &Store = cluster.store(nodes[rng.below(nodes.len())]);
        let k = &keys[rng.below(keys.len())];
        let name = k.as_str().to_owned();
        if rng.below(2) == 0 {
            let value = (rng.0 % 1_000) * 1_000_000 + client * 1_000 + op + 1;
            let json = ObjectValue::from_json(format!(r#"{{"v":{value}}}"#).as_bytes())
                .expect("valid JSON");
            let write = Op::Update {
                key: k.clone(),
                value: json,
                preconditions: Preconditions::none(),
            };
            let invoked = history.invoke();
            match store.write(Command::single(Timestamp::now(), write)).await {
                Ok(response) => {
                    assert!(response.succeeded, "an unconditional update: {response:?}");
                    history.write_acknowledged(name, value, invoked);
                }
                Err(_) => history.write_unknown(name, value, invoked),
            }
        } else {
            let invoked = history.invoke();
            if let Ok(reader) = store.read(Consistency::Linearizable).await {
                let object = reader.get(k).await.expect("local get").expect("key exists");
                history.read(name, Some(register_value(&object.value)), invoked);
            }
        }
    }
}

/// Writes through `node` until one write is acknowledged; failed attempts enter the history as
/// writes of unknown outcome.
async fn majority_write(
    cluster: &Cluster,
    history: &Register,
    node: NodeId,
    k: &ObjectKey,
    tag: u64,
) -> bool {
    for attempt in 0..20u64 {
        let value = 999_000_000 + tag * 100 + attempt;
        let json =
            ObjectValue::from_json(format!(r#"{{"v":{value}}}"#).as_bytes()).expect("valid JSON");
        let write = Op::Update {
            key: k.clone(),
            value: json,
            preconditions: Preconditions::none(),
        };
        let name = k.as_str().to_owned();
        let invoked = history.invoke();
        match cluster
            .store(node)
            .write(Command::single(Timestamp::now(), write))
            .await
        {
            Ok(response) if response.succeeded => {
                history.write_acknowledged(name, value, invoked);
                return true;
            }
            _ => history.write_unknown(name, value, invoked),
        }
    }
    false
}

/// Fast failover and short request deadlines, so a cycle spends little time waiting on a
/// partitioned node.
fn brisk(config: StoreConfig) -> StoreConfig {
    StoreConfig {
        heartbeat_interval: Duration::from_millis(40),
        election_timeout_min: Duration::from_millis(200),
        election_timeout_max: Duration::from_millis(400),
        request_timeout: Duration::from_millis(500),
        ..config
    }
}

/// Cycles of faults under concurrent clients. `SHOAL_FAULT_CYCLES` sets how many (a soak runs
/// as many as asked); CI runs the default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_cycles_lose_no_acknowledged_write_and_reads_stay_linearizable() {
    let cycles: usize = std::env::var("SHOAL_FAULT_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let mut cluster = Cluster::form_with(3, brisk).await;
    let leader = cluster.leader().await;
    let keys: Vec<ObjectKey> = (0..3)
        .map(|i| key("configmaps", "lin", &format!("k{i}")))
        .collect();
    let mut initial = BTreeMap::new();
    for k in &keys {
        must_write(cluster.store(leader), create(k, r#"{"v":0}"#)).await;
        initial.insert(k.as_str().to_owned(), 0);
    }
    let history = Arc::new(Register::new());
    let mut rng = Rng(0x5eed_0fc0_ffee);

    for cycle in 0..cycles {
        let fault = FAULTS[cycle % FAULTS.len()];
        let leader = cluster.leader().await;
        let follower = cluster.other_than(&[leader]);
        tracing::info!(cycle, ?fault, leader, "--- inject");
        let majority: Vec<NodeId> = match fault {
            Fault::IsolateLeader => {
                cluster.faults.isolate(leader);
                cluster
                    .running()
                    .into_iter()
                    .filter(|id| *id != leader)
                    .collect()
            }
            Fault::IsolateFollower => {
                cluster.faults.isolate(follower);
                cluster
                    .running()
                    .into_iter()
                    .filter(|id| *id != follower)
                    .collect()
            }
            Fault::CutLeaderFromOneFollower => {
                cluster.faults.cut(leader, follower);
                cluster.running()
            }
            Fault::RestartLeader => {
                cluster.stop(leader).await;
                cluster.running()
            }
        };
        let mut rngs: Vec<Rng> = (0..3)
            .map(|i| Rng((rng.0 ^ ((i + 1) * 0x9e37_79b9)) | 1))
            .collect();
        rng.below(2);
        let [a, b, c] = &mut rngs[..] else {
            unreachable!("three clients")
        };
        tokio::join!(
            client(&cluster, &history, &keys, 1, 4, a),
            client(&cluster, &history, &keys, 2, 4, b),
            client(&cluster, &history, &keys, 3, 4, c),
        );
        // Whatever the clients managed, the majority commits under the fault.
        let majority_leader = cluster.leader_among(&majority).await;
        let committed = within(majority_write(
            &cluster,
            &history,
            majority_leader,
            &keys[cycle % keys.len()],
            cycle as u64 + 1,
        ))
        .await;
        assert!(
            committed,
            "cycle {cycle} ({fault:?}): the majority committed"
        );

        tracing::info!(cycle, "--- heal");
        cluster.faults.heal();
        if let Fault::RestartLeader = fault {
            cluster.restart(leader).await.expect("the node restarts");
        }
        let leader = cluster.leader().await;
        // A quiescent read of every key on every node closes the cycle.
        for k in &keys {
            let invoked = history.invoke();
            let value = register_value(&cluster.get(leader, k).await.expect("key").value);
            history.read(k.as_str().to_owned(), Some(value), invoked);
        }
        cluster.converged_with(leader).await;
    }

    // Every node holds the same final values, and the whole history is linearizable.
    let leader = cluster.leader().await;
    cluster.converged_with(leader).await;
    for id in cluster.running() {
        for k in &keys {
            let invoked = history.invoke();
            let value = register_value(&cluster.get(id, k).await.expect("key").value);
            history.read(k.as_str().to_owned(), Some(value), invoked);
        }
    }
    if let Err(violation) = history.check(&initial) {
        panic!("{violation}");
    }
    cluster.stop_all().await;
}
