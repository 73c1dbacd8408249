"""Can the tiny I3D encoder, trained from scratch, learn the synthetic benchmark's actions?

The headline's detector stays near chance accuracy. This probe asks the question without the
capsules, the decoder or the localization losses: a plain clip classifier (the `tiny` preset's
I3D encoder up to `Mixed_4f`, dropout, global average pooling, a linear layer; softmax
cross-entropy, Adam at the synthetic config's learning rate) trained on a larger corpus than the
benchmark's (`--videos` training videos, generated with a seed the benchmark never uses, so the
clips are disjoint from it) and tested on that corpus's own test videos (centre clips). Prints
one line per tenth of the run: steps, wall time, training loss and accuracy (running, on the
augmented training clips), test clip accuracy. Chance is 20 %.

It is a feasibility check for encoder pretraining, the paper's remedy (its I3D starts from
Charades weights): if the encoder cannot learn the actions from 5x the benchmark's videos, it
cannot learn them from the benchmark's 18 labelled ones either.

Run: `.venv/bin/python bench/probe_motion_classifier.py [--videos 500] [--steps 3000]
[--out runs/probe-motion]`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras

from ssvad_keras.config import configs_dir, load_config
from ssvad_keras.data import eval_clip_dataset, read_manifest, train_dataset
from ssvad_keras.layers import I3DEncoder
from tfrecords_tools.synthetic import CLASSES, generate_synthetic

CORPUS_SEED = 1000  # the headline benchmark uses seeds 0-2
BATCH = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=500)
    parser.add_argument("--test-videos", type=int, default=50)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path("runs/probe-motion"))
    args = parser.parse_args()

    data = args.out / f"data-{args.videos}"
    generate_synthetic(data, seed=CORPUS_SEED, num_train=args.videos, num_test=args.test_videos,
                       annotation="boxes", labeled=[1.0], progress=False)
    config = load_config([configs_dir() / "synthetic.toml"], overrides={"train.seed": 0})
    data_cfg = config.data.model_copy(update={"labeled_per_batch": BATCH, "unlabeled_per_batch": 0})
    train = train_dataset(data, f"labeled-1.00-seed{CORPUS_SEED}", data_cfg, seed=0, labeled_only=True)
    train = train.repeat().map(lambda b: (b["clip"], b["label"]))
    test_ids = read_manifest(data).splits["test"].video_ids
    test = eval_clip_dataset(data, test_ids, config.data, BATCH).map(lambda b: (b["clip"], b["label"]))

    keras.utils.set_random_seed(0)
    clip = keras.Input((config.data.clip_length, *config.data.input_size, 3))
    encoder = I3DEncoder(config.model.encoder_variant, config.model.encoder_width)
    features = keras.layers.Dropout(config.model.encoder_dropout)(encoder(clip)["Mixed_4f"])
    logits = keras.layers.Dense(len(CLASSES))(keras.layers.GlobalAveragePooling3D()(features))
    model = keras.Model(clip, logits)
    model.compile(
        keras.optimizers.Adam(config.train.learning_rate, epsilon=config.train.adam_epsilon),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    chunk = max(args.steps // 10, 1)
    for done in range(chunk, args.steps + 1, chunk):
        history = model.fit(train, steps_per_epoch=chunk, epochs=1, verbose=0).history
        test_accuracy = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
        print(f"{done} steps, {time.perf_counter() - start:.0f} s: train loss {history['loss'][-1]:.3f}, "
              f"train accuracy {100 * history['accuracy'][-1]:.1f} %, "
              f"test clip accuracy {100 * test_accuracy:.1f} %", flush=True)


if __name__ == "__main__":
    main()
