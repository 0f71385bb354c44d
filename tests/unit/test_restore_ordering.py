from backupd.restore.ordering import CUSTOM_TIER, OTHER_TIER, TIER_NAMES, tier_of

ISSUE_ORDER = [
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("", "Namespace"),
    ("storage.k8s.io", "StorageClass"),
    ("", "PersistentVolume"),
    ("", "PersistentVolumeClaim"),
    ("", "ServiceAccount"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("", "Secret"),
    ("", "Service"),
    ("apps", "Deployment"),
    ("networking.k8s.io", "Ingress"),
]


def test_tiers_follow_the_restore_order() -> None:
    tiers = [tier_of(g, k) for g, k in ISSUE_ORDER] + [
        tier_of("example.com", "Widget", custom=True)
    ]
    assert tiers == sorted(tiers)
    assert len(set(tiers)) == len(tiers)


def test_secrets_configmaps_limitranges_priorityclasses_share_a_tier() -> None:
    assert (
        tier_of("", "Secret")
        == tier_of("", "ConfigMap")
        == tier_of("", "LimitRange")
        == (tier_of("scheduling.k8s.io", "PriorityClass"))
    )


def test_service_accounts_come_before_rbac_and_services_before_workloads() -> None:
    assert tier_of("", "ServiceAccount") < tier_of("rbac.authorization.k8s.io", "Role")
    assert tier_of("", "Service") < tier_of("batch", "Job") == tier_of("apps", "StatefulSet")


def test_unknown_builtins_before_custom_resources() -> None:
    assert tier_of("policy", "PodDisruptionBudget") == OTHER_TIER
    assert tier_of("cert-manager.io", "Certificate", custom=True) == CUSTOM_TIER
    assert TIER_NAMES[CUSTOM_TIER] == "Custom resources"


def test_custom_resources_in_k8s_io_groups_are_custom_when_the_caller_says_so() -> None:
    # Gateway API and VolumeSnapshots: the group's name says nothing, the CRD does
    assert tier_of("gateway.networking.k8s.io", "HTTPRoute", custom=True) == CUSTOM_TIER
    assert tier_of("snapshot.storage.k8s.io", "VolumeSnapshot", custom=True) == CUSTOM_TIER
    assert tier_of("cert-manager.io", "Certificate") == OTHER_TIER


def test_classes_pods_need_come_before_workloads() -> None:
    workloads = tier_of("apps", "Deployment")
    assert tier_of("node.k8s.io", "RuntimeClass") < workloads
    assert tier_of("scheduling.k8s.io", "PriorityClass") < workloads
    assert tier_of("networking.k8s.io", "IngressClass") < tier_of("networking.k8s.io", "Ingress")
