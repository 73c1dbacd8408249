"""Training clips: what a labeled clip is supervised on, and which clips are sampled."""

from __future__ import annotations

import numpy as np

from ssvad_keras.vos.data import ClipSample, labeled_samples, make_clip, object_mask, read_vos_split


def test_labeled_clips_target_the_annotated_frames_after_the_reference(tiny_vos_dataset):
    # The generated training videos annotate every 5th frame (00000, 00005, ...).
    videos = read_vos_split(tiny_vos_dataset / "train")
    length, size = 6, (32, 32)
    samples = labeled_samples(videos, range(len(videos)), length)
    assert samples
    for sample in samples:
        video = videos[sample.video]
        annotated = {video.stems.index(s) for s in video.annotated}
        # Sampled only when a later annotated frame falls inside the clip.
        assert any(0 < a - sample.start < length for a in annotated)
        clip = make_clip(video, sample, length, size)
        expected = [float(0 < t and sample.start + t in annotated) for t in range(length)]
        assert clip["frame_valid"].tolist() == expected  # never the reference frame itself
        reference = object_mask(video, video.stems[sample.start], sample.object_id, size)
        np.testing.assert_array_equal(clip["reference"][..., 0], reference)
        for t in np.flatnonzero(clip["frame_valid"]):
            target = object_mask(video, video.stems[sample.start + t], sample.object_id, size)
            np.testing.assert_array_equal(clip["mask"][t, ..., 0], target)
    # Clips too short to reach the next annotated frame give no labeled samples at all.
    assert labeled_samples(videos, range(len(videos)), 5) == []


def test_stride_5_clips_target_every_frame_after_the_reference(tiny_vos_dataset):
    # data.labeled_strides = [1, 5]: the stride-1 clips as before, then clips of every 5th
    # stored frame, which (annotations on every 5th frame) are targets on each later frame
    # inside the video.
    videos = read_vos_split(tiny_vos_dataset / "train")
    length, size = 4, (32, 32)
    consecutive = labeled_samples(videos, range(len(videos)), length)
    samples = labeled_samples(videos, range(len(videos)), length, strides=(1, 5))
    assert consecutive == [] and samples and {s.stride for s in samples} == {5}
    for sample in samples:
        video = videos[sample.video]
        clip = make_clip(video, sample, length, size)
        annotated = {video.stems.index(s) for s in video.annotated}
        frames = [min(sample.start + 5 * t, len(video.stems) - 1) for t in range(length)]
        expected = [float(0 < t and frames[t] != frames[t - 1] and frames[t] in annotated)
                    for t in range(length)]
        assert clip["frame_valid"].tolist() == expected
        for t in np.flatnonzero(clip["frame_valid"]):
            target = object_mask(video, video.stems[frames[t]], sample.object_id, size)
            np.testing.assert_array_equal(clip["mask"][t, ..., 0], target)
            np.testing.assert_array_equal(
                clip["clip"][t], make_clip(video, ClipSample(sample.video, sample.object_id, frames[t], True),
                                           length, size)["clip"][0])
    # More than one target per clip, which no stride-1 clip of these videos has.
    assert max(make_clip(videos[s.video], s, length, size)["frame_valid"].sum() for s in samples) >= 2


def test_area_resized_masks_stay_in_place(tiny_vos_dataset):
    # data.mask_resize = "area": each pixel's share of the object, whose centroid is the object's
    # (the frames are area-resized too); OpenCV's nearest neighbour moves the mask down-right.
    from ssvad_keras.evaluation.vos import read_palette_png

    videos = read_vos_split(tiny_vos_dataset / "train")
    size = (16, 24)  # 24x36 -> a third smaller, as 72x96 -> 64x64 in width
    shifts = {"area": [], "nearest": []}
    for video in videos:
        for object_id, stems in video.appearances.items():
            full = (read_palette_png(video.annotation_path(stems[0])) == object_id).astype(np.float64)
            if full.sum() < 30:
                continue
            yy, xx = np.mgrid[0 : full.shape[0], 0 : full.shape[1]]
            # The object's centroid in target pixels (pixel centres at i + 0.5 in both grids).
            scale = np.array([size[0] / full.shape[0], size[1] / full.shape[1]])
            truth = (np.array([(full * yy).sum(), (full * xx).sum()]) / full.sum() + 0.5) * scale - 0.5
            for mode in shifts:
                mask = object_mask(video, stems[0], object_id, size, resize=mode)
                y, x = np.mgrid[0 : size[0], 0 : size[1]]
                centroid = np.array([(mask * y).sum(), (mask * x).sum()]) / mask.sum()
                shifts[mode].append(centroid - truth)
    area, nearest = (np.mean(shifts[m], axis=0) for m in ("area", "nearest"))
    assert np.abs(area).max() < 0.05
    assert nearest.min() > 0.1  # down and right, a sizeable share of a pixel
    clip = make_clip(videos[0], labeled_samples(videos, [0], 6)[0], 6, size, mask_resize="area")
    assert ((clip["reference"] > 0) & (clip["reference"] < 1)).any()  # soft at the boundary


def test_supervised_batches_hold_as_many_labeled_clips_as_a_semi_supervised_one(tiny_vos_dataset):
    """`train.supervised_batch`: "labeled" keeps `labeled_per_batch` clips, "full" fills the batch."""
    from ssvad_keras.vos.config import VosDataConfig
    from ssvad_keras.vos.data import epoch_batches, unlabeled_samples

    videos = read_vos_split(tiny_vos_dataset / "train")
    labeled = labeled_samples(videos, range(len(videos)), 6)
    unlabeled = unlabeled_samples(videos, range(len(videos)))
    cfg = VosDataConfig(clip_length=6, input_size=(16, 16), labeled_per_batch=2, unlabeled_per_batch=3)

    def batches(unlabeled_clips, fill):
        return list(epoch_batches(videos, labeled, unlabeled_clips, cfg, 2, seed=0, fill_with_labeled=fill))

    for batch in batches(unlabeled, fill=False):  # semi-supervised: 2 labeled + 3 unlabeled either way
        assert batch["labeled"].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    for batch in batches([], fill=False):
        assert batch["labeled"].tolist() == [1.0, 1.0]
    for batch in batches([], fill=True):
        assert batch["labeled"].tolist() == [1.0] * 5
