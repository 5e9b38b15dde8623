"""2-D embeddings of latent encodings (Inglis et al. Fig. 11: UMAP)."""

from __future__ import annotations

import numpy as np


def umap_embedding(
    z: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0, max_points: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(embedding (M, 2), row indices used). With ``max_points``, a seeded subsample.

    A fixed ``random_state`` makes umap-learn deterministic (and single-threaded).
    """
    import umap  # imported here: numba compiles on import, which costs seconds

    rows = np.arange(len(z))
    if max_points is not None and len(z) > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(len(z), max_points, replace=False))
    data = np.asarray(z)[rows]
    if len(data) < 4:
        raise ValueError(f"UMAP needs at least 4 encodings, got {len(data)}")
    # UMAP cannot look at more neighbours than there are other points.
    reducer = umap.UMAP(
        n_neighbors=min(n_neighbors, len(data) - 1), min_dist=min_dist, random_state=seed, n_components=2
    )
    return reducer.fit_transform(data).astype(np.float32), rows
