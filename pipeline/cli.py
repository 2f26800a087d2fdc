"""Command line: ``python -m pipeline corpus|tokenizer|shards|all|verify --config FILE``."""

from __future__ import annotations

import argparse
import logging
import sys

from pipeline.config import ConfigError, load_config
from pipeline.sources import SourceError

logger = logging.getLogger("pipeline")

STAGES = ("corpus", "tokenizer", "shards")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description="Corpus to token shards, in three stages.")
    parser.add_argument(
        "stage",
        choices=[*STAGES, "all", "verify"],
        help="stage to run; 'all' runs the three in order; 'verify' checks the shards against their manifests",
    )
    parser.add_argument("--config", required=True, help="YAML configuration file")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    arguments = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    try:
        config = load_config(arguments.config)
        if arguments.stage == "verify":
            return _verify(config)
        stages = STAGES if arguments.stage == "all" else (arguments.stage,)
        for stage in stages:
            logger.info("stage %s started", stage)
            _run_stage(stage, config)
            logger.info("stage %s finished", stage)
    except (ConfigError, SourceError, FileNotFoundError) as error:
        logger.error("%s", error)
        return 2
    return 0


def _verify(config: object) -> int:
    from pipeline.config import Config
    from pipeline.shards.verify import ShardError, verify

    assert isinstance(config, Config)
    try:
        manifests = verify(config.shards_dir)
    except ShardError as error:
        logger.error("verify failed: %s", error)
        return 1
    for manifest in manifests:
        logger.info("%s: %d shards, %d rows verified", manifest["split"], len(manifest["shards"]), manifest["rows"])
    return 0


def _run_stage(stage: str, config: object) -> None:
    # Stage modules import tokenizers, pyarrow and torch, so each loads only when it runs.
    from pipeline import corpus, shards, tokenizer
    from pipeline.config import Config

    assert isinstance(config, Config)
    runners = {"corpus": corpus.run, "tokenizer": tokenizer.run, "shards": shards.run}
    runners[stage](config)


if __name__ == "__main__":
    sys.exit(main())
