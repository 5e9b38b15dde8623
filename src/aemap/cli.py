"""Command line: ``aemap manifest`` (write a file manifest for the registry),
``aemap fetch`` (download and verify one registry source without Snakemake) and
``aemap explore`` (the interactive explorer of a results folder)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aemap.data.download import DownloadError, FetchSettings, write_manifest
from aemap.data.registry import load_registry
from aemap.data.stages import fetch, resolve_mirror

# The registry of the checkout this package was installed from (editable install), found
# from the package's own location, not from the current directory.
DEFAULT_REGISTRY = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "datasets.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aemap", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    m = sub.add_parser("manifest", help="sha256 manifest of a folder (e.g. a full AudioMNIST copy)")
    m.add_argument("folder")
    m.add_argument("output")
    m.add_argument("--pattern", default=".*", help="regex on relative paths to include (default: all)")

    f = sub.add_parser("fetch", help="download and verify one source of the registry")
    f.add_argument("source")
    f.add_argument("dest")
    f.add_argument("--registry", default=None, help=f"dataset registry (default: {DEFAULT_REGISTRY})")
    f.add_argument("--mirror", default=None, help="folder or base URL; default $AEMAP_DATA_MIRROR")

    e = sub.add_parser("explore", help="the interactive explorer of a results folder (read only)")
    e.add_argument("results", nargs="?", default="results", help="results folder (default: results)")
    e.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    e.add_argument("--port", type=int, default=8000)

    args = parser.parse_args(argv)
    if args.command == "explore":
        return explore(args.results, args.host, args.port)
    try:
        if args.command == "manifest":
            n = write_manifest(args.folder, args.output, args.pattern)
            print(f"{args.output}: {n} files")
            return 0
        registry = Path(args.registry) if args.registry else DEFAULT_REGISTRY
        if not registry.is_file():
            raise FileNotFoundError(f"dataset registry not found: {registry} (give --registry)")
        where = fetch(load_registry(registry), args.source, args.dest, resolve_mirror(args.mirror), FetchSettings())
    except (OSError, ValueError, DownloadError) as err:  # aemap's errors name the file or key
        print(f"aemap {args.command}: {err}", file=sys.stderr)
        return 1
    print(f"{args.source}: fetched from {where} into {args.dest}")
    return 0


def host_warning(host: str) -> str | None:
    """Why binding ``host`` deserves a warning (None for this machine only)."""
    if host in ("127.0.0.1", "localhost", "::1"):
        return None
    return (
        f"binding {host} makes the explorer reachable from other machines; "
        "it serves everything in the results folder to anyone who can connect"
    )


def explore(results: str, host: str, port: int) -> int:
    """Start the explorer on ``results``; binds ``host`` (loopback unless asked)."""
    folder = Path(results)
    if not folder.is_dir():
        print(
            f"aemap explore: no results folder at {folder} (run `make reproduce` first, or name the folder)",
            file=sys.stderr,
        )
        return 1
    warning = host_warning(host)
    if warning:
        print(f"aemap explore: warning: {warning}", file=sys.stderr)
    from shiny import run_app

    from aemap.explore.app import create_app

    app = create_app(folder)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"aemap explorer of {folder.resolve()}: http://{shown}:{port}  (Ctrl-C stops it)", flush=True)
    run_app(app, host=host, port=port, launch_browser=False, dev_mode=False, log_level="warning", app_dir=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
