"""aemap: explaining autoencoders and CNNs, reproduced end to end.

The package holds every piece of logic (data, models, explanations, plots); the
Snakemake workflow in the repository only wires it into a reproducible DAG.
Data flows one way: ``data -> models -> explain -> plots``.
"""

__version__ = "0.1.0"
