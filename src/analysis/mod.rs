//! Per-endpoint and per-host folds (written next).
