"""Rule compare_single_class_maps: sanity check 1 -> single_class.csv + the mean maps."""

import numpy as np

from aemap.checks.single_class import class_mean_images, correlation_table, map_image_correlations
from aemap.io import atomic_path, load_npz, save_npz
from aemap.provenance import setup_logging

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_logging(sm.log[0])
model_classes = [str(c) for c in sm.params.classes]
mean_maps = np.stack([load_npz(path)["mean_map"] for path in sm.input.maps])
data = load_npz(sm.input.data)
names = [str(c) for c in data["classes"]]
class_means = class_mean_images(data["x_test"], data["y_test"], len(names))
r = map_image_correlations(mean_maps, class_means)
table = correlation_table(r, model_classes, names)
with atomic_path(sm.output.csv) as tmp:
    table.to_csv(tmp, index=False, float_format="%.6g")
own = [float(r[i, names.index(c)]) for i, c in enumerate(model_classes)]
passed = table.groupby("model_class")["own_class_best"].first()
log.info(
    "own-class r: %s; own class best for %d of %d models", np.round(own, 3).tolist(), int(passed.sum()), len(passed)
)
save_npz(sm.output.npz, mean_maps=mean_maps, classes=np.array(model_classes), own_r=np.asarray(own))
