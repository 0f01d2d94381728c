"""predict-digit endpoint: a Flask WSGI app serving the model written by train.py.

Valohai runs it as ``wsgi: predict_wsgi:predict_wsgi`` (gunicorn is provided by
the platform).  Serving needs only Flask and Pillow: inference is pure Python.

    GET  /        endpoint info and model metadata
    POST /        multipart upload, file field "image" (or any first file) -> digit
    PUT  /        same as POST
    GET  /health  {"ok": true}

The model is read once, lazily, from $MODEL_PATH (default: model.json in the
current working directory, where Valohai places the endpoint file "model").
"""

import io
import json
import math
import os
import threading

from flask import Flask, jsonify, request
from PIL import Image, ImageOps, UnidentifiedImageError

MODEL_FORMAT = "digits-logreg-v1"
SIDE = 8  # model input is SIDE x SIDE
BLOCK = 4  # load_digits: 32x32 bitmaps, counted in 4x4 blocks -> 8x8, values 0..16

predict_wsgi = Flask(__name__)


class BadRequest(Exception):
    pass


# ---------------------------------------------------------------- model loading

_model = None
_model_lock = threading.Lock()


def model_path():
    return os.environ.get("MODEL_PATH") or os.path.join(os.getcwd(), "model.json")


def load_model(path):
    with open(path) as fp:
        model = json.load(fp)
    if model.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path}: unsupported model format {model.get('format')!r}")
    n_features = model["input"]["width"] * model["input"]["height"]
    if len(model["coef"]) != len(model["classes"]) or len(model["intercept"]) != len(model["classes"]):
        raise ValueError(f"{path}: coef/intercept/classes sizes disagree")
    if any(len(row) != n_features for row in model["coef"]):
        raise ValueError(f"{path}: every coef row must have {n_features} weights")
    return model


def get_model():
    """Load the model once (first request), then reuse it."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                _model = load_model(model_path())
    return _model


def model_metadata(model):
    return {
        "format": model["format"],
        "classes": model["classes"],
        "accuracy": model.get("accuracy"),
        "trained_with": model.get("trained_with", {}),
    }


# ---------------------------------------------------------------- preprocessing


def to_digits_grid(img, max_value=16):
    """Turn an uploaded picture into 8x8 values 0..max_value like load_digits.

    load_digits was made from 32x32 black/white bitmaps (ink = 1) by counting
    the ink pixels in each 4x4 block.  Here: grayscale, invert when the
    background is light (dark ink on paper -> ink is high), and for pictures
    that are not already 32x32 crop to the ink, centre it on a square and
    scale to 32x32.  Then average each 4x4 block and scale to 0..max_value.
    """
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    gray = img.convert("L")

    pixels = list(gray.getdata())
    if sum(pixels) / len(pixels) > 127:  # light background: make the ink high
        gray = ImageOps.invert(gray)

    full = SIDE * BLOCK
    if gray.size != (full, full):
        bbox = gray.point(lambda v: 255 if v > 32 else 0).getbbox()
        if bbox is None:
            raise BadRequest("the image is blank: no digit found")
        gray = gray.crop(bbox)
        side = max(gray.size)
        square = Image.new("L", (side, side), 0)
        square.paste(gray, ((side - gray.size[0]) // 2, (side - gray.size[1]) // 2))
        gray = square.resize((full, full), Image.Resampling.BOX)

    values = list(gray.getdata())
    grid = []
    for by in range(SIDE):
        for bx in range(SIDE):
            total = 0
            for y in range(by * BLOCK, (by + 1) * BLOCK):
                row = y * full
                for x in range(bx * BLOCK, (bx + 1) * BLOCK):
                    total += values[row + x]
            grid.append(total / (BLOCK * BLOCK) / 255.0 * max_value)
    return grid


def decode_image(data):
    if not data:
        raise BadRequest("the uploaded file is empty")
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except UnidentifiedImageError as exc:
        raise BadRequest("the upload is not an image Pillow can read (send a PNG or JPEG)") from exc
    except OSError as exc:
        raise BadRequest(f"the image could not be decoded: {exc}") from exc
    return img


# ---------------------------------------------------------------- inference


def softmax(scores):
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def predict_grid(model, grid):
    """Multinomial logistic regression in pure Python: softmax(W x + b)."""
    scale = model["input"].get("scale", 1.0 / model["input"]["max_value"])
    features = [v * scale for v in grid]
    scores = [
        sum(w * x for w, x in zip(row, features)) + b
        for row, b in zip(model["coef"], model["intercept"])
    ]
    probabilities = softmax(scores)
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return model["classes"][best], probabilities


def predict_image_bytes(model, data):
    grid = to_digits_grid(decode_image(data), model["input"]["max_value"])
    return predict_grid(model, grid)


# ---------------------------------------------------------------- routes


def uploaded_image():
    upload = request.files.get("image")
    if upload is None:
        for candidate in request.files.values():  # first file under any field name
            upload = candidate
            break
    if upload is None:
        raise BadRequest("no image uploaded: send multipart/form-data with a file field 'image'")
    return upload.read()


@predict_wsgi.errorhandler(BadRequest)
def handle_bad_request(exc):
    return jsonify({"error": str(exc)}), 400


@predict_wsgi.errorhandler(400)
def handle_werkzeug_400(exc):
    return jsonify({"error": getattr(exc, "description", str(exc))}), 400


@predict_wsgi.errorhandler(404)
def handle_404(exc):
    return jsonify({"error": f"no such path: {request.path}"}), 404


@predict_wsgi.errorhandler(405)
def handle_405(exc):
    return jsonify({"error": f"method {request.method} not allowed on {request.path}"}), 405


@predict_wsgi.errorhandler(500)
def handle_500(exc):
    original = getattr(exc, "original_exception", None) or exc
    predict_wsgi.logger.error("internal error: %r", original)
    return jsonify({"error": f"internal error: {original}"}), 500


@predict_wsgi.route("/health", methods=["GET"])
def health():
    return jsonify({"ok": True})


@predict_wsgi.route("/", methods=["GET"])
def info():
    return jsonify(
        {
            "endpoint": "predict-digit",
            "model": model_metadata(get_model()),
            "usage": "POST an image as file field 'image'",
            "script_root": request.script_root,
        }
    )


@predict_wsgi.route("/", methods=["POST", "PUT"])
def predict():
    data = uploaded_image()
    digit, probabilities = predict_image_bytes(get_model(), data)
    return jsonify({"digit": digit, "probabilities": [round(p, 6) for p in probabilities]})


if __name__ == "__main__":  # local try-out: python predict_wsgi.py
    predict_wsgi.run(host=os.environ.get("VH_BIND_HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")))
