"""Command line: ``aemap manifest`` (write a file manifest for the registry) and
``aemap fetch`` (download and verify one registry source without Snakemake)."""

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

    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
