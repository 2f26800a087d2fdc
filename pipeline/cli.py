"""Command line: ``python -m pipeline corpus|tokenizer|shards|all|verify --config FILE``."""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import ExitStack
from pathlib import Path

from pipeline.atomic import DiskFullError, is_disk_full
from pipeline.config import Config, ConfigError, check_source_paths, load_config
from pipeline.lock import FolderLockedError, folder_lock
from pipeline.sources import SourceError
from pipeline.units import StaleOutputError

logger = logging.getLogger("pipeline")

STAGES = ("corpus", "tokenizer", "shards")
EXIT_LOCKED = 75
"""Exit status when another run has locked an output folder (``EX_TEMPFAIL``: retry later)."""
EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C, as shells report a process ended by SIGINT."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description="Corpus to token shards, in three stages.")
    parser.add_argument(
        "stage",
        choices=[*STAGES, "all", "verify"],
        help="stage to run; 'all' runs the three in order; 'verify' checks the shards against their manifests",
    )
    parser.add_argument("--config", required=True, help="YAML configuration file")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="rebuild outputs made with another config, other inputs or other package versions instead of "
        "stopping with an error; finished outputs that still match are kept",
    )
    parser.add_argument(
        "--explain",
        metavar="ID",
        help="with 'corpus': print which cleaning steps changed or rejected document ID in the last run "
        "(such as livedoor/it-life-hack-6292880), and run nothing",
    )
    arguments = parser.parse_args(argv)
    if arguments.explain is not None and arguments.stage != "corpus":
        parser.error(f"--explain works with the corpus stage only, not {arguments.stage!r}")

    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    try:
        config = load_config(arguments.config)
        if not config.sources and arguments.stage != "verify":
            raise ConfigError(f"{arguments.config} lists no sources; add at least one entry under 'sources:'")
        if arguments.explain is not None:
            return _explain(config, arguments.explain)
        if arguments.stage == "verify":
            return _verify(config)
        stages = STAGES if arguments.stage == "all" else (arguments.stage,)
        if "corpus" in stages:
            check_source_paths(config)
        with ExitStack() as locks:
            for folder in _output_folders(config, stages):
                locks.enter_context(folder_lock(folder))
            for stage in stages:
                logger.info("stage %s started", stage)
                _run_stage(stage, config, fresh=arguments.fresh)
                logger.info("stage %s finished", stage)
    except FolderLockedError as error:
        logger.error("%s", error)
        return EXIT_LOCKED
    except (ConfigError, SourceError, FileNotFoundError, StaleOutputError, DiskFullError) as error:
        logger.error("%s", error)
        return 2
    except KeyboardInterrupt:
        logger.error("interrupted; finished units are kept, so rerunning the same command resumes the work")
        return EXIT_INTERRUPTED
    except OSError as error:
        if is_disk_full(error):
            logger.error("disk full (%s); free space or point corpora_dir and outputs_dir elsewhere, then rerun", error)
        else:
            logger.error("%s; check that corpora_dir and outputs_dir are writable, then rerun", error)
        return 2
    return 0


def _explain(config: Config, document_id: str) -> int:
    # pipeline.trail imports pyarrow, so it loads only when asked for.
    from pipeline.trail import UnknownDocumentError, explain

    try:
        print(explain(config, document_id))
    except UnknownDocumentError as error:
        logger.error("%s", error)
        return 2
    return 0


def _verify(config: Config) -> int:
    from pipeline.shards.verify import ShardError, verify
    from pipeline.tokenizer import TOKENIZER_FILE

    try:
        manifests = verify(config.shards_dir, tokenizer_path=config.tokenizer_dir / TOKENIZER_FILE)
    except ShardError as error:
        logger.error("verify failed: %s", error)
        return 1
    for manifest in manifests:
        logger.info("%s: %d shards, %d rows verified", manifest["split"], len(manifest["shards"]), manifest["rows"])
    return 0


def _output_folders(config: Config, stages: tuple[str, ...]) -> list[Path]:
    """Return the folders the stages write, each once: ``corpora_dir`` for corpus, ``outputs_dir`` for the others."""
    folders = [config.corpora_dir if stage == "corpus" else config.outputs_dir for stage in stages]
    unique: dict[Path, Path] = {}
    for folder in folders:
        unique.setdefault(folder.resolve(), folder)
    return list(unique.values())


def _run_stage(stage: str, config: Config, *, fresh: bool) -> None:
    # Stage modules import tokenizers, pyarrow and torch, so each loads only when it runs.
    from pipeline import corpus, shards, tokenizer

    runners = {"corpus": corpus.run, "tokenizer": tokenizer.run, "shards": shards.run}
    runners[stage](config, fresh=fresh)


if __name__ == "__main__":
    sys.exit(main())
