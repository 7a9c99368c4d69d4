//! NDJSON file/stdout row sink: see the local adapters work.
