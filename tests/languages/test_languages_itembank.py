"""The item bank's texts per language: complete for Welsh, checked when loaded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from surveys.itembank import ItemBankError, load_item_bank

SHIPPED = Path(__file__).resolve().parents[2] / "surveys" / "itembank"


def test_every_question_title_and_answer_has_welsh():
    bank = load_item_bank()
    for instrument in bank.instruments.values():
        assert instrument.title_in("cy") != instrument.title
        for item in instrument.items:
            assert item.text_in("cy") and item.text_in("cy") != item.text, item.id
    for scale in bank.scales.values():
        for option in scale.all_options:
            assert option.label_in("cy") != option.label, (scale.id, option.label)
            assert option.label_in("fr") == option.label  # no translation: English


def test_welsh_labels_are_distinct_within_a_scale():
    # Two options that read the same in Welsh would make answers in Welsh ambiguous.
    for scale in load_item_bank().scales.values():
        labels = [o.label_in("cy") for o in scale.all_options]
        assert len(set(labels)) == len(labels), scale.id


@pytest.mark.parametrize("bad", [["not", "a", "mapping"], {"Cy Welsh": "Testun"}, {"cy": ""}])
def test_a_malformed_translation_is_refused_with_where_it_is(tmp_path: Path, bad: object):
    folder = tmp_path / "bank"
    shutil.copytree(SHIPPED, folder)
    path = folder / "speaking_up.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["items"][1]["translations"] = bad
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ItemBankError, match=r"speaking_up.yaml.*items\[speak_2\]\.translations"):
        load_item_bank(folder)
