"""Writes the COCO evaluator fixtures of tests/VisionSsm.Tests/Detection with pycocotools as the reference.

Usage: python3 make_coco_fixtures.py PATH_TO_PYCOCOTOOLS_PYTHONAPI OUT_DIR

PATH_TO_PYCOCOTOOLS_PYTHONAPI is a built cocodataset/cocoapi PythonAPI folder (see docs/detection.md). The script
draws a small synthetic data set (fixed seed), writes ground truth and detections as COCO JSON, and records what
pycocotools computes: the 12 summary numbers for bbox and segm, and mask encodings, areas, boxes and IoUs.
"""
import json
import math
import random
import sys

sys.path.insert(0, sys.argv[1])
import numpy as np

np.float = float  # cocoeval.accumulate still names np.float, removed in numpy 1.24
import types  # noqa: E402

# coco.py imports matplotlib only to draw annotations; stub it when absent.
for name in ("matplotlib", "matplotlib.pyplot", "matplotlib.collections", "matplotlib.patches"):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules["matplotlib.collections"].PatchCollection = None
sys.modules["matplotlib.patches"].Polygon = None
from pycocotools import mask as M  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

out = sys.argv[2]
rng = random.Random(17)


def star(cx, cy, r, n=None):
    n = n or rng.randint(3, 9)
    pts = []
    for i in range(n):
        a = 2 * math.pi * (i + rng.uniform(-0.3, 0.3)) / n
        rr = r * rng.uniform(0.55, 1.0)
        pts += [round(cx + rr * math.cos(a), 2), round(cy + rr * math.sin(a), 2)]
    return pts


def rle_of(polys, h, w):
    return M.merge(M.frPyObjects(polys, h, w))


def as_json_rle(rle):
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def uncompressed(rle, h, w):
    m = M.decode(rle)
    flat = m.flatten(order="F")
    counts, prev, run = [], 0, 0
    for v in flat:
        if v != prev:
            counts.append(run)
            run, prev = 0, v
        run += 1
    counts.append(run)
    return {"size": [h, w], "counts": [int(c) for c in counts]}


# ---- ground truth -------------------------------------------------------------------------------------------------
categories = [{"id": 1, "name": "shirt", "supercategory": "clothes"}, {"id": 3, "name": "bag", "supercategory": "acc"},
              {"id": 7, "name": "shoe", "supercategory": "clothes"}]
sizes = [(480, 640), (200, 300), (96, 128), (70, 50), (400, 1000), (256, 256), (333, 217), (120, 160)]
images = [{"id": i + 1, "file_name": f"img{i + 1}.png", "height": h, "width": w} for i, (h, w) in enumerate(sizes)]
anns, objects = [], []
aid = 1
radius = {"small": (3, 9), "medium": (20, 45), "large": (90, 160)}
for img in images:
    h, w = img["height"], img["width"]
    if img["id"] == 6:
        continue  # an image without annotations
    for _ in range(rng.randint(2, 7)):
        kind = rng.choice(["small", "small", "medium", "medium", "large", "large"])
        lo, hi = radius[kind]
        r = min(rng.uniform(lo, hi), 0.45 * min(h, w)) if kind != "small" else rng.uniform(lo, hi)
        cx, cy = rng.uniform(0.1 * w, 0.9 * w), rng.uniform(0.1 * h, 0.9 * h)
        parts = [star(cx, cy, r)]
        if rng.random() < 0.2:
            parts.append(star(cx + r * 0.8, cy - r * 0.5, r * 0.4))
        rle = rle_of(parts, h, w)
        area = float(M.area(rle))
        if area == 0:
            continue
        crowd = 1 if rng.random() < 0.12 else 0
        style = "poly" if not crowd and rng.random() < 0.7 else rng.choice(["rle", "ursle"])
        if crowd and style == "poly":
            style = "ursle"
        xs, ys = [p[0::2] for p in parts], [p[1::2] for p in parts]
        x0, y0 = min(min(x) for x in xs), min(min(y) for y in ys)
        x1, y1 = max(max(x) for x in xs), max(max(y) for y in ys)
        if style == "poly":
            seg, bbox = parts, [x0, y0, x1 - x0, y1 - y0]
        else:
            seg = as_json_rle(rle) if style == "rle" else uncompressed(rle, h, w)
            bbox = [float(v) for v in M.toBbox(rle)]
        cat = rng.choice([1, 3, 7])
        anns.append({"id": aid, "image_id": img["id"], "category_id": cat, "segmentation": seg, "area": area,
                     "bbox": [round(v, 2) for v in bbox], "iscrowd": crowd})
        objects.append((aid, img, cat, cx, cy, r, crowd, parts))
        aid += 1
gt = {"images": images, "annotations": anns, "categories": categories}

# ---- detections ---------------------------------------------------------------------------------------------------
dets = []


def add_det(img, cat, parts, score):
    h, w = img["height"], img["width"]
    rle = rle_of(parts, h, w)
    if M.area(rle) == 0:
        return
    bb = [round(float(v), 2) for v in M.toBbox(rle)]
    dets.append({"image_id": img["id"], "category_id": cat, "bbox": bb, "score": score, "segmentation": as_json_rle(rle)})


for (oid, img, cat, cx, cy, r, crowd, parts) in objects:
    if img["id"] == 4:
        continue  # an image with ground truth but no detections
    if rng.random() < 0.85:
        j = rng.choice([0.03, 0.1, 0.2, 0.35])
        moved = [[v + rng.uniform(-j, j) * r for v in p] for p in parts]
        add_det(img, cat, moved, round(rng.uniform(0.3, 1.0), 2))
    if rng.random() < 0.2:  # a duplicate
        add_det(img, cat, [star(cx, cy, r)], round(rng.uniform(0.1, 0.9), 2))
    if rng.random() < 0.15:  # the wrong class
        add_det(img, rng.choice([c for c in (1, 3, 7) if c != cat]), parts, round(rng.uniform(0.1, 0.9), 2))
for img in images:
    h, w = img["height"], img["width"]
    if img["id"] == 4:
        continue
    for _ in range(rng.randint(0, 3)):  # false positives, some on image 6 which has no ground truth
        r = rng.uniform(4, 0.3 * min(h, w))
        add_det(img, rng.choice([1, 3, 7]), [star(rng.uniform(0, w), rng.uniform(0, h), r)], round(rng.uniform(0.05, 0.8), 2))
big = images[4]  # more than 100 detections of one class in one image: maxDets truncation
for _ in range(130):
    add_det(big, 1, [star(rng.uniform(0, big["width"]), rng.uniform(0, big["height"]), rng.uniform(3, 12), 4)],
            round(rng.uniform(0.0, 0.5), 2))


def evaluate(gt_file, dt_list, iou_type):
    coco = COCO(gt_file)
    res = coco.loadRes(dt_list)
    e = COCOeval(coco, res, iou_type)
    e.evaluate()
    e.accumulate()
    e.summarize()
    return [float(s) for s in e.stats]


with open(f"{out}/coco_gt.json", "w") as f:
    json.dump(gt, f, separators=(",", ":"))
with open(f"{out}/coco_dets.json", "w") as f:
    json.dump(dets, f, separators=(",", ":"))
masks_only = [{k: v for k, v in d.items() if k != "bbox"} for d in dets]
with open(f"{out}/coco_dets_segm_only.json", "w") as f:
    json.dump(masks_only, f, separators=(",", ":"))
import copy  # noqa: E402

expected = {
    "bbox": evaluate(f"{out}/coco_gt.json", copy.deepcopy(dets), "bbox"),
    "segm": evaluate(f"{out}/coco_gt.json", copy.deepcopy(dets), "segm"),
    "segm_masks_only": evaluate(f"{out}/coco_gt.json", copy.deepcopy(masks_only), "segm"),
}

# ---- mask primitives ----------------------------------------------------------------------------------------------
polys = []
for i in range(40):
    h, w = rng.choice([(1, 1), (5, 7), (17, 13), (40, 64), (100, 80)])
    cx, cy = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
    p = star(cx, cy, rng.uniform(0.3, 0.8 * max(h, w)), rng.randint(3, 12))
    if i % 5 == 0:
        p = [round(v) for v in p]  # integer vertices hit the rounding ties
    polys.append({"height": h, "width": w, "polygon": p})
for p in polys:
    rle = M.frPyObjects([p["polygon"]], p["height"], p["width"])[0]
    p["counts"] = rle["counts"].decode("ascii")
    p["area"] = int(M.area(rle))
    p["bbox"] = [float(v) for v in M.toBbox(rle)]
boxes = []
for i in range(10):
    h, w = 30, 40
    b = [round(rng.uniform(-5, 35), 1), round(rng.uniform(-5, 25), 1), round(rng.uniform(0, 20), 1), round(rng.uniform(0, 20), 1)]
    rle = M.frPyObjects(np.array([b], dtype=np.double), h, w)[0]
    boxes.append({"height": h, "width": w, "box": b, "counts": rle["counts"].decode("ascii")})
h, w = 40, 64
set_rles = [M.frPyObjects([p["polygon"]], h, w)[0] for p in polys if (p["height"], p["width"]) == (h, w)]
crowd = [i % 3 == 0 for i in range(len(set_rles))]
iou = M.iou(set_rles, set_rles, [int(c) for c in crowd])
masks = {"polygons": polys, "boxes": boxes,
         "iou": {"height": h, "width": w, "counts": [r["counts"].decode("ascii") for r in set_rles], "crowd": crowd,
                 "iou": np.asarray(iou).tolist()}}
expected["box_iou"] = {"dets": [d["bbox"] for d in dets[:12]], "gts": [a["bbox"] for a in anns[:9]],
                       "crowd": [i % 4 == 1 for i in range(9)]}
expected["box_iou"]["iou"] = np.asarray(M.iou(expected["box_iou"]["dets"], expected["box_iou"]["gts"],
                                              [int(c) for c in expected["box_iou"]["crowd"]])).tolist()
with open(f"{out}/coco_expected.json", "w") as f:
    json.dump(expected, f, indent=1)
with open(f"{out}/coco_masks.json", "w") as f:
    json.dump(masks, f, separators=(",", ":"))
print(json.dumps({k: v for k, v in expected.items() if k != "box_iou"}, indent=1))
