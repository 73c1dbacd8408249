"""VOS transfer: semi-supervised video object segmentation with the action detector's parts.

- `MaskPropagationModel` (`model`): I3D encoder + `ReferenceMaskDecoder` (`decoder`): a clip and
  the object's mask on its first frame -> that object's mask logits on every frame;
- `VosConfig`, `load_vos_config` (`config`): pydantic configs composed of the action sections;
- `data`: the YouTube-VOS layout on disk, training clips and batches;
- `VosTrainer` (`trainer`), `train_vos` (`train`): the semi-supervised training run;
- `predict_split`, `propagate_video` (`predict`): clip-by-clip propagation, per-pixel merge,
  the submission folder and zip.

See docs/vos.md.
"""

from ssvad_keras.runtime import import_tensorflow

# TensorFlow's defaults (Keras backend, CPU allocator) and its quiet import, before this
# package's modules load Keras (ssvad_keras/runtime.py).
import_tensorflow()

from ssvad_keras.vos.config import VosConfig, load_vos_config
from ssvad_keras.vos.decoder import ReferenceMaskDecoder
from ssvad_keras.vos.model import (
    MaskPropagationModel,
    build_vos_model,
    initialise_from,
    load_vos_model,
)

__all__ = [
    "MaskPropagationModel",
    "ReferenceMaskDecoder",
    "VosConfig",
    "build_vos_model",
    "initialise_from",
    "load_vos_config",
    "load_vos_model",
]
