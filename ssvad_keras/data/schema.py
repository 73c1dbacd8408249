"""The canonical TFRecord layout: one `tf.train.SequenceExample` per video.

`tfrecords_tools` writes it, `ssvad_keras.data` reads it. Keys live here only.

Context (one value per video):
    video_id         bytes   source id, e.g. "Basketball/v_Basketball_g01_c01"
    class_index      int64   action class; -1 when the video has no class (YouTube-VOS)
    num_frames       int64   frames stored (all frames of the video, in order)
    height, width    int64   stored frame size (frames are resized to this when written)
    orig_height, orig_width  int64  original resolution (boxes in the annotation file use it)
    has_boxes        int64   1 when `boxes` carries ground truth
    has_masks        int64   1 when `masks` carries ground truth
    source           bytes   dataset name ("ucf101-24", "jhmdb-21", "youtube-vos", "synthetic")

Feature lists (one entry per stored frame):
    frames           bytes   JPEG-encoded RGB frame at (height, width)
    annotated        int64   1 when this frame has ground truth (boxes or mask), else 0
    boxes            float   4k values: k boxes as normalised [x1, y1, x2, y2] in [0, 1]
                             (relative to the frame; empty when the frame has none)
    box_tube_ids     int64   k values: which ground-truth tube each box belongs to
    masks            bytes   PNG (8-bit, one channel) at (height, width): 0 background, object
                             ids 1..k; an empty bytes string on frames without mask ground truth
"""

VIDEO_ID = "video_id"
CLASS_INDEX = "class_index"
NUM_FRAMES = "num_frames"
HEIGHT = "height"
WIDTH = "width"
ORIG_HEIGHT = "orig_height"
ORIG_WIDTH = "orig_width"
HAS_BOXES = "has_boxes"
HAS_MASKS = "has_masks"
SOURCE = "source"

FRAMES = "frames"
ANNOTATED = "annotated"
BOXES = "boxes"
BOX_TUBE_IDS = "box_tube_ids"
MASKS = "masks"

MANIFEST = "dataset.json"
SPLITS_DIR = "splits"
