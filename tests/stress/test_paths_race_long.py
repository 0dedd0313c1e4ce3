"""
The long form of tests/e2e/test_paths_race.py (issue 13, B1 and B2): the
same attacks, RR_RACE_ITERATIONS (default 150) iterations each, against the
private libvirtd of the stress suite.  Marked slow: `make stress` only.
"""
import importlib.util
import os

import pytest

os.environ.setdefault("RR_RACE_ITERATIONS", "150")

_spec = importlib.util.spec_from_file_location(
    "e2e_paths_race", os.path.join(os.path.dirname(__file__), "..", "e2e",
                                   "test_paths_race.py"))
race = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(race)

pytestmark = pytest.mark.slow


def test_b1_iso_race_long(daemon, tmp_path):
    race.test_b1_iso_data_image_swapped_during_build(daemon, tmp_path)


def test_b2_start_after_swap_long(daemon):
    for _ in range(max(1, race.ITERATIONS // 30)):
        race.test_b2_start_after_swap(daemon)


def test_b2_launch_race_long(daemon):
    race.test_b2_launch_races_swap(daemon)
