//! What a pod's status says, computed from what the agent knows about its containers: phase,
//! conditions and container states exactly as the kubelet reports them.

use serde_json::{Value, json};

/// A container's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not running: being created, pulling, or backing off.
    Waiting {
        /// `ContainerCreating`, `ErrImagePull`, `CrashLoopBackOff`, ...
        reason: String,
        /// Details for a person.
        message: String,
    },
    /// Running since `started_at`.
    Running {
        /// RFC 3339.
        started_at: String,
    },
    /// Ended.
    Terminated(Terminated),
}

/// How a run of a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    /// The exit code.
    pub exit_code: i32,
    /// `Completed`, `Error`, `OOMKilled`, ...
    pub reason: String,
    /// Details (a trap's message).
    pub message: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// The run's container id.
    pub container_id: String,
}

impl Terminated {
    fn to_json(&self) -> Value {
        let mut value = json!({
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "containerID": self.container_id,
        });
        if !self.message.is_empty() {
            value["message"] = Value::from(self.message.clone());
        }
        value
    }
}

/// What the agent knows about one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    /// Its name.
    pub name: String,
    /// Its `image:`.
    pub image: String,
    /// The digest it resolved to, once pulled.
    pub image_id: String,
    /// The current (or last) run's id.
    pub container_id: String,
    /// Now.
    pub state: State,
    /// The run before, once there was one.
    pub last: Option<Terminated>,
    /// Restarts so far.
    pub restarts: u32,
    /// Whether it will run again after its current termination.
    pub will_restart: bool,
}

impl ContainerRecord {
    /// A container not started yet.
    pub fn new(name: &str, image: &str) -> Self {
        Self {
            name: name.to_owned(),
            image: image.to_owned(),
            image_id: String::new(),
            container_id: String::new(),
            state: State::Waiting {
                reason: "ContainerCreating".to_owned(),
                message: String::new(),
            },
            last: None,
            restarts: 0,
            will_restart: true,
        }
    }

    /// Ready: running (readiness probes come later and will narrow this).
    pub fn ready(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }

    fn to_json(&self) -> Value {
        let state = match &self.state {
            State::Waiting { reason, message } => {
                let mut waiting = json!({"reason": reason});
                if !message.is_empty() {
                    waiting["message"] = Value::from(message.clone());
                }
                json!({"waiting": waiting})
            }
            State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
            State::Terminated(terminated) => json!({"terminated": terminated.to_json()}),
        };
        let last = self
            .last
            .as_ref()
            .map_or_else(|| json!({}), |t| json!({"terminated": t.to_json()}));
        let mut value = json!({
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "ready": self.ready(),
            "started": matches!(self.state, State::Running { .. }),
            "restartCount": self.restarts,
            "state": state,
            "lastState": last,
        });
        if !self.container_id.is_empty() {
            value["containerID"] = Value::from(self.container_id.clone());
        }
        value
    }
}

/// The pod phase the kubelet derives from its containers and restart policy.
pub fn phase(containers: &[ContainerRecord], restart_policy: &str) -> &'static str {
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for container in containers {
        match &container.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            State::Waiting { .. } if container.last.is_some() => stopped += 1,
            State::Waiting { .. } => waiting += 1,
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped == 0 {
        return "Pending";
    }
    match restart_policy {
        "Always" => "Running",
        _ if stopped == succeeded => "Succeeded",
        "OnFailure" => "Running",
        _ => "Failed",
    }
}

/// A pod condition with the time it last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `Ready`, `ContainersReady`, ...
    pub kind: &'static str,
    /// Whether it holds.
    pub status: bool,
    /// Why not, when it does not.
    pub reason: Option<&'static str>,
    /// RFC 3339.
    pub since: String,
}

/// Updates `conditions` to what `containers` say now, keeping the transition time of every
/// condition whose status did not change.
pub fn update_conditions(
    conditions: &mut Vec<Condition>,
    containers: &[ContainerRecord],
    sandbox_ready: bool,
    terminal: bool,
    now: &str,
) {
    let all_ready = !containers.is_empty() && containers.iter().all(ContainerRecord::ready);
    let wanted: [(&'static str, bool, Option<&'static str>); 5] = [
        ("PodReadyToStartContainers", sandbox_ready, None),
        ("Initialized", true, None),
        (
            "Ready",
            all_ready && !terminal,
            Some(if terminal {
                "PodCompleted"
            } else {
                "ContainersNotReady"
            }),
        ),
        (
            "ContainersReady",
            all_ready && !terminal,
            Some(if terminal {
                "PodCompleted"
            } else {
                "ContainersNotReady"
            }),
        ),
        ("PodScheduled", true, None),
    ];
    for (kind, status, reason) in wanted {
        let reason = if status { None } else { reason };
        match conditions.iter_mut().find(|c| c.kind == kind) {
            Some(existing) if existing.status == status => existing.reason = reason,
            Some(existing) => {
                existing.status = status;
                existing.reason = reason;
                existing.since = now.to_owned();
            }
            None => conditions.push(Condition {
                kind,
                status,
                reason,
                since: now.to_owned(),
            }),
        }
    }
}

/// The pod's `status` in API form.
#[derive(Debug)]
pub struct PodStatus<'a> {
    /// The containers.
    pub containers: &'a [ContainerRecord],
    /// The conditions.
    pub conditions: &'a [Condition],
    /// The phase.
    pub phase: &'a str,
    /// The node's address.
    pub host_ip: &'a str,
    /// The pod's address, once it has one.
    pub pod_ip: Option<&'a str>,
    /// When the agent accepted the pod.
    pub start_time: &'a str,
    /// The QoS class the pod's resources give it.
    pub qos_class: &'a str,
}

impl PodStatus<'_> {
    /// The JSON of the status.
    pub fn to_json(&self) -> Value {
        let not_ready: Vec<&str> = self
            .containers
            .iter()
            .filter(|c| !c.ready())
            .map(|c| c.name.as_str())
            .collect();
        let conditions: Vec<Value> = self
            .conditions
            .iter()
            .map(|c| {
                let mut value = json!({
                    "type": c.kind,
                    "status": if c.status { "True" } else { "False" },
                    "lastProbeTime": null,
                    "lastTransitionTime": c.since,
                });
                if let Some(reason) = c.reason {
                    value["reason"] = Value::from(reason);
                    if reason == "ContainersNotReady" {
                        value["message"] = Value::from(format!(
                            "containers with unready status: [{}]",
                            not_ready.join(" ")
                        ));
                    }
                }
                value
            })
            .collect();
        let mut status = json!({
            "phase": self.phase,
            "conditions": conditions,
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "startTime": self.start_time,
            "qosClass": self.qos_class,
            "containerStatuses": self.containers.iter().map(ContainerRecord::to_json).collect::<Vec<_>>(),
        });
        if let Some(ip) = self.pod_ip {
            status["podIP"] = Value::from(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(state: State, last: bool) -> ContainerRecord {
        let mut record = ContainerRecord::new("c", "file:///c.wasm");
        record.state = state;
        if last {
            record.last = Some(terminated(1));
        }
        record
    }

    fn terminated(code: i32) -> Terminated {
        Terminated {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.to_owned(),
            message: String::new(),
            started_at: "t0".into(),
            finished_at: "t1".into(),
            container_id: "wasm://x".into(),
        }
    }

    fn running() -> State {
        State::Running {
            started_at: "t".into(),
        }
    }

    fn backing_off() -> State {
        State::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: String::new(),
        }
    }

    #[test]
    fn phases_follow_the_kubelet() {
        let creating = ContainerRecord::new("c", "i");
        assert_eq!(phase(std::slice::from_ref(&creating), "Always"), "Pending");
        assert_eq!(
            phase(&[container(running(), false), creating], "Always"),
            "Pending"
        );
        assert_eq!(phase(&[container(running(), false)], "Never"), "Running");
        // A crash-looping container keeps the pod Running.
        assert_eq!(
            phase(&[container(backing_off(), true)], "Always"),
            "Running"
        );
        let done = container(State::Terminated(terminated(0)), false);
        let failed = container(State::Terminated(terminated(1)), false);
        assert_eq!(phase(std::slice::from_ref(&done), "Never"), "Succeeded");
        assert_eq!(phase(std::slice::from_ref(&done), "OnFailure"), "Succeeded");
        assert_eq!(phase(&[done.clone(), failed.clone()], "Never"), "Failed");
        assert_eq!(phase(std::slice::from_ref(&failed), "OnFailure"), "Running");
        assert_eq!(phase(&[failed], "Always"), "Running");
    }

    #[test]
    fn conditions_keep_their_transition_times() {
        let mut conditions = Vec::new();
        let mut containers = vec![ContainerRecord::new("c", "i")];
        update_conditions(&mut conditions, &containers, true, false, "t0");
        let ready = |c: &[Condition]| {
            c.iter()
                .find(|c| c.kind == "Ready")
                .cloned()
                .expect("Ready")
        };
        assert!(!ready(&conditions).status);
        assert_eq!(ready(&conditions).reason, Some("ContainersNotReady"));
        containers[0].state = running();
        update_conditions(&mut conditions, &containers, true, false, "t1");
        assert!(ready(&conditions).status);
        assert_eq!(ready(&conditions).since, "t1");
        let scheduled = conditions
            .iter()
            .find(|c| c.kind == "PodScheduled")
            .expect("scheduled");
        assert_eq!(
            scheduled.since, "t0",
            "unchanged conditions keep their time"
        );
        update_conditions(&mut conditions, &containers, true, true, "t2");
        assert_eq!(ready(&conditions).reason, Some("PodCompleted"));
    }

    #[test]
    fn status_json_has_what_kubectl_reads() {
        let mut record = container(backing_off(), true);
        record.restarts = 3;
        let mut conditions = Vec::new();
        update_conditions(
            &mut conditions,
            std::slice::from_ref(&record),
            true,
            false,
            "t",
        );
        let status = PodStatus {
            containers: &[record],
            conditions: &conditions,
            phase: "Running",
            host_ip: "127.0.0.1",
            pod_ip: Some("10.244.0.2"),
            start_time: "t",
            qos_class: "BestEffort",
        }
        .to_json();
        assert_eq!(status["podIP"], "10.244.0.2");
        let c = &status["containerStatuses"][0];
        assert_eq!(c["restartCount"], 3);
        assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
        let ready = status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .expect("Ready condition");
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["message"], "containers with unready status: [c]");
    }
}
