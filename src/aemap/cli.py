"""Command line: ``aemap manifest`` (write a file manifest for the registry) and
``aemap fetch`` (download and verify one registry source without Snakemake)."""

from __future__ import annotations

import argparse
import sys

from aemap.data.download import DownloadError, FetchSettings, write_manifest
from aemap.data.registry import load_registry
from aemap.data.stages import fetch, resolve_mirror


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
    f.add_argument("--registry", default="workflow/resources/datasets.yaml")
    f.add_argument("--mirror", default=None, help="folder or base URL; default $AEMAP_DATA_MIRROR")

    args = parser.parse_args(argv)
    if args.command == "manifest":
        n = write_manifest(args.folder, args.output, args.pattern)
        print(f"{args.output}: {n} files")
        return 0
    try:
        where = fetch(
            load_registry(args.registry), args.source, args.dest, resolve_mirror(args.mirror), FetchSettings()
        )
    except DownloadError as err:
        print(f"aemap fetch: {err}", file=sys.stderr)
        return 1
    print(f"{args.source}: fetched from {where} into {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
