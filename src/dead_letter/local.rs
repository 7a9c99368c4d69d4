//! Local (file-system) implementation: see the local adapters work.
