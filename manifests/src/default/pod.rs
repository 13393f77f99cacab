//! Pod spec defaults (`SetDefaults_PodSpec`, `SetDefaults_Container`, probes, volumes), shared
//! by bare Pods and every pod template.

use k8s_openapi::api::core::v1::{
    Container, EnvVar, HTTPGetAction, LifecycleHandler, ObjectFieldSelector, PodSecurityContext,
    PodSpec, Probe, Volume,
};

use crate::image::ImageRef;

/// The file mode of projected files when none is given (0644).
const DEFAULT_MODE: i32 = 0o644;

/// Defaults of a pod spec, as applied to templates and bare pods alike.
pub(crate) fn pod_spec(spec: &mut PodSpec) {
    spec.dns_policy
        .get_or_insert_with(|| "ClusterFirst".to_owned());
    spec.restart_policy
        .get_or_insert_with(|| "Always".to_owned());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.security_context
        .get_or_insert_with(PodSecurityContext::default);
    spec.scheduler_name
        .get_or_insert_with(|| "default-scheduler".to_owned());
    spec.enable_service_links.get_or_insert(true);
    let host_network = spec.host_network == Some(true);
    for container in spec.init_containers.iter_mut().flatten() {
        self::container(container, host_network);
    }
    for container in &mut spec.containers {
        self::container(container, host_network);
    }
    for volume in spec.volumes.iter_mut().flatten() {
        self::volume(volume);
    }
}

/// Bare pods only (`SetDefaults_Pod`): a resource with a limit but no request is requested at
/// its limit. Templates keep their resources as written.
pub(crate) fn requests_from_limits(spec: &mut PodSpec) {
    let containers = spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut());
    for container in containers {
        let Some(resources) = container.resources.as_mut() else {
            continue;
        };
        let Some(limits) = resources.limits.as_ref() else {
            continue;
        };
        if limits.is_empty() {
            continue;
        }
        let requests = resources.requests.get_or_insert_with(Default::default);
        for (name, quantity) in limits {
            requests
                .entry(name.clone())
                .or_insert_with(|| quantity.clone());
        }
    }
}

fn container(container: &mut Container, host_network: bool) {
    container
        .termination_message_path
        .get_or_insert_with(|| "/dev/termination-log".to_owned());
    container
        .termination_message_policy
        .get_or_insert_with(|| "File".to_owned());
    if container.image_pull_policy.is_none() {
        let image = container.image.as_deref().unwrap_or("");
        let always = match ImageRef::parse(image) {
            Ok(image) => image.is_mutable(),
            Err(_) => untagged_or_latest(image),
        };
        container.image_pull_policy =
            Some(if always { "Always" } else { "IfNotPresent" }.to_owned());
    }
    for port in container.ports.iter_mut().flatten() {
        port.protocol.get_or_insert_with(|| "TCP".to_owned());
        if host_network && port.host_port.is_none() {
            port.host_port = Some(port.container_port);
        }
    }
    for probe in [
        &mut container.liveness_probe,
        &mut container.readiness_probe,
        &mut container.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        self::probe(probe);
    }
    if let Some(lifecycle) = container.lifecycle.as_mut() {
        for handler in [&mut lifecycle.post_start, &mut lifecycle.pre_stop]
            .into_iter()
            .flatten()
        {
            lifecycle_handler(handler);
        }
    }
    for env in container.env.iter_mut().flatten() {
        env_var(env);
    }
}

/// The fallback for an image that does not parse (validation reports it): Kubernetes'
/// own rule, "no tag or the `latest` tag".
fn untagged_or_latest(image: &str) -> bool {
    let name = image.split('@').next().unwrap_or(image);
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, tag)) => tag == "latest",
        None => !image.contains('@'),
    }
}

fn probe(probe: &mut Probe) {
    // Zero means "unset" for these fields in Kubernetes' Go types, so it is defaulted too.
    for (field, default) in [
        (&mut probe.timeout_seconds, 1),
        (&mut probe.period_seconds, 10),
        (&mut probe.success_threshold, 1),
        (&mut probe.failure_threshold, 3),
    ] {
        if field.is_none_or(|v| v == 0) {
            *field = Some(default);
        }
    }
    if let Some(action) = probe.http_get.as_mut() {
        http_get(action);
    }
}

fn lifecycle_handler(handler: &mut LifecycleHandler) {
    if let Some(action) = handler.http_get.as_mut() {
        http_get(action);
    }
}

fn http_get(action: &mut HTTPGetAction) {
    action.path.get_or_insert_with(|| "/".to_owned());
    action.scheme.get_or_insert_with(|| "HTTP".to_owned());
}

fn env_var(env: &mut EnvVar) {
    if let Some(field_ref) = env
        .value_from
        .as_mut()
        .and_then(|from| from.field_ref.as_mut())
    {
        field_selector(field_ref);
    }
}

fn field_selector(selector: &mut ObjectFieldSelector) {
    selector.api_version.get_or_insert_with(|| "v1".to_owned());
}

fn volume(volume: &mut Volume) {
    if !has_source(volume) {
        volume.empty_dir = Some(Default::default());
    }
    if let Some(source) = volume.config_map.as_mut() {
        source.default_mode.get_or_insert(DEFAULT_MODE);
    }
    if let Some(source) = volume.secret.as_mut() {
        source.default_mode.get_or_insert(DEFAULT_MODE);
    }
    if let Some(source) = volume.downward_api.as_mut() {
        source.default_mode.get_or_insert(DEFAULT_MODE);
        for item in source.items.iter_mut().flatten() {
            if let Some(field_ref) = item.field_ref.as_mut() {
                field_selector(field_ref);
            }
        }
    }
    if let Some(source) = volume.projected.as_mut() {
        source.default_mode.get_or_insert(DEFAULT_MODE);
        let projections = source.sources.iter_mut().flatten();
        let items = projections
            .filter_map(|p| p.downward_api.as_mut())
            .flat_map(|d| d.items.iter_mut().flatten());
        for item in items {
            if let Some(field_ref) = item.field_ref.as_mut() {
                field_selector(field_ref);
            }
        }
        for projection in source.sources.iter_mut().flatten() {
            if let Some(token) = projection.service_account_token.as_mut() {
                token.expiration_seconds.get_or_insert(3600);
            }
        }
    }
    if let Some(source) = volume.host_path.as_mut() {
        source.type_.get_or_insert_with(String::new);
    }
    if let Some(source) = volume.ephemeral.as_mut()
        && let Some(template) = source.volume_claim_template.as_mut()
    {
        template
            .spec
            .volume_mode
            .get_or_insert_with(|| "Filesystem".to_owned());
    }
}

/// The names of the volume sources that are set, in field order.
pub(crate) fn volume_sources(volume: &Volume) -> Vec<&'static str> {
    let v = volume;
    let all = [
        ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
        ("azureDisk", v.azure_disk.is_some()),
        ("azureFile", v.azure_file.is_some()),
        ("cephfs", v.cephfs.is_some()),
        ("cinder", v.cinder.is_some()),
        ("configMap", v.config_map.is_some()),
        ("csi", v.csi.is_some()),
        ("downwardAPI", v.downward_api.is_some()),
        ("emptyDir", v.empty_dir.is_some()),
        ("ephemeral", v.ephemeral.is_some()),
        ("fc", v.fc.is_some()),
        ("flexVolume", v.flex_volume.is_some()),
        ("flocker", v.flocker.is_some()),
        ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
        ("gitRepo", v.git_repo.is_some()),
        ("glusterfs", v.glusterfs.is_some()),
        ("hostPath", v.host_path.is_some()),
        ("image", v.image.is_some()),
        ("iscsi", v.iscsi.is_some()),
        ("nfs", v.nfs.is_some()),
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
        ("portworxVolume", v.portworx_volume.is_some()),
        ("projected", v.projected.is_some()),
        ("quobyte", v.quobyte.is_some()),
        ("rbd", v.rbd.is_some()),
        ("scaleIO", v.scale_io.is_some()),
        ("secret", v.secret.is_some()),
        ("storageos", v.storageos.is_some()),
        ("vsphereVolume", v.vsphere_volume.is_some()),
    ];
    all.into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect()
}

fn has_source(volume: &Volume) -> bool {
    !volume_sources(volume).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_rule_for_unparsable_images() {
        assert!(untagged_or_latest("Foo"));
        assert!(untagged_or_latest("Foo:latest"));
        assert!(!untagged_or_latest("Foo:1"));
        assert!(!untagged_or_latest("Foo@sha256:x"));
        assert!(untagged_or_latest("reg:5000/Foo"));
    }
}
