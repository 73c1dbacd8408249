"""Labeled / unlabeled / validation splits: stratified, reproducible, written where train reads."""

import json
from collections import Counter

import pytest

from ssvad_keras.data.splits import make_split, split_path, write_split
from ssvad_keras.errors import ConfigError, DataError

# 3 classes of 20, 10 and 5 videos, plus 2 videos without a class.
IDS = [f"a{i:02d}" for i in range(20)] + [f"b{i:02d}" for i in range(10)] + [f"c{i}" for i in range(5)]
IDS += ["n0", "n1"]
LABELS = [0] * 20 + [1] * 10 + [2] * 5 + [-1, -1]
CLASS_OF = dict(zip(IDS, LABELS, strict=True))


def test_split_partitions_the_training_videos():
    split = make_split(IDS, LABELS, 0.2, seed=0, val_fraction=0.1)
    parts = [set(split["labeled"]), set(split["unlabeled"]), set(split["val"])]
    assert sum(len(p) for p in parts) == len(IDS)
    assert set.union(*parts) == set(IDS)
    assert split["labeled_fraction"] == 0.2 and split["seed"] == 0 and split["val_fraction"] == 0.1


def test_split_is_stratified_per_class():
    split = make_split(IDS, LABELS, 0.2, seed=3, val_fraction=0.1)
    val = Counter(CLASS_OF[v] for v in split["val"])
    labeled = Counter(CLASS_OF[v] for v in split["labeled"])
    # Validation: 10% of 37 = 4 in total, at least one per class that has two or more videos.
    assert val[0] == 2 and val[1] == 1 and val[2] == 1 and val[-1] == 1
    # Labeled: 20% of each class's remaining videos (18 -> 4, 9 -> 2, 4 -> 1, 1 -> 1).
    assert labeled[0] in (3, 4) and labeled[1] in (1, 2) and labeled[2] == 1 and labeled[-1] == 1
    assert abs(len(split["labeled"]) - 0.2 * (len(IDS) - len(split["val"]))) <= 2


def test_every_class_keeps_a_labeled_video_even_at_tiny_fractions():
    split = make_split(IDS, LABELS, 0.01, seed=0, val_fraction=0.5)
    assert {CLASS_OF[v] for v in split["labeled"]} == {0, 1, 2, -1}


def test_split_is_reproducible_and_independent_of_input_order():
    first = make_split(IDS, LABELS, 0.3, seed=7)
    again = make_split(list(reversed(IDS)), list(reversed(LABELS)), 0.3, seed=7)
    other = make_split(IDS, LABELS, 0.3, seed=8)
    assert first == again
    assert first["labeled"] != other["labeled"]


def test_full_labels_leave_nothing_unlabeled():
    split = make_split(IDS, LABELS, 1.0, seed=0, val_fraction=0.0)
    assert split["unlabeled"] == [] and split["val"] == [] and len(split["labeled"]) == len(IDS)


@pytest.mark.parametrize("fraction, val", [(0.0, 0.1), (1.5, 0.1), (0.2, 1.0), (0.2, -0.1)])
def test_out_of_range_fractions_are_refused(fraction, val):
    with pytest.raises(ConfigError, match="fraction"):
        make_split(IDS, LABELS, fraction, seed=0, val_fraction=val)


def test_write_split_reads_the_manifest_and_names_the_file(tmp_path):
    manifest = {"splits": {"train": {"video_ids": IDS, "labels": LABELS}}}
    (tmp_path / "dataset.json").write_text(json.dumps(manifest))
    path = write_split(tmp_path, 0.2, seed=5)
    assert path == split_path(tmp_path, 0.2, 5) == tmp_path / "splits" / "labeled-0.20-seed5.json"
    assert json.loads(path.read_text()) == make_split(IDS, LABELS, 0.2, 5, 0.1)


def test_write_split_without_manifest_names_the_missing_file(tmp_path):
    with pytest.raises(DataError, match="dataset.json: file not found"):
        write_split(tmp_path, 0.2, seed=0)
    assert not (tmp_path / "splits").exists()
