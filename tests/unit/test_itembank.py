"""The shipped item bank, and the loader's refusal of malformed banks."""

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.itembank import (
    DEFAULT_ITEM_BANK_DIR,
    NO,
    PREFER_NOT_TO_SAY,
    YES,
    ItemBankError,
    load_item_bank,
)

PSAFE = [
    "If you make a mistake on this team, it is often held against you.",
    "Members of this team are able to bring up problems and tough issues.",
    "People on this team sometimes reject others for being different.",
    "It is safe to take a risk on this team.",
    "It is difficult to ask other members of this team for help.",
    "No one on this team would deliberately act in a way that undermines my efforts.",
    "Working with members of this team, my unique skills and talents are valued and utilized.",
]
SPEAK = [
    "I would feel secure raising concerns about unsafe clinical practice.",
    "I am confident that my organisation would address my concern.",
    "I feel safe to speak up about anything that concerns me in this organisation.",
    "If I spoke up about something that concerned me I am confident my organisation would "
    "address my concern.",
]
INCL = [
    ("openness", "is open to hearing new ideas"),
    ("openness", "is attentive to new opportunities to improve work processes"),
    ("openness", "is open to discuss the desired goals and new ways to achieve them"),
    ("availability", "is available for consultation on problems"),
    ("availability", "is an ongoing presence in this team, someone who is readily available"),
    ("availability", "is available for professional questions I would like to consult with them"),
    ("availability", "is ready to listen to my requests"),
    ("accessibility", "encourages me to access them on emerging issues"),
    ("accessibility", "is accessible for discussing emerging problems"),
]


@pytest.fixture(scope="module")
def bank():
    return load_item_bank()


# --- the shipped bank -----------------------------------------------------------------


def test_shipped_bank_holds_the_four_instruments(bank):
    sizes = {instrument.id: len(instrument.items) for instrument in bank.instruments.values()}
    assert sizes == {"psafe": 7, "speak": 4, "incl": 9, "wres": 4}
    assert {i.id: i.scale.id for i in bank.instruments.values()} == {
        "psafe": "agree7",
        "speak": "agree5",
        "incl": "agree5",
        "wres": "yes_no",
    }


def test_psychological_safety_wording_and_reverse_items(bank):
    items = bank.items_for("psafe")
    assert [item.text for item in items] == PSAFE
    assert [item.id for item in items if item.reverse] == ["psafe_1", "psafe_3", "psafe_5"]
    assert [item.number for item in items] == list(range(1, 8))
    assert "Edmondson" in bank.instrument("psafe").citation
    assert "1999" in bank.instrument("psafe").citation


def test_speaking_up_wording(bank):
    items = bank.items_for("speak")
    assert [item.text for item in items] == SPEAK
    assert [item.id for item in items] == ["speak_1", "speak_2", "speak_3", "speak_4"]
    assert not any(item.reverse for item in items)
    assert "We each have a voice that counts" in bank.instrument("speak").citation


def test_inclusive_leadership_wording_and_subdimensions(bank):
    instrument = bank.instrument("incl")
    assert instrument.subdimensions == ("openness", "availability", "accessibility")
    assert [(item.subdimension, item.text) for item in instrument.items] == [
        (sub, f"My manager {phrase}.") for sub, phrase in INCL
    ]
    assert not any(item.reverse for item in instrument.items)
    assert "Carmeli" in instrument.citation and "2010" in instrument.citation


def test_race_equality_items_follow_wres_indicators(bank):
    instrument = bank.instrument("wres")
    assert instrument.item_ids == ("wres_5", "wres_6", "wres_7", "wres_8")
    assert [item.favourable for item in instrument.items] == ["no", "no", "yes", "no"]
    assert bank.item("wres_7").text == (
        "My organisation acts fairly with regard to career progression or promotion, "
        "regardless of ethnic background."
    )
    assert not instrument.has_scale_score
    assert instrument.min_answered is None


def test_experiences_of_harassment_and_discrimination_are_sensitive(bank):
    # Harassment from the public, from managers or colleagues, and discrimination:
    # the items whose near-uniform groups are hidden below 2k.
    assert {i for i, item in bank.items.items() if item.sensitive} == {
        "wres_5", "wres_6", "wres_8"}


def test_response_scales(bank):
    agree7 = bank.scale("agree7")
    assert agree7.label(1) == "Strongly disagree"
    assert agree7.label(4) == "Neither agree nor disagree"
    assert agree7.label(7) == "Strongly agree"
    assert agree7.valid_values == frozenset(range(1, 8))
    assert agree7.favourable_values == {6, 7}
    agree5 = bank.scale("agree5")
    assert [agree5.label(v) for v in (1, 5)] == ["Strongly disagree", "Strongly agree"]
    assert agree5.favourable_values == {4, 5}
    yes_no = bank.scale("yes_no")
    assert (YES, NO, PREFER_NOT_TO_SAY) == (1, 2, 0)
    assert yes_no.valid_values == {0, 1, 2}
    assert yes_no.answer_values == (1, 2)
    assert yes_no.label(PREFER_NOT_TO_SAY) == "Prefer not to say"
    assert [option.value for option in yes_no.all_options] == [1, 2, 0]


def test_min_answered_is_at_least_half_of_the_items(bank):
    assert bank.instrument("psafe").min_answered == 4  # 3.5 rounded up
    assert bank.instrument("speak").min_answered == 2
    assert bank.instrument("incl").min_answered == 5
    assert bank.instrument("incl").min_answered_for("accessibility") == 1
    assert bank.instrument("incl").min_answered_for("availability") == 2
    with pytest.raises(ValueError, match="no subdimension"):
        bank.instrument("incl").items_in("warmth")


def test_lookups(bank):
    assert bank.item("incl_5").instrument_id == "incl"
    assert bank.items_for("speak") == bank.instrument("speak").items
    for lookup, name in [(bank.item, "psafe_8"), (bank.instrument, "nope"), (bank.scale, "x")]:
        with pytest.raises(ItemBankError, match=name):
            lookup(name)


def test_shipped_bank_is_cached_and_explicit_path_is_not(bank):
    assert load_item_bank() is bank
    fresh = load_item_bank(DEFAULT_ITEM_BANK_DIR)
    assert fresh is not bank
    assert fresh.items.keys() == bank.items.keys()


# --- scoring single answers ----------------------------------------------------------


def test_scored_flips_reverse_items_only(bank):
    reversed_item, plain = bank.item("psafe_1"), bank.item("psafe_2")
    assert [reversed_item.scored(v) for v in range(1, 8)] == [7, 6, 5, 4, 3, 2, 1]
    assert [plain.scored(v) for v in range(1, 8)] == [1, 2, 3, 4, 5, 6, 7]
    assert reversed_item.scored(None) is None


def test_favourable_is_top_two_boxes_after_reverse_scoring(bank):
    assert [bank.item("psafe_2").is_favourable(v) for v in range(1, 8)] == [False] * 5 + [True] * 2
    assert [bank.item("psafe_1").is_favourable(v) for v in range(1, 8)] == [True] * 2 + [False] * 5
    assert [bank.item("speak_1").is_favourable(v) for v in range(1, 6)] == [False] * 3 + [True] * 2
    assert bank.item("speak_1").is_favourable(None) is None


def test_yes_no_items_prefer_not_to_say_is_not_an_answer(bank):
    harassment, fairness = bank.item("wres_5"), bank.item("wres_7")
    assert harassment.scored(PREFER_NOT_TO_SAY) is None
    assert harassment.is_favourable(PREFER_NOT_TO_SAY) is None
    assert harassment.is_yes(PREFER_NOT_TO_SAY) is None
    assert (harassment.is_favourable(YES), harassment.is_favourable(NO)) == (False, True)
    assert (fairness.is_favourable(YES), fairness.is_favourable(NO)) == (True, False)
    assert (harassment.is_yes(YES), harassment.is_yes(NO)) == (True, False)
    with pytest.raises(ValueError, match="not a yes/no item"):
        bank.item("speak_1").is_yes(1)


@pytest.mark.parametrize(
    ("item_id", "value"),
    [
        ("psafe_1", 0),
        ("psafe_1", 8),
        ("speak_1", 6),
        ("wres_5", 3),
        ("psafe_2", True),
        ("incl_1", "4"),
    ],
)
def test_values_off_the_scale_are_errors_not_missing_data(bank, item_id, value):
    with pytest.raises(ValueError, match="is not a value of scale"):
        bank.item(item_id).scored(value)


@settings(database=None)
@given(item_index=st.integers(0, 1000), data=st.data())
def test_scored_values_stay_on_the_scale(item_index, data):
    bank = load_item_bank()
    item = list(bank.items.values())[item_index % len(bank.items)]
    value = data.draw(st.sampled_from(sorted(item.scale.valid_values)))
    scored = item.scored(value)
    if value == PREFER_NOT_TO_SAY:
        assert scored is None and item.is_favourable(value) is None
        return
    assert item.scale.min_value <= scored <= item.scale.max_value
    if item.reverse:
        assert item.scored(item.scale.max_value + 1 - value) == value  # flipping twice
    assert isinstance(item.is_favourable(value), bool)


# --- the loader refuses malformed banks ----------------------------------------------


def _copy_bank(tmp_path: Path) -> Path:
    folder = tmp_path / "itembank"
    shutil.copytree(DEFAULT_ITEM_BANK_DIR, folder)
    return folder


def _edit(folder: Path, name: str, change) -> None:
    path = folder / name
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_copy_of_shipped_bank_loads(tmp_path):
    assert len(load_item_bank(_copy_bank(tmp_path)).items) == 24


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (
            "speaking_up.yaml",
            lambda d: d["items"][1].update(id="speak_1"),
            "speaking_up.yaml: items[speak_1]: duplicate item id",
        ),
        (
            "speaking_up.yaml",
            lambda d: d.update(scale="agree6"),
            "speaking_up.yaml: scale: unknown response scale 'agree6'",
        ),
        (
            "race_equality.yaml",
            lambda d: d["items"][0].update(reverse=True),
            "race_equality.yaml: items[wres_5].reverse: only items on an agree scale",
        ),
        (
            "race_equality.yaml",
            lambda d: d["items"][0].update(favourable=False),
            'race_equality.yaml: items[wres_5].favourable: quote it: "yes" or "no"',
        ),
        (
            "race_equality.yaml",
            lambda d: d["items"][0].update(sensitive="yes"),
            "race_equality.yaml: items[wres_5].sensitive: expected true or false",
        ),
        (
            "race_equality.yaml",
            lambda d: d["items"][0].pop("favourable"),
            "race_equality.yaml: items[wres_5].favourable: yes/no items need",
        ),
        (
            "race_equality.yaml",
            lambda d: d.update(scale_score={"method": "mean", "min_answered_share": 0.5}),
            "race_equality.yaml: scale_score.method: a mean needs an ordinal scale",
        ),
        (
            "speaking_up.yaml",
            lambda d: d["items"][0].update(favourable="yes"),
            "speaking_up.yaml: items[speak_1].favourable: only yes/no items",
        ),
        (
            "speaking_up.yaml",
            lambda d: d["items"][0].update(revers=True),
            "speaking_up.yaml: items[0]: unknown field(s) revers",
        ),
        (
            "speaking_up.yaml",
            lambda d: d["items"][0].update(reverse="yes"),
            "speaking_up.yaml: items[speak_1].reverse: expected true or false",
        ),
        (
            "speaking_up.yaml",
            lambda d: d["items"][0].update(id="psafe_99"),
            "speaking_up.yaml: items[psafe_99].id: must start with 'speak_'",
        ),
        (
            "speaking_up.yaml",
            lambda d: d["items"][0].update(subdimension="openness"),
            "speaking_up.yaml: items[speak_1].subdimension: the instrument declares no",
        ),
        (
            "inclusive_leadership.yaml",
            lambda d: d["items"][0].pop("subdimension"),
            "inclusive_leadership.yaml: items[incl_1].subdimension: must be one of",
        ),
        (
            "speaking_up.yaml",
            lambda d: d["scale_score"].update(min_answered_share=1.5),
            "speaking_up.yaml: scale_score.min_answered_share: expected a share",
        ),
        (
            "speaking_up.yaml",
            lambda d: d.pop("citation"),
            "speaking_up.yaml: file: missing field(s) citation",
        ),
        (
            "speaking_up.yaml",
            lambda d: d["items"][2].update(text="  "),
            "speaking_up.yaml: items[speak_3].text: expected non-empty text",
        ),
        (
            "speaking_up.yaml",
            lambda d: d.update(id="psafe", items=[{"id": "psafe_9", "text": "Q?"}]),
            "speaking_up.yaml: id: duplicate instrument id 'psafe'",
        ),
        (
            "scales.yaml",
            lambda d: d["scales"][0]["options"].pop(3),
            "scales.yaml: scales[agree7].options: ordinal values must run 1, 2, ... n",
        ),
        (
            "scales.yaml",
            lambda d: d["scales"][2]["prefer_not_to_say"].update(value=9),
            "scales.yaml: scales[yes_no].prefer_not_to_say.value: must be 0",
        ),
        (
            "scales.yaml",
            lambda d: d["scales"][2]["options"].reverse(),
            "scales.yaml: scales[yes_no].options: yes/no options must be 1 (Yes) then 2 (No)",
        ),
        (
            "scales.yaml",
            lambda d: d["scales"][1].update(favourable_top_boxes=5),
            "scales.yaml: scales[agree5].favourable_top_boxes: must be between 1 and 4",
        ),
        (
            "scales.yaml",
            lambda d: d["scales"].append(dict(d["scales"][0])),
            "scales.yaml: scales[agree7]: duplicate scale id",
        ),
        (
            "scales.yaml",
            lambda d: d.update(kind="scales"),
            "scales.yaml: kind: must be 'response_scales' or 'instrument'",
        ),
    ],
)
def test_malformed_bank_names_file_and_field(tmp_path, name, change, message):
    folder = _copy_bank(tmp_path)
    _edit(folder, name, change)
    with pytest.raises(ItemBankError) as caught:
        load_item_bank(folder)
    assert message in str(caught.value)


def test_duplicate_yaml_keys_are_refused(tmp_path):
    folder = _copy_bank(tmp_path)
    path = folder / "speaking_up.yaml"
    path.write_text(path.read_text().replace("scale: agree5\n", "scale: agree5\nscale: agree7\n"))
    with pytest.raises(ItemBankError, match=r"speaking_up\.yaml: YAML: .*duplicate key 'scale'"):
        load_item_bank(folder)


def test_broken_yaml_is_refused(tmp_path):
    folder = _copy_bank(tmp_path)
    (folder / "broken.yaml").write_text("kind: instrument\nitems: [\n")
    with pytest.raises(ItemBankError, match=r"broken\.yaml: YAML"):
        load_item_bank(folder)


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(ItemBankError, match="not found"):
        load_item_bank(tmp_path / "nowhere")
