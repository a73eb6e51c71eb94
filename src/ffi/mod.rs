//! The C API (DESIGN.md §3).
