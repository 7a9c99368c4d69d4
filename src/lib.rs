//! flowlog
