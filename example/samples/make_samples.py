"""Regenerate samples/digit-0.png ... digit-9.png (deterministic).

Each sample is a held-out load_digits image (from the last 20 % of the data
set, which neither committed model was trained on), upscaled to 32x32 the way
the data set was made (each 8x8 value is a 4x4 block) and drawn as dark ink on
a white background, like a user's scan.  For every digit the first held-out
image that BOTH models/digits-v1.json and models/digits-v2.json classify
correctly -- after the exact preprocessing of predict_wsgi.py, read back from
the PNG -- is used.

Needs scikit-learn (requirements.txt) plus Flask and Pillow
(requirements-deployment.txt).  Run from anywhere:

    python samples/make_samples.py
"""

import io
import os
import sys

from PIL import Image
from sklearn.datasets import load_digits

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
sys.path.insert(0, EXAMPLE)

import predict_wsgi  # noqa: E402  (after sys.path tweak)

TEST_FRACTION = 0.2  # must match train.py's default --test-fraction
MODELS = ["models/digits-v1.json", "models/digits-v2.json"]
SCALE = 4  # 8x8 -> 32x32


def render(values):
    """8x8 values 0..16 -> 32x32 grayscale PNG bytes, dark ink on white."""
    img = Image.new("L", (8 * SCALE, 8 * SCALE), 255)
    for i, v in enumerate(values):
        y, x = divmod(i, 8)
        ink = 255 - int(round(float(v) * 255 / 16))
        img.paste(ink, (x * SCALE, y * SCALE, (x + 1) * SCALE, (y + 1) * SCALE))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def main():
    models = [predict_wsgi.load_model(os.path.join(EXAMPLE, m)) for m in MODELS]
    digits = load_digits()
    test_start = len(digits.data) - int(round(len(digits.data) * TEST_FRACTION))

    for digit in range(10):
        for index in range(test_start, len(digits.data)):
            if digits.target[index] != digit:
                continue
            png = render(digits.data[index])
            predictions = [predict_wsgi.predict_image_bytes(m, png)[0] for m in models]
            if all(p == digit for p in predictions):
                break
        else:
            raise SystemExit(f"no held-out image of {digit} is classified correctly by every model")
        path = os.path.join(HERE, f"digit-{digit}.png")
        with open(path, "wb") as fp:
            fp.write(png)
        print(f"{os.path.relpath(path, EXAMPLE)}: load_digits image #{index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
