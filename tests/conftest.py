from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED_SCHEDULE = ROOT / "data" / "01_raw" / "dopesheet.csv"
SHORT_SCHEDULE = ROOT / "data" / "01_raw" / "dopesheet_short.csv"
SEED_LABELS = {
    "red": {"shape": "redness", "exponent": 10, "base_probability": 0.07},
    "vibrant": {"shape": "vibrancy", "exponent": 100, "base_probability": 0.02},
}


@pytest.fixture
def seed_labels():
    return SEED_LABELS
