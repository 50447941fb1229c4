//! (issue 8: being written)
