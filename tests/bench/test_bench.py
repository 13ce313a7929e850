"""The benchmark suite at tiny sizes: each part runs and reports the right keys.

No timing is asserted here (speed targets are what `python -m bench` reports, never a unit
test's pass condition); these tests check that the parts run, the wrk parser reads wrk's
output, the table and JSON are written, and that the bench's feeds are the same bytes on the
fast and the icalendar paths.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from bench import bench_render, bench_serve, floor_app, suite
from bench.__main__ import main
from bench.loadtools import (
    LoadToolError,
    WrkResult,
    combine,
    missing_tools,
    nginx_serving,
    parse_wrk,
    tree_cpu_seconds,
)
from bench.poller import PollResult
from bench.processes import postgres_server_url, upstream
from feeds.ical import render_feed
from tests.ical_reference import render_feed_icalendar

WRK_OUTPUT = """\
Running 20s test @ http://127.0.0.1:8000/f/abc.ics
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.51ms    4.10ms  61.22ms   78.93%
    Req/Sec     1.10k   210.33     1.70k    70.25%
  Latency Distribution
     50%    5.44ms
     75%    7.90ms
     90%   11.02ms
     99%   28.98ms
  41421 requests in 20.07s, 43.02GB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:   2063.84
Transfer/sec:      2.15GB
"""

QUICK = suite.Sizes.quick()


def test_wrk_summary_is_read() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result.requests == 41421 and result.seconds == pytest.approx(20.07)
    assert result.requests_per_second == pytest.approx(2063.84)
    assert result.transfer_bytes_per_second == pytest.approx(2.15 * 1024**3)
    assert result.socket_errors == {"connect": 0, "read": 3, "write": 1, "timeout": 2}
    assert result.non_2xx_3xx == 7 and result.errors == 13
    assert result.latency_p50_ms == pytest.approx(5.44)
    assert result.latency_p99_ms == pytest.approx(28.98)
    assert result.to_json()["errors"] == 13


def test_wrk_summary_without_errors_or_percentiles() -> None:
    output = (
        "  3000 requests in 1.00s, 1.00MB read\n"
        "Requests/sec:   2999.50\nTransfer/sec:    512.00KB\n"
    )
    result = parse_wrk(output)
    assert result.errors == 0 and result.latency_p99_ms is None
    assert result.transfer_bytes_per_second == 512 * 1024


@pytest.mark.parametrize("output", ["", "unable to connect to 127.0.0.1:1 Connection refused"])
def test_unreadable_wrk_output_is_a_clear_error(output: str) -> None:
    with pytest.raises(LoadToolError, match="wrk printed no summary"):
        parse_wrk(output)


def test_slices_combine_into_totals() -> None:
    errors = {"connect": 0, "read": 1, "write": 0, "timeout": 0}
    first = WrkResult(100, 1.0, 100.0, 1000.0, 0, errors, 2.0, 9.0)
    second = WrkResult(300, 1.0, 300.0, 3000.0, 2, errors, 4.0, 5.0)
    total = combine([first, second])
    assert total.requests == 400 and total.requests_per_second == 200.0
    assert total.transfer_bytes_per_second == 2000.0
    assert total.errors == 4 and total.latency_p99_ms == 9.0
    with pytest.raises(ValueError):
        combine([])


def test_cpu_time_of_a_process_tree_counts_children() -> None:
    busy = subprocess.Popen(
        [
            "python3",
            "-c",
            "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass",
        ]
    )
    busy.wait()
    own = tree_cpu_seconds(os.getpid())
    assert own > 0
    started = time.process_time()
    while time.process_time() - started < 0.05:
        pass
    assert tree_cpu_seconds(os.getpid()) > own


def test_parts_and_aliases_resolve_in_suite_order() -> None:
    assert suite.resolve_parts(["all"]) == list(suite.PARTS)
    assert suite.resolve_parts(["memory", "304", "re-render"]) == ["render", "serve", "memory"]
    with pytest.raises(ValueError, match="unknown benchmark part 'fast'"):
        suite.resolve_parts(["fast"])


def test_unknown_part_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fast"]) == 2
    assert "unknown benchmark part 'fast'" in capsys.readouterr().err


def test_bench_sessions_render_the_same_bytes_on_both_paths() -> None:
    sessions = bench_render.make_sessions(60)
    fast = render_feed(sessions, bench_render.options())
    assert fast == render_feed_icalendar(sessions, bench_render.options())
    assert fast.count(b"BEGIN:VEVENT") > 10


def _keys(result: dict[str, Any], *names: str) -> None:
    missing = [name for name in names if name not in result]
    assert not missing, f"missing {missing} in {sorted(result)}"


def test_render_part_reports_both_ratios() -> None:
    raw, rows = suite.run_render(QUICK)
    _keys(raw, "sessions", "naive_seconds", "full_seconds", "rerender_seconds", "full_ratio")
    assert [row.part for row in rows] == ["render", "re-render"]
    assert all(row.ratio is not None and row.status in ("pass", "FAIL") for row in rows)


def test_refresh_part_reports_its_lower_bound() -> None:
    raw, rows = suite.run_refresh(QUICK)
    _keys(raw, "best_s", "lower_bound_s", "ratio", "requests_per_read", "ok")
    assert raw["calls"] == QUICK.refresh_pages * QUICK.refresh_page_size
    assert rows[0].part == "refresh" and rows[0].ratio == raw["ratio"]


def test_memory_part_reports_peak_rss() -> None:
    raw, rows = suite.run_memory(QUICK)
    _keys(raw, "sessions", "peak_rss_mb", "target_mb", "ok")
    assert raw["peak_rss_mb"] > 10 and rows[0].part == "memory"


def test_serve_part_measures_or_says_how_to_install_the_tools() -> None:
    raw, rows = suite.run_serve(QUICK)
    assert [row.part for row in rows] == ["serve", "304"]
    if missing_tools():
        assert "bench/setup.sh" in raw["skipped"] and rows[0].status == "skipped"
        return
    _keys(raw, "nginx", "calbridge", "calbridge_304", "serve_ratio", "conditional_ratio")
    assert raw["vevents"] == QUICK.serve_events
    for name in ("nginx", "calbridge", "calbridge_304"):
        _keys(raw[name], "requests_per_second", "errors", "server_cpu_ms_per_request")
        assert raw[name]["requests"] > 0 and raw[name]["errors"] == 0
    assert rows[0].ratio == raw["serve_ratio"]


def test_serve_results_are_refused_when_responses_were_not_what_was_asked() -> None:
    def summary(rate: float, bytes_per_response: float) -> dict[str, Any]:
        transfer = rate * bytes_per_response
        return {"requests": 100, "requests_per_second": rate, "transfer_bytes_per_second": transfer}

    body = 1_000_000
    answered = {"calbridge": summary(800, body + 300), "calbridge_304": summary(3000, 290)}
    bench_serve.check_answers(answered, body)
    with pytest.raises(LoadToolError, match="not all answered 304"):
        bench_serve.check_answers({"calbridge_304": summary(3000, body)}, body)
    with pytest.raises(LoadToolError, match="not every GET was answered with the feed"):
        bench_serve.check_answers({"nginx": summary(3000, 300)}, body)


@pytest.mark.skipif(bool(missing_tools()), reason="nginx not installed (bench/setup.sh)")
def test_nginx_serves_the_given_bytes() -> None:
    import httpx

    body = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
    with nginx_serving({"feed.ics": body}, workers=1) as nginx:
        response = httpx.get(f"{nginx.url}/feed.ics")
    assert response.content == body
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"


def test_floor_app_answers_like_the_feed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
    (tmp_path / "feed.ics").write_bytes(body)
    monkeypatch.setenv("CALBRIDGE_BENCH_FLOOR_FILE", str(tmp_path / "feed.ics"))
    app = importlib.reload(floor_app)
    answers: list[str] = []
    assert b"".join(app.app({}, lambda status, headers: answers.append(status))) == body
    etag = bench_serve.floor_etag(body)
    conditional = app.app({"HTTP_IF_NONE_MATCH": etag}, lambda s, h: answers.append(s))
    assert b"".join(conditional) == b""
    assert answers == ["200 OK", "304 Not Modified"]


def test_a_failing_part_is_an_error_row_and_the_rest_still_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(sizes: suite.Sizes) -> Any:
        raise RuntimeError("simulator did not start")

    monkeypatch.setitem(suite.RUNNERS, "refresh", broken)
    report = suite.run_suite(["refresh", "memory"], QUICK)
    statuses = {row["part"]: row["status"] for row in report["rows"]}
    assert statuses["refresh"] == "error" and statuses["memory"] in ("pass", "FAIL")
    assert "simulator did not start" in report["parts"]["refresh"]["error"]
    assert report["all_passed"] is False


def test_command_line_prints_the_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results.json"
    status = main(["re-render", "memory", "--quick", "--output", str(output)])
    assert status in (0, 1)
    printed = capsys.readouterr().out
    assert "| part | measured | reference (same run) | ratio | target | result |" in printed
    assert "load average" in printed and str(output) in printed
    report = json.loads(output.read_text())
    _keys(report, "machine", "rows", "parts", "seconds", "all_passed", "load_average_after")
    assert len(report["machine"]["load_average"]) == 3
    assert [row["part"] for row in report["rows"]] == ["render", "re-render", "memory"]
    assert set(report["parts"]) == {"render", "memory"}


def test_setup_script_is_valid_bash() -> None:
    script = Path(suite.__file__).with_name("setup.sh")
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0


# -- the refresh engine's rows (real `calbridge serve` and `calbridge worker` processes) ------

needs_postgres = pytest.mark.skipif(
    postgres_server_url() is None,
    reason="CALBRIDGE_TEST_DATABASE_URL is not set (the row runs calbridge on PostgreSQL)",
)


def test_poller_times_answers_and_reads_percentiles() -> None:
    result = PollResult(ttfb_ms=[float(n) for n in range(1, 101)])
    assert result.percentile(0.99) == 99.0 and result.percentile(0.5) == 50.0
    assert PollResult().percentile(0.99) is None
    assert result.to_json()["requests"] == 100


def test_upstream_records_arrivals_and_holds_requests_in_an_outage() -> None:
    import httpx

    with upstream([], "bench-key", hang_seconds=5) as api:
        url = f"{api.url}/api/v1/external/workshops/video-calls?user=u1&page=1"
        headers = {"Authorization": "Bearer bench-key", "x-whitelabel-host": "demo.tagmango.com"}
        assert httpx.get(url, headers=headers).status_code == 200
        api.start_outage()
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(url, headers=headers, timeout=0.3)
        api.end_outage()
    assert api.held == 1
    assert next((a.status, a.user, a.page) for a in api.arrivals()) == (200, "u1", "1")


def test_outage_part_compares_ttfb_with_a_hanging_upstream() -> None:
    raw, rows = suite.run_outage(QUICK)
    _keys(raw, "healthy", "outage", "ratio", "upstream_requests_held", "answers_ok")
    assert raw["answers_ok"], raw  # every GET answered 200 from the archive, hanging or not
    assert raw["upstream_requests_held"] > 0
    assert rows[0].part == "outage" and rows[0].ratio == raw["ratio"]


@needs_postgres
def test_instances_part_counts_upstream_requests_of_one_and_four_processes() -> None:
    raw, rows = suite.run_instances(QUICK)
    _keys(raw, "one", "many", "ratio", "layout")
    assert raw["many"]["processes"] == 4 and raw["one"]["processes"] == 1
    assert raw["many"]["too_many_requests"] == 0
    assert rows[0].part == "instances" and rows[0].ratio == raw["ratio"]


@needs_postgres
def test_partitions_part_refreshes_every_partition_without_429s() -> None:
    raw, rows = suite.run_partitions(QUICK)
    _keys(raw, "seconds", "reference_seconds", "ratio", "too_many_requests")
    assert raw["partitions"] == QUICK.partitions
    assert raw["upstream_requests"] >= QUICK.partitions and raw["too_many_requests"] == 0
    assert rows[0].part == "partitions"


@needs_postgres
def test_participants_part_provisions_and_refreshes_every_feed_without_429s() -> None:
    raw, rows = suite.run_participants(QUICK)
    _keys(raw, "seconds", "floor_seconds", "ratio", "request_ratio", "webhook")
    assert raw["participants"] == QUICK.participants
    assert raw["partitions"] == raw["participants"] + 2  # and the two mangoes, shared
    assert raw["too_many_requests"] == 0 and raw["request_ratio"] < 1.2
    assert raw["webhook"]["outcome"] == "queued"
    assert rows[0].part == "participants"


def test_worker_memory_part_reads_the_web_process_rss() -> None:
    raw, rows = suite.run_worker_memory(QUICK)
    _keys(raw, "rss_first_mb", "rss_all_mb", "ratio", "answers_ok")
    assert raw["answers_ok"] and raw["gets"] == QUICK.worker_memory_feeds
    assert raw["rss_all_mb"] > 20 and rows[0].part == "worker-memory"


def test_engine_parts_without_postgres_are_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("CALBRIDGE_BENCH_DATABASE_URL", "CALBRIDGE_TEST_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for run in (suite.run_instances, suite.run_partitions, suite.run_participants):
        _raw, rows = run(QUICK)
        assert rows[0].status == "skipped" and "PostgreSQL" in rows[0].note


def test_webhook_part_times_a_change_through_the_hook() -> None:
    raw, rows = suite.run_webhook(QUICK)
    assert raw["deliveries"] >= QUICK.webhook_rounds and raw["p99_s"] < 30
    assert rows[0].part == "webhook" and rows[0].status in ("pass", "FAIL")


def test_caldav_part_syncs_one_change_incrementally() -> None:
    raw, rows = suite.run_caldav(QUICK)
    assert raw["events"] == QUICK.caldav_events and raw["incremental_bytes"] < raw["full_bytes"]
    assert rows[0].part == "caldav-sync" and rows[0].status in ("pass", "FAIL")
