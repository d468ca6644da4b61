"""The runbooks' thresholds and the health checks' other defaults are written once, in module_utils (_health.grading
THRESHOLDS and METRICS, _health.request BODY_LIMIT and MAX_REDIRECTS). What the module's documentation and
docs/health_check.md say of them is checked against those constants here, so neither can drift from the code."""
import pathlib
import re

import pytest
import yaml
from ansible_collections.opsready.runbooks.plugins.module_utils import _health as health
from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import num
from ansible_collections.opsready.runbooks.plugins.module_utils._health.request import MAX_REDIRECTS
from ansible_collections.opsready.runbooks.plugins.modules import health_check

PROJECT = pathlib.Path(__file__).resolve().parents[4]
DOC = yaml.safe_load(health_check.DOCUMENTATION)
GUIDE = (PROJECT / "docs" / "health_check.md").read_text()


def value(text):
    """A threshold as written: 'none' is None, '2000 ms', '5 %' or '21 days left' the number."""
    text = text.strip()
    return None if text == "none" else float(re.match(r"\d+(?:\.\d+)?", text).group())


def limits(warning, critical):
    return {"warning": value(warning), "critical": value(critical)}


def test_the_module_doc_states_the_default_thresholds():
    thresholds = DOC["options"]["thresholds"]
    (line,) = [text for text in thresholds["description"] if text.startswith("Defaults:")]
    stated = {metric: limits(warning, critical) for metric, warning, critical in
              re.findall(r"C\((\w+)\) (\S+?)/(\S+?)[,. ]", line)}
    assert stated == health.THRESHOLDS
    assert list(thresholds["suboptions"]) == list(health.THRESHOLDS)


def test_the_module_doc_gives_each_type_the_threshold_options_of_what_it_measures():
    types = DOC["options"]["checks"]["suboptions"]
    measured = {kind: tuple(option for option in types[kind]["suboptions"] if option in health.THRESHOLDS)
                for kind in health.TYPES}
    assert measured == health.METRICS


def test_the_module_doc_states_the_body_limits_and_the_redirects():
    types = DOC["options"]["checks"]["suboptions"]
    assert {kind: types[kind]["suboptions"]["body_limit"]["default"] for kind in health.BODY_LIMIT} == health.BODY_LIMIT
    assert types["http"]["suboptions"]["follow_redirects"]["description"].startswith(
        "Follow up to %d redirects;" % MAX_REDIRECTS)


def test_the_module_examples_watch_with_the_default_error_rate_and_p95():
    titles = [task["name"] for task in yaml.safe_load(health_check.EXAMPLES)]
    error_rate, p95_ms = health.THRESHOLDS["error_rate_pct"]["critical"], health.THRESHOLDS["p95_ms"]["critical"]
    said = "error rate (%s %% critical) and p95 (%s s)" % (num(error_rate), num(p95_ms / 1000))
    assert [title for title in titles if said in title]


def section(title):
    return GUIDE.split("\n## %s\n" % title, 1)[1].split("\n## ", 1)[0]


def test_the_threshold_table_of_docs_health_check_md_is_the_defaults():
    rows = re.findall(r"^\| `(\w+)`[^|]*\|([^|]+)\|([^|]+)\|$", section("Thresholds and states"), re.M)
    assert {metric: limits(warning, critical) for metric, warning, critical in rows} == health.THRESHOLDS


def test_the_type_table_of_docs_health_check_md_names_what_each_type_measures():
    rows = re.findall(r"^\| `(\w+)` \|.*\|([^|]*)\|$", GUIDE, re.M)
    measured = {kind: tuple(name for name in re.findall(r"`(\w+)`", cell) if name in health.THRESHOLDS)
                for kind, cell in rows if kind in health.TYPES}
    assert measured == health.METRICS


@pytest.mark.parametrize("pattern, expected", [
    (r"\(`queue_length` (\d+) is a warning\)", health.THRESHOLDS["queue_length"]["warning"]),
    (r"keeps the default warning of (\d+) and is refused", health.THRESHOLDS["latency_ms"]["warning"]),
    (r"the first `body_limit` bytes \((\d+) MiB;", health.BODY_LIMIT["http"] >> 20),
    (r"`follow_redirects` \((\d+) at most", MAX_REDIRECTS),
])
def test_the_defaults_named_in_the_text_of_docs_health_check_md(pattern, expected):
    (found,) = re.findall(pattern, " ".join(GUIDE.split()))
    assert int(found) == expected
