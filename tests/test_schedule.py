import pandas as pd
import pytest

from ex_coverage.science.schedule import ScheduleError, minjerk, parse_schedule, read_schedule_csv
from tests.conftest import SEED_SCHEDULE


def test_seed_schedule_length_and_keyframes():
    schedule = read_schedule_csv(SEED_SCHEDULE)
    assert len(schedule) == 1501
    lr = schedule.values["lr"]
    assert lr[0] == pytest.approx(1e-8)
    assert (lr[10], lr[750], lr[1425], lr[1500]) == pytest.approx((0.01, 0.2, 0.1, 0.05))
    sep = schedule.values["reg-separate"]
    assert (sep[0], sep[375], sep[750], sep[1425], sep[1500]) == pytest.approx((0.01, 0.01, 0.015, 0, 0))
    anchor = schedule.values["reg-anchor"]
    assert (anchor[0], anchor[750], anchor[1425], anchor[1500]) == pytest.approx((0.02, 0.2, 0, 0))
    planar = schedule.values["reg-planar"]
    assert (planar[0], planar[750], planar[1425]) == pytest.approx((0.01, 0.2, 0))
    assert schedule.phases[0] == schedule.phases[1500] == "Train"
    assert len(schedule.digest) == 64


def test_minjerk_midpoint_and_ends():
    assert minjerk(0.5) == pytest.approx(0.5)
    assert minjerk(0.0) == 0.0 and minjerk(1.0) == 1.0
    # minjerk interpolation between the seed's lr keyframes at 750 and 1425: midpoint is the average.
    lr = read_schedule_csv(SEED_SCHEDULE).values["lr"]
    assert lr[(750 + 1425) // 2] == pytest.approx(0.15, abs=2e-4)


def frame(rows, columns=("STEP", "lr")):
    return pd.DataFrame(rows, columns=list(columns)).astype(str)


def test_interpolators_and_log_space():
    schedule = parse_schedule(
        frame(
            [["0", "1", "1", "1"], ["10", "3", "100", "3"]], ("STEP", "a:linear:linear", "b:log:linear", "c::step-end")
        )
    )
    assert schedule.values["a"][5] == pytest.approx(2.0)
    assert schedule.values["b"][5] == pytest.approx(10.0)
    assert schedule.values["c"][9] == 1.0 and schedule.values["c"][10] == 3.0


def test_relative_steps_resolve_against_file_order_anchors():
    schedule = parse_schedule(
        frame([["0", "1"], ["+10", "2"], ["-0.25", "3"], ["100", "4"], ["-5", "5"], ["200", "6"]])
    )
    assert len(schedule) == 201
    lr = schedule.values["lr"]
    assert (lr[10], lr[75], lr[100], lr[195]) == pytest.approx((2, 3, 4, 5))


@pytest.mark.parametrize(
    "rows, columns, message",
    [
        ([["0", "1"]], ("STP", "lr"), "no STEP column"),
        ([["+0.5", "1"], ["10", "2"]], ("STEP", "lr"), "row 2, column 'STEP'"),
        ([["0", "1"], ["+1.5", "2"], ["10", "3"]], ("STEP", "lr"), "between 0 and 1"),
        ([["0", "1"], ["abc", "2"]], ("STEP", "lr"), "cannot read step 'abc'"),
        ([["0", "1"], ["10", "x"]], ("STEP", "lr"), "row 3, column 'lr': 'x' is not a number"),
        ([["0", "1"], ["10", "2"]], ("STEP", "lr::cubic"), "unknown interpolator 'cubic'"),
        ([["0", "1"], ["10", "2"]], ("STEP", "lr:weird"), "unknown space 'weird'"),
        ([["0", "1"], ["10", "0"]], ("STEP", "lr:log"), "must be positive in log space"),
        ([["0", "1"], ["0", "2"]], ("STEP", "lr"), "the same as row 2"),
    ],
)
def test_bad_schedules_name_file_row_and_column(rows, columns, message):
    with pytest.raises(ScheduleError, match=message) as error:
        parse_schedule(frame(rows, columns), source="sheet.csv")
    assert str(error.value).startswith("sheet.csv")


def test_missing_schedule_file(tmp_path):
    with pytest.raises(ScheduleError, match="not found"):
        read_schedule_csv(tmp_path / "absent.csv")
