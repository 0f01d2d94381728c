"""Train a handwritten-digit classifier and write it as a small JSON model.

Uses scikit-learn's bundled ``load_digits()`` data (8x8 images, values 0..16;
it ships inside the package, nothing is downloaded) and a multinomial
``LogisticRegression``.  The JSON holds everything ``predict_wsgi.py`` needs to
run inference in pure Python: weights (10x64), biases (10) and the input scale.

    python train.py                               # defaults: C=1.0, 80 % of the data
    python train.py --C 0.01 --train-fraction 0.5 --output models/digits-v1.json

The last ``--test-fraction`` of the data set (20 % by default) is never trained
on; accuracy is measured on it.  Everything is deterministic.
"""

import argparse
import json
import os
import platform
import sys

import sklearn
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

FORMAT = "digits-logreg-v1"
MAX_VALUE = 16  # load_digits pixels are counts of "on" pixels in 4x4 blocks: 0..16
DEFAULT_OUTPUT_DIR = "/valohai/outputs"


def default_output():
    if os.path.isdir(DEFAULT_OUTPUT_DIR):
        return os.path.join(DEFAULT_OUTPUT_DIR, "model.json")
    return "model.json"


def r6(value):
    return round(float(value), 6)


def split(n_samples, train_fraction, test_fraction):
    """First `train_fraction` is training data, last `test_fraction` is held out."""
    n_test = int(round(n_samples * test_fraction))
    n_train = int(round(n_samples * train_fraction))
    if n_train + n_test > n_samples:
        raise SystemExit("train and test fractions overlap")
    return n_train, n_samples - n_test


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    ap.add_argument("--train-fraction", type=float, default=0.8, help="leading share of the data to train on")
    ap.add_argument("--test-fraction", type=float, default=0.2, help="trailing share held out for testing")
    ap.add_argument("--max-iter", type=int, default=2000)
    ap.add_argument("--random-state", type=int, default=0)
    ap.add_argument("--output", default=None, help="where to write the model JSON (default: %s/model.json "
                    "if that directory exists, else ./model.json)" % DEFAULT_OUTPUT_DIR)
    args = ap.parse_args(argv)
    output = args.output or default_output()

    digits = load_digits()
    X = digits.data / MAX_VALUE  # scale features to 0..1
    y = digits.target
    n_train, test_start = split(len(X), args.train_fraction, args.test_fraction)

    clf = LogisticRegression(C=args.C, max_iter=args.max_iter, random_state=args.random_state)
    clf.fit(X[:n_train], y[:n_train])

    # Round like the file does, then score with the rounded weights so the
    # reported accuracy is the accuracy of the model that is actually served.
    coef = [[r6(w) for w in row] for row in clf.coef_]
    intercept = [r6(b) for b in clf.intercept_]
    classes = [int(c) for c in clf.classes_]
    correct = 0
    X_test, y_test = X[test_start:], y[test_start:]
    for features, label in zip(X_test, y_test):
        scores = [sum(w * x for w, x in zip(row, features)) + b for row, b in zip(coef, intercept)]
        correct += classes[scores.index(max(scores))] == label
    accuracy = correct / len(y_test)
    train_accuracy = clf.score(X[:n_train], y[:n_train])

    model = {
        "format": FORMAT,
        "classes": classes,
        "coef": coef,
        "intercept": intercept,
        "input": {"width": 8, "height": 8, "max_value": MAX_VALUE, "scale": 1.0 / MAX_VALUE},
        "accuracy": r6(accuracy),
        "train_accuracy": r6(train_accuracy),
        "trained_with": {
            "algorithm": "sklearn.linear_model.LogisticRegression (multinomial, lbfgs)",
            "C": args.C,
            "max_iter": args.max_iter,
            "random_state": args.random_state,
            "dataset": "sklearn.datasets.load_digits",
            "train_samples": n_train,
            "test_samples": len(y_test),
            "train_fraction": args.train_fraction,
            "test_fraction": args.test_fraction,
            "scikit_learn": sklearn.__version__,
            "python": platform.python_version(),
        },
    }

    out_dir = os.path.dirname(output)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    with open(output, "w") as fp:
        json.dump(model, fp, separators=(",", ":"))
        fp.write("\n")

    print(f"trained on {n_train} images, tested on {len(y_test)} held-out images")
    print(f"train accuracy: {train_accuracy:.4f}")
    print(f"test accuracy:  {accuracy:.4f}")
    print(f"wrote {output}")
    # Valohai picks up JSON lines on stdout as execution metadata.
    print(json.dumps({"accuracy": r6(accuracy), "train_accuracy": r6(train_accuracy), "C": args.C}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
