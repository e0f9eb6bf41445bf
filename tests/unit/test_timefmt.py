"""One notation for instants and one parser of them: the wrappers that owe a user a particular message
(`drill restore --to`, a report naming its file) keep their messages, and files written in the older
notations (whole seconds, microseconds) still read back to the same instant."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from waqiti_drill.config import Settings
from waqiti_drill.errors import InvalidConfig
from waqiti_drill.timefmt import parse_utc, parse_utc_datetime, utc_iso

EPOCH = 1764576000.123456  # 2025-12-01T08:00:00.123456Z


def test_utc_iso_writes_milliseconds_and_a_z_and_parse_utc_reads_it_back():
    assert utc_iso(EPOCH) == "2025-12-01T08:00:00.123Z"
    assert utc_iso(None) is None
    assert parse_utc(utc_iso(EPOCH)) == pytest.approx(1764576000.123, abs=1e-6)


@pytest.mark.parametrize(("text", "epoch"), [
    ("2025-12-01T08:00:00.123456Z", EPOCH),  # the backup region's state.json before timefmt (microseconds)
    ("2025-12-01T08:00:00Z", 1764576000.0),  # whole seconds: the Redis backup manifests, the region sync's status
    ("2025-12-01T08:00:00", 1764576000.0),  # naive means UTC
    ("2025-12-01T09:00:00+01:00", 1764576000.0),
])
def test_older_notations_read_to_the_same_instant(text, epoch):
    assert parse_utc(text) == pytest.approx(epoch, abs=1e-6)
    assert parse_utc_datetime(text).tzinfo is not None


@pytest.mark.parametrize("bad", ["garbage", "", "2025-13-01T00:00:00Z", None, 1764576000])
def test_anything_else_is_a_value_error(bad):
    with pytest.raises(ValueError):
        parse_utc(bad)  # type: ignore[arg-type]


def test_restore_to_keeps_its_one_line_message_for_the_user():
    from waqiti_drill.platform.local.restore import parse_utc as restore_point

    assert restore_point("2025-12-01T08:00:00.123456Z") == dt.datetime(2025, 12, 1, 8, 0, 0, 123456, tzinfo=dt.UTC)
    with pytest.raises(InvalidConfig) as err:
        restore_point("garbage")
    assert str(err.value) == "point in time 'garbage' is not an ISO 8601 instant (e.g. 2026-12-01T08:30:00Z)"
    assert err.value.exit_code == 2


@pytest.mark.parametrize("bad", ["garbage", 17])
def test_a_report_names_the_file_a_bad_instant_came_from(bad):
    from waqiti_drill.report.model import parse_utc as report_instant

    assert report_instant(None, "x") is None
    assert report_instant("2025-12-01T08:00:00Z", "x") == 1764576000.0
    with pytest.raises(InvalidConfig, match=r"^run-1/results\.json: not an ISO 8601 timestamp: "):
        report_instant(bad, "run-1/results.json")  # type: ignore[arg-type]


def test_a_region_state_file_written_with_microseconds_is_still_read(tmp_path):
    from waqiti_drill.platform.local.region import read_state, state_path

    settings = Settings(state_dir=tmp_path)
    path = state_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"active": "us-east-1", "lost": "us-west-2", "lost_at": "2025-12-01T08:00:00.123456Z",
                                "failed_over_at": "2025-12-01T08:05:00.654321Z"}))
    state = read_state(settings)
    assert (state.active, state.lost) == ("us-east-1", "us-west-2")
    assert parse_utc(state.failed_over_at or "") - parse_utc(state.lost_at or "") == pytest.approx(300.530865, abs=1e-6)
