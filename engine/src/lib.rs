//! The xfrd engine (in progress).
