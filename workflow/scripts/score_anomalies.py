"""Rule score_anomalies: the reconstruction error as an anomaly score. Normal: the
experiment's test images; unseen: the test images of the anomaly view's classes
that the experiment's data lacks -> anomaly/scores.npz, roc.csv, auc.json."""

import numpy as np
import pandas as pd
import torch

from aemap.explain.reconstruction import anomaly_summary, reconstruction_errors, unseen_rows
from aemap.io import atomic_path, load_npz, save_npz, write_json
from aemap.models import load_checkpoint
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
torch.set_num_threads(sm.threads)
metric = sm.params.metric
model, _ = load_checkpoint(sm.input.model)
normal, other = load_npz(sm.input.data), load_npz(sm.input.unseen)
if normal["x_test"].shape[1:] != other["x_test"].shape[1:]:
    raise ValueError(
        f"{sm.input.unseen}: images of shape {other['x_test'].shape[1:]}, "
        f"but the model takes {normal['x_test'].shape[1:]} ({sm.input.data})"
    )
other_classes = [str(c) for c in other["classes"]]
rows, unseen_names = unseen_rows([str(c) for c in normal["classes"]], other_classes, other["y_test"])
if len(rows) == 0:
    raise ValueError(
        f"{sm.input.unseen}: every class ({', '.join(other_classes)}) is one the experiment was trained on; "
        f"experiments.{sm.wildcards.experiment}.anomaly.data must hold classes it never saw"
    )
normal_err, _ = reconstruction_errors(model, normal["x_test"], metric)
unseen_err, _ = reconstruction_errors(model, other["x_test"][rows], metric)
unseen_labels = np.array([other_classes[c] for c in other["y_test"][rows]])
summary = anomaly_summary(normal_err, unseen_err, unseen_labels, order=unseen_names)
log.info("%d normal, %d unseen (%s); AUC %.4f", len(normal_err), len(rows), ", ".join(unseen_names), summary["auc"])
roc = pd.DataFrame({"threshold": summary["thresholds"], "fpr": summary["fpr"], "tpr": summary["tpr"]})
with atomic_path(sm.output.roc) as tmp:
    roc.to_csv(tmp, index=False, float_format="%.6g")
write_json(
    sm.output.json,
    {
        "metric": metric,
        "auc": summary["auc"],
        "per_class_auc": summary["per_class_auc"],
        "n_normal": len(normal_err),
        "n_unseen": len(rows),
        "trained_classes": [str(c) for c in normal["classes"]],
        "unseen_classes": unseen_names,
        "normal_mean": float(normal_err.mean()),
        "unseen_mean": float(unseen_err.mean()),
    },
)
save_npz(
    sm.output.npz,
    normal=normal_err,
    unseen=unseen_err,
    unseen_labels=unseen_labels,
    fpr=summary["fpr"],
    tpr=summary["tpr"],
    auc=np.float64(summary["auc"]),
    per_class_names=np.array(list(summary["per_class_auc"])),
    per_class_auc=np.array(list(summary["per_class_auc"].values())),
    trained_classes=normal["classes"],
    metric=np.array(metric),
)
