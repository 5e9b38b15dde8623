"""2-D views of latent encodings: PCA, t-SNE, UMAP (Inglis et al. Fig. 11) and
aim's STD view (the two latent dimensions of largest spread), plus the decoded
grid of a 2-unit code (the visualisation note's first example).

Every view is computed on the same capped, class-stratified sample of the test
encodings (``stratified_sample``), so that the panels of one figure show the
same points, and every view is seeded: reruns give the same coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LATENT_VIEWS = ("pca", "tsne", "umap", "std")
VIEW_TITLES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP", "std": "STD view (aim)"}


@dataclass(frozen=True)
class LatentView:
    """A 2-D view of encodings: coordinates (M, 2) and the axis labels."""

    embedding: np.ndarray
    x_label: str
    y_label: str


def stratified_sample(y: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """Sorted row indices of at most ``cap`` rows keeping each class's share.

    Each class gets ``floor(cap * share)`` rows, and the rows left over go to the
    classes with the largest remainders (ties: the smaller label), so the result
    has exactly ``min(cap, len(y))`` rows and no class with members is left out
    while the cap allows one row per class. Within a class the rows are a seeded
    random choice.
    """
    y = np.asarray(y)
    if cap is None or len(y) <= cap:
        return np.arange(len(y))
    if cap < 1:
        raise ValueError(f"the sample cap must be at least 1, got {cap}")
    classes, counts = np.unique(y, return_counts=True)
    exact = cap * counts / len(y)
    quota = np.floor(exact).astype(int)
    if cap >= len(classes):
        quota = np.maximum(quota, 1)
    left = cap - quota.sum()
    order = np.lexsort((classes, -(exact - np.floor(exact))))
    for i in order:
        if left <= 0:
            break
        if quota[i] < counts[i]:
            quota[i] += 1
            left -= 1
    while left < 0:  # the minimum of one per class overshot: take from the largest
        i = int(np.argmax(quota))
        quota[i] -= 1
        left += 1
    rng = np.random.default_rng(seed)
    rows = [rng.choice(np.flatnonzero(y == c), q, replace=False) for c, q in zip(classes, quota, strict=True) if q > 0]
    return np.sort(np.concatenate(rows))


def pca_view(z: np.ndarray) -> LatentView:
    """The first two principal components (centred SVD; signs fixed so that the
    largest loading of each component is positive, which makes reruns identical)."""
    z = np.asarray(z, dtype=np.float64)
    centred = z - z.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    vt = vt * signs[:, None]
    explained = s**2 / max(float(np.sum(s**2)), np.finfo(float).tiny)
    components = np.zeros((z.shape[1], 2))
    k = min(2, vt.shape[0])
    components[:, :k] = vt[:k].T
    coords = centred @ components
    labels = [f"PC{i + 1} ({100 * explained[i]:.1f} % of variance)" if i < k else f"PC{i + 1}" for i in range(2)]
    return LatentView(coords.astype(np.float32), *labels)


def std_view(z: np.ndarray) -> LatentView:
    """aim's STD view: the two latent dimensions with the largest standard deviation
    (1-based names, as in the importance tables; ties: the lower index)."""
    z = np.asarray(z)
    if z.shape[1] < 2:
        raise ValueError(f"the STD view needs at least 2 latent dimensions, got {z.shape[1]}")
    sd = z.std(axis=0)
    first, second = np.argsort(-sd, kind="stable")[:2]
    coords = z[:, [first, second]]
    return LatentView(
        coords.astype(np.float32),
        f"dim {first + 1} (sd {sd[first]:.3g})",
        f"dim {second + 1} (sd {sd[second]:.3g})",
    )


def tsne_view(z: np.ndarray, perplexity: float = 30.0, seed: int = 0, init: str = "pca") -> LatentView:
    """scikit-learn's Barnes-Hut t-SNE (deterministic for a fixed seed). The
    perplexity is lowered for small samples, where it must stay below the count."""
    from sklearn.manifold import TSNE

    z = np.asarray(z, dtype=np.float32)
    if len(z) < 4:
        raise ValueError(f"t-SNE needs at least 4 encodings, got {len(z)}")
    perplexity = min(perplexity, (len(z) - 1) / 3)
    coords = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init=init, n_jobs=1).fit_transform(z)
    return LatentView(coords.astype(np.float32), "t-SNE 1", "t-SNE 2")


def cache_numba_compilations(package: str) -> int:
    """Let numba keep the machine code of ``package``'s jitted functions on
    disk (``Dispatcher.enable_caching``, what ``cache=True`` does), so a new
    process loads them instead of compiling again. umap-learn jits most of
    its functions without ``cache=True``: every UMAP job spent 15-20 s
    compiling the same code (a fit of 200 points: 15 s, then 0.2 s). The
    cache lives in ``__pycache__`` beside the package's sources, else in the
    user's cache directory (``NUMBA_CACHE_DIR`` overrides); numba checks it
    against the sources' timestamps. Returns how many functions it enabled;
    a function numba cannot cache (no writable location) stays as it was."""
    import sys

    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    enabled = 0
    for name, module in list(sys.modules.items()):
        if module is None or not (name == package or name.startswith(package + ".")):
            continue
        for obj in list(vars(module).values()):
            if not isinstance(obj, Dispatcher) or getattr(obj.py_func, "__module__", None) != name:
                continue
            if not isinstance(obj._cache, NullCache):
                continue  # already cache=True
            try:
                obj.enable_caching()
            except RuntimeError:  # "cannot cache function ...: no locator available"
                continue
            enabled += 1
    return enabled


def umap_view(z: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0) -> LatentView:
    """UMAP; a fixed ``random_state`` makes umap-learn deterministic (and single-threaded)."""
    import umap  # imported here: numba compiles on import, which costs seconds

    cache_numba_compilations("umap")
    z = np.asarray(z)
    if len(z) < 4:
        raise ValueError(f"UMAP needs at least 4 encodings, got {len(z)}")
    # UMAP cannot look at more neighbours than there are other points.
    reducer = umap.UMAP(n_neighbors=min(n_neighbors, len(z) - 1), min_dist=min_dist, random_state=seed, n_components=2)
    return LatentView(reducer.fit_transform(z).astype(np.float32), "UMAP 1", "UMAP 2")


def latent_view(method: str, z: np.ndarray, params: dict) -> LatentView:
    """One view by name (``LATENT_VIEWS``) with the ``latent`` config block's settings."""
    if method == "pca":
        return pca_view(z)
    if method == "std":
        return std_view(z)
    if method == "tsne":
        return tsne_view(z, params["tsne"]["perplexity"], params["seed"])
    if method == "umap":
        return umap_view(z, params["umap"]["n_neighbors"], params["umap"]["min_dist"], params["seed"])
    raise ValueError(f"unknown latent view {method!r}; known: {', '.join(LATENT_VIEWS)}")


def latent_grid(codes: np.ndarray, n: int, quantile: float) -> tuple[np.ndarray, np.ndarray]:
    """The axes of an ``n`` x ``n`` grid over a 2-D code's plane, spanning each
    dimension's [quantile, 1 - quantile] range of ``codes`` (outliers would leave
    most of the grid empty). Returns (values of dim 1, values of dim 2)."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"a latent grid needs 2-D codes, got shape {codes.shape}")
    if not 0 <= quantile < 0.5:
        raise ValueError(f"quantile must be in [0, 0.5), got {quantile}")
    low, high = np.quantile(codes, [quantile, 1 - quantile], axis=0)
    high = np.where(high > low, high, low + 1.0)  # a collapsed dimension still spans a unit
    return np.linspace(low[0], high[0], n), np.linspace(low[1], high[1], n)
