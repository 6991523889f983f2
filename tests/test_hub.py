"""The Hub seam: repo ids and hf:// locations are parsed before any transfer, and a failed Hub call
becomes one line naming the repo and the cause, while a bug keeps its own exception."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from honed.errors import ConfigError, HubError
from honed.hub import HubLocation, check_repo_id, hub_errors, parse_location

PART = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_]{0,12}[A-Za-z0-9])?", fullmatch=True)
REVISION = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.]{0,8}", fullmatch=True)


@given(
    namespace=PART, name=PART, revision=st.none() | REVISION, folder=st.sampled_from(["", "checkpoints/best"])
)
def test_a_hub_location_round_trips(namespace, name, revision, folder):
    text = (
        f"hf://{namespace}/{name}" + (f"@{revision}" if revision else "") + (f"/{folder}" if folder else "")
    )
    location = parse_location(text)
    assert location == HubLocation(f"{namespace}/{name}", revision, folder)
    assert str(location) == text and check_repo_id(location.repo_id) == location.repo_id


@given(st.text(max_size=40))
def test_any_text_is_a_local_path_a_hub_location_or_one_clear_refusal(text):
    try:
        location = parse_location(text)
    except ConfigError as e:
        assert "\n" not in str(e) and repr(text) in str(e)
        return
    if not text.strip().lower().startswith(("hf://", "https://huggingface.co/", "huggingface.co/")):
        assert location is None
    else:
        assert location is not None and location.repo_id.count("/") == 1


@given(st.text(max_size=40))
def test_a_repo_id_is_namespace_slash_name_or_refused_naming_the_field(text):
    try:
        assert check_repo_id(text, "repo_id") == text and text.count("/") == 1
    except ConfigError as e:
        assert str(e).startswith(f"repo_id={text!r} is not a Hugging Face Hub repo id")


def test_a_dataset_location_is_refused_where_a_model_is_expected():
    with pytest.raises(ConfigError, match="names a dataset repository; expected a model repository"):
        parse_location("hf://datasets/someone/demos")


def test_an_unreachable_hub_is_one_line_naming_the_repo(unreachable_hub):
    from huggingface_hub import snapshot_download

    with pytest.raises(HubError) as error, hub_errors("someone/policy", "download", "Use a local copy"):
        snapshot_download("someone/policy", allow_patterns=["config.json"])
    message = str(error.value)
    assert message.startswith("download someone/policy: the Hugging Face Hub (") and "\n" not in message
    assert "is unreachable (" in message and message.endswith(". Use a local copy")


def test_a_bug_inside_a_hub_call_keeps_its_own_exception():
    with pytest.raises(KeyError), hub_errors("someone/policy", "download"):
        raise KeyError("not a hub failure")
