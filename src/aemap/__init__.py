"""aemap: explaining autoencoders and CNNs, reproduced end to end.

The package holds every piece of logic; the Snakemake workflow in the
repository only wires it into a reproducible DAG. Data flows one way:
``data -> models -> explain / checks / attribution -> plots``.

* :mod:`aemap.data`: the dataset registry, checksummed downloads, readers, spectrograms, splits;
* :mod:`aemap.models`: the networks, training, imported weights;
* :mod:`aemap.explain`: Inglis et al.'s permutation importance, Arumugam & Kiran's saliency;
* :mod:`aemap.checks`: Arumugam & Kiran's three sanity checks;
* :mod:`aemap.attribution`: Shi, Li & Yamaguchi's attribution visualisation;
* :mod:`aemap.plots`: every figure, from precomputed results;
* :mod:`aemap.analyses`: which analyses each experiment gets;
* :mod:`aemap.display`: how a dataset's images are to be drawn (ink or as stored; orientation);
* :mod:`aemap.compute`: the device and batched evaluation.
"""

__version__ = "0.1.0"
