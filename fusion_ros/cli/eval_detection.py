# SPDX-License-Identifier: Apache-2.0
"""Does fusion help detection? Detect on visible, thermal and fused versions of the same
frames and score each against ground truth, side by side (as DFVO's detection table).

Frames and labels come from a bag with a ground_truth.json (what ``fusion-ros synth``
writes: boxes per RGB stamp, and the homography registering a misaligned thermal camera),
or from image folders with PASCAL VOC annotations (LLVIP's ``Annotations/``).

Reports precision and recall (IoU 0.5, every box above the score threshold), mAP@0.5 and
mAP@0.5:0.95 over ``--classes``; writes OUT/report.md, OUT/results.json and
OUT/detection.png.

Examples:
    fusion-ros synth night.bag --seconds 10 && fusion-ros eval-detection --bag night.bag
    fusion-ros eval-detection --ir LLVIP/infrared/test --vi LLVIP/visible/test \\
        --labels LLVIP/Annotations --backend onnx --detector-model yolov8n.onnx --limit 200
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fusion_ros.cli._args import add_model_arguments, check_output_folder, engine_from_args
from fusion_ros.defaults import DEFAULT_MODEL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group('frames and labels (a bag, or folders)')
    src.add_argument('--bag', type=Path, default=None, help='rosbag2 with thermal + RGB images')
    src.add_argument('--truth', type=Path, default=None,
                     help='ground_truth.json of the bag (default: BAG/ground_truth.json)')
    src.add_argument('--ir', type=Path, default=None, help='thermal image folder')
    src.add_argument('--vi', type=Path, default=None, help='visible image folder')
    src.add_argument('--labels', type=Path, default=None,
                     help='PASCAL VOC XML folder, one NAME.xml per image')
    src.add_argument('--limit', type=int, default=None, help='use at most N frames')
    src.add_argument('--every', type=int, default=1, help='use every K-th frame (default 1)')
    add_model_arguments(parser, DEFAULT_MODEL, backend_flag='--fusion-backend')
    det = parser.add_argument_group('detector')
    det.add_argument('--backend', default='hog', choices=('hog', 'onnx'),
                     help='detector backend (default: hog)')
    det.add_argument('--detector-model', default='', metavar='ONNX',
                     help='YOLOv5/YOLOv8 ONNX export for --backend onnx')
    det.add_argument('--score-threshold', type=float, default=0.5,
                     help='lowest detection score kept (default: %(default)s)')
    det.add_argument('--iou-threshold', type=float, default=0.45, help='NMS IoU (default 0.45)')
    det.add_argument('--upscale', type=float, default=1.0,
                     help='HOG: resize factor before detection (default: 1)')
    det.add_argument('--classes', default='person',
                     help='comma-separated classes to score (default: person)')
    parser.add_argument('--out', type=Path, default=Path('detection_eval'),
                        help='report folder (default: %(default)s)')


def _bag_frames(args: argparse.Namespace):
    from fusion_ros.bagtools.info import image_pair_topics
    from fusion_ros.bagtools.pairs import SyncedPairs
    from fusion_ros.errors import ConfigError
    from fusion_ros.io.bag import bag_topics
    from fusion_ros.metrics.detection import GroundTruth

    truth_path = args.truth or args.bag / 'ground_truth.json'
    if not truth_path.is_file():
        raise ConfigError(f'no ground truth: {str(truth_path)!r} does not exist (bags from '
                          '"fusion-ros synth" carry one; else give --truth)')
    truth = json.loads(truth_path.read_text())
    by_stamp = {f['rgb_stamp_ns']: [GroundTruth(b['label'], b['x'], b['y'], b['x'] + b['w'],
                                                b['y'] + b['h']) for b in f['boxes']]
                for f in truth['frames']}
    topics = image_pair_topics(bag_topics(args.bag))
    if topics is None:
        raise ConfigError(f'{args.bag}: no thermal + RGB image topics')

    def frames() -> Iterator[tuple[str, np.ndarray, np.ndarray, list]]:
        for pair in SyncedPairs(args.bag, topics):
            stamp = pair[1].header_stamp()
            if stamp not in by_stamp:
                raise ConfigError(f'RGB frame at {stamp} ns has no ground truth in {truth_path}')
            yield str(stamp), pair[0].image(), pair[1].image(), by_stamp[stamp]

    return frames(), truth.get('homography')


def _folder_frames(args: argparse.Namespace):
    from fusion_ros.errors import ConfigError, UsageError
    from fusion_ros.io.image_files import pair_folders, read_image, read_thermal
    from fusion_ros.metrics.detection import read_voc_xml

    if args.ir is None or args.vi is None or args.labels is None:
        raise UsageError('give --bag, or --ir, --vi and --labels')
    pairs, unmatched = pair_folders(args.ir, args.vi)
    for name, reason in unmatched:
        print(f'  skipped {name}: {reason}')

    def frames() -> Iterator[tuple[str, np.ndarray, np.ndarray, list]]:
        for name, (ir, vi) in pairs.items():
            xml = args.labels / (Path(name).stem + '.xml')
            if not xml.is_file():
                raise ConfigError(f'no annotation {str(xml)!r} for {name}')
            yield name, read_thermal(ir), read_image(vi), read_voc_xml(xml)

    return frames(), None


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fusion_ros.detect import build_detector
    from fusion_ros.errors import ConfigError, UsageError
    from fusion_ros.metrics.detection import evaluate_detections
    from fusion_ros.ops.convert import thermal_to_unit
    from fusion_ros.registration import parse_homography, warp_thermal

    if args.every < 1:
        raise UsageError('--every must be >= 1')
    check_output_folder(args.out)
    frames, homography = _bag_frames(args) if args.bag is not None else _folder_frames(args)
    detector = build_detector(args.backend, model_path=args.detector_model,
                              score_threshold=args.score_threshold,
                              iou_threshold=args.iou_threshold, upscale=args.upscale,
                              device='cpu' if args.device == 'auto' else args.device)
    engine = engine_from_args(args, enhanced=False)
    registration = parse_homography(homography)
    if registration is not None:
        engine.homography = registration
    classes = [c.strip() for c in args.classes.split(',') if c.strip()]
    preds: dict[str, list] = {'visible': [], 'thermal': [], 'fused': []}
    truths: list = []
    for k, (_, thermal, visible, gts) in enumerate(tqdm(frames, unit='frame', desc='detect')):
        if k % args.every:
            continue
        if args.limit is not None and len(truths) >= args.limit:
            break
        fused = engine.fuse(thermal, visible).fused
        if registration is not None:
            thermal = warp_thermal(thermal, registration, visible.shape[1::-1])
        thermal8 = (thermal_to_unit(thermal, *engine.thermal_agc) * 255 + 0.5).astype(np.uint8)
        preds['visible'].append(detector.detect(visible))
        preds['thermal'].append(detector.detect(thermal8))
        preds['fused'].append(detector.detect(fused))
        truths.append(gts)
    if not truths:
        raise ConfigError('no frames to evaluate')
    scores = {name: evaluate_detections(p, truths, classes) for name, p in preds.items()}
    _report(args, scores, len(truths), classes)
    return 0


def _report(args: argparse.Namespace, scores: dict, frames: int, classes: list[str]) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    label = {'visible': 'visible', 'thermal': 'thermal', 'fused': f'fused ({args.model})'}
    head = (f'Detector {args.backend} on {frames} frames, classes {", ".join(classes)}; '
            f'score >= {args.score_threshold}')
    rows = ['| input | precision | recall | mAP@0.5 | mAP@0.5:0.95 | boxes | ground truth |',
            '|---|---:|---:|---:|---:|---:|---:|']
    for name, s in scores.items():
        rows.append(f'| {label[name]} | {s.precision:.3f} | {s.recall:.3f} | {s.ap50:.3f} | '
                    f'{s.ap50_95:.3f} | {s.detections} | {s.ground_truth} |')
    text = head + '\n\n' + '\n'.join(rows) + '\n'
    (args.out / 'report.md').write_text(text)
    (args.out / 'results.json').write_text(json.dumps(
        {'frames': frames, 'classes': classes, 'backend': args.backend, 'model': args.model,
         'scores': {label[k]: v.as_dict() for k, v in scores.items()}}, indent=2) + '\n')
    metrics = ('precision', 'recall', 'ap50', 'ap50_95')
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(scores)
    for i, (name, s) in enumerate(scores.items()):
        ax.bar(np.arange(len(metrics)) + i * width, [getattr(s, m) for m in metrics], width,
               label=label[name])
    ax.set_xticks(np.arange(len(metrics)) + width * (len(scores) - 1) / 2,
                  ['precision', 'recall', 'mAP@0.5', 'mAP@0.5:0.95'])
    ax.set_ylim(0, 1)
    ax.set_title(head, fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / 'detection.png', dpi=120)
    plt.close(fig)
    print(text)
    print(f'report: {args.out}/report.md, results.json, detection.png')
