"""A DataFrame with numeric and categorical columns: will a patient's diabetes progress fast?

examples/data/diabetes_mixed.csv is made from scikit-learn's bundled diabetes
data set (442 patients, raw units): ``sex`` and ``bmi_class`` (WHO's bands of
the body-mass index) are text columns, the other eight are numeric, and the
label ``progression`` is ``high`` or ``low`` (above or below the median of the
one-year disease progression). The model one-hot encodes the text columns
itself; the exported model takes raw rows, text included. The same run as YAML
is examples/diabetes_csv.yaml.

    python examples/diabetes_csv.py --trials 8 --epochs 40
    python examples/diabetes_csv.py --write-data   # rewrites the CSV (deterministic)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np
import pandas as pd

import automl
from search_spaces import Categorical, Dense, Float, Int, LayerStack, Space
from trainers import from_frame, raw_input_model

DATA_FILE = Path(__file__).resolve().parent / "data" / "diabetes_mixed.csv"
BMI_BANDS = ((18.5, "underweight"), (25.0, "normal"), (30.0, "overweight"), (np.inf, "obese"))


def make_frame() -> pd.DataFrame:
    """The CSV's rows, from the bundled data set (no download); the same every time."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(scaled=False, as_frame=True).frame
    # The data set codes sex as 1 and 2 without saying which is which; so do we, as text.
    sex = frame["sex"].map({1.0: "sex_1", 2.0: "sex_2"})
    bands = np.searchsorted([upper for upper, _ in BMI_BANDS], frame["bmi"].to_numpy(), side="right")
    bmi_class = [BMI_BANDS[i][1] for i in bands]
    progression = np.where(frame["target"] > frame["target"].median(), "high", "low")
    numeric = frame[["age", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]]
    return numeric.assign(sex=sex, bmi_class=bmi_class, progression=progression)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="number of trials (default 8)")
    parser.add_argument("--epochs", type=int, default=40, help="most epochs per trial (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    parser.add_argument("--write-data", action="store_true", help=f"write {DATA_FILE.name} and stop")
    args = parser.parse_args()

    if args.write_data:
        make_frame().to_csv(DATA_FILE, index=False)
        print(f"wrote {DATA_FILE}")
        return
    frame = pd.read_csv(DATA_FILE)
    data = from_frame(frame, "progression", validation_split=0.25, name="diabetes")
    space = Space(
        layers=LayerStack(
            Dense(units=Int(8, 64, log=True), dropout=Float(0.0, 0.4)), min_layers=1, max_layers=2
        ),
        learning_rate=Float(1e-4, 1e-2, log=True),
        optimizer=Categorical(["adam", "rmsprop"]),
    )
    result = automl.tune(
        space,
        data=data,
        metric="val_accuracy",
        mode="max",
        num_trials=args.trials,
        epochs=args.epochs,
        seed=args.seed,
        experiment_name="diabetes-csv",
    )
    print()
    print(result.summary())

    # The best model takes encoded rows (data.encode); wrapped, it takes raw ones.
    model = raw_input_model(keras.saving.load_model(result.best_model_path), data.columns)
    rows = frame.drop(columns=["progression"]).head(3)
    scores = keras.ops.convert_to_numpy(model({name: rows[[name]].to_numpy() for name in rows}))
    print()
    print(f"P({data.classes[1]!r}) for the first 3 raw rows:", np.round(scores.ravel(), 3))


if __name__ == "__main__":
    main()
