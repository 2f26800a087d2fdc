"""Command line: ``python -m pipeline corpus|tokenizer|shards|all --config FILE``."""

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
    parser.add_argument("stage", choices=[*STAGES, "all"], help="stage to run; 'all' runs the three in order")
    parser.add_argument("--config", required=True, help="YAML configuration file")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
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
        if arguments.explain is not None:
            return _explain(config, arguments.explain)
        stages = STAGES if arguments.stage == "all" else (arguments.stage,)
        for stage in stages:
            logger.info("stage %s started", stage)
            _run_stage(stage, config)
            logger.info("stage %s finished", stage)
    except (ConfigError, SourceError, FileNotFoundError) as error:
        logger.error("%s", error)
        return 2
    return 0


def _explain(config: object, document_id: str) -> int:
    # pipeline.trail imports pyarrow, so it loads only when asked for.
    from pipeline.config import Config
    from pipeline.trail import UnknownDocumentError, explain

    assert isinstance(config, Config)
    try:
        print(explain(config, document_id))
    except UnknownDocumentError as error:
        logger.error("%s", error)
        return 2
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
