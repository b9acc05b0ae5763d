"""Records in the form OpenSearch's ``_bulk`` API takes, for a ``FirehoseSink``.

Each record becomes two newline-terminated lines, an action and a document::

    {"index":{"_index":"payments","_id":"payments-7-1"}}
    {"id":"payments-7-1","type":"payment.created",...,"payload":{...}}

Firehose concatenates the records it delivers, so every object it writes
(to S3 locally, or a batch it forwards) is itself a valid bulk body.  The
document id is the record id, and the action is ``index``, which replaces a
document with the same id: a record delivered twice (delivery is at least
once) is indexed once.

    sink = FirehoseSink(FirehoseSinkConfig("masked-payments"), encode=opensearch_bulk("payments"))
"""
from __future__ import annotations

import json
import re
from typing import Callable

from pipelines.records import Record, to_json_line

ACTIONS = ("index", "create")
MAX_ID_BYTES = 512  # OpenSearch rejects longer _id values
_BAD_INDEX = re.compile(r'[\\/*?"<>| ,#:A-Z]')


def check_index_name(index: str) -> str:
    """OpenSearch's index naming rules; raises ValueError saying which one is broken."""
    if not index or len(index.encode("utf-8")) > 255:
        raise ValueError(f"OpenSearch index name must be 1 to 255 bytes, got {len(index.encode('utf-8'))}")
    if index in (".", "..") or index[0] in "-_+":
        raise ValueError(f"OpenSearch index name {index!r} may not be '.', '..' or start with -, _ or +")
    bad = _BAD_INDEX.search(index)
    if bad:
        raise ValueError(f"OpenSearch index name {index!r} may not contain {bad.group()!r} "
                         "(lower case, no spaces, no \\ / * ? \" < > | , # :)")
    return index


def opensearch_bulk(index: str, *, action: str = "index") -> Callable[[Record], bytes]:
    """An encoder for ``FirehoseSink``: the record as a bulk action line plus its document line."""
    check_index_name(index)
    if action not in ACTIONS:
        raise ValueError(f"bulk action must be one of {ACTIONS}, got {action!r}")
    index_json = json.dumps(index)

    def encode(record: Record) -> bytes:
        if len(record.id.encode("utf-8")) > MAX_ID_BYTES:
            # The sink dead-letters this record as SerializationException; the message names no data.
            raise ValueError(f"record id is longer than OpenSearch's {MAX_ID_BYTES}-byte _id limit")
        head = f'{{"{action}":{{"_index":{index_json},"_id":{json.dumps(record.id, ensure_ascii=False)}}}}}\n'
        return (head + to_json_line(record) + "\n").encode("utf-8")

    return encode
