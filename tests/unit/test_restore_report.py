from backupd.api.common import Phase
from backupd.api.restore import ItemIssue, ItemResult, Outcome, RestoreStatus
from backupd.restore.report import describe_issues, log_line, summarize


def item(name: str, outcome: Outcome, namespace: str | None = "shop", **kw: str) -> ItemResult:
    return ItemResult(
        group="", version="v1", kind="ConfigMap", resource="configmaps",
        namespace=namespace, name=name, outcome=outcome, **kw,
    )  # fmt: skip


def summarized(*items: ItemResult) -> RestoreStatus:
    status = RestoreStatus()
    summarize(items, status)
    return status


def test_all_good_is_completed_and_counted() -> None:
    s = summarized(
        item("a", Outcome.created), item("b", Outcome.unchanged), item("c", Outcome.skipped)
    )
    assert s.phase is Phase.completed
    assert (s.counts.created, s.counts.unchanged, s.counts.skipped) == (1, 1, 1)
    assert s.progress.items_done == 3


def test_differences_are_warnings_not_failures() -> None:
    s = summarized(item("a", Outcome.differs, diff="--- live\n+++ backup"))
    assert s.phase is Phase.completed
    assert s.warnings[0].diff == "--- live\n+++ backup"


def test_some_failed_is_partially_failed_all_failed_is_failed() -> None:
    assert summarized(item("a", Outcome.created), item("b", Outcome.failed)).phase is (
        Phase.partially_failed
    )
    failed = summarized(item("b", Outcome.failed, reason="422 invalid"), item("c", Outcome.skipped))
    assert failed.phase is Phase.failed
    assert failed.errors[0].message == "422 invalid"


def test_issues_are_grouped_by_namespace_cluster_first() -> None:
    issues = [
        ItemIssue(message="m1", namespace="shop", resource="configmaps", name="a", diff="-x\n+y"),
        ItemIssue(message="m2", resource="persistentvolumes", name="pv"),
        ItemIssue(message="m3", namespace="auth", resource="secrets", name="s"),
    ]
    lines = describe_issues("Warnings", issues)
    assert lines == [
        "Warnings:",
        "  (cluster):",
        "    persistentvolumes/pv: m2",
        "  auth:",
        "    secrets/s: m3",
        "  shop:",
        "    configmaps/a: m1",
        "      -x",
        "      +y",
    ]


def test_log_lines_name_the_item_and_where_it_came_from() -> None:
    import datetime

    at = datetime.datetime(2026, 11, 25, tzinfo=datetime.UTC)
    r = item("a", Outcome.created, namespace="shop-2", source_namespace="shop")
    assert log_line(r, at) == (
        "2026-11-25T00:00:00+00:00 info created configmaps/shop-2/a (from namespace shop)"
    )
    assert " create configmaps" in log_line(r, at, dry_run=True)


def test_api_server_warnings_are_restore_warnings_and_warning_log_lines() -> None:
    import datetime

    warned = ItemResult(
        group="", version="v1", kind="ConfigMap", resource="configmaps", namespace="shop",
        name="a", outcome=Outcome.created, warnings=['unknown field "spec.color"'],
    )  # fmt: skip
    s = summarized(warned, item("b", Outcome.created))
    assert s.phase is Phase.completed
    assert [(w.name, w.message) for w in s.warnings] == [
        ("a", 'the API server warned: unknown field "spec.color"')
    ]
    line = log_line(warned, datetime.datetime(2026, 11, 26, tzinfo=datetime.UTC))
    assert " warning created " in line and line.endswith('warned: unknown field "spec.color"')
