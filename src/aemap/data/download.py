"""Checksummed downloads with mirrors, retries and atomic placement.

A *source* is a set of files (MNIST's four IDX files, FSDD's 3,000 WAVs, ...).
Each file is looked for first on the mirror (a local folder or a base URL laid
out like ``shared/data``: ``{mirror}/{source.mirror_dir}/{file}``), then
upstream: per file under each base URL in turn, or inside the upstream archive.
Every file is streamed to a temporary name beside its destination, checked for
size and digest, and only then renamed into place. A whole source is assembled
in a ``.partial`` folder that is renamed to its final name only when every file
has been verified, so a failed fetch leaves no output behind.

HTTP transfers use pooch's downloader (requests, streaming, tqdm progress).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlparse

import pooch
import requests

from aemap.io import atomic_path, file_digest, fsync_file
from aemap.progress import progress_bar

log = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    """No candidate location gave a valid copy of a file."""


class ChecksumError(DownloadError):
    """A file was obtained but its size or digest is not the registered one."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a source: its path inside the source folder and how to verify it."""

    name: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None

    @property
    def digest(self) -> tuple[str, str] | None:
        if self.sha256:
            return "sha256", self.sha256.lower()
        if self.md5:
            return "md5", self.md5.lower()
        return None


@dataclass(frozen=True)
class ArchiveSpec:
    """An upstream archive that holds the source's files (zip or tar.gz).

    ``prefix`` is stripped from member names; ``include`` keeps only members
    under these sub-folders. GitHub archives have no stable checksum, so their
    content is verified file by file against the source's manifest instead.
    """

    url: str
    prefix: str = ""
    include: tuple[str, ...] = ()
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None

    @property
    def filename(self) -> str:
        return PurePosixPath(urlparse(self.url).path).name


@dataclass(frozen=True)
class ExpectSpec:
    """What a complete copy holds when the manifest lists only some files:
    ``count`` files whose relative path matches ``pattern``."""

    pattern: str
    count: int


@dataclass(frozen=True)
class SourceSpec:
    name: str
    mirror_dir: str
    files: tuple[FileSpec, ...]
    urls: tuple[str, ...] = ()
    archive: ArchiveSpec | None = None
    expect: ExpectSpec | None = None
    description: str = ""
    license: str = ""

    @property
    def manifest_is_complete(self) -> bool:
        return self.expect is None


@dataclass
class FetchSettings:
    """How hard to try. ``backoff_s`` doubles after every transient failure."""

    retries: int = 3
    timeout_s: float = 60.0
    backoff_s: float = 1.0
    progress: bool = True


_TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}


def is_url(location: str) -> bool:
    return urlparse(location).scheme in {"http", "https", "ftp"}


def _local_path(location: str) -> Path:
    parsed = urlparse(location)
    return Path(parsed.path) if parsed.scheme == "file" else Path(location)


def join_location(base: str, *parts: str) -> str:
    """Join a base URL or folder with relative parts (URL parts are quoted)."""
    if is_url(base):
        return base.rstrip("/") + "/" + "/".join(quote(p.strip("/")) for p in parts)
    return str(_local_path(base).joinpath(*parts))


def safe_relative_name(name: str, key: str) -> str:
    """``name`` if it is a plain relative path that stays inside its folder (no
    ``..``, no absolute path, no backslash, no empty part); else an error naming ``key``."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or any(part in ("", ".", "..") for part in parts)
        or PurePosixPath(name).is_absolute()
        or ":" in parts[0]
    ):
        raise DownloadError(f"{key}: {name!r} is not a plain relative path inside the source folder")
    return name


def check_file(path: Path, spec: FileSpec, origin: str) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the size and digest of ``spec``."""
    if spec.size is not None:
        size = path.stat().st_size
        if size != spec.size:
            raise ChecksumError(
                f"{spec.name}: size mismatch for the copy from {origin}: expected {spec.size} bytes, got {size}"
            )
    if spec.digest is not None:
        algorithm, expected = spec.digest
        actual = file_digest(path, algorithm)
        if actual != expected:
            raise ChecksumError(
                f"{spec.name}: {algorithm} mismatch for the copy from {origin}: expected {expected}, got {actual}"
            )


def _is_name_resolution_failure(err: BaseException) -> bool:
    """Whether a connection error comes from DNS (no network, unknown host): not transient."""
    text = f"{err} {err.__context__} {err.__cause__}"
    return any(
        marker in text
        for marker in ("NameResolutionError", "Failed to resolve", "Name or service not known", "nodename nor servname")
    )


def _transfer(location: str, tmp: Path, settings: FetchSettings, progress: bool) -> None:
    """Copy one location to ``tmp``; retry transient network failures."""
    if not is_url(location):
        src = _local_path(location)
        if not src.is_file():
            raise FileNotFoundError(f"not found: {src}")
        shutil.copyfile(src, tmp)
        return
    delay = settings.backoff_s
    for attempt in range(settings.retries + 1):
        # A bar of our own (pooch's draws a live bar even into a log file), fresh for each
        # attempt. pooch sets its total from Content-Length and skips a bar that is falsy,
        # as tqdm is with a total of 0: hence 1 until then.
        name = PurePosixPath(urlparse(location).path).name
        bar = progress_bar(total=1, desc=name, unit="B", unit_scale=True, disable=not progress)
        downloader = pooch.HTTPDownloader(progressbar=bar if progress else False, timeout=settings.timeout_s)
        try:
            downloader(location, str(tmp), None)
            return
        except requests.HTTPError as err:
            status = err.response.status_code if err.response is not None else None
            if status not in _TRANSIENT_HTTP or attempt == settings.retries:
                raise DownloadError(f"HTTP {status} from {location}") from err
            reason = f"HTTP {status}"
        except (requests.ConnectionError, requests.Timeout) as err:
            # A name that does not resolve will not resolve a second later (offline, or a typo).
            if attempt == settings.retries or _is_name_resolution_failure(err):
                raise DownloadError(f"cannot reach {location}: {err.__class__.__name__}: {err}") from err
            reason = err.__class__.__name__
        finally:
            bar.close()
        log.warning("%s: %s, retry %d of %d in %.1f s", location, reason, attempt + 1, settings.retries, delay)
        time.sleep(delay)
        delay *= 2


def fetch_file(
    candidates: Iterable[str],
    target: Path,
    spec: FileSpec,
    settings: FetchSettings,
    progress: bool | None = None,
) -> str:
    """Fetch ``spec`` to ``target`` from the first candidate that gives a verified copy.

    Returns the location used. Raises :class:`ChecksumError` if some candidate
    gave a copy with the wrong digest and none gave a good one, else
    :class:`DownloadError`; the message lists every location tried and why it
    failed, and nothing is left at ``target``.
    """
    progress = settings.progress if progress is None else progress
    target.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    bad_checksum = False
    for location in candidates:
        tmp = target.with_name(f".{target.name}.part")
        try:
            _transfer(location, tmp, settings, progress)
            check_file(tmp, spec, location)
        except ChecksumError as err:
            bad_checksum = True
            failures.append(str(err))
        except (DownloadError, OSError) as err:
            failures.append(f"{location}: {err}")
        else:
            fsync_file(tmp)
            os.replace(tmp, target)
            return location
        finally:
            tmp.unlink(missing_ok=True)
    if not failures:
        raise DownloadError(f"{spec.name}: no location to fetch it from (no mirror and no upstream URL)")
    error = ChecksumError if bad_checksum else DownloadError
    raise error(f"could not fetch {spec.name}; tried:\n  - " + "\n  - ".join(failures))


# --- archives -------------------------------------------------------------------------------


def _archive_members(archive: Path) -> list[tuple[str, Callable[[], object]]]:
    """(name, opener) for every regular file of a zip or tar archive."""
    if zipfile.is_zipfile(archive):
        zf = zipfile.ZipFile(archive)
        return [(i.filename, lambda i=i: zf.open(i)) for i in zf.infolist() if not i.is_dir()]
    if tarfile.is_tarfile(archive):
        tf = tarfile.open(archive)  # noqa: SIM115 - kept open for the member readers returned
        return [(m.name, lambda m=m: tf.extractfile(m)) for m in tf.getmembers() if m.isfile()]
    raise DownloadError(f"{archive}: neither a zip nor a tar archive")


def extract_archive(archive: Path, spec: SourceSpec, dest: Path) -> list[str]:
    """Extract the members of ``spec.archive`` that belong to the source into ``dest``.

    Kept: files listed in the manifest, and (for partial manifests) files
    under ``include`` or matching the expected pattern. Returns their names.
    """
    assert spec.archive is not None
    prefix = spec.archive.prefix
    listed = {f.name for f in spec.files}
    pattern = re.compile(spec.expect.pattern) if spec.expect else None
    kept: list[str] = []
    for member, opener in _archive_members(archive):
        if not member.startswith(prefix):
            continue
        rel = member[len(prefix) :]
        wanted = rel in listed or (
            not spec.manifest_is_complete
            and (any(rel.startswith(inc) for inc in spec.archive.include) or (pattern and pattern.fullmatch(rel)))
        )
        if not wanted:
            continue
        try:
            safe_relative_name(rel, f"{archive.name} member")
        except DownloadError:
            log.warning("%s: skipping member %r, which would land outside the source folder", archive, member)
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        with opener() as src, open(out, "wb") as dst:  # type: ignore[attr-defined]
            shutil.copyfileobj(src, dst)
        kept.append(rel)
    return kept


# --- whole sources --------------------------------------------------------------------------


def _verify_tree(spec: SourceSpec, root: Path, origin: str) -> None:
    """Every manifest file present and valid; for partial manifests, the expected count."""
    missing = [f.name for f in spec.files if not (root / f.name).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DownloadError(f"source {spec.name!r} from {origin}: missing {len(missing)} file(s): {shown}")
    for f in spec.files:
        check_file(root / f.name, f, origin)
    if spec.expect is not None:
        pattern = re.compile(spec.expect.pattern)
        found = sum(1 for p in root.rglob("*") if p.is_file() and pattern.fullmatch(p.relative_to(root).as_posix()))
        if found != spec.expect.count:
            raise DownloadError(
                f"source {spec.name!r} from {origin}: expected {spec.expect.count} files matching "
                f"{spec.expect.pattern!r}, found {found}; the copy is incomplete"
            )


def verify_copy(spec: SourceSpec, root: str | os.PathLike[str]) -> None:
    """Check a downloaded copy before it is used: every listed file present, with
    its size and digest, and the expected file count. A file's digest is computed
    once per (size, modification time) and cached in ``<root>.verified.json``
    beside the folder, so an unchanged copy costs a ``stat`` per file; a changed
    file (edited, truncated, replaced) is digested again and must still match."""
    root = Path(root)
    cache_path = root.with_name(f"{root.name}.verified.json")
    try:
        cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    except (OSError, ValueError):
        cache = {}
    fresh: dict[str, list] = {}
    missing = [f.name for f in spec.files if not (root / f.name).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ChecksumError(f"source {spec.name!r} in {root}: missing {len(missing)} file(s): {shown}; fetch it again")
    for f in spec.files:
        path = root / f.name
        st = path.stat()
        key = [st.st_size, st.st_mtime_ns, *(f.digest or ("", ""))]
        if cache.get(f.name) != key:
            try:
                check_file(path, f, str(root))
            except ChecksumError as err:
                raise ChecksumError(
                    f"{err}; the file changed after it was downloaded: fetch the source again"
                ) from None
        fresh[f.name] = key
    if spec.expect is not None:
        _verify_tree(dataclasses.replace(spec, files=()), root, str(root))
    if fresh != cache:
        try:
            with atomic_path(cache_path) as tmp:
                tmp.write_text(json.dumps(fresh, sort_keys=True))
        except OSError as err:  # a read-only copy: checked every time instead
            log.info("cannot cache the digests of %s (%s)", root, err)


def _mirror_file_list(spec: SourceSpec, mirror_root: Path) -> list[FileSpec]:
    """Files to copy from a local mirror: the manifest, plus (partial manifests)
    every file matching the expected pattern."""
    files = list(spec.files)
    if spec.expect is not None and mirror_root.is_dir():
        listed = {f.name for f in files}
        pattern = re.compile(spec.expect.pattern)
        for p in sorted(mirror_root.rglob("*")):
            rel = p.relative_to(mirror_root).as_posix()
            if p.is_file() and rel not in listed and pattern.fullmatch(rel):
                files.append(FileSpec(rel))
    return files


def _fetch_files(
    spec: SourceSpec,
    files: list[FileSpec],
    locate: Callable[[FileSpec], list[str]],
    dest: Path,
    settings: FetchSettings,
) -> None:
    many = len(files) > 8
    bar = progress_bar(files, desc=f"{spec.name}: files", unit="file", disable=not (settings.progress and many))
    for f in bar:
        fetch_file(locate(f), dest / f.name, f, settings, progress=settings.progress and not many)


def _fetch_archive(spec: SourceSpec, location: str, archive_dir: Path, dest: Path, settings: FetchSettings) -> None:
    assert spec.archive is not None
    a = spec.archive
    archive_path = archive_dir / a.filename
    archive_spec = FileSpec(a.filename, sha256=a.sha256, md5=a.md5, size=a.size)
    if archive_path.is_file():
        check_file(archive_path, archive_spec, str(archive_path))
    else:
        fetch_file([location], archive_path, archive_spec, settings)
    log.info("extracting %s", archive_path)
    extract_archive(archive_path, spec, dest)
    _verify_tree(spec, dest, location)


def fetch_source(
    spec: SourceSpec,
    dest: str | os.PathLike[str],
    mirror: str | None = None,
    settings: FetchSettings | None = None,
    archive_dir: str | os.PathLike[str] | None = None,
) -> str:
    """Fetch every file of ``spec`` into the folder ``dest`` (created atomically).

    Tries the mirror first (if given), then upstream. Returns a short
    description of where the files came from. On failure ``dest`` does not
    exist and the error lists what was tried.
    """
    settings = settings or FetchSettings()
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DownloadError(
            f"{dest} exists and is not an empty folder: refusing to replace it (fetch into a new or empty "
            "folder; remove the old copy yourself if you mean to)"
        )
    if mirror and not is_url(mirror) and not _local_path(mirror).is_dir():
        raise DownloadError(f"mirror {mirror}: no such folder (set by data.mirror or $AEMAP_DATA_MIRROR)")
    archive_dir = Path(archive_dir) if archive_dir else dest.parent / "_archives" / spec.name
    archive_dir_existed = archive_dir.exists()
    partial = dest.with_name(f".{dest.name}.partial")
    errors: list[str] = []
    routes: list[tuple[str, Callable[[], None]]] = []

    if mirror:
        base = join_location(mirror, spec.mirror_dir)
        if is_url(mirror) and not spec.manifest_is_complete:
            # A URL cannot be listed: without a full manifest only the archive can be fetched.
            if spec.archive is not None:
                where = join_location(base, spec.archive.filename)
                routes.append((where, lambda: _fetch_archive(spec, where, archive_dir, partial, settings)))
        else:
            files = _mirror_file_list(spec, _local_path(base)) if not is_url(mirror) else list(spec.files)

            def from_mirror() -> None:
                _fetch_files(spec, files, lambda f: [join_location(base, f.name)], partial, settings)
                _verify_tree(spec, partial, base)

            routes.append((base, from_mirror))
    if spec.urls:

        def from_urls() -> None:
            _fetch_files(
                spec, list(spec.files), lambda f: [join_location(u, f.name) for u in spec.urls], partial, settings
            )
            _verify_tree(spec, partial, "upstream")

        routes.append(("upstream: " + ", ".join(spec.urls), from_urls))
    elif spec.archive is not None:
        url = spec.archive.url
        routes.append((url, lambda: _fetch_archive(spec, url, archive_dir, partial, settings)))

    checksum_failed = False
    for where, route in routes:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            route()
        except DownloadError as err:
            checksum_failed |= isinstance(err, ChecksumError)
            errors.append(f"[{where}] {err}")
            log.warning("source %s: %s failed: %s", spec.name, where, err)
            continue
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if dest.exists():
            dest.rmdir()  # empty (checked above): the rename needs it gone
        os.replace(partial, dest)
        return where
    shutil.rmtree(partial, ignore_errors=True)
    if not archive_dir_existed and archive_dir.is_dir() and not any(archive_dir.iterdir()):
        archive_dir.rmdir()  # leave nothing behind but what a retry can reuse
        if archive_dir.parent.name == "_archives" and not any(archive_dir.parent.iterdir()):
            archive_dir.parent.rmdir()
    if not routes:
        raise DownloadError(f"source {spec.name!r}: no mirror is set and it has no upstream location")
    error = ChecksumError if checksum_failed else DownloadError
    raise error(f"source {spec.name!r} could not be fetched:\n" + "\n".join(errors))


def read_manifest(path: str | os.PathLike[str]) -> tuple[FileSpec, ...]:
    """Read a ``sha256sum``-style manifest: ``<sha256>  <relative path>`` per line."""
    files = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            raise ValueError(f"{path}:{number}: expected '<sha256>  <path>', got {line!r}")
        name = parts[1].lstrip("*")
        try:
            safe_relative_name(name, f"{path}:{number}")
        except DownloadError as err:
            raise ValueError(str(err)) from None
        files.append(FileSpec(name, sha256=parts[0]))
    return tuple(files)


def write_manifest(root: str | os.PathLike[str], path: str | os.PathLike[str], pattern: str = ".*") -> int:
    """Write a manifest of every file under ``root`` whose relative path matches ``pattern``.

    For maintainers: run it on a trusted full copy (e.g. of AudioMNIST) and
    commit the result to make the registry's manifest complete.
    """
    root = Path(root)
    regex = re.compile(pattern)
    lines = [
        f"{file_digest(p)}  {p.relative_to(root).as_posix()}"
        for p in sorted(root.rglob("*"))
        if p.is_file() and regex.fullmatch(p.relative_to(root).as_posix())
    ]
    Path(path).write_text("\n".join(lines) + "\n")
    return len(lines)
