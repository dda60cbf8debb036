"""The Grafana dashboard (systemd/grafana): every PromQL query names only metrics the kiosk
writes (or Prometheus' own `up`), every LogQL query selects the kiosk's journal entries by fields
the kiosk sends, and the provisioning file points Grafana's file provider at it."""

from __future__ import annotations

import json
import re

import pytest

from kiosk.journal import entry
from kiosk.metrics import DeskMetrics
from kiosk.sessionlog.query import EVENT_KINDS
from tests.conftest import ROOT

DASHBOARD = ROOT / "systemd" / "grafana" / "hotdesk-floor.json"
PROMQL_WORDS = {"bool", "and", "or", "unless", "offset", "by", "without", "on", "ignoring",
                "group_left", "group_right", "time"}


def kiosk_metric_names(tmp_path) -> set[str]:
    """Every series name the kiosk's metrics file carries, read from the file it writes."""
    from prometheus_client.parser import text_string_to_metric_families

    metrics = DeskMetrics(tmp_path / "hotdesk.prom", desk="desk12")
    metrics.failures.labels(reason="invalid_credentials").inc()
    metrics.write()
    return {sample.name for family in
            text_string_to_metric_families((tmp_path / "hotdesk.prom").read_text())
            for sample in family.samples}


def queries(datasource_type: str) -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [target["expr"] for panel in dashboard["panels"]
             for target in panel.get("targets", [])
             if (target.get("datasource") or panel["datasource"])["type"] == datasource_type]
    if datasource_type == "prometheus":
        found += [v["definition"] for v in dashboard["templating"]["list"]
                  if v.get("definition")]
    return found


def metric_names_in(promql: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, label matchers, grouping
    clauses, ranges and keywords taken out)."""
    text = re.sub(r'"[^"]*"', "", promql)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"label_values\(\s*(\w+)\s*,\s*\w+\s*\)", r"\1", text)
    names = set()
    for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        if match.group(2) or match.group(1) in PROMQL_WORDS:
            continue  # a function, or a keyword
        names.add(match.group(1))
    return names


def test_the_dashboard_has_what_the_floor_needs():
    titles = [p["title"] for p in json.loads(DASHBOARD.read_text())["panels"]]
    for wanted in ("Floor occupancy now", "Floor occupancy over the day", "Desks gone dark",
                   "Sign-in failures by reason", "Sessions per desk (journal, via Loki)"):
        assert wanted in titles


def test_every_promql_query_names_only_metrics_the_kiosk_writes(tmp_path):
    written = kiosk_metric_names(tmp_path) | {"up"}  # `up`: Prometheus' own, for a node down
    used = set()
    for promql in queries("prometheus"):
        names = metric_names_in(promql)
        assert names, promql
        assert names <= written, (promql, names - written)
        used |= names
    assert {"hotdesk_desk_occupied", "hotdesk_ui_heartbeat_timestamp_seconds",
            "hotdesk_signin_failures_total", "up"} <= used


def test_the_metric_name_finder_sees_a_wrong_name():
    assert metric_names_in('sum by (floor) (hotdesk_desk_ocupied{floor=~"3"})') == {
        "hotdesk_desk_ocupied"}


def test_every_logql_query_selects_fields_the_kiosk_sends():
    fields = {name.lower() for name, _ in entry(
        {"kind": "signed_in", "desk": "desk12", "session": 1, "agent": "a@b", "detail": "{}"})}
    for logql in queries("loki"):
        selector = re.match(r"^[^{]*\{([^}]*)\}", logql).group(1)
        for label, operator, value in re.findall(r'(\w+)\s*(=~|!=|=)\s*"([^"]*)"', selector):
            assert label in fields, (logql, label)
            if label == "syslog_identifier":
                assert value == "hotdesk-kiosk"
            if label == "hotdesk_event":
                kinds = value.split("|") if operator == "=~" else [value]
                assert set(kinds) <= set(EVENT_KINDS), (logql, kinds)


@pytest.mark.parametrize("key", ["apiVersion", "providers"])
def test_the_provisioning_file_uses_the_file_provider(key):
    import yaml

    provisioning = yaml.safe_load((ROOT / "systemd/grafana/provisioning.yaml").read_text())
    assert key in provisioning
    (provider,) = provisioning["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


def test_desks_gone_dark_is_one_table_of_instant_queries_and_counts_show_zero():
    """Found on a real Grafana: "Desks gone dark" showed one query at a time, a row per
    timestamp; the floor list never refreshed; counts said "No data" instead of 0; a stopped
    kiosk was also listed as a frozen screen."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = {p["title"]: p for p in dashboard["panels"]}
    dark = panels["Desks gone dark"]
    assert all(t["instant"] and t["format"] == "table" and '"problem"' in t["expr"]
               for t in dark["targets"])
    assert dark["transformations"][0]["id"] == "merge"
    frozen = next(t["expr"] for t in dark["targets"] if "heartbeat" in t["expr"])
    assert "hotdesk_in_service == 1" in frozen
    floor = next(v for v in dashboard["templating"]["list"] if v["name"] == "floor")
    assert floor["refresh"] in (1, 2)
    for panel in dashboard["panels"]:
        if panel["type"] in ("stat", "timeseries", "bargauge"):
            assert panel["fieldConfig"]["defaults"]["noValue"] == "0", panel["title"]
        for target in panel.get("targets", []):
            if target.get("expr", "").startswith("count("):
                assert target["expr"].endswith(" or vector(0)"), target["expr"]
