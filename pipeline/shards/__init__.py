"""Shards stage: token ids in memory-mappable Arrow files, split into train and validation.

See :mod:`pipeline.shards.schema` for the files and columns, :mod:`pipeline.shards.layouts`
for the window and packed row layouts, :mod:`pipeline.shards.masks` for the global-mask
policies and :mod:`pipeline.shards.verify` for the integrity check.
"""

from pipeline.atomic import sha256_file
from pipeline.shards.schema import DOCUMENTS_FILE, MANIFEST_FILE, SPLITS, shard_schema, token_dtype
from pipeline.shards.stage import run

__all__ = ["DOCUMENTS_FILE", "MANIFEST_FILE", "SPLITS", "run", "sha256_file", "shard_schema", "token_dtype"]
