"""The scenario file: every key is checked once, and errors name the table and the key."""

from __future__ import annotations

import pytest

from patchplan.errors import ScenarioError
from patchplan.scenario import Scenario


def write(tmp_path, text: str):
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_embedded_demo_scenario_loads_with_every_stage_configured():
    scenario = Scenario.example("demo")
    assert scenario.inputs.source == "town"
    assert scenario.study.synthetic is True
    assert scenario.patches.k == 3
    assert scenario.rounds.time_limit_s == 60.0
    assert scenario.savings.hourly_cost_gbp == 21.0


def test_missing_tables_take_defaults(tmp_path):
    scenario = Scenario.load(write(tmp_path, '[study]\nname = "x"\n'))
    assert scenario.study.name == "x"
    assert scenario.patches.balance_tolerance == pytest.approx(0.10)


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ScenarioError, match=r"\[patches\]: unknown key 'kk'"):
        Scenario.load(write(tmp_path, "[patches]\nkk = 7\n"))


def test_unknown_table_is_named(tmp_path):
    with pytest.raises(ScenarioError, match=r"unknown table \[patchez\]"):
        Scenario.load(write(tmp_path, "[patchez]\nk = 7\n"))


def test_wrong_type_names_key_and_value(tmp_path):
    with pytest.raises(ScenarioError, match=r"\[patches\] k: expected a whole number, got 'seven'"):
        Scenario.load(write(tmp_path, '[patches]\nk = "seven"\n'))


def test_bool_is_not_accepted_as_a_number(tmp_path):
    with pytest.raises(ScenarioError, match=r"\[rounds\] time_limit_s: expected a number"):
        Scenario.load(write(tmp_path, "[rounds]\ntime_limit_s = true\n"))


def test_lists_become_tuples_and_are_checked(tmp_path):
    scenario = Scenario.load(write(tmp_path, "[study]\ndays = [0, 2]\n"))
    assert scenario.study.days == (0, 2)
    with pytest.raises(ScenarioError, match=r"\[study\] days\[1\]: expected a whole number"):
        Scenario.load(write(tmp_path, '[study]\ndays = [0, "Tue"]\n'))


def test_malformed_toml_is_reported_with_the_file(tmp_path):
    with pytest.raises(ScenarioError, match="study.toml: not valid TOML"):
        Scenario.load(write(tmp_path, "[study\nname = 1\n"))


def test_missing_file():
    with pytest.raises(ScenarioError, match="scenario file not found"):
        Scenario.load("/nonexistent/study.toml")


def test_input_paths_resolve_against_base_dir_and_scenario_folder(tmp_path):
    (tmp_path / "data").mkdir()
    scenario = Scenario.load(
        write(
            tmp_path,
            '[inputs]\nsource = "files"\nbase_dir = "data"\nareas = "a.gpkg"\npcn_column = "pcn"\n',
        )
    )
    assert scenario.input_path("areas") == (tmp_path / "data" / "a.gpkg").resolve()
    assert scenario.input_path("pcns") is None


def test_replace_changes_one_setting_and_keeps_the_rest():
    scenario = Scenario.example("demo").replace(patches={"k": 4})
    assert scenario.patches.k == 4
    assert scenario.patches.balance_tolerance == Scenario.example("demo").patches.balance_tolerance


def test_fixed_length_pairs_are_checked_element_by_element(tmp_path):
    scenario = Scenario.load(
        write(tmp_path, '[patches]\nlocked = [["B1", "P01"], ["B2", "P02"]]\n')
    )
    assert scenario.patches.lock_pairs() == [("B1", "P01"), ("B2", "P02")]
    with pytest.raises(ScenarioError, match=r"locked"):
        Scenario.load(write(tmp_path, '[patches]\nlocked = [["B1", 1]]\n'))
