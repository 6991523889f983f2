"""The contract: round trip, tamper detection, mismatch reports, and a parser that fails only cleanly."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from honed.arms import ARMS
from honed.features import ACTION, STATE, Feature, Features, image_key
from honed.policies import Contract, ContractError
from honed.sim import make_batched_env


def test_round_trip_and_digest(pk):
    contract = pk.make_contract(("front",), language=True)
    data = json.loads(json.dumps(contract.to_dict()))
    again = Contract.from_dict(data)
    assert again.digest == contract.digest and again.features == contract.features
    np.testing.assert_array_equal(again.stats[STATE]["max"], contract.stats[STATE]["max"])


def test_an_edited_contract_is_refused(pk):
    data = pk.make_contract().to_dict()
    data["stats"][ACTION]["max"][0] = 9.0
    with pytest.raises(ContractError, match="digest"):
        Contract.from_dict(data)


def test_mismatches_name_every_difference(pk):
    contract = pk.make_contract(("front",), language=True)
    other = Features(
        {
            STATE: Feature((14,), "float32"),
            image_key("wrist"): Feature((32, 32, 3), "uint8"),
            ACTION: Feature((7,), "float32"),
        }
    )
    with pytest.raises(ContractError) as err:
        contract.check(other, control_hz=50.0, where="the arm")
    message = str(err.value)
    for expected in ("observation.state", "observation.images.front: missing", "action", "task", "50 Hz"):
        assert expected in message
    assert contract.mismatches(Features({**contract.features})) == []


def with_front_placement(contract: Contract, placement: str | None) -> Contract:
    features = Features(
        {**contract.features, image_key("front"): Feature((32, 32, 3), "uint8", placement=placement)}
    )
    return Contract(features, contract.stats, 30.0, 2, 16, 8)


def test_a_moved_camera_is_a_mismatch_where_both_sides_know_the_placement(pk):
    contract = with_front_placement(
        pk.make_contract(("front",)), "on world at 0.450 0.000 0.280 m, fovy 40.0 deg"
    )
    moved = with_front_placement(contract, "on world at 0.500 0.000 0.280 m, fovy 40.0 deg").features
    with pytest.raises(
        ContractError, match=r"front: camera placement 'on world at 0.450.*' vs 'on world at 0.500"
    ):
        contract.check(moved)
    assert contract.mismatches(with_front_placement(contract, None).features) == []  # unknown there: no check
    again = Contract.from_dict(json.loads(json.dumps(contract.to_dict())))
    assert again.features[image_key("front")].placement == contract.features[image_key("front")].placement
    assert again.digest == contract.digest


def test_entries_without_a_placement_read_and_digest_as_before(pk):
    contract = pk.make_contract(("front",))
    assert all("placement" not in entry for entry in contract.to_dict()["features"].values())
    data = contract.to_dict()
    data["features"][image_key("front")]["placement"] = 5
    with pytest.raises(ContractError, match="placement must be text or null"):
        Contract.from_dict(data)


def with_action_space(contract: Contract, action_space: str) -> Contract:
    """``contract`` for a policy that outputs ``action_space`` actions."""
    action = replace(contract.features[ACTION], representation=action_space)
    return replace(
        contract, features=Features({**contract.features, ACTION: action}), action_space=action_space
    )


@pytest.mark.parametrize("arm", sorted(ARMS))
def test_a_follower_refuses_a_checkpoint_for_another_action_representation(pk, arm):
    robot = ARMS[arm].features()  # what the SO-100/SO-101/Koch followers declare
    assert robot[ACTION].representation == "absolute_joint"
    with pytest.raises(ContractError, match="action representation: policy delta_ee vs absolute_joint"):
        with_action_space(pk.make_contract(), "delta_ee").check(robot, where=arm)


def test_the_twin_refuses_a_checkpoint_for_another_action_representation(pk):
    env = make_batched_env("pick_cube", 1)
    try:
        twin = env.features
    finally:
        env.close()
    contract = pk.make_contract()
    assert contract.mismatches(twin) == []
    assert with_action_space(contract, "delta_joint").mismatches(twin) == [
        "action representation: policy delta_joint vs absolute_joint"
    ]
    undeclared = Features({**twin, ACTION: replace(twin[ACTION], representation=None)})
    assert with_action_space(contract, "delta_joint").mismatches(undeclared) == []  # nothing to compare


def test_the_action_representation_round_trips_and_is_checked_where_declared(pk):
    contract = with_action_space(pk.make_contract(), "absolute_ee")
    again = Contract.from_dict(json.loads(json.dumps(contract.to_dict())))
    assert again.features[ACTION].representation == again.action_space == "absolute_ee"
    with pytest.raises(ContractError, match="action_space 'absolute_joint' disagrees.*'absolute_ee'"):
        replace(contract, action_space="absolute_joint")
    data = contract.to_dict()
    data["features"][ACTION]["representation"] = "joint_velocity"
    with pytest.raises(ContractError, match="representation 'joint_velocity' is not one of absolute_joint"):
        Contract.from_dict(data)


def test_entries_without_a_representation_read_and_digest_as_before(pk):
    contract = pk.make_contract()
    action = replace(contract.features[ACTION], representation=None)  # a checkpoint from before it existed
    undeclared = replace(contract, features=Features({**contract.features, ACTION: action}))
    assert "representation" not in undeclared.to_dict()["features"][ACTION]
    assert undeclared.mismatches(contract.features) == []


def test_stats_must_cover_every_feature(pk):
    contract = pk.make_contract(("front",))
    stats = {k: v for k, v in contract.stats.items() if k != image_key("front")}
    with pytest.raises(ValueError, match="observation.images.front"):
        Contract(contract.features, stats, 30.0, 2, 16, 8)
    bad = {**contract.stats, STATE: {**contract.stats[STATE], "min": np.full(12, np.nan)}}
    with pytest.raises(ValueError, match="observation.state.min holds non-finite"):
        Contract(contract.features, bad, 30.0, 2, 16, 8)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 50) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(["features", "stats", "control_hz", "n_obs_steps", "horizon", "tasks", "digest"]),
       value=json_values)  # fmt: skip
@example(field="n_obs_steps", value=float("inf"))  # int(inf) overflows rather than failing as a ValueError
def test_parser_rejects_garbage_with_contract_errors_only(pk, field, value):
    data = pk.make_contract().to_dict()
    data[field] = value
    with contextlib.suppress(ContractError):
        Contract.from_dict(data)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_parser_on_arbitrary_objects(data):
    with pytest.raises(ContractError):
        Contract.from_dict(data)
