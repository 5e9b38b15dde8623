"""Rule plot_note_anomaly_roc: the ROC of the reconstruction error as an anomaly score."""

from aemap.io import load_npz
from aemap.plots.note import plot_anomaly_roc
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_logging(sm.log[0])
data = load_npz(sm.input.npz)
trained = ", ".join(str(c) for c in data["trained_classes"])
plot_anomaly_roc(
    data["fpr"],
    data["tpr"],
    float(data["auc"]),
    data["normal"],
    data["unseen"],
    dict(zip([str(c) for c in data["per_class_names"]], data["per_class_auc"].tolist(), strict=True)),
    sm.output.png,
    normal_label=f"trained classes ({trained})",
    anomalous_label="unseen classes",
    metric=str(data["metric"]),
    title=f"{sm.wildcards.experiment}: reconstruction error as an anomaly score (trained on {trained})",
    dpi=sm.params.dpi,
)
